// Trainer: the epoch loop — batches, the fused train step, metrics and test figures.
#include "Trainer.h"

#include "Random.h"

#include <chrono>
#include <cmath>
#include <numeric>

namespace nnjit {

std::vector<int> allColumns(const Model& m) {
  std::vector<int> cols(m.inputs.size());
  std::iota(cols.begin(), cols.end(), 0);
  return cols;
}

std::vector<InputColumns> csvLayout(const Model& m) {
  std::vector<InputColumns> columns;
  for (const InputInfo& in : m.inputs) columns.push_back({in.name, in.width(), in.numClasses});
  return columns;
}

int64_t testRowsForFraction(double fraction, int64_t rows) {
  return static_cast<int64_t>(std::floor(fraction * static_cast<double>(rows) + 0.5));
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
  if (data) session.feed(*data, rows, 0, rows.size(), allColumns(cm.model));
  session.run(cm.evaluate, data ? n : 1);
  Evaluation e;
  e.loss = cm.lossSlot >= 0 && cm.model.loss != kNoNode ? session.scalar(cm.lossSlot) : 0;
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

TrainOutcome train(Session& session, const TrainPlan& plan, const TrainCallbacks& callbacks) {
  const CompiledModel& cm = session.compiled();
  const Model& m = cm.model;
  TrainOutcome out;
  int64_t rows = plan.data ? static_cast<int64_t>(plan.trainRows.size()) : 1;
  int64_t batch = plan.data ? (plan.batch > 0 ? std::min(plan.batch, rows) : rows) : 1;
  session.reserveRows(std::max<int64_t>(batch, 1));
  std::vector<int> columns = allColumns(m);
  auto t0 = Clock::now();
  Progress progress;
  progress.lastEpoch = session.epochsDone + plan.epochs;
  progress.batches = (rows + batch - 1) / batch;
  progress.rowsTotal = rows * plan.epochs;
  for (int64_t e = 0; e < plan.epochs; ++e) {
    auto te = Clock::now();
    int64_t epoch = session.epochsDone;
    session.setScalar(cm.epochSlot, static_cast<double>(epoch));
    std::vector<int64_t> order = plan.data ? epochRows(plan, epoch) : std::vector<int64_t>{};
    EpochStats stats;
    stats.epoch = epoch + 1;
    stats.metrics.assign(m.metrics.size(), 0.0);
    int64_t batches = 0;
    for (int64_t begin = 0; begin < rows; begin += batch) {
      int64_t n = std::min(batch, rows - begin);
      if (plan.data) session.feed(*plan.data, order, begin, n, columns);
      session.setScalar(cm.stepSlot, static_cast<double>(++session.steps));
      session.run(cm.trainStep, n);
      ++batches;
      double loss = session.scalar(cm.lossSlot);
      if (!std::isfinite(loss)) {
        out.diverged = true;
        out.badEpoch = epoch + 1;
        out.badBatch = batches;
        out.badLoss = loss;
        out.trainMs = msSince(t0);
        return out;
      }
      stats.loss += loss;
      for (size_t i = 0; i < m.metrics.size(); ++i)
        if (cm.metricReadsInputs[i]) stats.metrics[i] += session.scalar(cm.metricSlots[i]);
      if (callbacks.onBatch) {
        progress.epoch = epoch + 1;
        progress.batch = batches;
        progress.loss = stats.loss / static_cast<double>(batches);
        progress.rowsDone = e * rows + begin + n;
        progress.seconds = msSince(t0) / 1000;
        callbacks.onBatch(progress);
      }
    }
    if (batches > 0) {
      stats.loss /= static_cast<double>(batches);
      for (double& v : stats.metrics) v /= static_cast<double>(batches);
    }
    session.epochsDone = epoch + 1;
    if (cm.paramMetrics) {
      session.run(cm.paramMetrics, 0);
      for (size_t i = 0; i < m.metrics.size(); ++i)
        if (!cm.metricReadsInputs[i]) stats.metrics[i] = session.scalar(cm.metricSlots[i]);
    }
    if (!plan.testRows.empty() && cm.evaluate) {
      Evaluation t = evaluate(session, plan.testData, plan.testRows);
      stats.hasTest = true;
      stats.testLoss = t.loss;
      stats.testMetrics = t.metrics;
    }
    stats.ms = msSince(te);
    out.epochsRun = e + 1;
    out.lastLoss = stats.loss;
    callbacks.onEpoch(stats);
  }
  out.trainMs = msSince(t0);
  return out;
}

} // namespace nnjit
