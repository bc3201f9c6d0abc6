// HardeningTest: the promise that errors are values holds for absurd sizes, moved-from and
// unallocatable sessions, null buffers, hostile files, a session used from two threads, and a
// diverged step (which leaves the session as it was).
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>
#include <thread>

using namespace nnjit::api;
using namespace apitest;

namespace {

Model compiled(const std::string& source) {
  Expected<Model> m = Model::fromString(source, "hard.nn");
  INFO((m ? "" : m.error().message()));
  REQUIRE(m.ok());
  return *m;
}

template <class T>
std::string failure(const T& result, ErrorKind kind) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message());
  CHECK(result.error().kind() == kind);
  return result.error().message();
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("hardening: batch sizes that overflow int64 are refused, with sizes that make sense") {
  Model m = compiled(kRegression);
  Session s(m);
  Data d = regressionData(8);
  for (int64_t rows : {(int64_t(1) << 62) + 4, INT64_MAX}) {
    Batch huge(rows);
    huge.set("x", d.x).set("y", d.y);
    std::string why = failure(s.trainStep(huge), ErrorKind::InvalidArgument);
    CHECK(has(why, "more than a buffer can hold"));
    CHECK_FALSE(has(why, "-2 values"));
  }
  Batch negative(8);
  negative.set("x", d.x.data(), -16).set("y", d.y);
  CHECK(has(failure(s.evaluate(negative), ErrorKind::InvalidArgument), "negative size -16"));
  Batch null(8);
  null.set("x", static_cast<const float*>(nullptr), 16).set("y", d.y);
  std::string why = failure(s.trainStep(null), ErrorKind::InvalidArgument);
  CHECK(has(why, "input 'x' has a null buffer"));
  CHECK_FALSE(has(why, "holds 16"));
}

TEST_CASE("hardening: a moved-from session still names its model and answers with errors") {
  Model m = compiled(kQuadratic);
  Session a(m);
  Session b(std::move(a));
  CHECK(a.model().params()[0].name == "w");  // NOLINT(bugprone-use-after-move): that is the test
  CHECK(has(failure(a.trainStep(Batch()), ErrorKind::InvalidArgument), "moved from"));
  CHECK(has(failure(a.param("w"), ErrorKind::InvalidArgument), "moved from"));
  Session c(m);
  c = std::move(b);
  CHECK(b.model().name() == "hard.nn");  // NOLINT(bugprone-use-after-move)
  CHECK(c.trainStep(Batch()).ok());
}

TEST_CASE("hardening: setParam with a null span is an error") {
  Model m = compiled(kQuadratic);
  Session s(m);
  std::span<const float> null(static_cast<const float*>(nullptr), 1);
  CHECK(has(failure(s.setParam("w", null), ErrorKind::InvalidArgument), "null pointer"));
  CHECK(s.param("w")->values[0] == 5);
}

TEST_CASE("hardening: loading /dev/zero or /dev/urandom is an Io error, at once") {
  Model m = compiled(kQuadratic);
  Session s(m);
  for (const char* device : {"/dev/zero", "/dev/urandom"}) {
    std::string why = failure(s.load(device), ErrorKind::Io);
    CHECK(has(why, std::string(device) + ": error: not a safetensors file"));
  }
  CHECK(has(failure(s.load(""), ErrorKind::InvalidArgument), "empty"));
}

TEST_CASE("hardening: a session too large for memory is an OutOfMemory error, not an exception") {
  std::string source;
  for (int i = 0; i < 40; ++i) source += "param W" + std::to_string(i) + "[46000, 46000] = 0\n";
  source += "loss = sum(W0)\noptimizer sgd(lr = 0.1)\n";
  Model m = compiled(source);
  Expected<Session> created = Session::create(m);
  std::string why = failure(created, ErrorKind::OutOfMemory);
  CHECK(has(why, "hard.nn: error: out of memory"));
  CHECK(has(why, "GiB"));
  Session s(m);  // the constructor cannot return it: every call does
  failure(s.trainStep(Batch()), ErrorKind::OutOfMemory);
  failure(s.param("W0"), ErrorKind::OutOfMemory);
}

TEST_CASE("hardening: a session in a call on one thread refuses calls from another") {
  std::string path = "/tmp/nnjit-hardening-" + std::to_string(::getpid()) + ".nn";
  { std::ofstream(path) << kQuadratic; }
  Expected<ParsedModel> parsed = ParsedModel::fromFile(path);
  std::remove(path.c_str());
  REQUIRE(parsed.ok());
  Expected<Model> m = Model::compile(*parsed);
  REQUIRE(m.ok());
  Expected<TrainData> data = TrainData::split(*parsed, std::nullopt, DType::F32);
  REQUIRE(data.ok());
  Session s(*m);
  std::string nested, other;
  TrainCallbacks callbacks;
  callbacks.onEpoch = [&](const EpochReport& r) {
    if (r.epoch != 1) return;
    // On the training thread a call is nested and fine; from another thread it is refused.
    Expected<Tensor> same = s.param("w");
    nested = same ? "ok" : same.error().message();
    std::thread([&] {
      Expected<Tensor> p = s.param("w");
      other = p ? "ok" : p.error().message();
    }).join();
  };
  Expected<TrainRun> run = s.train(*data, {3, std::nullopt}, callbacks);
  REQUIRE(run.ok());
  CHECK(nested == "ok");
  CHECK(has(other, "in a call on another thread"));
  std::string after;
  std::thread([&] { after = s.param("w") ? "ok" : "refused"; }).join();
  CHECK(after == "ok");  // the run is over: any thread may call again
  CHECK(has(failure(s.train(*data, {kMaxEpochs + 1, std::nullopt}, {}), ErrorKind::InvalidArgument), "epoch count"));
}

TEST_CASE("hardening: a diverged step leaves the params, state and step count as they were") {
  // The step after the one that overflows w has a loss of inf; its update would make w NaN.
  for (const char* optimizer : {"sgd(lr = 1e30)", "adam(lr = 1e30)"}) {
    std::string source = std::string("param w = 5\nloss = square(w + 1)\noptimizer ") + optimizer + "\n";
    Model m = compiled(source);
    Session s(m);
    int64_t diverged = 0;
    std::vector<double> before;
    for (int i = 0; i < 20 && !diverged; ++i) {
      before = s.param("w")->values;
      Expected<StepResult> r = s.trainStep(Batch());
      if (!r) {
        REQUIRE(r.error().kind() == ErrorKind::Diverged);
        diverged = i + 1;
      }
    }
    INFO(optimizer);
    REQUIRE(diverged > 0);
    CHECK(s.param("w")->values == before);
    CHECK_FALSE(std::isnan(s.param("w")->values[0]));
    CHECK(s.steps() == diverged - 1);
  }
}
