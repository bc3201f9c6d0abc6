// Trainer: the epoch loop — batches, the fused train step, metrics and test figures.
#pragma once

#include "Session.h"

#include <atomic>
#include <functional>
#include <optional>

namespace nnjit {

/// What to train on and how, with every default and command-line override applied.
struct TrainPlan {
  int64_t epochs = 1;
  int64_t batch = 0;                    // rows per batch; 0: all training rows
  std::optional<uint64_t> shuffleSeed;
  const Dataset* data = nullptr;        // null for a model without inputs
  std::vector<int64_t> trainRows;       // row numbers into *data (or into what `feed` reads)
  /// For rows that are not a Dataset (the API's Batch, in the caller's
  /// memory): feeds rows `order[begin, begin + count)` into the session's inputs.
  std::function<void(Session&, const std::vector<int64_t>& order, int64_t begin, int64_t count)> feed;
  const Dataset* testData = nullptr;    // may equal data
  std::vector<int64_t> testRows;
  /// Polled before each batch: once true, the run stops there (a signal
  /// handler sets it, so it is only read here, never waited on).
  const std::atomic<bool>* stop = nullptr;
  /// On such a stop inside an epoch, put the params, optimizer state and
  /// counters back as they were at its start, so that a checkpoint saved then
  /// resumes exactly like a run that was never stopped. Costs a copy of them
  /// per epoch.
  bool undoUnfinishedEpoch = false;
  /// > 0: stop after this many epochs in a row without a test loss strictly
  /// lower than the best of the run (early stopping); needs test rows.
  int64_t patience = 0;
};

/// Splits `data` into train and test rows as the contract says: shuffle
/// once (if seeded), then take the test rows from the end.
/// `testCount` < 0 means a separate test file (all of `data` trains).
void splitRows(TrainPlan& plan, int64_t rows, int64_t testCount);

/// The training rows of epoch `epoch` (0-based), reshuffled per epoch from the
/// seed so that a resumed run sees the order it would have seen without stopping.
std::vector<int64_t> epochRows(const TrainPlan& plan, int64_t epoch);

/// The test row count for a fraction, rounded to nearest, halves up.
int64_t testRowsForFraction(double fraction, int64_t rows);

struct EpochStats {
  int64_t epoch = 0;                 // 1-based, continuing across resumed runs
  double loss = 0;
  std::vector<double> metrics;       // in declaration order
  bool hasTest = false;
  double testLoss = 0;
  std::vector<double> testMetrics;
  bool best = false;                 // its test loss is strictly lower than every earlier one of the run
  double ms = 0;
};

struct TrainOutcome {
  bool diverged = false;
  int64_t badEpoch = 0, badBatch = 0;  // 1-based, where the loss stopped being finite
  double badLoss = 0;
  bool interrupted = false;           // `TrainPlan::stop` was seen
  int64_t stopEpoch = 0, stopBatch = 0;  // 1-based epoch; batches of it done (0: stopped between epochs)
  int64_t batches = 0;                // per epoch
  int64_t epochsRun = 0;
  double lastLoss = 0;
  int64_t bestEpoch = 0;              // 1-based; 0: no epoch had a finite test loss
  double bestTestLoss = 0;
  bool stoppedEarly = false;          // `TrainPlan::patience` ended the run before its last epoch
  double trainMs = 0;
};

/// Where a running training is, for a progress display.
struct Progress {
  int64_t epoch = 0, lastEpoch = 0;    // 1-based
  int64_t batch = 0, batches = 0;      // 1-based, in this epoch
  double loss = 0;                     // running mean over this epoch's batches
  int64_t rowsDone = 0, rowsTotal = 0; // over the whole run
  double seconds = 0;                  // since training started
};

struct TrainCallbacks {
  std::function<void(const EpochStats&)> onEpoch;
  std::function<void(const Progress&)> onBatch;  // optional
};

/// Runs `plan.epochs` epochs from `session.epochsDone`, calling back after
/// each batch and epoch. Stops at the first batch whose loss is not finite,
/// before the first batch that finds `plan.stop` set, or when `plan.patience`
/// epochs pass without a better test loss.
TrainOutcome train(Session& session, const TrainPlan& plan, const TrainCallbacks& callbacks);

/// Loss and metrics of `rows` of `data` as one batch (eval, test figures).
struct Evaluation {
  double loss = 0;
  std::vector<double> metrics;
};
Evaluation evaluate(Session& session, const Dataset* data, const std::vector<int64_t>& rows);

/// Identity column mapping: dataset column i feeds model input i.
std::vector<int> allColumns(const Declarations& m);

/// The CSV layout of the model's inputs, in declaration order.
std::vector<InputColumns> csvLayout(const Declarations& m);

} // namespace nnjit
