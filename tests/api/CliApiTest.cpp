// CliApiTest: the calls the nnjit CLI is built on — ParsedModel, CompileSettings, Table, TrainData, whole runs.
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>

using namespace nnjit::api;
using namespace apitest;

namespace {

/// A fresh folder holding `files` (name, text), removed at the end of the test.
class Folder {
public:
  Folder() {
    char tmpl[] = "/tmp/nnjit_api_cli_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~Folder() { std::system(("rm -rf " + path_).c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Rows of y = 3*a - 2*c + 1 as CSV text (columns x0, x1, y).
std::string regressionCsv(int64_t rows) {
  Data d = regressionData(rows);
  std::string csv = "x0,x1,y\n";
  for (int64_t r = 0; r < rows; ++r)
    csv += std::to_string(d.x[r * 2]) + "," + std::to_string(d.x[r * 2 + 1]) + "," + std::to_string(d.y[r]) + "\n";
  return csv;
}

/// The regression model with `data` and a `train(...)` line of our choosing.
std::string regressionModel(const std::string& train) {
  std::string src = kRegression;
  src = src.substr(0, src.find("train("));
  return "data \"train.csv\"\n" + src + train + "\n";
}

ParsedModel parsed(const Folder& f, const std::string& train) {
  f.write("train.csv", regressionCsv(40));
  Expected<ParsedModel> p = ParsedModel::fromFile(f.write("m.nn", regressionModel(train)));
  REQUIRE(p.ok());
  return *p;
}

/// A parsed model's data, split as `nnjit train` splits it, and the model compiled.
struct Prepared {
  Table data;
  TrainData split;
  Model model;
};

Prepared prepare(const ParsedModel& p) {
  Expected<Table> data = loadCsv(p, p.dataPath(), DType::F32);
  REQUIRE(data.ok());
  Expected<TrainData> split = TrainData::split(p, *data, DType::F32);
  REQUIRE(split.ok());
  Expected<Model> m = Model::compile(p);
  REQUIRE(m.ok());
  return {*data, *split, *m};
}

/// What `nnjit check` builds: loss and gradients only (in double).
BuildOptions checkBuild() {
  BuildOptions build;
  build.entryPoints = EntryPoints{.evaluate = true, .gradients = true};
  return build;
}

} // namespace

TEST_CASE("ParsedModel::fromFile describes the model before compiling it") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 4, batch = 8, shuffle = 2, test = 0.25)");
  CHECK(p.name() == f.path() + "/m.nn");
  CHECK(p.hasInputs());
  CHECK(p.hasLoss());
  CHECK(p.hasOptimizer());
  CHECK(p.hasTrain());
  CHECK(p.hasOutput());
  CHECK(p.dataPath() == f.path() + "/train.csv");  // relative to the .nn file
  CHECK(p.trainDefaults().epochs == 4);
  CHECK(p.trainDefaults().batchSize == 8);
  CHECK(p.trainDefaults().shuffleSeed == 2u);
  CHECK(p.trainDefaults().test.kind == TestSplit::Kind::Fraction);
  CHECK(p.trainDefaults().test.fraction == 0.25);

  Expected<ParsedModel> noLoss = ParsedModel::fromFile(f.write("q.nn", "param w = 1\noutput w\n"));
  REQUIRE(noLoss.ok());
  CHECK_FALSE(noLoss->hasLoss());
  CHECK_FALSE(noLoss->hasTrain());
  CHECK_FALSE(noLoss->hasInputs());
  CHECK(noLoss->dataPath().empty());
}

TEST_CASE("ParsedModel::fromFile reports a missing file and source errors as values") {
  Folder f;
  Expected<ParsedModel> missing = ParsedModel::fromFile(f.path() + "/none.nn");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind() == ErrorKind::Io);
  CHECK(missing.error().message().find("cannot read file") != std::string::npos);

  Expected<ParsedModel> bad = ParsedModel::fromFile(f.write("bad.nn", "param w = 1\nloss = square(v)\n"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind() == ErrorKind::Compile);
  const Diagnostic& d = bad.error().diagnostics().at(0);
  CHECK(d.line == 2);
  // render() adds the source line under the message, as the CLI prints it.
  CHECK(d.render().find(d.str()) == 0);
  CHECK(d.render().find("loss = square(v)") != std::string::npos);
  CHECK(d.render().back() == '\n');
}

TEST_CASE("ParsedModel::dot draws the graph, with gradients on request") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 1)");
  Expected<std::string> forward = p.dot(false), backward = p.dot(true);
  REQUIRE(forward.ok());
  REQUIRE(backward.ok());
  CHECK(forward->find("digraph") != std::string::npos);
  CHECK(backward->size() > forward->size());
  // mean(...) is one box, or opened, a cluster of its ops.
  CHECK(forward->find("shape=box3d") != std::string::npos);
  Expected<std::string> expanded = p.dot(false, true);
  REQUIRE(expanded.ok());
  CHECK(expanded->find("subgraph cluster_") != std::string::npos);
  CHECK(expanded->find("shape=box3d") == std::string::npos);
}

TEST_CASE("Model::compile builds only the entry points asked for and keeps IR and times") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 1)");
  BuildOptions build;
  build.entryPoints = EntryPoints{.predict = true};
  build.keepIR = true;
  Expected<Model> m = Model::compile(p, {}, build);
  REQUIRE(m.ok());
  CHECK_FALSE(m->canTrain());
  CHECK_FALSE(m->ir().empty());
  CHECK(m->assembly().empty());
  CHECK(m->compileTimes().totalMs() > 0);
  CHECK(m->compileTimes().parseMs > 0);

  Session s(*m);
  CHECK(s.trainStep(Batch(0)).error().kind() == ErrorKind::NotSupported);

  // Any learning rate is taken as given, like --lr 0; no BuildOptions: every entry point.
  Expected<Model> all = Model::compile(p, {DType::F32, 0.0});
  REQUIRE(all.ok());
  CHECK(all->canTrain());
}

TEST_CASE("CompileSettings::faultyGradientOp and isOpName") {
  CHECK(isOpName("MatMul"));
  CHECK(isOpName("Tanh"));
  CHECK_FALSE(isOpName("no_such_op"));
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 1)");
  BuildOptions build;
  build.faultyGradientOp = "no_such_op";
  Expected<Model> m = Model::compile(p, {}, build);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().kind() == ErrorKind::InvalidArgument);
}

TEST_CASE("Model::unusedWarnings names unused params and inputs") {
  Folder f;
  f.write("d.csv", "a,b\n1,2\n");
  Expected<ParsedModel> p = ParsedModel::fromFile(f.write(
      "u.nn", "input a[batch, 1]\ninput b[batch, 1]\nparam w[1] = 1\nparam v[1] = 1\nloss = mean(square(a * w))\n"));
  REQUIRE(p.ok());
  Expected<Model> m = Model::compile(*p, {DType::F64, std::nullopt}, checkBuild());
  REQUIRE(m.ok());
  std::vector<Diagnostic> w = m->unusedWarnings();
  REQUIRE(w.size() == 2);
  CHECK(w[0].severity == Severity::Warning);
  CHECK(w[0].message == "param 'v' does not affect the loss");
  CHECK(w[0].line == 4);
  CHECK(w[1].message == "input 'b' is never used");
}

TEST_CASE("loadCsv reads a table for a parsed model, firstRows takes the split's order") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 1)");
  Expected<Table> t = loadCsv(p, p.dataPath(), DType::F32);
  REQUIRE(t.ok());
  CHECK(t->rows() == 40);
  CHECK(t->inputNames() == std::vector<std::string>{"x", "y"});
  Batch b = t->batch();
  CHECK(b.rows() == 40);
  REQUIRE(b.columns().size() == 2);
  CHECK(b.columns()[0].size == 80);
  CHECK(b.columns()[0].dtype == DType::F32);  // the table holds float32, as it was read for
  Expected<Table> wide = loadCsv(p, p.dataPath(), DType::F64);
  REQUIRE(wide.ok());
  CHECK(wide->batch().columns()[0].dtype == DType::F64);

  Table head = t->firstRows(5, std::nullopt);
  CHECK(head.rows() == 5);
  CHECK(head.batch().columns()[0].dtype == DType::F32);
  CHECK(t->firstRows(100, 7).rows() == 40);

  Expected<Table> bad = loadCsv(p, f.write("bad.csv", "1,2\n"), DType::F32);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind() == ErrorKind::Io);
  CHECK(bad.error().diagnostics()[0].line == 1);
}

TEST_CASE("loadPredictCsv takes every input or only those the output reads") {
  Folder f;
  Expected<Model> m = Model::fromString(kRegression, "r.nn");
  REQUIRE(m.ok());
  Expected<Table> full = loadPredictCsv(*m, f.write("full.csv", "1,2,3\n4,5,6\n"));
  REQUIRE(full.ok());
  CHECK(full->inputNames().size() == 2);
  Expected<Table> inputs = loadPredictCsv(*m, f.write("x.csv", "1,2\n4,5\n"));
  REQUIRE(inputs.ok());
  CHECK(inputs->inputNames() == std::vector<std::string>{"x"});

  Session s(*m, 1);
  Expected<Tensor> a = s.predict(*full), b = s.predict(*inputs);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->shape == std::vector<int64_t>{2, 1});
  CHECK(a->values == b->values);
  CHECK_FALSE(loadPredictCsv(*m, f.write("w.csv", "1\n")).ok());
}

TEST_CASE("TrainData::split holds rows out as train(test = ...) says") {
  Folder f;
  ParsedModel count = parsed(f, "train(epochs = 1, test = 10)");
  Expected<Table> data = loadCsv(count, count.dataPath(), DType::F32);
  REQUIRE(data.ok());
  Expected<TrainData> split = TrainData::split(count, *data, DType::F32);
  REQUIRE(split.ok());
  CHECK(split->trainRows() == 30);
  CHECK(split->testRows() == 10);

  ParsedModel tooMany = parsed(f, "train(epochs = 1, test = 40)");
  Expected<TrainData> bad = TrainData::split(tooMany, *data, DType::F32);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind() == ErrorKind::InvalidArgument);
  CHECK(bad.error().message().find("no rows would be left to train on") != std::string::npos);

  f.write("test.csv", regressionCsv(7));
  ParsedModel file = parsed(f, "train(epochs = 1, test = \"test.csv\")");
  CHECK(file.trainDefaults().test.path == f.path() + "/test.csv");
  Expected<TrainData> withFile = TrainData::split(file, *data, DType::F32);
  REQUIRE(withFile.ok());
  CHECK(withFile->trainRows() == 40);
  CHECK(withFile->testRows() == 7);
}

TEST_CASE("Session::train runs epochs with test figures, callbacks and a resumable count") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 3, batch = 8, shuffle = 3, test = 8)");
  Prepared ready = prepare(p);
  Session s(ready.model, 0);
  std::vector<EpochReport> epochs;
  int64_t batches = 0;
  TrainCallbacks callbacks{[&](const EpochReport& r) { epochs.push_back(r); }, [&](const TrainProgress& pr) {
                             ++batches;
                             CHECK(pr.batches == 4);
                           }};
  Expected<TrainRun> result = s.train(ready.split, {}, callbacks);
  REQUIRE(result.ok());
  CHECK(result->epochs == 3);
  CHECK_FALSE(result->diverged);
  REQUIRE(epochs.size() == 3);
  CHECK(batches == 12);
  CHECK(epochs[2].epoch == 3);
  CHECK(epochs[2].loss == result->lastLoss);
  CHECK(epochs[2].loss < epochs[0].loss);
  REQUIRE(epochs[0].test);
  CHECK(epochs[0].metrics.size() == 2);
  CHECK(epochs[0].test->metrics[0].name == "err");

  Expected<TrainRun> more = s.train(ready.split, {2, std::nullopt}, {});
  REQUIRE(more.ok());
  CHECK(s.epochsDone() == 5);
}

TEST_CASE("Session::train tracks the best test loss and refuses a patience without test rows") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 3, batch = 8, test = 8, patience = 5)");
  CHECK(p.trainDefaults().patience == 5);
  CHECK(p.trainDefaults().patienceAt.line > 0);
  CHECK(p.trainDefaults().patienceAt.sourceLine.find("patience = 5") != std::string::npos);
  Prepared ready = prepare(p);
  Session s(ready.model, 0);
  std::vector<EpochReport> epochs;
  Expected<TrainRun> result = s.train(ready.split, {}, {[&](const EpochReport& r) { epochs.push_back(r); }, {}});
  REQUIRE(result.ok());
  CHECK_FALSE(result->stoppedEarly);
  REQUIRE(result->best);
  REQUIRE(epochs.size() == 3);
  CHECK(epochs[0].best);
  CHECK(epochs[size_t(result->best->epoch - 1)].test->loss == result->best->testLoss);

  ParsedModel none = parsed(f, "train(epochs = 3, batch = 8)");
  Expected<TrainData> noTest = TrainData::split(none, ready.data, DType::F32);
  REQUIRE(noTest.ok());
  TrainOptions patient;
  patient.patience = 2;
  Expected<TrainRun> refused = s.train(*noTest, patient, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind() == ErrorKind::InvalidArgument);
}

TEST_CASE("Session::train reports divergence with its epoch and batch") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 5, batch = 10)");
  Expected<Table> data = loadCsv(p, p.dataPath(), DType::F32);
  REQUIRE(data.ok());
  Expected<Model> m = Model::compile(p, {DType::F32, 1e6});
  REQUIRE(m.ok());
  Session s(*m);
  Expected<TrainRun> run = s.train(*TrainData::split(p, *data, DType::F32), {}, {});
  REQUIRE(run.ok());
  REQUIRE(run->diverged);
  CHECK(run->diverged->epoch >= 1);
  CHECK(run->diverged->batch >= 1);
  CHECK_FALSE(std::isfinite(run->diverged->loss));
}

TEST_CASE("Session::evaluate over a table and Session::gradients on a batch") {
  Folder f;
  ParsedModel p = parsed(f, "train(epochs = 1)");
  Expected<Table> data = loadCsv(p, p.dataPath(), DType::F32);
  REQUIRE(data.ok());
  Expected<Model> m = Model::compile(p, {DType::F64, std::nullopt}, checkBuild());
  REQUIRE(m.ok());
  Session s(*m, 0);
  Expected<Evaluation> e = s.evaluate(&*data);
  REQUIRE(e.ok());
  CHECK(e->loss > 0);
  CHECK(e->metrics.size() == 2);
  CHECK(s.evaluate(nullptr).error().kind() == ErrorKind::InvalidArgument);

  Batch b = data->batch();
  Expected<Gradients> g = s.gradients(b);
  REQUIRE(g.ok());
  CHECK(g->loss == Approx(e->loss));
  REQUIRE(g->params.size() == 2);
  CHECK(g->params[0].values.size() == 2);
  // The gradient of b matches a central difference of the loss.
  double h = 1e-6, b0 = s.param("b")->values[0];
  std::vector<double> up{b0 + h}, down{b0 - h};
  REQUIRE(s.setParam("b", std::span<const double>(up)).ok());
  double lossUp = s.evaluate(b)->loss;
  REQUIRE(s.setParam("b", std::span<const double>(down)).ok());
  double lossDown = s.evaluate(b)->loss;
  CHECK(g->params[1].values[0] == Approx((lossUp - lossDown) / (2 * h)).epsilon(1e-5));

  Expected<Model> noGradients = Model::compile(p);
  REQUIRE(noGradients.ok());
  Session t(*noGradients);
  CHECK(t.gradients(b).error().kind() == ErrorKind::NotSupported);
}

TEST_CASE("loadData reads the IDX files of a data list, a test list names the test files") {
  Folder f;
  // IDX: 00 00 TYPE DIMS, big-endian dims, then unsigned bytes: 3 images of 2x2 and their labels.
  f.write("images", std::string("\0\0\x08\x03\0\0\0\x03\0\0\0\x02\0\0\0\x02", 16) + std::string(12, '\x05'));
  f.write("labels", std::string("\0\0\x08\x01\0\0\0\x03\x02\x00\x01", 11));
  std::string src = kClassifier;
  src = "data \"labels\", \"images\"\n" + src.substr(0, src.find("train(")) +
        "train(epochs = 1, test = [\"images\", \"labels\"])\n";
  Expected<ParsedModel> p = ParsedModel::fromFile(f.write("m.nn", src));
  REQUIRE(p.ok());
  CHECK(p->dataPaths() == std::vector<std::string>{f.path() + "/labels", f.path() + "/images"});
  CHECK(p->dataNames() == std::vector<std::string>{"labels", "images"});
  CHECK(p->dataPath() == f.path() + "/labels");
  const TestSplit& test = p->trainDefaults().test;
  CHECK(test.kind == TestSplit::Kind::File);
  CHECK(test.paths == std::vector<std::string>{f.path() + "/images", f.path() + "/labels"});
  CHECK(test.names == std::vector<std::string>{"images", "labels"});

  std::vector<DataFile> files;
  for (size_t i = 0; i < p->dataPaths().size(); ++i) files.push_back({p->dataPaths()[i], p->dataNames()[i]});
  Expected<Table> data = loadData(*p, files, DType::F32);
  REQUIRE(data.ok());
  CHECK(data->rows() == 3);
  CHECK(data->inputNames() == std::vector<std::string>{"x", "label"});  // declaration order, not the list's
  Expected<TrainData> split = TrainData::split(*p, *data, DType::F32);
  REQUIRE(split.ok());
  CHECK(split->trainRows() == 3);
  CHECK(split->testRows() == 3);

  Expected<Table> missing = loadData(*p, {{f.path() + "/images", "images"}}, DType::F32);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind() == ErrorKind::Io);
  CHECK(missing.error().message().find("input 'label' (class(3)) is fed by none of the data files") !=
        std::string::npos);
}

TEST_CASE("Session::trainEpoch on a batch and Session::train on a table are one epoch loop") {
  // Dropout draws its masks from the step's place in the run, so the two agree
  // over several epochs only if they take their steps through the same loop.
  Folder f;
  f.write("train.csv", regressionCsv(40));
  Expected<ParsedModel> p = ParsedModel::fromFile(f.write("m.nn", R"(data "train.csv"
input x[batch, 2]
input y[batch, 1]
param W[2, 6] = normal(0, 0.5)
param V[6, 1] = normal(0, 0.5)
pred = dropout(relu(x @ W), 0.5) @ V
loss = mean(square(pred - y))
optimizer sgd(lr = 0.05)
train(epochs = 3, batch = 8)
)"));
  REQUIRE(p.ok());
  Prepared ready = prepare(*p);
  Session table(ready.model, 4), batch(ready.model, 4);
  REQUIRE(table.train(ready.split, {}, {}).ok());
  // The same 40 rows, in the CSV's order and as its text rounds them, as the caller's buffers.
  Data d = regressionData(40);
  for (std::vector<float>* column : {&d.x, &d.y})
    for (float& v : *column) v = static_cast<float>(std::strtod(std::to_string(v).c_str(), nullptr));
  for (int e = 0; e < 3; ++e) REQUIRE(batch.trainEpoch(Batch(40).set("x", d.x).set("y", d.y), {8, std::nullopt}).ok());
  CHECK(batch.epochsDone() == table.epochsDone());
  CHECK(batch.steps() == table.steps());
  CHECK(batch.param("W")->values == table.param("W")->values);
  CHECK(batch.param("V")->values == table.param("V")->values);
}
