// ErrorTest: wrongly shaped buffers, unknown names and unsupported calls are error values.
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

using namespace nnjit::api;
using namespace apitest;

namespace {

Model compiled(const char* source) {
  Expected<Model> m = Model::fromString(source, "err.nn");
  REQUIRE(m.ok());
  return *m;
}

template <class T>
void checkInvalid(const T& result, const std::string& fragment) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind() == ErrorKind::InvalidArgument);
  INFO(result.error().message());
  CHECK(result.error().message().find(fragment) != std::string::npos);
}

} // namespace

TEST_CASE("batches that do not fit the model are InvalidArgument") {
  Model m = compiled(kRegression);
  Session s(m);
  Data d = regressionData(8);

  Batch unknown(8);
  unknown.set("x", d.x).set("y", d.y).set("z", d.y);
  checkInvalid(s.trainStep(unknown), "'z' is not an input");

  Batch missing(8);
  missing.set("x", d.x);
  checkInvalid(s.trainStep(missing), "input 'y' is not bound");
  checkInvalid(s.trainEpoch(missing), "input 'y' is not bound");
  checkInvalid(s.evaluate(missing), "input 'y' is not bound");

  Batch shortX(8);
  shortX.set("x", std::span<const float>(d.x).first(15)).set("y", d.y);
  checkInvalid(s.trainStep(shortX), "input 'x' needs 16 values (8 rows of 2), but its buffer holds 15");
  checkInvalid(s.predict(shortX), "needs 16 values");

  Batch tooMany(4);
  tooMany.set("x", d.x).set("y", d.y);
  checkInvalid(s.evaluate(tooMany), "needs 8 values");

  Batch null(8);
  null.set("x", static_cast<const float*>(nullptr), 16).set("y", d.y);
  checkInvalid(s.trainStep(null), "input 'x'");

  Batch empty(0);
  empty.set("x", std::span<const float>()).set("y", std::span<const float>());
  checkInvalid(s.trainStep(empty), "no rows");

  Batch negative(-1);
  checkInvalid(s.predict(negative), "negative");

  checkInvalid(s.trainEpoch(Batch(8).set("x", d.x).set("y", d.y), {-2, std::nullopt}), "batch size");

  CHECK(s.steps() == 0);
  CHECK(s.param("b")->values == std::vector<double>{0});
}

TEST_CASE("rebinding a name replaces the earlier buffer") {
  Model m = compiled(kRegression);
  Session s(m);
  Data d = regressionData(8);
  Batch b(8);
  b.set("x", std::span<const float>(d.x).first(3)).set("x", d.x).set("y", d.y);
  CHECK(b.columns().size() == 2);
  CHECK(s.trainStep(b).ok());
}

TEST_CASE("class labels must be whole numbers in range") {
  Model m = compiled(kClassifier);
  Session s(m);
  std::vector<float> x(4 * 2, 0.5f);
  std::vector<float> outOfRange = {0, 3}, fraction = {0, 1.5f}, negative = {-1, 0}, good = {2, 1};
  checkInvalid(s.trainStep(Batch(2).set("x", x).set("label", outOfRange)), "not a class label in 0..2");
  checkInvalid(s.evaluate(Batch(2).set("x", x).set("label", fraction)), "not a class label");
  checkInvalid(s.trainEpoch(Batch(2).set("x", x).set("label", negative)), "not a class label");
  CHECK(s.trainStep(Batch(2).set("x", x).set("label", good)).ok());
  // predict does not need the label.
  CHECK(s.predict(Batch(2).set("x", x)).ok());
}

TEST_CASE("unknown params and wrongly sized values are InvalidArgument") {
  Model m = compiled(kRegression);
  Session s(m);
  checkInvalid(s.param("V"), "'V' is not a param of the model (its params: 'W', 'b')");
  std::vector<float> three = {1, 2, 3};
  checkInvalid(s.setParam("W", three), "param 'W' has 2 values, not 3");
  checkInvalid(s.setParam("nope", std::span<const double>()), "not a param");
  CHECK(s.param("b")->values == std::vector<double>{0});
}

TEST_CASE("calls a model cannot serve are NotSupported") {
  Session plain(compiled("param w = 1\nloss = square(w)\n"));
  Expected<StepResult> step = plain.trainStep(Batch());
  REQUIRE_FALSE(step.ok());
  CHECK(step.error().kind() == ErrorKind::NotSupported);
  CHECK(plain.trainEpoch(Batch()).error().kind() == ErrorKind::NotSupported);
  Expected<Tensor> p = plain.predict(Batch());
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().kind() == ErrorKind::NotSupported);
  CHECK(p.error().diagnostics()[0].file == "err.nn");
  CHECK(plain.evaluate(Batch()).ok());
}

TEST_CASE("a moved-from session answers with errors") {
  Session a(compiled(kQuadratic));
  Session b(std::move(a));
  CHECK(b.trainStep(Batch()).ok());
  checkInvalid(a.trainStep(Batch()), "moved from");  // NOLINT(bugprone-use-after-move)
  checkInvalid(a.param("w"), "moved from");
  checkInvalid(a.save("/tmp/x"), "moved from");
  a = std::move(b);
  CHECK(a.steps() == 1);
}
