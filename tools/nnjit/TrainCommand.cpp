// TrainCommand: `nnjit train` — compile once, then run the epochs and save.
#include "Commands.h"
#include "ModelCheckpoint.h"
#include "ProgressLine.h"
#include "Trainer.h"

#include <fmt/format.h>

#include <cmath>

namespace nnjit::cli {
namespace {

/// Decides train and test rows from the model's `train(...)` and the data.
bool planSplit(const Options& o, const Model& m, const Dataset* data, std::optional<Dataset>& testFile,
               TrainPlan& plan) {
  const TrainSpec& spec = *m.train;
  plan.epochs = o.epochs.value_or(spec.epochs);
  plan.batch = o.batch.value_or(spec.batch);
  plan.shuffleSeed = spec.shuffleSeed;
  plan.data = data;
  if (!data) return true;
  int64_t rows = data->rows;
  int64_t test = 0;
  switch (spec.test.kind) {
  case TestSplit::Kind::None: break;
  case TestSplit::Kind::Count: test = spec.test.count; break;
  case TestSplit::Kind::Fraction: test = testRowsForFraction(spec.test.fraction, rows); break;
  case TestSplit::Kind::File: {
    std::string path = besideModel(o.model, spec.test.path);
    Result<Dataset> loaded = loadCsv(path, path, csvLayout(m), o.dtype);
    if (!loaded) return report(loaded.errors()), false;
    testFile = std::move(*loaded);
    splitRows(plan, rows, -1);
    plan.testData = &*testFile;
    plan.testRows.resize(testFile->rows);
    for (int64_t i = 0; i < testFile->rows; ++i) plan.testRows[i] = i;
    return true;
  }
  }
  if (test >= rows) {
    report({fileError(o.model, fmt::format("test takes {} rows, but the data has only {}; no rows would be left to train on",
                                           test, rows))});
    return false;
  }
  splitRows(plan, rows, test);
  plan.testData = data;
  return true;
}

void printTimes(const CompiledModel& cm) {
  const StageTimes& t = cm.times;
  fmt::print(stderr,
             "compile time: parse {:.2f} ms, lower {:.2f} ms, autodiff {:.2f} ms, graph passes {:.2f} ms, "
             "codegen {:.2f} ms, LLVM optimize {:.2f} ms, native code {:.2f} ms{}; total {:.2f} ms\n",
             t.parseMs, t.lowerMs, t.autodiffMs, t.passesMs, t.codegenMs, t.optimizeMs, t.jitMs,
             t.cacheHit ? " (from the object cache)" : "", t.totalMs());
}

} // namespace

int runTrain(const Options& o) {
  StageTimes frontEnd;
  std::optional<Model> model = loadModel(o, "train", &frontEnd);
  if (!model) return kModelError;
  bool failed = false;
  std::optional<Dataset> data = loadData(o, *model, failed);
  if (failed) return kModelError;
  TrainPlan plan;
  std::optional<Dataset> testFile;
  if (!planSplit(o, *model, data ? &*data : nullptr, testFile, plan)) return kModelError;

  CompileOptions copt;
  copt.dtype = o.dtype;
  copt.trainStep = true;
  copt.evaluate = true;
  copt.lr = o.lr;
  DiagnosticEngine diags(o.model, "");
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), copt, diags);
  if (report(diags.diagnostics()) != kOk || !cm) return kModelError;
  cm->times.parseMs = frontEnd.parseMs;
  cm->times.lowerMs = frontEnd.lowerMs;
  if (o.timeReport) printTimes(*cm);

  Session session(*cm);
  session.initParams(o.seed);
  if (!o.load.empty()) {
    Status loaded = loadCheckpoint(session, o.load, o.load);
    if (!loaded) return report(loaded.errors());
  }
  Reporter reporter(o.log, *cm, session.epochsDone + plan.epochs);
  ProgressLine progress;
  TrainCallbacks callbacks{[&](const EpochStats& s) {
                             progress.clear();
                             reporter.epoch(s);
                           },
                           [&](const Progress& p) { progress.update(p); }};
  TrainOutcome outcome = train(session, plan, callbacks);
  progress.clear();
  if (outcome.diverged) {
    report({fileError(o.model, fmt::format("training stopped: the loss is {} at epoch {}, batch {}; "
                                           "try a smaller lr",
                                           formatNumber(outcome.badLoss, cm->dtype), outcome.badEpoch,
                                           outcome.badBatch))});
    return kDiverged;
  }
  if (!o.save.empty()) {
    Status saved = saveCheckpoint(session, o.save);
    if (!saved) return report(saved.errors());
  }
  reporter.done(outcome, cm->times.totalMs());
  return kOk;
}

int runEval(const Options& o) {
  std::optional<Model> model = loadModel(o, "eval");
  if (!model) return kModelError;
  bool failed = false;
  std::optional<Dataset> data = loadData(o, *model, failed);
  if (failed) return kModelError;
  CompileOptions copt;
  copt.dtype = o.dtype;
  copt.evaluate = true;
  DiagnosticEngine diags(o.model, "");
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), copt, diags);
  if (report(diags.diagnostics()) != kOk || !cm) return kModelError;
  Session session(*cm);
  Status loaded = loadCheckpoint(session, o.load, o.load);
  if (!loaded) return report(loaded.errors());
  std::vector<int64_t> rows(data ? data->rows : 0);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  Evaluation e = evaluate(session, data ? &*data : nullptr, rows);
  Reporter(o.log, *cm, 0).evaluation(e);
  return kOk;
}

int runPredict(const Options& o) {
  std::optional<Model> model = loadModel(o, "predict");
  if (!model) return kModelError;
  std::vector<InputColumns> full, subset;
  std::vector<int> needed;  // model input index for each subset column
  CompileOptions copt;
  copt.dtype = o.dtype;
  copt.predict = true;
  DiagnosticEngine diags(o.model, "");
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), copt, diags);
  if (report(diags.diagnostics()) != kOk || !cm) return kModelError;
  const Model& m = cm->model;
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    InputColumns c{m.inputs[i].name, m.inputs[i].width(), m.inputs[i].numClasses};
    full.push_back(c);
    if (cm->outputReadsInput[i]) {
      subset.push_back(c);
      needed.push_back(static_cast<int>(i));
    }
  }
  Result<Dataset> data = loadCsvEither(o.data, o.data, full, subset, o.dtype);
  if (!data) return report(data.errors());
  Session session(*cm);
  Status loaded = loadCheckpoint(session, o.load, o.load);
  if (!loaded) return report(loaded.errors());

  // The CSV holds every input, or only those the output reads.
  std::vector<int> columnOf = allColumns(m);
  if (data->columns.size() != full.size()) {
    std::fill(columnOf.begin(), columnOf.end(), -1);
    for (size_t j = 0; j < needed.size(); ++j) columnOf[needed[j]] = static_cast<int>(j);
  }
  int64_t rows = data->rows;
  std::vector<int64_t> order(rows);
  for (int64_t i = 0; i < rows; ++i) order[i] = i;
  session.reserveRows(std::max<int64_t>(rows, 1));
  session.feed(*data, order, 0, rows, columnOf);
  session.run(cm->predict, rows);

  const Shape& shape = cm->slots[cm->outputSlot].shape;
  bool perRow = shape.hasBatch();
  int64_t width = shape.staticElements();
  int64_t outRows = perRow ? rows : 1;
  std::vector<double> values = session.read(cm->outputSlot, width * outRows);
  std::string header;
  for (int64_t j = 0; j < width; ++j)
    header += (j ? "," : "") + (width == 1 ? m.output->name : m.output->name + std::to_string(j));
  fmt::print("{}\n", header);
  std::string line;
  for (int64_t r = 0; r < outRows; ++r) {
    line.clear();
    for (int64_t j = 0; j < width; ++j) line += (j ? "," : "") + formatNumber(values[r * width + j], cm->dtype);
    fmt::print("{}\n", line);
  }
  return kOk;
}

} // namespace nnjit::cli
