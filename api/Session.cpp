// Session: one training run behind the public API — steps, epochs, eval, predict, params, checkpoints.
#include "Internal.h"

#include "ModelCheckpoint.h"
#include "Trainer.h"

#include <cmath>
#include <numeric>

namespace nnjit::api {

Session::Impl::Impl(const Model& m) : model(m), m(*m.impl_), session(*m.impl_->cm) {}

namespace {

Error movedFrom() { return Error(ErrorKind::InvalidArgument, "this Session was moved from"); }

Error notSupported(const Model::Impl& m, const std::string& what) {
  return errorIn(ErrorKind::NotSupported, m.name, "the model has no " + what);
}

std::vector<Metric> metricsOf(const nnjit::Session& s, const Model::Impl& m, bool onlyInputReaders) {
  const nnjit::CompiledModel& cm = *m.cm;
  std::vector<Metric> out;
  for (size_t i = 0; i < m.metrics.size(); ++i)
    if (!onlyInputReaders || cm.metricReadsInputs[i]) out.push_back({m.metrics[i], s.scalar(cm.metricSlots[i])});
  return out;
}

Error diverged(const Model::Impl& m, double loss, int64_t step) {
  return errorIn(ErrorKind::Diverged, m.name,
                 "training stopped: the loss is " + std::to_string(loss) + " at step " + std::to_string(step) +
                     "; try a smaller learning rate");
}

Tensor readSlot(const nnjit::Session& s, int slot, std::vector<int64_t> shape, int64_t rows) {
  Tensor t;
  int64_t count = 1;
  for (int64_t& d : shape) count *= (d = d == kBatch ? rows : d);
  t.shape = std::move(shape);
  t.values = s.read(slot, count);
  if (count == 0) t.values.clear();
  return t;
}

} // namespace

Session::Session(const Model& model, uint64_t seed) : impl_(std::make_unique<Impl>(model)) { reset(seed); }
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

const Model& Session::model() const { return impl_->model; }

void Session::reset(uint64_t seed) {
  if (!impl_) return;
  impl_->seed = seed;
  impl_->session.initParams(seed);
  impl_->session.resetOptimizer();
}

uint64_t Session::seed() const { return impl_ ? impl_->seed : 0; }

Status Session::setThreads(int threads) {
  if (!impl_) return movedFrom();
  if (threads < 1) return Error(ErrorKind::InvalidArgument, "the thread count must be at least 1, not " + std::to_string(threads));
  impl_->threads = threads;
  impl_->session.setThreads(threads);
  return {};
}

int Session::threads() const { return impl_ ? impl_->threads : 0; }
int64_t Session::epochsDone() const { return impl_ ? impl_->session.epochsDone : 0; }
int64_t Session::steps() const { return impl_ ? impl_->session.steps : 0; }

Expected<StepResult> Session::trainStep(const Batch& batch) {
  if (!impl_) return movedFrom();
  Impl& s = *impl_;
  const nnjit::CompiledModel& cm = *s.m.cm;
  if (!s.m.canTrain) return notSupported(s.m, "loss and optimizer to train with");
  if (Status ok = bindInputs(s.m, batch, std::vector<bool>(s.m.inputs.size(), true), s.columns); !ok) return ok.error();
  int64_t rows = runRows(s.m, batch);
  s.session.reserveRows(rows);
  feedInputs(s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
  s.session.setScalar(cm.epochSlot, static_cast<double>(s.session.epochsDone));
  s.session.setScalar(cm.stepSlot, static_cast<double>(++s.session.steps));
  s.session.run(cm.trainStep, rows);
  StepResult r;
  r.loss = s.session.scalar(cm.lossSlot);
  r.step = s.session.steps;
  if (!std::isfinite(r.loss)) return diverged(s.m, r.loss, r.step);
  r.metrics = metricsOf(s.session, s.m, true);
  return r;
}

Expected<EpochResult> Session::trainEpoch(const Batch& data, const EpochOptions& options) {
  if (!impl_) return movedFrom();
  Impl& s = *impl_;
  const nnjit::CompiledModel& cm = *s.m.cm;
  if (!s.m.canTrain) return notSupported(s.m, "loss and optimizer to train with");
  if (options.batchSize < 0) return errorIn(ErrorKind::InvalidArgument, s.m.name, "the batch size cannot be negative");
  if (Status ok = bindInputs(s.m, data, std::vector<bool>(s.m.inputs.size(), true), s.columns); !ok) return ok.error();
  int64_t rows = runRows(s.m, data);
  int64_t batch = options.batchSize > 0 ? options.batchSize : s.m.defaults.batchSize;
  batch = batch > 0 ? std::min(batch, rows) : rows;
  nnjit::TrainPlan plan;
  plan.shuffleSeed = options.shuffleSeed ? options.shuffleSeed : s.m.defaults.shuffleSeed;
  plan.trainRows.resize(static_cast<size_t>(rows));
  std::iota(plan.trainRows.begin(), plan.trainRows.end(), int64_t(0));
  std::vector<int64_t> order = nnjit::epochRows(plan, s.session.epochsDone);

  s.session.reserveRows(batch);
  s.session.setScalar(cm.epochSlot, static_cast<double>(s.session.epochsDone));
  EpochResult r;
  std::vector<double> sums(s.m.metrics.size(), 0.0);
  for (int64_t begin = 0; begin < rows; begin += batch) {
    int64_t n = std::min(batch, rows - begin);
    feedInputs(s.session, s.m, s.columns, plan.shuffleSeed ? order.data() + begin : nullptr, begin, n, s.scratch);
    s.session.setScalar(cm.stepSlot, static_cast<double>(++s.session.steps));
    s.session.run(cm.trainStep, n);
    double loss = s.session.scalar(cm.lossSlot);
    if (!std::isfinite(loss)) return diverged(s.m, loss, s.session.steps);
    r.loss += loss;
    for (size_t i = 0; i < sums.size(); ++i)
      if (cm.metricReadsInputs[i]) sums[i] += s.session.scalar(cm.metricSlots[i]);
    ++r.batches;
  }
  r.epoch = ++s.session.epochsDone;
  if (cm.paramMetrics) s.session.run(cm.paramMetrics, 0);
  double batches = static_cast<double>(std::max<int64_t>(r.batches, 1));
  r.loss /= batches;
  for (size_t i = 0; i < sums.size(); ++i)
    r.metrics.push_back({s.m.metrics[i], cm.metricReadsInputs[i] ? sums[i] / batches
                                                                 : s.session.scalar(cm.metricSlots[i])});
  return r;
}

Expected<Evaluation> Session::evaluate(const Batch& batch) {
  if (!impl_) return movedFrom();
  Impl& s = *impl_;
  const nnjit::CompiledModel& cm = *s.m.cm;
  if (!cm.evaluate) return notSupported(s.m, "loss or metric to evaluate");
  if (Status ok = bindInputs(s.m, batch, std::vector<bool>(s.m.inputs.size(), true), s.columns); !ok) return ok.error();
  int64_t rows = runRows(s.m, batch);
  s.session.reserveRows(rows);
  feedInputs(s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
  s.session.setScalar(cm.epochSlot, static_cast<double>(s.session.epochsDone));
  s.session.run(cm.evaluate, rows);
  Evaluation e;
  e.loss = s.m.hasLoss ? s.session.scalar(cm.lossSlot) : 0;
  e.metrics = metricsOf(s.session, s.m, false);
  return e;
}

Expected<Tensor> Session::predict(const Batch& batch) {
  if (!impl_) return movedFrom();
  Impl& s = *impl_;
  const nnjit::CompiledModel& cm = *s.m.cm;
  if (!cm.predict || !s.m.output) return notSupported(s.m, "'output NAME' to predict");
  std::vector<bool> needed;
  for (const TensorInfo& in : s.m.inputs) needed.push_back(in.readByOutput);
  if (Status ok = bindInputs(s.m, batch, needed, s.columns); !ok) return ok.error();
  int64_t rows = runRows(s.m, batch);
  s.session.reserveRows(rows);
  feedInputs(s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
  s.session.setScalar(cm.epochSlot, static_cast<double>(s.session.epochsDone));
  s.session.run(cm.predict, rows);
  return readSlot(s.session, cm.outputSlot, s.m.output->shape, rows);
}

namespace {

int paramIndex(const Model::Impl& m, std::string_view name) {
  for (size_t i = 0; i < m.params.size(); ++i)
    if (m.params[i].name == name) return static_cast<int>(i);
  return -1;
}

Error unknownParam(const Model::Impl& m, std::string_view name) {
  std::string names;
  for (const TensorInfo& p : m.params) names += (names.empty() ? "'" : ", '") + p.name + "'";
  return errorIn(ErrorKind::InvalidArgument, m.name,
                 "'" + std::string(name) + "' is not a param of the model (its params: " +
                     (names.empty() ? "none" : names) + ")");
}

template <class T>
Status writeParam(nnjit::Session& session, const Model::Impl& m, std::string_view name, std::span<const T> values) {
  int i = paramIndex(m, name);
  if (i < 0) return unknownParam(m, name);
  int64_t want = m.params[i].rowElements;
  if (static_cast<int64_t>(values.size()) != want)
    return errorIn(ErrorKind::InvalidArgument, m.name,
                   "param '" + std::string(name) + "' has " + std::to_string(want) + " values, not " +
                       std::to_string(values.size()));
  session.write(m.cm->paramSlots[i], std::vector<double>(values.begin(), values.end()));
  return {};
}

} // namespace

Expected<Tensor> Session::param(std::string_view name) const {
  if (!impl_) return movedFrom();
  int i = paramIndex(impl_->m, name);
  if (i < 0) return unknownParam(impl_->m, name);
  return readSlot(impl_->session, impl_->m.cm->paramSlots[i], impl_->m.params[i].shape, 1);
}

Status Session::setParam(std::string_view name, std::span<const float> values) {
  if (!impl_) return movedFrom();
  return writeParam(impl_->session, impl_->m, name, values);
}

Status Session::setParam(std::string_view name, std::span<const double> values) {
  if (!impl_) return movedFrom();
  return writeParam(impl_->session, impl_->m, name, values);
}

Status Session::save(const std::string& path) const {
  if (!impl_) return movedFrom();
  nnjit::Status saved = nnjit::saveCheckpoint(impl_->session, path);
  if (!saved) return Error(ErrorKind::Io, publicDiagnostics(saved.errors()));
  return {};
}

Status Session::load(const std::string& path) {
  if (!impl_) return movedFrom();
  nnjit::Status loaded = nnjit::loadCheckpoint(impl_->session, path, path);
  if (!loaded) return Error(ErrorKind::Io, publicDiagnostics(loaded.errors()));
  return {};
}

} // namespace nnjit::api
