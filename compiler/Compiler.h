// Compiler: the stage driver — source to native functions, one stage after another.
#pragma once

#include "DType.h"
#include "Jit.h"
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

enum class SlotKind { Param, State, Input, Epoch, Step, RandomKey, Loss, Metric, Output, Gradient, Accumulator, Arena, Workers };

/// One caller-owned buffer the generated functions read or write.
struct Slot {
  std::string name;
  SlotKind kind;
  Shape shape;
};

/// One stage of the pipeline (or one graph pass) and the time it took.
struct StageTime {
  std::string name;
  double ms = 0;
};

struct StageTimes {
  std::vector<StageTime> stages;  // every stage in the order it ran
  double parseMs = 0, lowerMs = 0, autodiffMs = 0, passesMs = 0, codegenMs = 0, optimizeMs = 0, jitMs = 0;
  bool cacheHit = false;  // the native code came from the object cache
  double totalMs() const { return parseMs + lowerMs + autodiffMs + passesMs + codegenMs + optimizeMs + jitMs; }
};

/// A compiled model: its declarations, its buffer table and its native code.
struct CompiledModel {
  Model model;
  std::vector<StateTensor> states;
  std::vector<Slot> slots;
  std::vector<int> paramSlots, stateSlots, inputSlots, metricSlots, gradientSlots;
  int epochSlot = -1, stepSlot = -1, lossSlot = -1, outputSlot = -1, arenaSlot = -1;
  int workersSlot = -1;  // not a buffer: a Workers (Workers.h), set by the session
  /// Three uint64 words — the seed, the epoch, the batch in the epoch — that
  /// dropout draws from (see Session::setRandomKey).
  int randomKeySlot = -1;
  /// Arena elements for a batch of n rows: arenaStatic + arenaPerRow * n,
  /// enough for any entry point (an upper bound of what a session needs).
  int64_t arenaStatic = 0, arenaPerRow = 0;
  /// The same for each entry point alone: the session sizes the arena for
  /// the function it runs, so evaluating 10,000 test images does not reserve
  /// the train step's gradient buffers for 10,000 rows.
  struct ArenaNeed {
    EntryFn entry;
    int64_t fixed, perRow;
  };
  std::vector<ArenaNeed> arenaNeeds;
  /// Metrics computed by the train step (they read inputs); the others are
  /// computed after an epoch by `paramMetrics`.
  std::vector<bool> metricReadsInputs;
  /// Inputs that `output` depends on (for predict with fewer columns).
  std::vector<bool> outputReadsInput;
  std::vector<bool> lossReadsParam;

  EntryFn trainStep = nullptr, evaluate = nullptr, predict = nullptr, gradients = nullptr, paramMetrics = nullptr;
  /// Evaluation in chunks of rows, instead of `evaluate`, when the loss and
  /// metrics read the rows only through sums over the batch (RowSplit.h):
  /// `evalRows` adds a chunk's sums into `accumulatorSlots` (zero them first),
  /// `evalFinish`, run with the number of rows of all chunks, computes the values.
  EntryFn evalRows = nullptr, evalFinish = nullptr;
  std::vector<int> accumulatorSlots;
  bool canEvaluate() const { return evaluate || evalFinish; }
  /// The output's rows read only the same rows of the inputs: predict may run on chunks of rows.
  bool predictPerRow = false;
  std::string ir, assembly;
  std::string emitted;  // CompileOptions::emit's stage as text
  StageTimes times;
  DType dtype = DType::F32;
  std::unique_ptr<Jit> jit;
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
