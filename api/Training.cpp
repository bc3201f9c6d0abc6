// Training: whole runs and whole tables on a Session — Trainer's epoch loop, evaluate and predict.
#include "Internal.h"

#include <algorithm>
#include <numeric>

namespace nnjit::api {
namespace {

Error notSupported(const Model::Impl& m, const std::string& what) {
  return errorIn(ErrorKind::NotSupported, m.name, "the model has no " + what);
}

std::vector<Metric> named(const Model::Impl& m, const std::vector<double>& values) {
  std::vector<Metric> out;
  for (size_t i = 0; i < values.size() && i < m.metrics.size(); ++i) out.push_back({m.metrics[i], values[i]});
  return out;
}

/// A table read for another model would feed the wrong columns.
Status checkLayout(const Model::Impl& m, const Table::Impl& t) {
  bool same = t.names.size() == m.inputs.size();
  for (size_t i = 0; same && i < t.names.size(); ++i) same = t.names[i] == m.inputs[i].name;
  if (same) return {};
  return errorIn(ErrorKind::InvalidArgument, m.name, "the table was not read for this model's inputs");
}

EpochReport reportOf(const Model::Impl& m, const nnjit::EpochStats& s) {
  EpochReport r;
  r.epoch = s.epoch;
  r.loss = s.loss;
  r.metrics = named(m, s.metrics);
  if (s.hasTest) r.test = Evaluation{s.testLoss, named(m, s.testMetrics)};
  r.best = s.best;
  r.ms = s.ms;
  return r;
}

TrainProgress progressOf(const nnjit::Progress& p) {
  return {p.epoch, p.lastEpoch, p.batch, p.batches, p.loss, p.rowsDone, p.rowsTotal, p.seconds};
}

} // namespace

namespace {

/// The plan for `Session::train` after its options are checked.
Expected<nnjit::TrainPlan> planOf(const Session::Impl& s, const TrainData::Impl& d, const TrainOptions& options) {
  nnjit::TrainPlan plan;
  plan.epochs = options.epochs.value_or(d.defaults.epochs);
  plan.batch = options.batchSize.value_or(d.defaults.batchSize);
  if (plan.epochs < 0 || plan.epochs > kMaxEpochs)
    return errorIn(ErrorKind::InvalidArgument, s.m.name,
                   "the epoch count " + std::to_string(plan.epochs) + " is not from 0 to " + std::to_string(kMaxEpochs));
  if (plan.batch < 0) return errorIn(ErrorKind::InvalidArgument, s.m.name, "the batch size cannot be negative");
  plan.shuffleSeed = d.shuffleSeed;
  plan.data = d.data ? &Access::of(*d.data).data : nullptr;
  plan.trainRows = d.trainRows;
  plan.testData = d.testFile ? &Access::of(*d.testFile).data : plan.data;
  plan.testRows = d.testRows;
  plan.stop = options.stop;
  plan.undoUnfinishedEpoch = options.undoUnfinishedEpoch;
  plan.patience = options.patience.value_or(d.defaults.patience);
  if (plan.patience < 0) return errorIn(ErrorKind::InvalidArgument, s.m.name, "the patience cannot be negative");
  if (plan.patience > 0 && plan.testRows.empty())
    return errorIn(ErrorKind::InvalidArgument, s.m.name, "early stopping (patience) needs test rows to watch");
  if (plan.patience > 0 && !s.m.cm->canEvaluate())
    return notSupported(s.m, "evaluate entry point to test with (for patience)");
  return plan;
}

/// Rows a run of `plan` feeds at once: a batch, and all test rows.
/// The rows of the plan's largest train step (a batch, or all training rows).
int64_t trainBatch(const nnjit::TrainPlan& plan) {
  int64_t rows = plan.data ? static_cast<int64_t>(plan.trainRows.size()) : 1;
  return std::max<int64_t>(plan.batch > 0 ? std::min(plan.batch, rows) : rows, 1);
}

int64_t widestBatch(const nnjit::TrainPlan& plan) {
  return std::max<int64_t>(trainBatch(plan), static_cast<int64_t>(plan.testRows.size()));
}

} // namespace

Expected<TrainRun> Session::train(const TrainData& data, const TrainOptions& options, const TrainCallbacks& callbacks) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<TrainRun> {
    const TrainData::Impl& d = Access::of(data);
    if (!s.m.canTrain) return notSupported(s.m, "loss and optimizer to train with");
    if (!d.data && !s.m.inputs.empty())
      return errorIn(ErrorKind::InvalidArgument, s.m.name, "the model has inputs but no data");
    if (d.data)
      if (Status ok = checkLayout(s.m, Access::of(*d.data)); !ok) return ok.error();
    Expected<nnjit::TrainPlan> plan = planOf(s, d, options);
    if (!plan) return plan.error();
    if (Status ok = reserveRows(s, widestBatch(*plan), trainBatch(*plan)); !ok) return ok.error();
    nnjit::TrainCallbacks hooks;
    hooks.onEpoch = [&](const nnjit::EpochStats& e) {
      if (callbacks.onEpoch) callbacks.onEpoch(reportOf(s.m, e));
    };
    if (callbacks.onBatch) hooks.onBatch = [&](const nnjit::Progress& p) { callbacks.onBatch(progressOf(p)); };
    nnjit::TrainOutcome outcome = nnjit::train(*s.session, *plan, hooks);
    TrainRun run;
    run.epochs = outcome.epochsRun;
    run.lastLoss = outcome.lastLoss;
    run.trainMs = outcome.trainMs;
    if (outcome.diverged) run.diverged = Divergence{outcome.badEpoch, outcome.badBatch, outcome.badLoss};
    if (outcome.bestEpoch) run.best = BestEpoch{outcome.bestEpoch, outcome.bestTestLoss};
    run.stoppedEarly = outcome.stoppedEarly;
    if (outcome.interrupted) run.interrupted = Interruption{outcome.stopEpoch, outcome.stopBatch, outcome.batches};
    return run;
  });
}

Expected<Evaluation> Session::evaluate(const Table* data) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Evaluation> {
    if (!s.m.cm->canEvaluate()) return notSupported(s.m, "loss or metric to evaluate");
    if (!data && !s.m.inputs.empty())
      return errorIn(ErrorKind::InvalidArgument, s.m.name, "the model has inputs but no data");
    if (data)
      if (Status ok = checkLayout(s.m, Access::of(*data)); !ok) return ok.error();
    std::vector<int64_t> rows(data ? static_cast<size_t>(data->rows()) : 0);
    std::iota(rows.begin(), rows.end(), int64_t(0));
    if (Status ok = reserveRows(s, std::max<int64_t>(static_cast<int64_t>(rows.size()), 1)); !ok) return ok.error();
    nnjit::Evaluation e = nnjit::evaluate(*s.session, data ? &Access::of(*data).data : nullptr, rows);
    return Evaluation{e.loss, named(s.m, e.metrics)};
  });
}

namespace {

/// For each model input, the table's column group feeding it (-1: none); an
/// error when the output reads an input the table lacks.
Expected<std::vector<int>> predictColumns(const Model::Impl& m, const Table::Impl& t) {
  std::vector<int> columnOf(m.inputs.size(), -1);
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    auto at = std::find(t.names.begin(), t.names.end(), m.inputs[i].name);
    if (at != t.names.end()) columnOf[i] = static_cast<int>(at - t.names.begin());
    else if (m.inputs[i].readByOutput)
      return errorIn(ErrorKind::InvalidArgument, m.name, "the table has no values for input '" + m.inputs[i].name + "'");
  }
  return columnOf;
}

} // namespace

Expected<Tensor> Session::predict(const Table& data) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Tensor> {
    const nnjit::CompiledModel& cm = *s.m.cm;
    if (!cm.predict || !s.m.output) return notSupported(s.m, "'output NAME' to predict");
    const Table::Impl& t = Access::of(data);
    // The table holds every input, or only those the output reads.
    Expected<std::vector<int>> columnOf = predictColumns(s.m, t);
    if (!columnOf) return columnOf.error();
    int64_t rows = t.data.rows;
    std::vector<int64_t> order(static_cast<size_t>(rows));
    std::iota(order.begin(), order.end(), int64_t(0));
    if (Status ok = reserveRows(s, std::max<int64_t>(rows, 1)); !ok) return ok.error();
    s.session->feed(t.data, order, 0, order.size(), *columnOf);
    s.session->predict(rows);
    Tensor out;
    out.shape = s.m.output->shape;
    for (int64_t& d : out.shape) d = d == kBatch ? rows : d;
    out.values = s.session->read(cm.outputSlot, s.m.output->elements(rows));
    if (s.m.output->elements(rows) == 0) out.values.clear();
    return out;
  });
}

Expected<Gradients> Session::gradients(const Batch& batch) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Gradients> {
    const nnjit::CompiledModel& cm = *s.m.cm;
    if (!cm.gradients) return notSupported(s.m, "gradients entry point (compile with EntryPoints::gradients)");
    std::vector<bool> all(s.m.inputs.size(), true);
    if (Status ok = bindInputs(s.m, batch, all, s.columns); !ok) return ok.error();
    int64_t rows = runRows(s.m, batch);
    if (Status ok = reserveRows(s, rows); !ok) return ok.error();
    feedInputs(*s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
    s.session->run(cm.gradients, rows);
    Gradients g;
    g.loss = s.session->scalar(cm.lossSlot);
    for (size_t i = 0; i < s.m.params.size(); ++i) g.params.push_back({s.m.params[i].shape, s.session->read(cm.gradientSlots[i])});
    return g;
  });
}

} // namespace nnjit::api
