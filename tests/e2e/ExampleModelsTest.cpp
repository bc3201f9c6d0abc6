// ExampleModelsTest: the course examples train to the figures docs/examples.md promises.
#include "Helpers.h"

using namespace nnjit::e2e;

namespace {

nlohmann::json lastEpoch(const Output& o) {
  auto lines = epochLines(o.out);
  REQUIRE(!lines.empty());
  return lines.back();
}

} // namespace

TEST_CASE("digits.nn reaches at least 0.95 test accuracy", "[e2e][examples]") {
  Scratch s;
  s.copy("examples/digits.nn", "digits.nn");
  s.copy("examples/digits.csv", "digits.csv");
  Output o = s.nnjit({"train", "digits.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(lastEpoch(o)["test"]["acc"].get<double>() >= 0.95);
}

TEST_CASE("lr_decay.nn reports the decayed learning rate", "[e2e][examples]") {
  Scratch s;
  s.copy("examples/lr_decay.nn", "lr_decay.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output o = s.nnjit({"train", "lr_decay.nn", "--log", "json", "--epochs", "3"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 3);
  CHECK(near(lines[0]["metrics"]["lr"].get<double>(), 0.5));
  CHECK(near(lines[2]["metrics"]["lr"].get<double>(), 0.5 * 0.99 * 0.99));
}

TEST_CASE("l2.nn: the penalty shrinks the weights", "[e2e][examples]") {
  Scratch s;
  s.copy("examples/l2.nn", "l2.nn");
  s.copy("examples/digits.csv", "digits.csv");
  s.write("free.nn", [&] {
    std::string text = s.read("l2.nn");
    text.replace(text.find("0.001 * l2(W)"), 13, "0 * l2(W)");
    return text;
  }());
  Output penalized = s.nnjit({"train", "l2.nn", "--log", "json", "--epochs", "20"});
  Output free = s.nnjit({"train", "free.nn", "--log", "json", "--epochs", "20"});
  REQUIRE(penalized.status == 0);
  REQUIRE(free.status == 0);
  CHECK(lastEpoch(penalized)["metrics"]["weight_norm"].get<double>() <
        lastEpoch(free)["metrics"]["weight_norm"].get<double>());
  CHECK(lastEpoch(penalized)["test"]["acc"].get<double>() >= 0.9);
}

TEST_CASE("activations/: every activation learns the digits", "[e2e][examples]") {
  for (const char* act : {"relu", "tanh", "sigmoid", "softplus", "leaky_relu"}) {
    Scratch s;
    std::filesystem::create_directory(s.path("activations"));
    s.copy(std::string("examples/activations/") + act + ".nn", std::string("activations/") + act + ".nn");
    s.copy("examples/digits.csv", "digits.csv");
    Output o = s.nnjit({"train", std::string("activations/") + act + ".nn", "--log", "json"});
    INFO(act << ": " << o.err);
    REQUIRE(o.status == 0);
    CHECK(lastEpoch(o)["test"]["acc"].get<double>() >= 0.9);
  }
}
