// CnnTest: a convolutional network with batch norm and dropout, trained through the real binary.
#include "Helpers.h"

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

// The 8x8 digits as images: conv + batch norm + relu, max-pool, dropout, dense.
const char* kCnn = "data \"digits.csv\"\n"
                   "input pixels[batch, 64]\n"
                   "input label[batch] : class(10)\n"
                   "param K1[3, 3, 1, 8] = normal(0, 0.3)\n"
                   "param g1[8] = 1\n"
                   "param be1[8] = 0\n"
                   "param W[128, 10] = glorot\n"
                   "param b[10] = 0\n"
                   "x = reshape(pixels / 16, [batch, 8, 8, 1])\n"
                   "h = max_pool(relu(batch_norm(conv2d(x, K1, padding = \"same\"), g1, be1)), 2)\n"
                   "f = dropout(reshape(h, [batch, 128]), 0.25)\n"
                   "logits = f @ W + b\n"
                   "loss = cross_entropy(logits, label)\n"
                   "metric acc = accuracy(logits, label)\n"
                   "output logits\n"
                   "optimizer sgd(lr = 0.05, momentum = 0.9)\n"
                   "train(epochs = 3, batch = 64, test = 97, shuffle = 5)\n";

json withoutMs(json line) {
  line.erase("ms");
  return line;
}

} // namespace

TEST_CASE("cnn: conv, batch norm, pool and dropout learn the digits", "[e2e][cnn]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("cnn.nn", kCnn);
  REQUIRE(s.nnjit({"check", "cnn.nn"}).status == 0);
  Output o = s.nnjit({"train", "cnn.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto epochs = epochLines(o.out);
  REQUIRE(epochs.size() == 3);
  CHECK(epochs[2]["loss"].get<double>() < epochs[0]["loss"].get<double>());
  CHECK(epochs[2]["test"]["acc"].get<double>() > 0.8);
}

TEST_CASE("cnn: with dropout and batch norm, any thread count gives the same bits", "[e2e][cnn][threads]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("cnn.nn", kCnn);
  Output one = s.nnjit({"train", "cnn.nn", "--log", "json", "--threads", "1", "--save", "one.safetensors"});
  Output three = s.nnjit({"train", "cnn.nn", "--log", "json", "--threads", "3", "--save", "three.safetensors"});
  REQUIRE(one.status == 0);
  REQUIRE(three.status == 0);
  auto a = epochLines(one.out), b = epochLines(three.out);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(withoutMs(a[i]) == withoutMs(b[i]));
  CHECK(s.read("one.safetensors") == s.read("three.safetensors"));
}

TEST_CASE("cnn: a resumed run with dropout and batch norm equals an uninterrupted one", "[e2e][cnn][checkpoint]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("cnn.nn", kCnn);
  Output whole = s.nnjit({"train", "cnn.nn", "--epochs", "3", "--log", "json", "--save", "whole.safetensors"});
  Output first = s.nnjit({"train", "cnn.nn", "--epochs", "2", "--save", "half.safetensors"});
  Output rest = s.nnjit({"train", "cnn.nn", "--epochs", "1", "--load", "half.safetensors", "--log", "json", "--save",
                         "resumed.safetensors"});
  INFO(whole.err << first.err << rest.err);
  REQUIRE(whole.status == 0);
  REQUIRE(first.status == 0);
  REQUIRE(rest.status == 0);
  auto w = epochLines(whole.out), r = epochLines(rest.out);
  REQUIRE(w.size() == 3);
  REQUIRE(r.size() == 1);
  CHECK(withoutMs(w[2]) == withoutMs(r[0]));
  CHECK(s.read("whole.safetensors") == s.read("resumed.safetensors"));
  // The running statistics travel in the checkpoint and serve eval and predict.
  std::string ck = s.read("whole.safetensors");
  CHECK(ck.find("batch_norm.mean.g1") != std::string::npos);
  CHECK(ck.find("batch_norm.var.g1") != std::string::npos);
  Output eval = s.nnjit({"eval", "cnn.nn", "--load", "whole.safetensors"});
  REQUIRE(eval.status == 0);
  Output predict = s.nnjit({"predict", "cnn.nn", "--load", "whole.safetensors", "--data", "digits.csv"});
  REQUIRE(predict.status == 0);
  Output again = s.nnjit({"predict", "cnn.nn", "--load", "whole.safetensors", "--data", "digits.csv"});
  CHECK(predict.out == again.out);  // no dropout outside training
}
