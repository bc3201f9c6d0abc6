// Trainer: the epoch loop — batches, the fused train step, metrics and test figures.
#include "Trainer.h"

#include "Random.h"

#include <chrono>
#include <cmath>
#include <numeric>

namespace nnjit {

std::vector<int> allColumns(const Declarations& m) {
  std::vector<int> cols(m.inputs.size());
  std::iota(cols.begin(), cols.end(), 0);
  return cols;
}

std::vector<InputColumns> csvLayout(const Declarations& m) {
  std::vector<InputColumns> columns;
  for (const InputDecl& in : m.inputs) columns.push_back({in.name, in.width(), in.numClasses});
  return columns;
}

int64_t testRowsForFraction(double fraction, int64_t rows) {
  // The fraction as written: 0.145 of 100 rows is 14.5, halves up 15, though
  // the double nearest 0.145 times 100 is 14.4999...
  double share = fraction * static_cast<double>(rows);
  return static_cast<int64_t>(std::floor(share + 0.5 + 1e-9 * std::max(1.0, share)));
}

void splitRows(TrainPlan& plan, int64_t rows, int64_t testCount) {
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  if (plan.shuffleSeed) {
    Rng rng(mixSeed(*plan.shuffleSeed, 0));
    shuffle(order, rng);
  }
  int64_t test = std::max<int64_t>(testCount, 0);
  plan.trainRows.assign(order.begin(), order.end() - test);
  if (testCount >= 0) plan.testRows.assign(order.end() - test, order.end());
}

Evaluation evaluate(Session& session, const Dataset* data, const std::vector<int64_t>& rows) {
  const CompiledModel& cm = session.compiled();
  int64_t n = static_cast<int64_t>(rows.size());
  session.reserveRows(std::max<int64_t>(n, 1));
  struct Unbind {  // nothing points into `data` after the call, even one that throws
    Session& s;
    ~Unbind() { s.unbindInputs(); }
  } unbind{session};
  if (data) session.feed(*data, rows, 0, rows.size(), allColumns(cm.declared), true);
  session.evaluate(data ? n : 1);
  Evaluation e;
  e.loss = cm.lossSlot >= 0 && cm.declared.hasLoss ? session.scalar(cm.lossSlot) : 0;
  for (int slot : cm.metricSlots) e.metrics.push_back(session.scalar(slot));
  return e;
}

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

} // namespace

std::vector<int64_t> epochRows(const TrainPlan& plan, int64_t epoch) {
  std::vector<int64_t> rows = plan.trainRows;
  if (plan.shuffleSeed) {
    Rng rng(mixSeed(*plan.shuffleSeed, static_cast<uint64_t>(epoch) + 1));
    shuffle(rows, rng);
  }
  return rows;
}

namespace {

/// What an unfinished epoch has changed by the time it stops: the params,
/// the optimizer state and the step count (the epoch count changes only at its end).
struct EpochStart {
  std::vector<std::vector<double>> params, states;
  int64_t steps = 0;
};

EpochStart remember(const Session& s) {
  const CompiledModel& cm = s.compiled();
  EpochStart start{{}, {}, s.steps};
  for (int slot : cm.paramSlots) start.params.push_back(s.read(slot));
  for (int slot : cm.stateSlots) start.states.push_back(s.read(slot));
  return start;
}

void restore(Session& s, const EpochStart& start) {
  const CompiledModel& cm = s.compiled();
  for (size_t i = 0; i < cm.paramSlots.size(); ++i) s.write(cm.paramSlots[i], start.params[i]);
  for (size_t i = 0; i < cm.stateSlots.size(); ++i) s.write(cm.stateSlots[i], start.states[i]);
  s.steps = start.steps;
}

/// One training run: the epoch loop split into its batches and its end.
class Run {
public:
  Run(Session& session, const TrainPlan& plan, const TrainCallbacks& callbacks)
      : s_(session), cm_(session.compiled()), plan_(plan), callbacks_(callbacks), columns_(allColumns(cm_.declared)) {
    bool hasRows = plan.data || plan.feed;
    rows_ = hasRows ? static_cast<int64_t>(plan.trainRows.size()) : 1;
    batch_ = hasRows ? (plan.batch > 0 ? std::min(plan.batch, rows_) : rows_) : 1;
    s_.reserveRows(std::max<int64_t>(batch_, 1));
    if (cm_.canTrain()) s_.prepareTrainStep(std::max<int64_t>(batch_, 1));
    firstEpoch_ = s_.epochsDone + 1;
    // Saturating: the API bounds epochs, but a progress figure must never overflow.
    if (__builtin_add_overflow(s_.epochsDone, plan.epochs, &progress_.lastEpoch)) progress_.lastEpoch = INT64_MAX;
    progress_.batches = (rows_ + batch_ - 1) / batch_;
    out_.batches = progress_.batches;
    if (__builtin_mul_overflow(rows_, plan.epochs, &progress_.rowsTotal)) progress_.rowsTotal = INT64_MAX;
  }

  // Rows read in place belong to the caller's table: nothing points at them after the run.
  ~Run() { s_.unbindInputs(); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  TrainOutcome all() {
    for (int64_t e = 0; e < plan_.epochs; ++e) {
      auto te = Clock::now();
      EpochStats stats;
      if (!batches(e, stats)) break;
      finish(stats);
      stats.ms = msSince(te);
      out_.epochsRun = e + 1;
      out_.lastLoss = stats.loss;
      callbacks_.onEpoch(stats);
      if (outOfPatience(stats.epoch) && e + 1 < plan_.epochs) {
        out_.stoppedEarly = true;
        break;
      }
    }
    out_.trainMs = msSince(t0_);
    return out_;
  }

private:
  /// Every batch of epoch `e` of this run; false when the loss stopped being finite.
  bool batches(int64_t e, EpochStats& stats) {
    int64_t epoch = s_.epochsDone;
    s_.setScalar(cm_.epochSlot, static_cast<double>(epoch));
    std::vector<int64_t> order = plan_.data || plan_.feed ? epochRows(plan_, epoch) : std::vector<int64_t>{};
    stats.epoch = epoch + 1;
    stats.metrics.assign(cm_.declared.metrics.size(), 0.0);
    int64_t count = 0;
    // A one-batch epoch is never stopped inside: nothing to remember.
    std::optional<EpochStart> start;
    if (plan_.stop && plan_.undoUnfinishedEpoch && progress_.batches > 1) start = remember(s_);
    for (int64_t begin = 0; begin < rows_; begin += batch_) {
      if (plan_.stop && plan_.stop->load(std::memory_order_relaxed)) return interrupted(epoch + 1, count, start);
      int64_t n = std::min(batch_, rows_ - begin);
      if (plan_.feed) plan_.feed(s_, order, begin, n);
      else if (plan_.data) s_.feed(*plan_.data, order, begin, n, columns_, true);  // the plan's data outlives the run
      s_.setScalar(cm_.stepSlot, static_cast<double>(++s_.steps));
      s_.setRandomKey(epoch, count + 1);
      s_.trainStep(n);
      ++count;
      double loss = s_.scalar(cm_.lossSlot);
      if (!std::isfinite(loss)) {
        --s_.steps;  // the compiled step wrote no update: the session is as it was before it
        return diverged(epoch + 1, count, loss);
      }
      stats.loss += loss;
      for (size_t i = 0; i < stats.metrics.size(); ++i)
        if (cm_.metricReadsInputs[i]) stats.metrics[i] += s_.scalar(cm_.metricSlots[i]);
      report(epoch + 1, count, stats.loss / static_cast<double>(count), rowsDone(e, begin + n));
    }
    stats.loss /= static_cast<double>(count);
    for (double& v : stats.metrics) v /= static_cast<double>(count);
    s_.epochsDone = epoch + 1;
    return true;
  }

  /// Param-only metrics after the epoch's last update, then the test rows.
  void finish(EpochStats& stats) {
    if (cm_.paramMetrics) {
      s_.run(cm_.paramMetrics, 0);
      for (size_t i = 0; i < stats.metrics.size(); ++i)
        if (!cm_.metricReadsInputs[i]) stats.metrics[i] = s_.scalar(cm_.metricSlots[i]);
    }
    if (!plan_.testRows.empty() && cm_.canEvaluate()) {
      Evaluation t = evaluate(s_, plan_.testData, plan_.testRows);
      stats.hasTest = true;
      stats.testLoss = t.loss;
      stats.testMetrics = t.metrics;
      noteBest(stats);
    }
  }

  /// A NaN or infinite test loss is never the best: like Keras' best, which starts at +inf.
  void noteBest(EpochStats& stats) {
    stats.best = stats.testLoss < (out_.bestEpoch ? out_.bestTestLoss : INFINITY);
    if (!stats.best) return;
    out_.bestEpoch = stats.epoch;
    out_.bestTestLoss = stats.testLoss;
  }

  /// Whether `plan.patience` epochs up to `epoch` brought no better test loss
  /// (counted from the run's first epoch while none was finite).
  bool outOfPatience(int64_t epoch) const {
    if (plan_.patience <= 0) return false;
    int64_t since = out_.bestEpoch ? out_.bestEpoch : firstEpoch_ - 1;
    return epoch - since >= plan_.patience;
  }

  bool diverged(int64_t epoch, int64_t batch, double loss) {
    out_.diverged = true;
    out_.badEpoch = epoch;
    out_.badBatch = batch;
    out_.badLoss = loss;
    return false;
  }

  bool interrupted(int64_t epoch, int64_t batchesDone, const std::optional<EpochStart>& start) {
    out_.interrupted = true;
    out_.stopEpoch = epoch;
    out_.stopBatch = batchesDone;
    if (batchesDone > 0 && start) restore(s_, *start);
    return false;
  }

  int64_t rowsDone(int64_t e, int64_t inEpoch) const {
    int64_t done = 0;
    if (__builtin_mul_overflow(e, rows_, &done) || __builtin_add_overflow(done, inEpoch, &done)) return INT64_MAX;
    return done;
  }

  void report(int64_t epoch, int64_t batch, double meanLoss, int64_t rowsDone) {
    if (!callbacks_.onBatch) return;
    progress_.epoch = epoch;
    progress_.batch = batch;
    progress_.loss = meanLoss;
    progress_.rowsDone = rowsDone;
    progress_.seconds = msSince(t0_) / 1000;
    callbacks_.onBatch(progress_);
  }

  Session& s_;
  const CompiledModel& cm_;
  const TrainPlan& plan_;
  const TrainCallbacks& callbacks_;
  std::vector<int> columns_;
  int64_t rows_ = 1, batch_ = 1;
  int64_t firstEpoch_ = 1;  // 1-based, continuing across resumed runs
  Progress progress_;
  TrainOutcome out_;
  Clock::time_point t0_ = Clock::now();
};

} // namespace

TrainOutcome train(Session& session, const TrainPlan& plan, const TrainCallbacks& callbacks) {
  return Run(session, plan, callbacks).all();
}

} // namespace nnjit
