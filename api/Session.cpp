// Session: one training run behind the public API — steps, epochs, eval, predict, params, checkpoints.
#include "Internal.h"

#include "AtomicFile.h"
#include "FileIO.h"
#include "ModelCheckpoint.h"
#include "Trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

namespace nnjit::api {

Session::Impl::Impl(const Model& m) : model(m), m(*m.impl_) {}

SessionEntry::SessionEntry(Session::Impl* s) {
  if (!s) {
    error_ = Error(ErrorKind::InvalidArgument, "this Session was moved from");
    return;
  }
  if (s->failure) {
    error_ = *s->failure;
    return;
  }
  std::thread::id none, me = std::this_thread::get_id();
  if (!s->owner.compare_exchange_strong(none, me) && none != me) {
    error_ = errorIn(ErrorKind::InvalidArgument, s->m.name,
                     "this Session is in a call on another thread; one Session must not be used from two threads at once");
    return;
  }
  s_ = s;
  ++s_->depth;
}

SessionEntry::~SessionEntry() {
  if (s_ && --s_->depth == 0) s_->owner.store(std::thread::id());
}

Error outOfMemory(const Model::Impl& m, const std::string& what) {
  return errorIn(ErrorKind::OutOfMemory, m.name, "out of memory: could not allocate " + what);
}

namespace {

/// A session larger than the memory the kernel can give is refused before
/// allocating (with overcommit the allocation would succeed, and zeroing it
/// would bring in the OOM killer).
std::optional<Error> tooLarge(const Model::Impl& m, int64_t rows, int64_t trainBatch = 0) {
  uint64_t need = nnjit::Session::bytesFor(*m.cm, rows, trainBatch), have = nnjit::availableMemory();
  if (need <= have) return std::nullopt;
  std::string size = need == UINT64_MAX ? "more than 16 EiB" : nnjit::byteSize(need);
  return errorIn(ErrorKind::OutOfMemory, m.name,
                 fmt::format("out of memory: the session's buffers for {} row{} need {}, more than the {} this "
                             "machine has available",
                             rows, rows == 1 ? "" : "s", size, nnjit::byteSize(have)));
}

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

Status reserveRows(Session::Impl& s, int64_t rows, int64_t trainBatch) {
  if (std::optional<Error> big = tooLarge(s.m, rows, trainBatch)) return *big;
  s.session->reserveRows(rows);  // a failure throws bad_alloc, which sessionCall reports
  return {};
}

Session::Session(const Model& model, uint64_t seed) : model_(model), impl_(std::make_unique<Impl>(model)) {
  if ((impl_->failure = tooLarge(impl_->m, 1))) return;
  try {
    impl_->session = std::make_unique<nnjit::Session>(*impl_->m.cm);
    impl_->seed = seed;
    impl_->session->initParams(seed);
  } catch (const std::bad_alloc&) {
    impl_->session.reset();
    impl_->failure = outOfMemory(impl_->m, fmt::format("the session's {} of buffers",
                                                       nnjit::byteSize(nnjit::Session::bytesFor(*impl_->m.cm, 1))));
  }
}

Expected<Session> Session::create(const Model& model, uint64_t seed) {
  Session s(model, seed);
  if (s.impl_->failure) return *s.impl_->failure;
  return s;
}

// A moved-from session keeps a copy of the Model handle, so that model() stays valid.
Session::Session(Session&& other) noexcept : model_(other.model_), impl_(std::move(other.impl_)) {}
Session& Session::operator=(Session&& other) noexcept {
  model_ = other.model_;
  impl_ = std::move(other.impl_);
  return *this;
}
Session::~Session() = default;

const Model& Session::model() const { return model_; }

void Session::reset(uint64_t seed) {
  (void)sessionCall(impl_.get(), [&](Impl& s) -> Status {
    s.seed = seed;
    s.session->initParams(seed);
    s.session->resetOptimizer();
    return {};
  });
}

uint64_t Session::seed() const { return impl_ ? impl_->seed : 0; }

Status Session::setThreads(int threads) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Status {
    if (threads < 1)
      return Error(ErrorKind::InvalidArgument, "the thread count must be at least 1, not " + std::to_string(threads));
    s.threads = threads;
    s.session->setThreads(threads);
    return {};
  });
}

int Session::threads() const { return impl_ ? impl_->threads : 0; }

Status Session::joinMpiJob() {
  return sessionCall(impl_.get(), [&](Impl& s) -> Status {
    s.session->setProcessGroup(nnjit::mpiWorld());
    return {};
  });
}

MpiJob mpiJob() {
  nnjit::ProcessGroup* world = nnjit::mpiWorld();
  if (!world) return {};
  return MpiJob{world->rank(), world->size(), nnjit::processesOnThisMachine()};
}

bool mpiAllOk(bool ok) {
  nnjit::ProcessGroup* world = nnjit::mpiWorld();
  return world ? world->allOk(ok) : ok;
}

void endMpiJob(int status) { nnjit::endJob(status); }

int64_t Session::epochsDone() const { return impl_ && impl_->session ? impl_->session->epochsDone : 0; }
int64_t Session::steps() const { return impl_ && impl_->session ? impl_->session->steps : 0; }

namespace {

/// One train step on rows already fed; the compiled step writes no update
/// when its loss is not finite, so only the step count needs undoing.
Expected<double> step(Session::Impl& s, int64_t rows) {
  const nnjit::CompiledModel& cm = *s.m.cm;
  s.session->setScalar(cm.stepSlot, static_cast<double>(++s.session->steps));
  s.session->setRandomKey(s.session->epochsDone, s.session->steps);
  s.session->trainStep(rows);
  double loss = s.session->scalar(cm.lossSlot);
  if (std::isfinite(loss)) return loss;
  Error e = diverged(s.m, loss, s.session->steps--);
  return e;
}

} // namespace

Expected<StepResult> Session::trainStep(const Batch& batch) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<StepResult> {
    const nnjit::CompiledModel& cm = *s.m.cm;
    if (!s.m.canTrain) return notSupported(s.m, "loss and optimizer to train with");
    std::vector<bool> all(s.m.inputs.size(), true);
    if (Status ok = bindInputs(s.m, batch, all, s.columns); !ok) return ok.error();
    int64_t rows = runRows(s.m, batch);
    if (Status ok = reserveRows(s, rows, rows); !ok) return ok.error();
    feedInputs(*s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
    s.session->setScalar(cm.epochSlot, static_cast<double>(s.session->epochsDone));
    Expected<double> loss = step(s, rows);
    if (!loss) return loss.error();
    return StepResult{*loss, metricsOf(*s.session, s.m, true), s.session->steps};
  });
}

Expected<EpochResult> Session::trainEpoch(const Batch& data, const EpochOptions& options) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<EpochResult> {
    if (!s.m.canTrain) return notSupported(s.m, "loss and optimizer to train with");
    if (options.batchSize < 0) return errorIn(ErrorKind::InvalidArgument, s.m.name, "the batch size cannot be negative");
    std::vector<bool> all(s.m.inputs.size(), true);
    if (Status ok = bindInputs(s.m, data, all, s.columns); !ok) return ok.error();
    int64_t rows = runRows(s.m, data);
    int64_t batch = options.batchSize > 0 ? options.batchSize : s.m.defaults.batchSize;
    batch = batch > 0 ? std::min(batch, rows) : rows;
    nnjit::TrainPlan plan;
    plan.batch = batch;
    plan.shuffleSeed = options.shuffleSeed ? options.shuffleSeed : s.m.defaults.shuffleSeed;
    plan.trainRows.resize(static_cast<size_t>(rows));
    std::iota(plan.trainRows.begin(), plan.trainRows.end(), int64_t(0));
    plan.feed = [&](nnjit::Session& session, const std::vector<int64_t>& order, int64_t begin, int64_t count) {
      feedInputs(session, s.m, s.columns, plan.shuffleSeed ? order.data() + begin : nullptr, begin, count, s.scratch);
    };
    if (Status ok = reserveRows(s, batch, batch); !ok) return ok.error();
    // The one epoch loop (runtime/Trainer.cpp), on the caller's rows.
    EpochResult r;
    nnjit::TrainCallbacks callbacks;
    callbacks.onEpoch = [&](const nnjit::EpochStats& stats) {
      r.loss = stats.loss;
      for (size_t i = 0; i < stats.metrics.size(); ++i) r.metrics.push_back({s.m.metrics[i], stats.metrics[i]});
    };
    nnjit::TrainOutcome outcome = nnjit::train(*s.session, plan, callbacks);
    if (outcome.diverged) return diverged(s.m, outcome.badLoss, s.session->steps + 1);
    r.epoch = s.session->epochsDone;
    r.batches = outcome.batches;
    return r;
  });
}

/// Binds `batch` (the inputs `needed`), feeds it and runs `compute` on it; the rows it ran on.
static Expected<int64_t> runOn(Session::Impl& s, const Batch& batch, const std::vector<bool>& needed,
                               void (nnjit::Session::*compute)(int64_t rows)) {
  if (Status ok = bindInputs(s.m, batch, needed, s.columns); !ok) return ok.error();
  int64_t rows = runRows(s.m, batch);
  if (Status ok = reserveRows(s, rows); !ok) return ok.error();
  feedInputs(*s.session, s.m, s.columns, nullptr, 0, rows, s.scratch);
  s.session->setScalar(s.m.cm->epochSlot, static_cast<double>(s.session->epochsDone));
  (s.session.get()->*compute)(rows);
  return rows;
}

Expected<Evaluation> Session::evaluate(const Batch& batch) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Evaluation> {
    const nnjit::CompiledModel& cm = *s.m.cm;
    if (!cm.canEvaluate()) return notSupported(s.m, "loss or metric to evaluate");
    Expected<int64_t> rows = runOn(s, batch, std::vector<bool>(s.m.inputs.size(), true), &nnjit::Session::evaluate);
    if (!rows) return rows.error();
    return Evaluation{s.m.hasLoss ? s.session->scalar(cm.lossSlot) : 0, metricsOf(*s.session, s.m, false)};
  });
}

Expected<Tensor> Session::predict(const Batch& batch) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Tensor> {
    const nnjit::CompiledModel& cm = *s.m.cm;
    if (!cm.predict || !s.m.output) return notSupported(s.m, "'output NAME' to predict");
    std::vector<bool> needed;
    for (const TensorInfo& in : s.m.inputs) needed.push_back(in.readByOutput);
    Expected<int64_t> rows = runOn(s, batch, needed, &nnjit::Session::predict);
    if (!rows) return rows.error();
    return readSlot(*s.session, cm.outputSlot, s.m.output->shape, *rows);
  });
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
  if (!values.data() && !values.empty())
    return errorIn(ErrorKind::InvalidArgument, m.name,
                   "the values for param '" + std::string(name) + "' are a null pointer");
  if (static_cast<int64_t>(values.size()) != want)
    return errorIn(ErrorKind::InvalidArgument, m.name,
                   "param '" + std::string(name) + "' has " + std::to_string(want) + " values, not " +
                       std::to_string(values.size()));
  session.write(m.cm->paramSlots[i], std::vector<double>(values.begin(), values.end()));
  return {};
}

} // namespace

Expected<Tensor> Session::param(std::string_view name) const {
  return sessionCall(impl_.get(), [&](Impl& s) -> Expected<Tensor> {
    int i = paramIndex(s.m, name);
    if (i < 0) return unknownParam(s.m, name);
    return readSlot(*s.session, s.m.cm->paramSlots[i], s.m.params[i].shape, 1);
  });
}

Status Session::setParam(std::string_view name, std::span<const float> values) {
  return sessionCall(impl_.get(), [&](Impl& s) { return writeParam(*s.session, s.m, name, values); });
}

Status Session::setParam(std::string_view name, std::span<const double> values) {
  return sessionCall(impl_.get(), [&](Impl& s) { return writeParam(*s.session, s.m, name, values); });
}

Status Session::save(const std::string& path) const {
  return sessionCall(impl_.get(), [&](Impl& s) -> Status {
    nnjit::Status saved = nnjit::saveCheckpoint(*s.session, path);
    if (!saved) return Error(ErrorKind::Io, publicDiagnostics(saved.errors()));
    return {};
  });
}

Status Session::load(const std::string& path) {
  return sessionCall(impl_.get(), [&](Impl& s) -> Status {
    if (path.empty()) return Error(ErrorKind::InvalidArgument, "the checkpoint path is empty");
    nnjit::Status loaded = nnjit::loadCheckpoint(*s.session, path, path);
    if (!loaded) return Error(ErrorKind::Io, publicDiagnostics(loaded.errors()));
    return {};
  });
}

Status checkSavePath(const std::string& path) {
  nnjit::Status ok = nnjit::checkWritable(path);
  if (!ok) return Error(ErrorKind::Io, publicDiagnostics(ok.errors()));
  return {};
}

} // namespace nnjit::api
