// Compiler: the stage driver — source to native functions, one stage after another.
#pragma once

#include "CompiledModel.h"
#include "Model.h"
#include "OptimizerRules.h"

#include <memory>
#include <optional>

namespace nnjit {

/// The pipeline's stages whose output `show --emit` prints, in order.
enum class Stage { Ast, Graph, Grad, Opt, Schedule, Ir, Asm };
const std::vector<std::string>& stageNames();  // "ast", "graph", ... by Stage
std::optional<Stage> stageNamed(const std::string& name);

/// Which entry points to build; each costs compile time, so callers ask only
/// for what they will call.
struct CompileOptions {
  DType dtype = DType::F32;
  bool trainStep = false;    // nnjit_train_step: forward, backward and update in one call
  bool evaluate = false;     // nnjit_eval: loss and metrics
  bool predict = false;      // nnjit_predict: the output
  bool gradients = false;    // nnjit_gradients: loss and every param's gradient
  std::optional<double> lr;  // replaces the optimizer's lr (--lr)
  bool jit = true;           // false: stop after generating and verifying IR (fuzzing)
  bool keepIR = false;       // keep the optimized IR text (show --ir)
  bool keepAsm = false;      // keep the native assembly (show --asm)
  std::string* graphLog = nullptr;  // receives the graph after each pass
  std::optional<Stage> emit;        // stop after this stage with its text in CompiledModel::emitted
  std::optional<bool> verifyGraphs; // verify the graph after each pass (default: verifyGraphsByDefault)
  std::optional<Op> faultyGradient; // test hook: this op's gradient rule is made wrong
};

/// The front end alone: read, lex, parse, lower. Errors land in `diags`.
std::optional<Model> parseModel(const std::string& source, const std::string& file, DiagnosticEngine& diags,
                                StageTimes* times = nullptr);

/// The pipeline up to `stage`, and what that stage made as text (show --emit).
std::optional<std::string> emitStage(const std::string& source, const std::string& file, Stage stage,
                                     CompileOptions options, DiagnosticEngine& diags);

/// Everything: front end, autodiff, passes, codegen and JIT.
std::unique_ptr<CompiledModel> compileModel(const std::string& source, const std::string& file,
                                            const CompileOptions& options, DiagnosticEngine& diags);

/// The back half, for a model the caller has parsed (and checked) already.
std::unique_ptr<CompiledModel> compileModel(Model model, const CompileOptions& options, DiagnosticEngine& diags);

/// The forward graph and its gradient graph as Graphviz dot (show --graph / --grad):
/// builtin and fn calls one box each, or with `expandCalls` open clusters (--expand).
std::string modelDot(const Model& model, bool withGradients, DiagnosticEngine& diags, bool expandCalls = false);

/// The arithmetic of one train step's forward and backward pass (the
/// optimizer's update aside): a part that grows with the batch, per row,
/// and a part that does not. Multiply-adds count as two.
struct StepFlops {
  double perRow = 0, fixed = 0;
};
StepFlops trainStepFlops(const Model& model, DiagnosticEngine& diags);

} // namespace nnjit
