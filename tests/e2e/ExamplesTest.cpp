// ExamplesTest: the contract's two examples, exactly as it states their results.
#include "Run.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

using namespace nnjit::e2e;

namespace {

std::vector<nlohmann::json> jsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

} // namespace

TEST_CASE("quadratic.nn: epoch 1 has loss 36 and w 2.6, w reaches -1", "[e2e][examples]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = jsonLines(o.out);
  REQUIRE(lines.size() == 41);
  CHECK(lines[0]["epoch"] == 1);
  CHECK(lines[0]["loss"].get<double>() == 36.0);
  CHECK(std::fabs(lines[0]["metrics"]["w"].get<double>() - 2.6) < 1e-6);
  CHECK(std::fabs(lines[39]["metrics"]["w"].get<double>() + 1) < 1e-6);
  CHECK(lines[40]["done"] == true);
  CHECK(lines[40]["epochs"] == 40);
  CHECK(lines[40].contains("compile_ms"));
  CHECK(lines[40].contains("train_ms"));
}

TEST_CASE("iris.nn: test accuracy at least 0.9 after 500 epochs, loss falls", "[e2e][examples]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output o = s.nnjit({"train", "iris.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = jsonLines(o.out);
  REQUIRE(lines.size() == 501);
  CHECK(lines[499]["test"]["acc"].get<double>() >= 0.9);
  CHECK(lines[499]["loss"].get<double>() < lines[0]["loss"].get<double>());
  CHECK(lines[0].contains("test"));
}
