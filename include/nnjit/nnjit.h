// nnjit.h: the public embedding API — compile a `.nn` model, train it, predict with it.
//
// Everything lives in namespace `nnjit::api` (the compiler's own types use
// `nnjit`). No LLVM or internal header is reachable from here; link the
// `nnjit::nnjit` CMake target (libnnjit) and include <nnjit/nnjit.h>.
//
// The steps the `nnjit` CLI takes are all here too: `ParsedModel` (the front
// end alone, to check a model and find its data before compiling),
// `Model::compile` with `BuildOptions` (which entry points, IR, assembly), and
// from <nnjit/Data.h> (included below) CSV `Table`s, the `TrainData` split
// and whole training runs with per-epoch reports; from <nnjit/Tools.h>
// "did you mean" suggestions and the build's version and host CPU.
//
// Errors are values: every call that can fail returns `Expected<T>` or
// `Status` carrying an `Error` (a kind plus diagnostics with file, line,
// column and message). The library never prints and never exits; a wrongly
// shaped buffer or an unknown name is an `ErrorKind::InvalidArgument`.
//
// Ownership and threads:
//  - `Model` is an immutable, cheaply copyable handle to one compiled model
//    and its own JIT (native code, LLVM context). The JIT is released when the
//    last `Model` copy and the last `Session` made from it are destroyed.
//  - `Session` owns the buffers of one training run (params, optimizer state,
//    inputs, outputs). It is movable, not copyable, and keeps its Model alive.
//  - Any number of Models and Sessions may exist in one process at once.
//    Calls on *different* Sessions may run concurrently on different threads,
//    also when they share one Model; compiling on several threads at once is
//    safe. One Session must not be used from two threads at the same time.
//  - The generated code uses up to 256 KB of the calling thread's stack (a
//    matmul's copied panel of its right operand, 64 KB; a Winograd
//    convolution's rows of tiles while they are transformed): call a Session
//    from a thread with at least 1 MB of stack (glibc's default is 8 MB).
//  - A `Batch` only points at the caller's memory; that memory must stay valid
//    for the duration of the call it is passed to, and is never retained.
#pragma once

#include <nnjit/Expected.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnjit::api {

/// The element type a model computes in, fixed when it is compiled.
enum class DType { F32, F64 };

/// The size of the `batch` dim in `TensorInfo::shape`: known only per call.
inline constexpr int64_t kBatch = -1;

/// The most epochs one `Session::train` runs (and `nnjit train --epochs`
/// accepts): far beyond any real run, and far from overflowing a count.
inline constexpr int64_t kMaxEpochs = 1'000'000'000'000;

/// An input, param or output as declared in the `.nn` source.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  ///< dims; `kBatch` where the source says `batch`
  bool batched = false;        ///< has a `batch` dim: one group of values per row
  int64_t rowElements = 1;     ///< values per row (all of them when not batched)
  int64_t classes = 0;         ///< N for a `class(N)` label input, else 0
  bool readByOutput = false;   ///< inputs: `predict` needs this one

  /// Values a buffer for `rows` rows holds: rows * rowElements, or
  /// rowElements when not batched; -1 when that does not fit in int64_t.
  int64_t elements(int64_t rows) const {
    int64_t n = 0;
    return !batched ? rowElements : __builtin_mul_overflow(rows, rowElements, &n) ? -1 : n;
  }
};

/// Which generated functions to build. Each costs compile time, so a caller
/// that knows what it will call asks for only that.
struct EntryPoints {
  bool trainStep = false;  ///< forward, backward and update in one call (trainStep, trainEpoch, train)
  bool evaluate = false;   ///< loss and metrics (evaluate, test figures, gradient checks)
  bool predict = false;    ///< the output (predict)
  bool gradients = false;  ///< loss and every param's gradient (gradients)
};

/// How to compile.
struct CompileSettings {
  DType dtype = DType::F32;
  std::optional<double> learningRate;  ///< replaces the optimizer's `lr`
};

/// What `Model::compile` builds and keeps beyond `CompileSettings` (kept
/// apart so that `{dtype, lr}` initializers of CompileSettings stay complete).
struct BuildOptions {
  /// None: every entry point the model supports.
  std::optional<EntryPoints> entryPoints;
  bool keepIR = false;   ///< keep the optimized LLVM IR text for `Model::ir()`
  bool keepAsm = false;  ///< keep the native assembly for `Model::assembly()`
  /// Test hook: the gradient rule of the op with this name is made wrong, to
  /// prove that a gradient check catches it. Empty: none. See `isOpName`.
  std::string faultyGradientOp;
};

/// The model's `train(test = ...)`: which rows are held out to test on.
struct TestSplit {
  enum class Kind { None, Count, Fraction, File };
  Kind kind = Kind::None;
  int64_t count = 0;    ///< Kind::Count: the last `count` rows (after the one-time shuffle)
  double fraction = 0;  ///< Kind::Fraction: that share of the rows, rounded to nearest
  std::string path;     ///< Kind::File: a separate CSV, relative to the current directory (the first of `paths`)
  std::string name;     ///< Kind::File: the path as the `.nn` file writes it (names it in diagnostics)
  std::vector<std::string> paths;  ///< Kind::File: every test file (one CSV, or IDX files), like `path`
  std::vector<std::string> names;  ///< Kind::File: each as the `.nn` file writes it, like `name`
};

/// The model's own `train(...)` settings, the defaults of `Session::trainEpoch`.
struct TrainDefaults {
  int64_t epochs = 1;
  int64_t batchSize = 0;                 ///< 0: all rows in one batch
  std::optional<uint64_t> shuffleSeed;  ///< none: rows in order
  TestSplit test;
  int64_t patience = 0;                 ///< `train(patience = N)`; 0: no early stopping
  /// Where `patience = N` is written (line 0: it is not): an empty error
  /// to give a message, for a diagnostic with a caret under the argument.
  Diagnostic patienceAt;
  /// Where `test = ...` is written, likewise (a test share that leaves no rows to train on).
  Diagnostic testAt;
};

/// Milliseconds each compiler stage took, for a time report.
/// One stage of the compiler's pipeline (or one graph pass) and its time.
struct StageTime {
  std::string name;
  double ms = 0;
};

struct CompileTimes {
  double parseMs = 0, lowerMs = 0, autodiffMs = 0, passesMs = 0, codegenMs = 0, optimizeMs = 0, jitMs = 0;
  bool cacheHit = false;  ///< the native code came from the on-disk object cache
  std::vector<StageTime> stages;  ///< every stage in the order it ran; the fields above sum them by kind
  double totalMs() const { return parseMs + lowerMs + autodiffMs + passesMs + codegenMs + optimizeMs + jitMs; }
};

struct Access;  ///< internal: how the implementation reaches private parts

/// The stages `ParsedModel::emit` can stop after, in pipeline order:
/// ast, graph, grad, opt, schedule, ir, asm.
NNJIT_API const std::vector<std::string>& emitStages();

/// Whether `name` names an op of the graph, as `BuildOptions::faultyGradientOp` needs:
/// the op's internal name, like `MatMul` or `Exp` (not the source spelling).
NNJIT_API bool isOpName(const std::string& name);

/// A `.nn` file after the front end (read, parse, shape checks) but before
/// code generation: enough to check what a command needs, find and load the
/// data, and draw the graph, before paying for compilation. Cheap to copy.
class NNJIT_API ParsedModel {
public:
  /// Reads and parses `path`; on failure every diagnostic (warnings too) is in the error.
  static Expected<ParsedModel> fromFile(const std::string& path);

  const std::string& name() const;
  /// Warnings the front end gave.
  const std::vector<Diagnostic>& warnings() const;
  bool hasInputs() const;
  bool hasLoss() const;
  bool hasOptimizer() const;
  /// Has a `train(...)` declaration (else `trainDefaults()` are the plain defaults).
  bool hasTrain() const;
  bool hasOutput() const;
  /// The `data "FILE"` path, made relative to the current directory (it is
  /// written relative to the `.nn` file); empty when there is none. With
  /// several files (`data "a.gz", "b.gz"`), the first.
  const std::string& dataPath() const;
  /// The `data "FILE"` path as the `.nn` file writes it: how diagnostics name it.
  const std::string& dataName() const;
  /// Every file of the `data` statement, like `dataPath()`; empty when there is none.
  const std::vector<std::string>& dataPaths() const;
  /// Every file of the `data` statement as the `.nn` file writes it, like `dataName()`.
  const std::vector<std::string>& dataNames() const;
  /// `train(...)`, with a test file's path resolved like `dataPath()`.
  const TrainDefaults& trainDefaults() const;
  /// The forward graph, or with `withGradients` also its gradient graph, as
  /// Graphviz dot: each builtin or fn call of more than one op is one box, or,
  /// with `expandCalls`, a cluster of its ops labelled with the call and its line.
  Expected<std::string> dot(bool withGradients, bool expandCalls = false) const;
  /// What one stage of the compiler's pipeline makes of this model, as text
  /// (`nnjit show --emit STAGE`): the pipeline runs up to that stage. Stages,
  /// in order, are `emitStages()`; another name is an InvalidArgument error.
  Expected<std::string> emit(const std::string& stage, const CompileSettings& settings = {}) const;

  struct Impl;  ///< internal

private:
  friend struct Access;
  explicit ParsedModel(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

/// A compiled model. Immutable; copies share the compiled code.
class NNJIT_API Model {
public:
  /// Reads and compiles `path`. Diagnostics name `path`.
  static Expected<Model> fromFile(const std::string& path, const CompileSettings& settings = {});
  /// Compiles `source`; diagnostics name `name` as the file.
  static Expected<Model> fromString(std::string_view source, const std::string& name = "<string>",
                                    const CompileSettings& settings = {});
  /// Compiles a parsed model. Unlike `fromString`, any learning rate is taken
  /// as given, as the CLI's `--lr` is. Diagnostics carry no source lines.
  static Expected<Model> compile(const ParsedModel& parsed, const CompileSettings& settings = {},
                                 const BuildOptions& build = {});

  const std::string& name() const;
  DType dtype() const;
  /// In declaration order, which is also the order of CSV columns.
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& params() const;
  /// The `output NAME` declaration, if any; `shape` is its computed shape.
  const std::optional<TensorInfo>& output() const;
  /// Metric names in declaration order.
  const std::vector<std::string>& metrics() const;
  /// The `NAME = EXPR` values, in source order, with their computed shapes.
  std::vector<TensorInfo> values() const;
  /// The arithmetic of one train step's forward and backward pass (not the
  /// optimizer's update): per batch row, and per step whatever the batch.
  /// A multiply-add counts as two operations.
  struct StepFlops {
    double perRow = 0, fixed = 0;
  };
  StepFlops trainStepFlops() const;
  /// The bytes a Session allocates for batches of `rows` rows: params,
  /// optimizer and model state, inputs, outputs, the intermediates' arena
  /// (planned at compile time) and, for train steps by chunks, each chunk's
  /// sums; UINT64_MAX if that overflows.
  uint64_t sessionBytes(int64_t rows) const;
  bool hasLoss() const;
  /// Has a loss and an optimizer: `trainStep` and `trainEpoch` work.
  bool canTrain() const;
  /// The train step runs by chunks of rows (docs/language.md, "Threads and
  /// processes"), so threads and the processes of an MPI job share its rows;
  /// otherwise (batch statistics, dropout) each process computes every batch.
  bool trainsByChunks() const;
  /// Rows per chunk of a train step by chunks (32 or 64); 0 for one that trains whole.
  int64_t trainChunkRows() const;
  const TrainDefaults& trainDefaults() const;
  /// Warnings the compiler gave for a model that compiled.
  const std::vector<Diagnostic>& warnings() const;
  /// Time per stage; parse and lower times only for `compile` (from the ParsedModel).
  const CompileTimes& compileTimes() const;
  /// The optimized LLVM IR, or the native assembly: empty unless kept (BuildOptions).
  const std::string& ir() const;
  const std::string& assembly() const;
  /// Warnings a gradient check gives: params the loss does not read (for a
  /// model with a loss) and inputs nothing reads, each at its declaration.
  std::vector<Diagnostic> unusedWarnings() const;

  struct Impl;  ///< internal

private:
  friend class Session;
  friend struct Access;
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  static Expected<Model> compileParsed(const ParsedModel& parsed, const CompileSettings& settings,
                                       const BuildOptions& build);
  std::shared_ptr<const Impl> impl_;
};

/// Rows of data for one call, as views of the caller's memory: for each input
/// a row-major buffer of `TensorInfo::elements(rows)` values (labels of a
/// `class(N)` input as whole numbers 0..N-1). Buffers of either dtype are
/// accepted; a model in the other dtype converts them. Buffers in the model's
/// dtype are read in place, with no copy, except by a shuffled `trainEpoch`
/// (which gathers its rows).
class NNJIT_API Batch {
public:
  /// `rows` rows; 0 is fine for a model without batched inputs.
  explicit Batch(int64_t rows = 0) : rows_(rows) {}

  /// Binds input `name` to `values` (replacing an earlier binding of `name`).
  /// Unknown names and wrong sizes are reported by the call that uses the batch.
  Batch& set(std::string name, std::span<const float> values);
  Batch& set(std::string name, std::span<const double> values);
  /// The same from a pointer: `values` holds `elements(rows)` values.
  /// (A negative `count` is reported, not converted to a huge size.)
  Batch& set(std::string name, const float* values, int64_t count) { return bind({std::move(name), values, count, DType::F32}); }
  Batch& set(std::string name, const double* values, int64_t count) { return bind({std::move(name), values, count, DType::F64}); }

  int64_t rows() const { return rows_; }

  struct Column {
    std::string name;
    const void* data = nullptr;
    int64_t size = 0;
    DType dtype = DType::F32;
  };
  const std::vector<Column>& columns() const { return columns_; }

private:
  Batch& bind(Column c);
  int64_t rows_;
  std::vector<Column> columns_;
};

struct Metric {
  std::string name;
  double value = 0;
};

/// After one `trainStep`: the loss before the update and the metrics that
/// read inputs (those that read only params are computed per epoch).
struct StepResult {
  double loss = 0;
  std::vector<Metric> metrics;
  int64_t step = 0;  ///< steps taken so far by this session, 1-based
};

/// After one `trainEpoch`: means over its batches, as the CLI reports them.
struct EpochResult {
  int64_t epoch = 0;  ///< 1-based, counting every epoch this session trained
  double loss = 0;
  std::vector<Metric> metrics;  ///< every metric, in declaration order
  int64_t batches = 0;
};

struct Evaluation {
  double loss = 0;  ///< 0 for a model without a loss
  std::vector<Metric> metrics;
};

/// Values read out of a session, row-major, in double whatever the dtype.
struct Tensor {
  std::vector<int64_t> shape;  ///< concrete: the batch dim is the row count
  std::vector<double> values;
};

/// Overrides of the model's `train(...)` for one `trainEpoch` call.
struct EpochOptions {
  int64_t batchSize = 0;                 ///< 0: the model's batch size
  std::optional<uint64_t> shuffleSeed;  ///< none: the model's `shuffle` (may be none)
};

class Table;
class TrainData;
struct TrainOptions;
struct TrainCallbacks;
struct TrainRun;

/// After `Session::gradients`: the loss and, per param in declaration order, its gradient.
struct Gradients {
  double loss = 0;
  std::vector<Tensor> params;
};

/// Whether `Session::save(path)` could create the file: the path is not
/// empty or a folder, and the folder it goes in (after following a symbolic
/// link) exists and is writable. Worth asking before a long run rather than
/// learning it after. An Io error naming `path`.
NNJIT_API Status checkSavePath(const std::string& path);

/// This process's place in a data-parallel job that mpirun started
/// (docs/language.md, "Threads and processes"). MPI is initialized by the
/// first call, and only under mpirun; outside one (or in a build without
/// MPI) this is a job of one process.
struct MpiJob {
  int rank = 0;
  int size = 1;
  int onThisMachine = 1;  ///< processes of the job on this machine: they share its cores
};
NNJIT_API MpiJob mpiJob();
/// Whether every process of the job passed `ok`; every process must call it
/// (`ok` itself outside a job).
NNJIT_API bool mpiAllOk(bool ok);
/// This process's end in the job: MPI_Finalize when `status` is 0 (every
/// process must get there), else MPI_Abort, which ends every process of the
/// job with `status` and does not return. Nothing outside a job.
NNJIT_API void endMpiJob(int status);

/// One training run of a Model: its params, optimizer state and counters.
///
/// Every call that can fail reports an error value, never an exception or a
/// crash: a session too large for memory (ErrorKind::OutOfMemory), a
/// moved-from session, and a session already inside a call on another
/// thread (both InvalidArgument) included. A call made from inside a
/// `Session::train` callback, on the training thread, is allowed.
class NNJIT_API Session {
public:
  /// Draws every param from its initializer with `seed` (as `--seed` does).
  /// A session whose buffers cannot be allocated answers every call with
  /// that OutOfMemory error; `create` returns the error instead.
  explicit Session(const Model& model, uint64_t seed = 0);
  static Expected<Session> create(const Model& model, uint64_t seed = 0);
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// A moved-from session answers every call with an InvalidArgument error,
  /// except this one: it still names the model it was made for.
  const Model& model() const;

  /// Redraws the params from `seed` and resets the optimizer and counters
  /// (nothing, on a session that every other call would refuse).
  void reset(uint64_t seed);
  uint64_t seed() const;

  /// Threads a step, an evaluation and a predict run on (a pool made once
  /// for the session); must be >= 1. Any count gives the same bits
  /// (docs/language.md, "Threads and processes").
  Status setThreads(int threads);
  int threads() const;
  /// From now on, train steps are computed with the other processes of the
  /// mpirun job (mpiJob()): each computes its share of every batch's chunks,
  /// all apply the same update, and the params have the bits one process
  /// would compute. Every process must then make the same calls on the same
  /// data. Nothing outside a job.
  Status joinMpiJob();

  int64_t epochsDone() const;
  int64_t steps() const;

  /// One optimizer step on `batch` (every input bound). Diverged when the
  /// loss is not finite; the params, optimizer state and step count are then
  /// as they were before the step (its update would be NaN).
  Expected<StepResult> trainStep(const Batch& batch);
  /// One epoch over all rows of `data`, in batches, shuffled per epoch as the
  /// CLI does (same seed, same order). Stops with Diverged at a non-finite
  /// loss, with the session as it was before that batch's step.
  Expected<EpochResult> trainEpoch(const Batch& data, const EpochOptions& options = {});
  /// Loss and every metric of `batch` as one batch; params unchanged.
  Expected<Evaluation> evaluate(const Batch& batch);
  /// The model's output for `batch`; only the inputs the output reads are needed.
  Expected<Tensor> predict(const Batch& batch);

  /// Whole training runs and whole tables (declared in <nnjit/Data.h>):
  /// `options.epochs` epochs after `epochsDone()`, as `nnjit train` runs them:
  /// per-epoch shuffle, test figures after each epoch, callbacks per batch and
  /// epoch. A loss that is not finite stops the run and is reported in
  /// `TrainRun::diverged`, not as an error; the step that diverged is undone.
  /// At most `kMaxEpochs` epochs.
  Expected<TrainRun> train(const TrainData& data, const TrainOptions& options, const TrainCallbacks& callbacks);
  /// Loss and every metric over all rows of `data` as one batch (null: a model without inputs).
  Expected<Evaluation> evaluate(const Table* data);
  /// The output for every row of `data` (either layout `loadPredictCsv` reads).
  Expected<Tensor> predict(const Table& data);
  /// Loss and every param's gradient on `batch`; needs EntryPoints::gradients.
  Expected<Gradients> gradients(const Batch& batch);

  /// The current values of param `name`.
  Expected<Tensor> param(std::string_view name) const;
  /// Overwrites param `name`; `values` must hold exactly its element count.
  Status setParam(std::string_view name, std::span<const float> values);
  Status setParam(std::string_view name, std::span<const double> values);

  /// Writes params, optimizer state and the epoch count as safetensors, atomically.
  Status save(const std::string& path) const;
  /// Reads a checkpoint of this model; on an error the session is unchanged.
  Status load(const std::string& path);

  struct Impl;  ///< internal

private:
  Model model_;  // outside impl_, so that a moved-from session still has it
  std::unique_ptr<Impl> impl_;
};

} // namespace nnjit::api

#include <nnjit/Data.h>
#include <nnjit/Tools.h>
