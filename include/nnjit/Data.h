// Data.h: data tables bound to a model and whole training runs over them (included by nnjit.h).
//
// A `Table` owns the values of a CSV file laid out by a model's inputs, as the
// contract's data-binding rules say, or of IDX files (MNIST's format), each
// bound to an input; `Table::batch()` views it as a `Batch`.
// `TrainData` is a table split into training and test rows by the model's
// `train(test = ...)`; `Session::train` runs epochs over it.
#pragma once

#include <nnjit/nnjit.h>

#include <atomic>
#include <functional>

namespace nnjit::api {

/// Data for a model: one column group per input it was read for. Cheap to copy.
class NNJIT_API Table {
public:
  int64_t rows() const;
  /// The inputs it holds values for, in column order.
  std::vector<std::string> inputNames() const;
  /// A view binding every input the table holds; valid while the table lives.
  Batch batch() const;
  /// The first `count` rows of the order a train/test split takes rows in
  /// (shuffled once with `shuffleSeed`, when given), copied into a new table.
  Table firstRows(int64_t count, std::optional<uint64_t> shuffleSeed) const;

  struct Impl;  ///< internal

private:
  friend struct Access;
  explicit Table(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

/// Reads `path` with a column group per input of `model`. `dtype` is the
/// dtype the table holds its values in (read them for a model of that dtype:
/// its batches are then read in place or copied, never converted) and decides
/// which values count as finite (1e39 overflows f32). Errors name the line and
/// field, and the file as `displayName` (default: `path`). An IDX file is
/// read as `loadData` reads it.
NNJIT_API Expected<Table> loadCsv(const ParsedModel& model, const std::string& path, DType dtype,
                                  const std::string& displayName = "");

/// For predicting: a CSV with every input of `model`, or only those its output
/// reads, told apart by the first row's column count.
NNJIT_API Expected<Table> loadPredictCsv(const Model& model, const std::string& path);

/// One data file: its path, and how diagnostics name it (empty: as `path`).
struct DataFile {
  std::string path;
  std::string name;
};

/// Reads the data of `model` from `files`: one CSV file, or IDX files (raw or
/// gzip-compressed, told by their first bytes), each binding the first
/// unbound input its items fit, in declaration order; every input must be
/// bound (see docs/language.md). Errors name the file.
NNJIT_API Expected<Table> loadData(const ParsedModel& model, const std::vector<DataFile>& files, DType dtype);

/// For predicting: one CSV file as `loadPredictCsv` reads it, or IDX files
/// that bind at least the inputs the output reads.
NNJIT_API Expected<Table> loadPredictData(const Model& model, const std::vector<std::string>& paths);

/// Training and test rows, as the model's `train(test = ...)` splits them.
class NNJIT_API TrainData {
public:
  /// Splits `data` (none for a model without inputs). A test file is read
  /// here with `dtype`'s finiteness rule. Too many test rows is an InvalidArgument error.
  static Expected<TrainData> split(const ParsedModel& model, std::optional<Table> data, DType dtype);

  int64_t trainRows() const;
  int64_t testRows() const;

  struct Impl;  ///< internal

private:
  friend struct Access;
  explicit TrainData(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

/// Overrides of the model's `train(...)` for one `Session::train` run.
struct TrainOptions {
  std::optional<int64_t> epochs;     ///< none: the model's epochs
  std::optional<int64_t> batchSize;  ///< none: the model's batch size (0: all rows)
  /// Read before each batch; once true, the run stops there and reports
  /// `TrainRun::interrupted`. Setting it from a signal handler is safe.
  const std::atomic<bool>* stop = nullptr;
  /// On such a stop inside an epoch, the session goes back to that epoch's
  /// start, so that `save` then writes a checkpoint that resumes exactly like
  /// a run never stopped. Costs a copy of the params and optimizer state per epoch.
  bool undoUnfinishedEpoch = false;
  /// Early stopping, as Keras' EarlyStopping(patience = N): the run ends
  /// once this many epochs in a row bring no test loss strictly lower than
  /// the run's best so far. None: the model's `train(patience = N)`; 0: no
  /// early stopping. Needs test rows (an InvalidArgument error without them)
  /// and the evaluate entry point (NotSupported without it).
  std::optional<int64_t> patience;
};

/// After each epoch of `Session::train`.
struct EpochReport {
  int64_t epoch = 0;  ///< 1-based, continuing across a loaded checkpoint
  double loss = 0;
  std::vector<Metric> metrics;     ///< every metric, in declaration order
  std::optional<Evaluation> test;  ///< when the model holds rows out to test on
  /// Its test loss is strictly lower than every earlier epoch's of this run
  /// (the first finite one counts): the moment to save a best checkpoint.
  /// A callback may call `Session::save` then; the session holds this epoch's state.
  bool best = false;
  double ms = 0;
};

/// Where a running training is, for a progress display (after each batch).
struct TrainProgress {
  int64_t epoch = 0, lastEpoch = 0;     ///< 1-based
  int64_t batch = 0, batches = 0;       ///< 1-based, in this epoch
  double loss = 0;                      ///< running mean over this epoch's batches
  int64_t rowsDone = 0, rowsTotal = 0;  ///< over the whole run
  double seconds = 0;                   ///< since training started
};

/// Both optional; called on the training thread.
struct TrainCallbacks {
  std::function<void(const EpochReport&)> onEpoch;
  std::function<void(const TrainProgress&)> onBatch;
};

/// Where a run stopped because the loss was not finite.
struct Divergence {
  int64_t epoch = 0, batch = 0;  ///< 1-based
  double loss = 0;
};

/// Where a run stopped because `TrainOptions::stop` was set.
struct Interruption {
  int64_t epoch = 0;    ///< 1-based: the epoch that was running, or would have run next
  int64_t batch = 0;    ///< batches of it done (0: stopped between epochs)
  int64_t batches = 0;  ///< batches per epoch
};

/// The epoch of a run with the lowest test loss (the first of equals).
struct BestEpoch {
  int64_t epoch = 0;  ///< 1-based, continuing across a loaded checkpoint
  double testLoss = 0;
};

/// What `Session::train` did.
struct TrainRun {
  int64_t epochs = 0;  ///< epochs completed by this run
  double lastLoss = 0;
  double trainMs = 0;
  std::optional<BestEpoch> best;  ///< none without test rows, or when no test loss was finite
  /// `TrainOptions::patience` ended the run before its last epoch (not when
  /// the patience ran out at the last epoch anyway).
  bool stoppedEarly = false;
  std::optional<Divergence> diverged;
  std::optional<Interruption> interrupted;
};

} // namespace nnjit::api
