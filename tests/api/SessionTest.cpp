// SessionTest: training, evaluating, predicting, params, seeds and checkpoints through the public API.
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace nnjit::api;
using namespace apitest;

namespace {

Model compiled(const char* source, DType dtype = DType::F32) {
  Expected<Model> m = Model::fromString(source, "test.nn", {dtype, std::nullopt});
  REQUIRE(m.ok());
  return *m;
}

std::string tempPath(const char* name) {
  return "/tmp/nnjit_api_" + std::to_string(getpid()) + "_" + name;
}

} // namespace

TEST_CASE("trainStep lowers the loss and counts steps") {
  Model m = compiled(kRegression);
  Data d = regressionData(64);
  Session s(m, 1);
  Batch b(d.rows);
  b.set("x", d.x).set("y", d.y);
  Expected<StepResult> first = s.trainStep(b);
  REQUIRE(first.ok());
  CHECK(first->step == 1);
  REQUIRE(first->metrics.size() == 1);  // err reads inputs; wnorm only params
  CHECK(first->metrics[0].name == "err");
  CHECK(first->metrics[0].value == Approx(first->loss));
  double loss = first->loss;
  for (int i = 0; i < 200; ++i) loss = s.trainStep(b)->loss;
  CHECK(loss < first->loss / 100);
  CHECK(s.steps() == 201);
  CHECK(s.epochsDone() == 0);
}

TEST_CASE("trainEpoch runs batches, reports every metric and converges") {
  Model m = compiled(kRegression);
  Data d = regressionData(100);
  Session s(m, 2);
  Batch b(d.rows);
  b.set("x", d.x.data(), 200).set("y", d.y.data(), 100);
  Expected<EpochResult> e1 = s.trainEpoch(b);
  REQUIRE(e1.ok());
  CHECK(e1->epoch == 1);
  CHECK(e1->batches == 7);  // 100 rows in batches of 16
  REQUIRE(e1->metrics.size() == 2);
  CHECK(e1->metrics[0].name == "err");
  CHECK(e1->metrics[1].name == "wnorm");
  Expected<EpochResult> e2 = s.trainEpoch(b, {50, std::nullopt});
  REQUIRE(e2.ok());
  CHECK(e2->batches == 2);
  double last = 0;
  for (int i = 0; i < 60; ++i) last = s.trainEpoch(b)->loss;
  CHECK(last < 1e-3);
  CHECK(s.epochsDone() == 62);
  Tensor w = *s.param("W");
  CHECK(w.values[0] == Approx(3).margin(0.05));
  CHECK(w.values[1] == Approx(-2).margin(0.05));
  Tensor bias = *s.param("b");
  CHECK(bias.values[0] == Approx(1).margin(0.05));
  // wnorm is computed from the params after the epoch.
  CHECK(s.trainEpoch(b)->metrics[1].value == Approx(w.values[0] * w.values[0] + w.values[1] * w.values[1]).epsilon(1e-2));
}

TEST_CASE("trainEpoch is reproducible: same seed and data, same losses, shuffle seeds matter") {
  Model m = compiled(kRegression);
  Data d = regressionData(64);
  Batch b(d.rows);
  b.set("x", d.x).set("y", d.y);
  Session s1(m, 5), s2(m, 5), s3(m, 5);
  for (int i = 0; i < 3; ++i) {
    double l1 = s1.trainEpoch(b)->loss, l2 = s2.trainEpoch(b)->loss;
    CHECK(l1 == l2);
  }
  CHECK(s1.param("W")->values == s2.param("W")->values);
  for (int i = 0; i < 3; ++i) REQUIRE(s3.trainEpoch(b, {0, 99}).ok());
  CHECK(s1.param("W")->values != s3.param("W")->values);
}

TEST_CASE("a model without inputs trains from an empty batch") {
  Model m = compiled(kQuadratic);
  Session s(m);
  Expected<EpochResult> e = s.trainEpoch(Batch());
  for (int i = 1; i < 40; ++i) {
    e = s.trainEpoch(Batch());
    REQUIRE(e.ok());
  }
  CHECK(e->batches == 1);
  CHECK(e->metrics[0].name == "w");
  CHECK(e->metrics[0].value == Approx(-1).margin(1e-4));
  CHECK(s.param("w")->shape.empty());
  Expected<Evaluation> ev = s.evaluate(Batch());
  REQUIRE(ev.ok());
  CHECK(ev->loss == Approx(0).margin(1e-6));
}

TEST_CASE("evaluate and predict read the params without changing them") {
  Model m = compiled(kRegression);
  Session s(m);
  const float w[] = {3, -2}, b0[] = {1};
  REQUIRE(s.setParam("W", w).ok());
  REQUIRE(s.setParam("b", b0).ok());
  Data d = regressionData(10);
  Batch b(d.rows);
  b.set("x", d.x).set("y", d.y);
  Expected<Evaluation> e = s.evaluate(b);
  REQUIRE(e.ok());
  CHECK(e->loss == Approx(0).margin(1e-10));
  REQUIRE(e->metrics.size() == 2);
  CHECK(e->metrics[1].value == Approx(13));

  // predict needs only x (y is not read by the output).
  const float x[] = {1, 1, 0, 0, 2, -1};
  Expected<Tensor> p = s.predict(Batch(3).set("x", x));
  REQUIRE(p.ok());
  CHECK(p->shape == std::vector<int64_t>{3, 1});
  REQUIRE(p->values.size() == 3);
  CHECK(p->values[0] == Approx(2));
  CHECK(p->values[1] == Approx(1));
  CHECK(p->values[2] == Approx(9));
  CHECK(s.param("W")->values == std::vector<double>{3, -2});
  CHECK(s.steps() == 0);
}

TEST_CASE("param and setParam in float and double") {
  Model m = compiled(kClassifier);
  Session s(m);
  Expected<Tensor> w = s.param("W");
  REQUIRE(w.ok());
  CHECK(w->shape == std::vector<int64_t>{4, 3});
  CHECK(w->values.size() == 12);
  std::vector<double> values(12);
  for (int i = 0; i < 12; ++i) values[i] = i * 0.5;
  REQUIRE(s.setParam("W", values).ok());
  CHECK(s.param("W")->values == values);
  std::vector<float> fb = {1.5f, -2, 0.25f};
  REQUIRE(s.setParam("b", fb).ok());
  CHECK(s.param("b")->values == std::vector<double>{1.5, -2, 0.25});
}

TEST_CASE("seeds: the same seed draws the same params, reset redraws") {
  Model m = compiled(kClassifier);
  Session a(m, 7), b(m, 7), c(m, 8);
  CHECK(a.seed() == 7);
  CHECK(a.param("W")->values == b.param("W")->values);
  CHECK(a.param("W")->values != c.param("W")->values);
  c.reset(7);
  CHECK(c.seed() == 7);
  CHECK(a.param("W")->values == c.param("W")->values);
}

TEST_CASE("threads are validated and recorded") {
  Session s(compiled(kQuadratic));
  CHECK(s.threads() == 1);
  CHECK(s.setThreads(4).ok());
  CHECK(s.threads() == 4);
  Status bad = s.setThreads(0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind() == ErrorKind::InvalidArgument);
  CHECK(s.threads() == 4);
}

TEST_CASE("an F64 model accepts double and float buffers") {
  Model m = compiled(kRegression, DType::F64);
  Data d = regressionData(32);
  std::vector<double> x(d.x.begin(), d.x.end());
  Session s(m, 1);
  Batch b(d.rows);
  b.set("x", x).set("y", d.y);
  double first = s.trainStep(b)->loss, loss = first;
  for (int i = 0; i < 100; ++i) loss = s.trainStep(b)->loss;
  CHECK(loss < first / 100);
}

TEST_CASE("save and load a checkpoint") {
  Model m = compiled(kClassifier);
  std::vector<float> x(32 * 4), label(32);
  for (int r = 0; r < 32; ++r) {
    label[r] = static_cast<float>(r % 3);
    for (int j = 0; j < 4; ++j) x[r * 4 + j] = (j == r % 3) ? 1.0f : 0.1f * static_cast<float>(j);
  }
  Batch b(32);
  b.set("x", x).set("label", label);
  Session s(m, 3);
  for (int i = 0; i < 3; ++i) REQUIRE(s.trainEpoch(b).ok());
  std::string path = tempPath("ckpt.safetensors");
  REQUIRE(s.save(path).ok());

  Session t(m, 99);
  REQUIRE(t.load(path).ok());
  CHECK(t.epochsDone() == 3);
  CHECK(t.param("W")->values == s.param("W")->values);
  // Adam state came along: the next epoch matches exactly.
  CHECK(t.trainEpoch(b)->loss == s.trainEpoch(b)->loss);

  Status missing = t.load("/nonexistent/ckpt.safetensors");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind() == ErrorKind::Io);

  // Another model's checkpoint is refused and leaves the session unchanged.
  Session q(compiled(kQuadratic));
  std::string other = tempPath("other.safetensors");
  REQUIRE(q.save(other).ok());
  std::vector<double> before = t.param("W")->values;
  Status refused = t.load(other);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind() == ErrorKind::Io);
  CHECK(refused.error().diagnostics()[0].file == other);
  CHECK(t.param("W")->values == before);

  Status unwritable = s.save("/nonexistent/dir/ckpt.safetensors");
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().kind() == ErrorKind::Io);
  std::remove(path.c_str());
  std::remove(other.c_str());
}

TEST_CASE("a diverging step is an error value") {
  Expected<Model> m = Model::fromString(kRegression, "big.nn", {DType::F32, 1e6});
  REQUIRE(m.ok());
  Data d = regressionData(16);
  Session s(*m);
  Batch b(d.rows);
  b.set("x", d.x).set("y", d.y);
  Expected<StepResult> r = s.trainStep(b);
  for (int i = 0; i < 50 && r.ok(); ++i) r = s.trainStep(b);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind() == ErrorKind::Diverged);
  CHECK(r.error().message().find("loss") != std::string::npos);
}

TEST_CASE("api: a whole-table call after an in-place batch reads the table, not the old batch", "[api]") {
  // trainStep reads a float batch in place; evaluate(Table) must not keep reading that memory.
  std::string dir = std::filesystem::temp_directory_path() / ("nnjit-api-rebind-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/m.nn") << "data \"d.csv\"\ninput x[batch, 1]\nparam w = 2\nloss = mean(x * w)\n"
                                   "optimizer sgd(lr = 0)\ntrain(epochs = 1)\n";
  std::ofstream(dir + "/d.csv") << "10\n20\n";
  auto parsed = nnjit::api::ParsedModel::fromFile(dir + "/m.nn");
  REQUIRE(parsed);
  auto table = nnjit::api::loadCsv(*parsed, dir + "/d.csv", nnjit::api::DType::F32);
  REQUIRE(table);
  auto model = nnjit::api::Model::fromFile(dir + "/m.nn");
  REQUIRE(model);
  nnjit::api::Session session(*model);
  std::vector<float> ones{1, 1};
  auto step = session.trainStep(nnjit::api::Batch(2).set("x", ones));
  REQUIRE(step);
  CHECK(step->loss == Approx(2));
  auto e = session.evaluate(&*table);
  REQUIRE(e);
  CHECK(e->loss == Approx(30));  // mean(10, 20) * 2
  std::filesystem::remove_all(dir);
}
