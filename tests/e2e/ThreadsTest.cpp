// ThreadsTest: --threads changes who computes what, never a bit of the result.
#include "Helpers.h"

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

// Wide enough that matmuls, elementwise kernels ([128, 2048]) and updates
// split across threads (runtime/ThreadPool.cpp's kMinParallelWork); 1700 training rows in batches of 128 end with a short batch of
// 36; reductions of every kind: the loss, bias gradients (sums over the
// batch), a train metric, a metric of params alone and the test rows.
const char* kMlp = "data \"digits.csv\"\n"
                   "input pixels[batch, 64]\n"
                   "input label[batch] : class(10)\n"
                   "param W1[64, 2048] = he\n"
                   "param b1[2048] = zeros\n"
                   "param W2[2048, 10] = glorot\n"
                   "param b2[10] = zeros\n"
                   "h = relu(pixels / 16 @ W1 + b1)\n"
                   "logits = h @ W2 + b2\n"
                   "loss = cross_entropy(logits, label) + 0.001 * l2(W1)\n"
                   "metric acc = accuracy(logits, label)\n"
                   "metric w1 = mean(W1)\n"
                   "optimizer adam(lr = 0.01)\n"
                   "train(epochs = 2, batch = 128, test = 97, shuffle = 3)\n";


} // namespace

TEST_CASE("threads: 1, 2, 3 and 8 threads save byte-identical checkpoints and print identical logs",
          "[e2e][threads]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("mlp.nn", kMlp);
  std::vector<json> firstLog;
  std::string firstCheckpoint;
  for (const char* threads : {"1", "2", "3", "8"}) {
    std::string ck = std::string("t") + threads + ".safetensors";
    Output o = s.nnjit({"train", "mlp.nn", "--log", "json", "--threads", threads, "--save", ck});
    INFO("--threads " << threads << "\n" << o.err);
    REQUIRE(o.status == 0);
    std::vector<json> log = withoutTimes(o.out);
    std::string checkpoint = s.read(ck);
    REQUIRE(epochLines(o.out).size() == 2);
    if (firstLog.empty()) {
      firstLog = log;
      firstCheckpoint = checkpoint;
      continue;
    }
    CHECK(log == firstLog);
    CHECK(checkpoint == firstCheckpoint);
  }
}

TEST_CASE("threads: eval and predict give the same bits on any thread count", "[e2e][threads]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("mlp.nn", std::string(kMlp) + "output logits\n");
  REQUIRE(s.nnjit({"train", "mlp.nn", "--threads", "1", "--save", "ck.safetensors"}).status == 0);
  Output eval1 = s.nnjit({"eval", "mlp.nn", "--load", "ck.safetensors", "--threads", "1"});
  Output eval3 = s.nnjit({"eval", "mlp.nn", "--load", "ck.safetensors", "--threads", "3"});
  REQUIRE(eval1.status == 0);
  CHECK(eval1.out == eval3.out);
  Output predict1 = s.nnjit({"predict", "mlp.nn", "--load", "ck.safetensors", "--data", "digits.csv", "--threads", "1"});
  Output predict2 = s.nnjit({"predict", "mlp.nn", "--load", "ck.safetensors", "--data", "digits.csv", "--threads", "2"});
  REQUIRE(predict1.status == 0);
  CHECK(predict1.out == predict2.out);
}
