// TargetCpuTest: NNJIT_CPU compiles for an older CPU than the host, so that the 128- and 256-bit
// code paths other machines get run (and are checked) here too.
#include "Helpers.h"

#include <cmath>

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

// Matmul tiles with column and row tails (37 and 19 are no multiple of a
// vector), vector math (exp in softmax, tanh), reductions and adam.
const char* kModel = "data \"digits.csv\"\n"
                     "input pixels[batch, 64]\n"
                     "input label[batch] : class(10)\n"
                     "param W1[64, 37] = he\n"
                     "param b1[37] = zeros\n"
                     "param W2[37, 19] = glorot\n"
                     "param W3[19, 10] = glorot\n"
                     "h = relu(pixels / 16 @ W1 + b1)\n"
                     "g = tanh(h @ W2)\n"
                     "logits = g @ W3\n"
                     "loss = cross_entropy(logits, label)\n"
                     "metric acc = accuracy(logits, label)\n"
                     "optimizer adam(lr = 0.01)\n"
                     "train(epochs = 3, batch = 50, test = 97, shuffle = 3)\n";

/// `train` for NNJIT_CPU=`cpu` (the host for ""); the last epoch's line.
json trainFor(Scratch& s, const std::string& cpu) {
  Output out = s.shell("NNJIT_CACHE=0 NNJIT_CPU=" + cpu + " \"$NNJIT\" train m.nn --log json --dtype f64 --threads 1");
  INFO(out.err);
  REQUIRE(out.status == 0);
  std::vector<json> lines = jsonLines(out.out);
  REQUIRE(lines.size() >= 2);
  return lines[lines.size() - 2];  // the last epoch (the `done` line follows)
}

} // namespace

TEST_CASE("target cpu: code for x86-64-v2 and -v3 trains to the host's figures", "[e2e][cpu]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("m.nn", kModel);
  json host = trainFor(s, "");
  for (const char* cpu : {"x86-64-v3", "x86-64-v2"}) {
    INFO(cpu);
    json other = trainFor(s, cpu);
    // f64: only the order of a few sums may differ between vector widths.
    auto close = [](const json& a, const json& b) { return std::fabs(a.get<double>() - b.get<double>()) <= 1e-9 * std::fabs(a.get<double>()); };
    CHECK(close(host["loss"], other["loss"]));
    CHECK(close(host["test"]["loss"], other["test"]["loss"]));
    CHECK(other["metrics"]["acc"] == host["metrics"]["acc"]);
    CHECK(other["test"]["acc"] == host["test"]["acc"]);
  }
}

TEST_CASE("target cpu: the code for a CPU without AVX-512 (or AVX) uses no wider registers", "[e2e][cpu]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("m.nn", kModel);
  Output v3 = s.shell("NNJIT_CPU=x86-64-v3 \"$NNJIT\" show m.nn --asm");
  REQUIRE(v3.status == 0);
  CHECK(contains(v3.out, "%ymm"));
  CHECK_FALSE(contains(v3.out, "%zmm"));
  Output v2 = s.shell("NNJIT_CPU=x86-64-v2 \"$NNJIT\" show m.nn --asm");
  REQUIRE(v2.status == 0);
  CHECK(contains(v2.out, "%xmm"));
  CHECK_FALSE(contains(v2.out, "%ymm"));
  CHECK_FALSE(contains(v2.out, "fmaf"));  // no FMA instructions: a multiply and an add, not a libm call per lane
}

TEST_CASE("target cpu: an unknown NNJIT_CPU is an error, not a silent fallback", "[e2e][cpu]") {
  Scratch s;
  s.write("q.nn", "param w = 5\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output out = s.shell("NNJIT_CPU=no-such-cpu \"$NNJIT\" train q.nn");
  CHECK(out.status == 1);
  CHECK(contains(out.err, "NNJIT_CPU=no-such-cpu: not a CPU that LLVM knows"));
  CHECK(contains(s.shell("NNJIT_CPU=no-such-cpu \"$NNJIT\" --version").out, "(NNJIT_CPU refused"));
  CHECK(contains(s.shell("NNJIT_CPU=x86-64-v3 \"$NNJIT\" --version").out, "x86-64-v3 (NNJIT_CPU), 256-bit vectors"));
}
