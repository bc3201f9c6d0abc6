// ModelTest: compiling through the public API and inspecting what a model declares.
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace nnjit::api;
using namespace apitest;

namespace {

/// Runs `f` with file descriptor 2 redirected and returns what was written to it.
template <class F>
std::string captureStderr(F f) {
  std::fflush(stderr);
  char path[] = "/tmp/nnjit_api_stderr_XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  f();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path);
  return text;
}

} // namespace

TEST_CASE("Model::fromString describes inputs, params, output and metrics") {
  Expected<Model> m = Model::fromString(kClassifier, "cls.nn");
  REQUIRE(m.ok());
  CHECK(m->name() == "cls.nn");
  CHECK(m->dtype() == DType::F32);
  CHECK(m->hasLoss());
  CHECK(m->canTrain());
  CHECK(m->warnings().empty());
  REQUIRE(m->inputs().size() == 2);
  const TensorInfo& x = m->inputs()[0];
  CHECK(x.name == "x");
  CHECK(x.shape == std::vector<int64_t>{kBatch, 4});
  CHECK(x.batched);
  CHECK(x.rowElements == 4);
  CHECK(x.classes == 0);
  CHECK(x.readByOutput);
  CHECK(x.elements(10) == 40);
  const TensorInfo& label = m->inputs()[1];
  CHECK(label.classes == 3);
  CHECK(label.rowElements == 1);
  CHECK_FALSE(label.readByOutput);
  REQUIRE(m->params().size() == 2);
  CHECK(m->params()[0].name == "W");
  CHECK(m->params()[0].shape == std::vector<int64_t>{4, 3});
  CHECK_FALSE(m->params()[0].batched);
  CHECK(m->params()[0].elements(99) == 12);
  CHECK(m->params()[1].shape == std::vector<int64_t>{3});
  REQUIRE(m->output().has_value());
  CHECK(m->output()->name == "y");
  CHECK(m->output()->shape == std::vector<int64_t>{kBatch, 3});
  CHECK(m->metrics() == std::vector<std::string>{"acc"});
  CHECK(m->trainDefaults().epochs == 3);
  CHECK(m->trainDefaults().batchSize == 8);
  CHECK_FALSE(m->trainDefaults().shuffleSeed.has_value());
}

TEST_CASE("a model without optimizer or output compiles but cannot train or predict") {
  Expected<Model> m = Model::fromString("param w = 1\nloss = square(w)\n", "plain.nn");
  REQUIRE(m.ok());
  CHECK(m->hasLoss());
  CHECK_FALSE(m->canTrain());
  CHECK_FALSE(m->output().has_value());
  CHECK(Model::fromString(kRegression)->trainDefaults().shuffleSeed == std::optional<uint64_t>(3));
}

TEST_CASE("compile errors are values with file, line, column and message, never printed") {
  std::string printed = captureStderr([] {
    Expected<Model> m = Model::fromString("param w = 1\nloss = square(w +)\n", "bad.nn");
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().kind() == ErrorKind::Compile);
    REQUIRE_FALSE(m.error().diagnostics().empty());
    const Diagnostic& d = m.error().diagnostics()[0];
    CHECK(d.severity == Severity::Error);
    CHECK(d.file == "bad.nn");
    CHECK(d.line == 2);
    CHECK(d.column > 0);
    CHECK_FALSE(d.message.empty());
    CHECK(d.str().rfind("bad.nn:2:" + std::to_string(d.column) + ": error: ", 0) == 0);
    CHECK(m.error().message().find(d.message) != std::string::npos);
  });
  CHECK(printed.empty());
}

TEST_CASE("a shape error names its position") {
  Expected<Model> m = Model::fromString("input x[batch, 2]\nparam W[3, 1] = 0\nloss = mean(x @ W)\n", "shape.nn");
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().kind() == ErrorKind::Compile);
  CHECK(m.error().diagnostics()[0].line == 3);
}

TEST_CASE("Model::fromFile reads a model and reports a missing file as Io") {
  Expected<Model> iris = Model::fromFile(NNJIT_SOURCE_DIR "/examples/iris.nn");
  REQUIRE(iris.ok());
  CHECK(iris->inputs().size() == 2);
  CHECK(iris->name() == NNJIT_SOURCE_DIR "/examples/iris.nn");

  Expected<Model> missing = Model::fromFile("/nonexistent/model.nn");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind() == ErrorKind::Io);
  CHECK(missing.error().diagnostics()[0].file == "/nonexistent/model.nn");
  CHECK(missing.error().message().find("cannot read file") != std::string::npos);
}

TEST_CASE("CompileSettings: dtype and learning rate") {
  Expected<Model> f64 = Model::fromString(kQuadratic, "q.nn", {DType::F64, std::nullopt});
  REQUIRE(f64.ok());
  CHECK(f64->dtype() == DType::F64);

  Expected<Model> bad = Model::fromString(kQuadratic, "q.nn", {DType::F32, -1.0});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind() == ErrorKind::InvalidArgument);

  // lr 0.5 takes w = 5 to exactly -1 in one step; the source's 0.2 does not.
  Expected<Model> fast = Model::fromString(kQuadratic, "q.nn", {DType::F64, 0.5});
  REQUIRE(fast.ok());
  Session s(*fast);
  REQUIRE(s.trainStep(Batch()).ok());
  CHECK(s.param("w")->values[0] == Approx(-1.0));
}

TEST_CASE("Error and Status basics") {
  Error e(ErrorKind::InvalidArgument, "boom");
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(e.message() == "error: boom");
  Status ok;
  CHECK(ok.ok());
  Status failed = e;
  CHECK_FALSE(failed);
  CHECK(failed.error().message() == "error: boom");
  Diagnostic d{Severity::Warning, "f.nn", 3, 0, "careful", ""};
  CHECK(d.str() == "f.nn:3: warning: careful");
}
