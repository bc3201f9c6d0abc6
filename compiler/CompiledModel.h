// CompiledModel: what a compile hands the runtime — declarations, buffers and their layout, entry points, the JIT.
#pragma once

#include "DType.h"
#include "Declarations.h"
#include "Jit.h"

#include <memory>
#include <string>
#include <vector>

namespace nnjit {

enum class SlotKind {
  Param, State, Input, Epoch, Step, RandomKey, BatchSize, Loss, Metric, Output, Gradient, Accumulator, PerStep, Arena, Workers
};

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

/// A compiled model: its declarations, its buffer table and its native code —
/// all the runtime sees of the compiler (no graph).
struct CompiledModel {
  Declarations declared;
  std::vector<StateDecl> states;  // optimizer state and the model's own, by stateSlots
  std::vector<Slot> slots;
  std::vector<int> paramSlots, stateSlots, inputSlots, metricSlots, gradientSlots;
  int epochSlot = -1, stepSlot = -1, lossSlot = -1, outputSlot = -1, arenaSlot = -1;
  int workersSlot = -1;  // not a buffer: a Workers (Workers.h), set by the session
  /// Four uint64 words that dropout draws from: the seed, the epoch, the
  /// batch in the epoch (see Session::setRandomKey), and the first row of the
  /// rows the call computes in the batch (0 but for a train step's chunks).
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
  /// The train step in chunks of rows, instead of `trainStep`, when everything
  /// it computes reads the rows only through sums over the batch: `trainRows`,
  /// run on each chunk of `trainChunkRows` rows, writes the chunk's sums to
  /// `trainSumSlots`; the sums of all chunks, added in the fixed tree of
  /// Session::trainStep, go to the same slots; `trainFinish` computes the loss,
  /// the metrics and the update from them. `batchSizeSlot` holds the batch's
  /// rows (in the dtype) for both.
  /// `trainPrepare`, when there is one, runs before the chunks of every step:
  /// it writes to PerStep slots what each chunk would otherwise compute from
  /// the params alone (passes/StepInvariants.h).
  EntryFn trainRows = nullptr, trainFinish = nullptr, trainPrepare = nullptr;
  std::vector<int> trainSumSlots;
  int batchSizeSlot = -1;
  int64_t trainChunkRows = 0;
  bool canTrain() const { return trainStep || trainFinish; }
  bool canEvaluate() const { return evaluate || evalFinish; }
  /// The output's rows read only the same rows of the inputs: predict may run on chunks of rows.
  bool predictPerRow = false;
  std::string ir, assembly;
  std::string emitted;  // CompileOptions::emit's stage as text
  StageTimes times;
  DType dtype = DType::F32;
  std::unique_ptr<Jit> jit;
};

} // namespace nnjit
