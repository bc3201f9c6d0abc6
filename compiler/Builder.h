// Builder: creates shape-checked nodes; the vocabulary of lowering and autodiff.
#pragma once

#include "Graph.h"

#include <map>

namespace nnjit {

/// Makes nodes in a graph, inferring shapes. A shape error leaves the message
/// in `error()` and returns kNoNode; any kNoNode input yields kNoNode, so one
/// error does not cascade into many.
class Builder {
public:
  explicit Builder(Graph& g) : g_(g) {}

  Graph& graph() { return g_; }
  const Shape& shape(NodeId n) const { return g_.shape(n); }
  /// Position stamped on the nodes made from now on.
  void setLoc(SourceLoc loc) { loc_ = loc; }
  SourceLoc loc() const { return loc_; }
  /// The call (Graph::calls) stamped on the nodes made from now on (-1: none).
  void setCall(int32_t call) { call_ = call; }
  int32_t call() const { return call_; }
  const std::string& error() const { return error_; }
  void clearError() { error_.clear(); }

  NodeId make(Op op, std::vector<NodeId> inputs, Attrs attrs = {}, Shape preset = {});

  NodeId constant(double v);
  NodeId unary(Op op, NodeId x) { return make(op, {x}); }
  NodeId binary(Op op, NodeId a, NodeId b) { return make(op, {a, b}); }
  NodeId add(NodeId a, NodeId b) { return binary(Op::Add, a, b); }
  NodeId sub(NodeId a, NodeId b) { return binary(Op::Sub, a, b); }
  NodeId mul(NodeId a, NodeId b) { return binary(Op::Mul, a, b); }
  NodeId div(NodeId a, NodeId b) { return binary(Op::Div, a, b); }
  NodeId neg(NodeId x) { return unary(Op::Neg, x); }
  NodeId select(NodeId c, NodeId a, NodeId b) { return make(Op::Select, {c, a, b}); }
  NodeId matmul(NodeId a, NodeId b) { return binary(Op::MatMul, a, b); }
  NodeId transpose(NodeId x) { return unary(Op::Transpose, x); }
  NodeId reshape(NodeId x, Shape to);
  NodeId broadcastTo(NodeId x, Shape to);

  /// Reduces `axes` (any order, no negatives) away; Mean divides by the count.
  NodeId reduce(Op op, NodeId x, std::vector<int64_t> axes);
  NodeId sum(NodeId x, std::vector<int64_t> axes) { return reduce(Op::Sum, x, std::move(axes)); }
  NodeId mean(NodeId x, std::vector<int64_t> axes);
  /// Like reduce, but keeps the reduced axes as size 1 (for broadcasting back).
  NodeId reduceKeep(Op op, NodeId x, std::vector<int64_t> axes);

  /// Sums `g` down to `target` — the adjoint of NumPy broadcasting.
  NodeId sumTo(NodeId g, Shape target);

  static std::vector<int64_t> allAxes(const Shape& s);

  /// `roots` with each key of `replaced` replaced by its value (a batch sum by
  /// its accumulator): one forward sweep (creation order is topological),
  /// copying what reads a replaced value.
  std::vector<NodeId> substitute(const std::vector<NodeId>& roots, const std::map<NodeId, NodeId>& replaced);

private:
  Graph& g_;
  SourceLoc loc_;
  int32_t call_ = -1;
  std::string error_;
};

} // namespace nnjit
