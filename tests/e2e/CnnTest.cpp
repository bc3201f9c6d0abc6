// CnnTest: a convolutional network with batch norm and dropout, trained through the real binary.
#include "Helpers.h"

#include <zlib.h>

#include <filesystem>

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

/// The first `count` items of a gzip-compressed IDX file, as a raw IDX file.
std::string firstItems(const std::string& path, uint32_t count) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f);
  unsigned char header[4];
  REQUIRE(gzread(f, header, 4) == 4);
  int dims = header[3];
  std::string head(reinterpret_cast<char*>(header), 4);
  uint64_t itemBytes = 1;
  for (int d = 0; d < dims; ++d) {
    unsigned char be[4];
    REQUIRE(gzread(f, be, 4) == 4);
    uint32_t n = (uint32_t(be[0]) << 24) | (uint32_t(be[1]) << 16) | (uint32_t(be[2]) << 8) | be[3];
    if (d == 0) n = count;
    else itemBytes *= n;
    for (int shift = 24; shift >= 0; shift -= 8) head.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  std::string data(itemBytes * count, '\0');
  REQUIRE(gzread(f, data.data(), static_cast<unsigned>(data.size())) == static_cast<int>(data.size()));
  gzclose(f);
  return head + data;
}

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

TEST_CASE("cnn: one epoch on the first 2,000 Fashion-MNIST images lowers the loss", "[e2e][cnn][fashion]") {
  if (!fashionInstalled()) return;
  Scratch s;
  s.write("images.idx", firstItems(kFashionDir + "/train-images-idx3-ubyte.gz", 2000));
  s.write("labels.idx", firstItems(kFashionDir + "/train-labels-idx1-ubyte.gz", 2000));
  s.write("small.nn", "data \"images.idx\", \"labels.idx\"\n"
                      "input image[batch, 28, 28, 1]\n"
                      "input label[batch] : class(10)\n"
                      "param K1[3, 3, 1, 8] = normal(0, 0.47)\n"
                      "param K2[3, 3, 8, 16] = normal(0, 0.17)\n"
                      "param c2[16] = zeros\n"
                      "param W[576, 10] = glorot\n"
                      "h1 = max_pool(relu(conv2d(image / 255, K1, padding = \"same\")), 2)\n"
                      "h2 = max_pool(relu(conv2d(h1, K2) + c2), 2)\n"
                      "logits = dropout(reshape(h2, [batch, 576]), 0.2) @ W\n"
                      "loss = cross_entropy(logits, label)\n"
                      "metric acc = accuracy(logits, label)\n"
                      "optimizer adam(lr = 0.003)\n"
                      "train(epochs = 1, batch = 32, shuffle = 1, test = 400)\n");
  Output o = s.nnjit({"train", "small.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto epochs = epochLines(o.out);
  REQUIRE(epochs.size() == 1);
  // From ln 10 = 2.30 at the start: the epoch's mean and the held-out rows after it.
  CHECK(epochs[0]["loss"].get<double>() < 1.6);
  CHECK(epochs[0]["test"]["loss"].get<double>() < 1.0);
  CHECK(epochs[0]["test"]["acc"].get<double>() > 0.6);
}

TEST_CASE("cnn: examples/fashion_cnn.nn compiles and reads its data", "[e2e][cnn][fashion]") {
  if (!fashionInstalled()) return;
  Scratch s;
  s.copy("examples/fashion_cnn.nn", "fashion_cnn.nn");
  Output o = s.nnjit({"train", "fashion_cnn.nn", "--epochs", "0", "--log", "json"});
  INFO(o.err);
  CHECK(o.status == 0);
  CHECK(contains(o.out, "\"done\": true"));
}
