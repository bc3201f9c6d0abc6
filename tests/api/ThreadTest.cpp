// ThreadTest: several models and sessions in one process, used from several threads.
#include "Models.h"

#include <nnjit/nnjit.h>

#include <catch2/catch.hpp>

#include <thread>

using namespace nnjit::api;
using namespace apitest;

namespace {

/// Trains a fresh session for a few epochs and returns its final params.
std::vector<double> trainRegression(const Model& m, uint64_t seed, std::string* error) {
  Data d = regressionData(96);
  Session s(m, seed);
  Batch b(d.rows);
  b.set("x", d.x).set("y", d.y);
  for (int i = 0; i < 20; ++i) {
    Expected<EpochResult> e = s.trainEpoch(b);
    if (!e) {
      *error = e.error().message();
      return {};
    }
  }
  std::vector<double> w = s.param("W")->values;
  w.push_back(s.param("b")->values[0]);
  return w;
}

} // namespace

TEST_CASE("two sessions of two models on two threads") {
  std::vector<double> results[2];
  std::string errors[2];
  std::thread threads[2];
  for (int t = 0; t < 2; ++t)
    threads[t] = std::thread([&, t] {
      Expected<Model> m = Model::fromString(kRegression, "thread" + std::to_string(t) + ".nn");
      if (!m) {
        errors[t] = m.error().message();
        return;
      }
      results[t] = trainRegression(*m, 11, &errors[t]);
    });
  for (std::thread& th : threads) th.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  REQUIRE(results[0].size() == 3);
  CHECK(results[0] == results[1]);  // same seed, same data: bit for bit

  // The same run on this thread agrees with both.
  Expected<Model> m = Model::fromString(kRegression);
  std::string error;
  CHECK(trainRegression(*m, 11, &error) == results[0]);
}

TEST_CASE("two sessions sharing one model on two threads") {
  Expected<Model> m = Model::fromString(kRegression);
  REQUIRE(m.ok());
  std::vector<double> results[2];
  std::string errors[2];
  std::thread a([&] { results[0] = trainRegression(*m, 4, &errors[0]); });
  std::thread b([&] { results[1] = trainRegression(*m, 4, &errors[1]); });
  a.join();
  b.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  CHECK(results[0] == results[1]);
  CHECK(results[0][0] == Approx(3).margin(0.1));
}

TEST_CASE("a session keeps its model alive after the last Model handle is gone") {
  std::optional<Session> s;
  {
    Expected<Model> m = Model::fromString(kQuadratic);
    REQUIRE(m.ok());
    s.emplace(*m);
  }
  for (int i = 0; i < 40; ++i) REQUIRE(s->trainStep(Batch()).ok());
  CHECK(s->param("w")->values[0] == Approx(-1).margin(1e-4));
  CHECK(s->model().params()[0].name == "w");
}

TEST_CASE("many models and sessions at once") {
  std::vector<Model> models;
  std::vector<Session> sessions;
  for (int i = 0; i < 4; ++i) {
    Expected<Model> m = Model::fromString(i % 2 ? kQuadratic : kClassifier);
    REQUIRE(m.ok());
    models.push_back(*m);
    sessions.emplace_back(models.back(), static_cast<uint64_t>(i));
  }
  models.clear();
  CHECK(sessions[1].trainStep(Batch()).ok());
  CHECK(sessions[3].trainStep(Batch()).ok());
  CHECK(sessions[0].param("W")->values != sessions[2].param("W")->values);
}
