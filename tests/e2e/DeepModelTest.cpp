// DeepModelTest: models far deeper than any kernel: planned and emitted without recursion.
#include "Helpers.h"

#include <fmt/format.h>

using namespace nnjit::e2e;

TEST_CASE("deep models: a chain of 20,000 statements trains, cut into bounded kernels", "[e2e][deep]") {
  Scratch s;
  std::string model = "param w = 0.5\nv0 = w\n";
  for (int i = 1; i <= 20000; ++i) model += fmt::format("v{} = v{} + 1\n", i, i - 1);
  model += "loss = square(v20000)\noptimizer sgd(lr = 0)\ntrain(epochs = 1)\n";
  s.write("chain.nn", model);
  Output o = s.nnjit({"train", "chain.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 1);
  // (0.5 + 20000)^2, in float32.
  CHECK(lines[0]["loss"].get<double>() == static_cast<double>(static_cast<float>(20000.5 * 20000.5)));
}
