// Lowering: the state LowerToGraph and the builtin table share (internal).
#pragma once

#include "Builder.h"
#include "LowerToGraph.h"

#include <map>
#include <set>

namespace nnjit {

class Lowerer {
public:
  Lowerer(Model& model, DiagnosticEngine& diags) : model_(model), b_(model.graph), diags_(diags) {}

  void run(const Module& module);

  /// Lowers `e`; an argument of the builtin call being lowered is lowered
  /// as the caller's (its nodes are not the call's own, see CallSite).
  NodeId lowerExpr(const Expr& e);
  Builder& builder() { return b_; }
  Model& model() { return model_; }
  /// A new number for a random op, so that two dropouts draw apart.
  int64_t newRandomSite() { return randomSites_++; }
  void error(SourceLoc loc, std::string message) { diags_.error(loc, std::move(message)); }
  /// Reports a shape error the builder left behind, naming what failed.
  NodeId checked(NodeId n, SourceLoc loc, const std::string& what);

  /// A compile-time number (literals, arithmetic, true/false); reports otherwise.
  std::optional<double> constant(const Expr& e, const char* what);
  std::optional<int64_t> wholeConstant(const Expr& e, const char* what);
  /// An `axis = K` argument resolved against `rank` (negatives count from the end).
  std::optional<int64_t> axis(const Expr* e, int64_t fallback, int rank, SourceLoc loc);
  /// A reduction's `axis = K` or `axis = [K, ...]`, resolved and sorted; a repeat is an error.
  std::optional<std::vector<int64_t>> axes(const Expr& e, int rank);

  /// Matches a call's arguments to `names`; the first `required` must be given.
  /// Returns false (after reporting) on a mismatch.
  bool bindArgs(const Expr& call, const std::vector<const char*>& names, size_t required,
                std::vector<const Expr*>& out);

private:
  // Builtins.cpp
  bool lowerBuiltin(const Expr& call, NodeId& out);

  NodeId lowerHere(const Expr& e);
  /// Lowers call `e` of a builtin, stamping its own nodes with a new CallSite.
  bool lowerBuiltinCall(const Expr& e, NodeId& out);
  /// A builtin call being lowered: the call site of its own nodes and of the caller.
  struct CallFrame {
    const Expr* call;
    int32_t site, outer;
  };
  std::vector<CallFrame> callFrames_;

  NodeId lowerName(const Expr& e);
  /// The values a name here may refer to, for "did you mean".
  std::vector<std::string> namesInScope() const;
  NodeId lowerBinary(const Expr& e);
  NodeId applyBinary(const Expr& e, NodeId a, NodeId b);
  /// False (reporting once, at `loc`, naming `what` if given) when the graph
  /// has passed kMaxGraphNodes.
  bool withinNodeLimit(SourceLoc loc, const std::string& what = "");
  NodeId lowerStackedMatMul(NodeId a, NodeId b, SourceLoc loc);
  NodeId lowerMatMul(NodeId a, NodeId b, SourceLoc loc);
  NodeId lowerCall(const Expr& e);
  NodeId inlineFn(const Stmt& fn, const Expr& call);

  void statement(const Stmt& s);
  bool defineName(const std::string& name, SourceLoc loc, const char* what);
  void declareFn(const Stmt& s);
  void declareInput(const Stmt& s);
  void declareParam(const Stmt& s);
  std::optional<InitSpec> lowerInit(const Expr& e, const Shape& shape);
  /// Appends the numbers of list `e` (row-major) after checking that it has
  /// `shape` from `dim` on; `whose` names the shape in a diagnostic.
  bool flattenList(const Expr& e, const Shape& shape, size_t dim, std::vector<double>& out, const char* whose);
  /// A list literal as a value: a constant tensor of its nested shape.
  NodeId lowerList(const Expr& e);
  /// The shape a nested list claims through its first elements.
  bool listShape(const Expr& e, Shape& shape);
  void declareMetric(const Stmt& s);
  void declareOutput(const Stmt& s);
  void declareOptimizer(const Stmt& s);
  void declareTrain(const Stmt& s);
  bool testFiles(const Expr& t, TestSplit& test);
  std::optional<Shape> declaredShape(const Stmt& s, bool allowBatch);

  struct Binding {
    NodeId node = kNoNode;
    SourceLoc loc;
  };

  Model& model_;
  Builder b_;
  DiagnosticEngine& diags_;
  std::map<std::string, Binding> globals_;
  std::map<std::string, SourceLoc> defined_;   // every defined name, even failed ones
  std::map<std::string, const Stmt*> fns_;
  std::set<std::string> brokenFns_;  // fns whose declaration is an error
  std::set<std::string> metricNames_;
  std::vector<std::map<std::string, NodeId>> fnScopes_;
  std::vector<const Stmt*> fnBodies_;  // the fn of each scope in fnScopes_
  std::map<std::pair<const Stmt*, std::vector<NodeId>>, NodeId> inlined_;  // (fn, argument values) -> result
  int inlineDepth_ = 0;
  bool tooLarge_ = false;  // the node limit was reported
  int64_t randomSites_ = 0;
};

/// WindowBuiltins.cpp: the builtins over image windows, for the builtin table.
NodeId lowerConv2d(Lowerer& L, const Expr& call, const std::vector<const Expr*>& args);
template <Op op>  // Op::Max: max_pool; Op::Sum: avg_pool
NodeId lowerPool(Lowerer& L, const Expr& call, const std::vector<const Expr*>& args);

/// TrainingBuiltins.cpp: the builtins that train differently from how they run.
NodeId lowerDropout(Lowerer& L, const Expr& call, const std::vector<const Expr*>& args);
NodeId lowerBatchNorm(Lowerer& L, const Expr& call, const std::vector<const Expr*>& args);

} // namespace nnjit
