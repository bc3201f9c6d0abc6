// TrainCommand: `nnjit train`, `eval` and `predict` — compile once, then run and report.
#include "Commands.h"
#include "Interrupt.h"
#include "Plot.h"
#include "ProgressLine.h"
#include "Report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnjit::cli {
namespace {

void printTimes(const api::CompileTimes& t) {
  fmt::print(stderr,
             "compile time: parse {:.2f} ms, lower {:.2f} ms, autodiff {:.2f} ms, graph passes {:.2f} ms, "
             "codegen {:.2f} ms, LLVM optimize {:.2f} ms, native code {:.2f} ms{}; total {:.2f} ms\n",
             t.parseMs, t.lowerMs, t.autodiffMs, t.passesMs, t.codegenMs, t.optimizeMs, t.jitMs,
             t.cacheHit ? " (from the object cache)" : "", t.totalMs());
  std::string stages;
  for (const api::StageTime& s : t.stages) stages += fmt::format("{}{} {:.2f}", stages.empty() ? "" : ", ", s.name, s.ms);
  fmt::print(stderr, "stages (ms): {}\n", stages);
}

/// Compiles only `entry` (each entry point costs compile time) in --dtype with `lr`.
std::optional<api::Model> compileFor(const api::ParsedModel& parsed, const Options& o, api::EntryPoints entry,
                                     std::optional<double> lr = std::nullopt) {
  api::BuildOptions build;
  build.entryPoints = entry;
  return compile(parsed, o.dtype, lr, build);
}

/// A session for `model` on --threads threads; none (after printing) when it
/// does not fit in memory or the thread count is refused.
std::optional<api::Session> newSession(const api::Model& model, uint64_t seed, const Options& o) {
  api::Expected<api::Session> session = api::Session::create(model, seed);
  if (!session) {
    report(session.error());
    return std::nullopt;
  }
  if (api::Status threads = session->setThreads(threadCount(o)); !threads) {
    report(threads.error());
    return std::nullopt;
  }
  return std::move(*session);
}

/// A session holding the checkpoint `--load` names; none (after printing) when it cannot be read.
std::optional<api::Session> loadSession(const api::Model& model, const Options& o) {
  std::optional<api::Session> session = newSession(model, 0, o);
  if (!session) return std::nullopt;
  if (api::Status loaded = session->load(o.load); !loaded) {
    report(loaded.error());
    return std::nullopt;
  }
  return session;
}

/// Early stopping and --save-best watch the test loss, so a run without test
/// rows cannot do what they ask: an error at the model's `patience` argument,
/// or naming the flag. kOk when there is nothing to refuse.
int refuseWithoutTestRows(const Options& o, const api::ParsedModel& parsed, const api::TrainData& split) {
  if (split.testRows() > 0) return kOk;
  const char* hint = "the model holds none out (train(test = ...) would)";
  using Flag = std::pair<const char*, bool>;
  for (auto [flag, given] : {Flag{"--save-best", !o.saveBest.empty()}, Flag{"--patience", o.patience.has_value()}})
    if (given) return report({fileError(o.model, fmt::format("{} needs test rows, but {}", flag, hint))});
  if (parsed.trainDefaults().patience == 0) return kOk;
  api::Diagnostic at = parsed.trainDefaults().patienceAt;
  at.message = fmt::format("early stopping (patience) needs test rows, but {}", hint);
  return report({at});
}

/// Writes --save-best after each epoch with the lowest test loss so far; after
/// a failed write it writes no more (a later, worse epoch's state must not
/// take the best one's place) and `failure` says why.
struct BestSaver {
  const std::string& path;
  api::Session& session;
  std::optional<api::Error> failure;

  void epoch(const api::EpochReport& r) {
    if (path.empty() || !r.best || failure) return;
    if (api::Status saved = session.save(path); !saved) failure = saved.error();
  }
};

/// The run's epochs for --plot: the loss and each metric, train and test.
class CurveRecorder {
public:
  void epoch(const api::EpochReport& r) { reports_.push_back(r); }

  /// Writes the chart to `path` (none: nothing to do); a run that finished
  /// no epoch writes nothing, so an earlier plot stays. False after printing why not.
  bool write(const std::string& path, const std::string& model) const {
    if (path.empty() || reports_.empty()) return true;
    api::Status written = api::writeFileAtomically(path, plotSvg(curves(model)));
    if (!written) report(written.error());
    return static_cast<bool>(written);
  }

private:
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

  static double metricIn(const std::vector<api::Metric>& metrics, const std::string& name) {
    for (const api::Metric& m : metrics)
      if (m.name == name) return m.value;
    return kNone;
  }

  /// Train and test lines of the loss (name empty) or of a metric; no test line without test values.
  Chart chart(const std::string& name) const {
    Series train{"train", {}}, test{"test", {}};
    for (const api::EpochReport& r : reports_) {
      train.values.push_back(name.empty() ? r.loss : metricIn(r.metrics, name));
      test.values.push_back(!r.test ? kNone : name.empty() ? r.test->loss : metricIn(r.test->metrics, name));
    }
    Chart c{name.empty() ? "loss" : name, {train}, name.empty()};
    if (std::any_of(test.values.begin(), test.values.end(), [](double v) { return !std::isnan(v); }))
      c.series.push_back(test);
    return c;
  }

  Curves curves(const std::string& model) const {
    Curves c{model.substr(model.rfind('/') + 1), {}, {chart("")}};
    for (const api::EpochReport& r : reports_) c.epochs.push_back(r.epoch);
    for (const api::Metric& m : reports_.front().metrics) c.charts.push_back(chart(m.name));
    return c;
  }

  std::vector<api::EpochReport> reports_;
};

/// What the other processes of an MPI job leave to the first: the files.
Options filesOnFirstProcess(Options o) {
  if (api::mpiJob().rank == 0) return o;
  o.save.clear();
  o.saveBest.clear();
  o.plot.clear();
  return o;
}

/// The session trains with the other processes of the MPI job, if there are any.
bool joinJob(api::Session& session, const api::ParsedModel& parsed, const api::Model& model, const Options& o) {
  api::MpiJob job = api::mpiJob();
  if (job.size < 2) return true;
  if (api::Status joined = session.joinMpiJob(); !joined) return report(joined.error()), false;
  if (model.trainsByChunks()) return true;
  std::string why = parsed.hasInputs() ? "the train step reads statistics of the whole batch (batch norm, a max over "
                                         "the batch, or a mean over it read back by each row)"
                                       : "the model has no data to share out";
  report({warningFor(o.model, fmt::format("{}, so each of the {} processes computes every step: no faster than one",
                                          why, job.size))});
  return true;
}

} // namespace

int runTrain(const Options& given) {
  const Options o = filesOnFirstProcess(given);
  std::optional<api::ParsedModel> parsed = loadModel(o, "train");
  if (!parsed) return kModelError;
  // Before the run, not after it: an unwritable --save would cost all its epochs.
  for (const std::string* path : {&o.save, &o.saveBest, &o.plot})
    if (!path->empty())
      if (api::Status ok = api::checkSavePath(*path); !ok) return report(ok.error());
  bool failed = false;
  std::optional<api::Table> data = loadData(o, *parsed, failed);
  if (failed) return kModelError;
  api::Expected<api::TrainData> split = api::TrainData::split(*parsed, data, o.dtype);
  if (!split) return report(split.error());
  if (int refused = refuseWithoutTestRows(o, *parsed, *split)) return refused;

  // The eval entry point is only for test rows: without them it would be compile time for nothing.
  std::optional<api::Model> model = compileFor(*parsed, o, {.trainStep = true, .evaluate = split->testRows() > 0}, o.lr);
  if (!model) return kModelError;
  if (o.timeReport) printTimes(model->compileTimes());

  std::optional<api::Session> created = newSession(*model, o.seed, o);
  if (!created) return kModelError;
  api::Session& session = *created;
  if (!joinJob(session, *parsed, *model, o)) return kModelError;
  if (!o.load.empty())
    if (api::Status loaded = session.load(o.load); !loaded) return report(loaded.error());
  int64_t epochs = o.epochs.value_or(parsed->trainDefaults().epochs);
  int64_t patience = o.patience.value_or(parsed->trainDefaults().patience);
  Reporter reporter(o.log, o.dtype, session.epochsDone() + epochs);
  reporter.thin(logStride(o.logEvery, o.log, epochs), session.epochsDone() + 1);
  if (patience > 0 || !o.saveBest.empty()) reporter.watchBest(patience);
  ProgressLine progress;
  BestSaver best{o.saveBest, session, std::nullopt};
  CurveRecorder curves;
  api::TrainCallbacks callbacks{[&](const api::EpochReport& r) {
                                  best.epoch(r);
                                  curves.epoch(r);
                                  progress.clear();
                                  reporter.epoch(r);
                                },
                                [&](const api::TrainProgress& p) { progress.update(p); }};
  // From here to the save, Ctrl-C stops at the end of the batch and keeps the
  // finished epochs. Not in an MPI job: the processes would stop at different
  // batches and wait for each other forever; there a signal ends the job.
  bool alone = api::mpiJob().size < 2;
  std::optional<InterruptGuard> interrupts;
  if (alone) interrupts.emplace();
  api::TrainOptions options{.epochs = o.epochs,
                            .batchSize = o.batch,
                            .stop = alone ? &InterruptGuard::requested() : nullptr,
                            .undoUnfinishedEpoch = !o.save.empty(),
                            .patience = patience};
  api::Expected<api::TrainRun> run = session.train(*split, options, callbacks);
  progress.clear();
  // Whatever ended the run, the epochs it finished are worth seeing.
  bool plotted = curves.write(o.plot, o.model);
  if (!run) return report(run.error());
  if (const std::optional<api::Divergence>& bad = run->diverged) {
    // The first batch's loss is computed before any update: no lr would have helped.
    bool first = bad->epoch == 1 && bad->batch == 1;
    report({fileError(o.model, fmt::format("training stopped: the loss is {} at epoch {}, batch {}; {}",
                                           formatNumber(bad->loss, o.dtype), bad->epoch, bad->batch,
                                           first ? "that is before any update: the initial params and the data give it"
                                                 : "try a smaller lr"))});
    return kDiverged;
  }
  // Every process got here: none failed, so the job's checkpoint may be written.
  if (!api::mpiAllOk(true)) return kModelError;
  if (!o.save.empty())
    if (api::Status saved = session.save(o.save); !saved) return report(saved.error());
  if (best.failure) return report(*best.failure);
  if (!plotted) return kModelError;
  if (run->interrupted) {
    reporter.interrupted(*run, model->compileTimes().totalMs(), session.epochsDone(), o.save);
    return InterruptGuard::exitStatus();
  }
  reporter.done(*run, model->compileTimes().totalMs());
  return kOk;
}

int runEval(const Options& o) {
  std::optional<api::ParsedModel> parsed = loadModel(o, "eval");
  if (!parsed) return kModelError;
  bool failed = false;
  std::optional<api::Table> data = loadData(o, *parsed, failed);
  if (failed) return kModelError;
  std::optional<api::Model> model = compileFor(*parsed, o, {.evaluate = true});
  if (!model) return kModelError;
  std::optional<api::Session> session = loadSession(*model, o);
  if (!session) return kModelError;
  api::Expected<api::Evaluation> e = session->evaluate(data ? &*data : nullptr);
  if (!e) return report(e.error());
  Reporter(o.log, o.dtype, 0).evaluation(*e);
  return kOk;
}

namespace {

/// The CSV `predict` writes: a header naming the output's columns, then one row per data row.
void printPrediction(const api::TensorInfo& output, const api::Tensor& out, int64_t rows, api::DType dtype) {
  int64_t width = output.rowElements;
  int64_t outRows = output.batched ? rows : 1;
  std::string header;
  for (int64_t j = 0; j < width; ++j)
    header += (j ? "," : "") + (width == 1 ? output.name : output.name + std::to_string(j));
  fmt::print("{}\n", header);
  std::string line;
  for (int64_t r = 0; r < outRows; ++r) {
    line.clear();
    for (int64_t j = 0; j < width; ++j) line += (j ? "," : "") + formatNumber(out.values[r * width + j], dtype);
    fmt::print("{}\n", line);
  }
}

} // namespace

int runPredict(const Options& o) {
  std::optional<api::ParsedModel> parsed = loadModel(o, "predict");
  if (!parsed) return kModelError;
  if (parsed->hasInputs() && o.data.empty()) {
    report({fileError("", "predict: the model has inputs, so --data CSV is needed")});
    return kUsage;
  }
  if (!parsed->hasInputs() && !o.data.empty())
    report({warningFor(o.data[0], "the model has no inputs; --data is not read")});
  std::optional<api::Model> model = compileFor(*parsed, o, {.predict = true});
  if (!model) return kModelError;
  std::optional<api::Table> data;
  if (parsed->hasInputs()) {
    // The CSV holds every input, or only those the output reads.
    api::Expected<api::Table> read = api::loadPredictData(*model, o.data);
    if (!read) return report(read.error());
    data = std::move(*read);
  }
  std::optional<api::Session> session = loadSession(*model, o);
  if (!session) return kModelError;
  // A model without inputs computes its output once, from the params alone.
  api::Expected<api::Tensor> out = data ? session->predict(*data) : session->predict(api::Batch());
  if (!out) return report(out.error());
  printPrediction(*model->output(), *out, data ? data->rows() : 1, o.dtype);
  return kOk;
}

} // namespace nnjit::cli
