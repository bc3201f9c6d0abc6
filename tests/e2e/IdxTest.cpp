// IdxTest: IDX data files (raw and gzip) through the real binary: training, eval, predict, --data, bad files.
#include "Helpers.h"
#include "IdxFiles.h"

#include <filesystem>

using namespace nnjit::e2e;
using namespace nnjit::testing;

namespace {

/// Softmax regression on flattened 28x28 images; the data files are the caller's.
std::string softmaxModel(const std::string& dataLine, const std::string& imageDims = "[batch, 784]",
                         const std::string& test = "") {
  return dataLine + "\ninput x" + imageDims +
         "\ninput label[batch] : class(10)\n"
         "param W[784, 10] = zeros\n"
         "param b[10] = zeros\n"
         "logits = reshape(x, [batch, 784]) / 255 @ W + b\n"
         "loss = cross_entropy(logits, label)\n"
         "metric acc = accuracy(logits, label)\n"
         "output logits\n"
         "optimizer sgd(lr = 0.5)\n"
         "train(epochs = 1, batch = 20, shuffle = 3" +
         (test.empty() ? "" : ", test = " + test) + ")\n";
}

/// Writes `count` band images and their labels as NAME-images / NAME-labels, gzip-compressed when asked.
void writePair(const Scratch& s, const std::string& name, uint32_t count, bool gzip, uint32_t seed = 1) {
  std::string images, labels;
  bandImages(count, 28, 10, images, labels, seed);
  s.write(name + "-images", gzip ? gzipped(images) : images);
  s.write(name + "-labels", gzip ? gzipped(labels) : labels);
}

/// The run's stderr starts with `FILE: error: ` and holds every part; it exits 1.
void expectFileError(const Output& o, const std::string& file, std::initializer_list<std::string> parts) {
  INFO(o.err);
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, file + ": error: "));
  for (const std::string& p : parts) CHECK(contains(o.err, p));
}


} // namespace

TEST_CASE("idx: one epoch of softmax regression on gzip IDX files beside the model", "[e2e][idx]") {
  Scratch s;
  std::filesystem::create_directories(s.path("models/data"));
  writePair(s, "models/data/train", 600, true);
  writePair(s, "models/data/test", 100, false, 2);
  s.write("models/m.nn", softmaxModel("data \"data/train-images\", \"data/train-labels\"", "[batch, 784]",
                                      "[\"data/test-images\", \"data/test-labels\"]"));
  Output o = s.nnjit({"train", "models/m.nn", "--log", "json", "--save", "p.safetensors"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto epochs = epochLines(o.out);
  REQUIRE(epochs.size() == 1);
  CHECK(epochs[0]["loss"].get<double>() < 2.3);
  CHECK(epochs[0]["test"]["acc"].get<double>() > 0.9);  // the bands are easy to tell apart

  // eval and predict read --data, one file each time it is given, in place of the model's list.
  Output e = s.nnjit({"eval", "models/m.nn", "--load", "p.safetensors", "--data", "models/data/test-labels",
                      "--data", "models/data/test-images", "--log", "json"});
  INFO(e.err);
  REQUIRE(e.status == 0);
  CHECK(jsonLines(e.out).at(0)["metrics"]["acc"] == epochs[0]["test"]["acc"]);
  Output p = s.nnjit({"predict", "models/m.nn", "--load", "p.safetensors", "--data", "models/data/test-images"});
  INFO(p.err);
  REQUIRE(p.status == 0);
  auto lines = textLines(p.out);
  REQUIRE(lines.size() == 101);
  CHECK(startsWith(lines[0], "logits0,logits1,"));
}

TEST_CASE("idx: images bind [batch, 28, 28], [batch, 784] and [batch, 28, 28, 1] alike", "[e2e][idx]") {
  Scratch s;
  writePair(s, "d", 40, false);
  std::vector<std::string> losses;
  for (const char* dims : {"[batch, 784]", "[batch, 28, 28]", "[batch, 28, 28, 1]"}) {
    s.write("m.nn", softmaxModel("data \"d-images\", \"d-labels\"", dims));
    Output o = s.nnjit({"train", "m.nn", "--log", "json"});
    INFO(dims << "\n" << o.err);
    REQUIRE(o.status == 0);
    losses.push_back(epochLines(o.out).at(0)["loss"].dump());
  }
  CHECK(losses[0] == losses[1]);
  CHECK(losses[0] == losses[2]);
  // `check` takes its first batch from the IDX data too.
  Output c = s.nnjit({"check", "m.nn"});
  INFO(c.err);
  CHECK(c.status == 0);
}

TEST_CASE("idx: bad files are FILE: error: diagnostics with exit status 1", "[e2e][idx]") {
  Scratch s;
  writePair(s, "good", 30, true);
  std::string images, labels;
  bandImages(30, 28, 10, images, labels);
  s.write("m.nn", softmaxModel("data \"good-images\", \"good-labels\""));
  auto train = [&](const std::string& a, const std::string& b) {
    return s.nnjit({"train", "m.nn", "--data", a, "--data", b});
  };
  s.write("magic", "P5\n28 28\n");
  expectFileError(train("magic", "good-labels"), "magic", {"not an IDX file (it starts 50 35 0A 32"});
  s.write("type", idxBytes(0x0A, {30, 28, 28}, ""));
  expectFileError(train("type", "good-labels"), "type", {"unsupported IDX element type 0x0A"});
  s.write("short", images.substr(0, images.size() - 100));
  expectFileError(train("short", "good-labels"), "short",
                  {"truncated: the header declares 30 items of 28x28 = 784 values (23520 bytes of data), but the "
                   "data ends after 23420 bytes"});
  std::string gz = gzipped(images);
  s.write("cut.gz", gz.substr(0, gz.size() / 2));
  expectFileError(train("cut.gz", "good-labels"), "cut.gz", {"truncated gzip stream"});
  s.write("few", idxUbyte({29}, std::vector<uint8_t>(29, 1)));
  expectFileError(train("good-images", "few"), "few", {"29 items, but good-images has 30"});
  std::vector<uint8_t> tags(30, 3);
  tags[16] = 12;
  s.write("range", idxUbyte({30}, tags));
  expectFileError(train("good-images", "range"), "range",
                  {"item 17: label 12 is not in 0..9 (input 'label' is class(10))"});
  s.write("small", idxUbyte({30, 14, 14}, std::vector<uint8_t>(30 * 196)));
  expectFileError(train("small", "good-labels"), "small",
                  {"its items of 14x14 = 196 values fit no input (the unbound inputs are 'x' (784 values a row), "
                   "'label' (class(10)))"});
  expectFileError(s.nnjit({"train", "m.nn", "--data", "good-images"}), "m.nn",
                  {"input 'label' (class(10)) is fed by none of the data files (good-images)"});
  s.write("d.csv", "1,2\n");
  expectFileError(train("good-images", "d.csv"), "d.csv", {"takes IDX files only (CSV data is one file)"});
  s.write("csv.gz", gzipped("1,2\n"));
  expectFileError(s.nnjit({"train", "m.nn", "--data", "csv.gz"}), "csv.gz",
                  {"gzip-compressed, but not IDX data", "CSV files uncompressed"});
  // Files named in the .nn file are named as it writes them.
  s.write("bad.nn", softmaxModel("data \"good-images\", \"few\""));
  expectFileError(s.nnjit({"train", "bad.nn"}), "few", {"29 items"});
  s.write("badtest.nn", softmaxModel("data \"good-images\", \"good-labels\"", "[batch, 784]", "[\"good-images\", \"range\"]"));
  expectFileError(s.nnjit({"train", "badtest.nn"}), "range", {"item 17: label 12"});
}

TEST_CASE("idx: a test list must hold quoted paths", "[e2e][idx]") {
  Scratch s;
  s.write("m.nn", softmaxModel("data \"d-images\", \"d-labels\"", "[batch, 784]", "[]"));
  Output o = s.nnjit({"check", "m.nn"});
  CHECK(o.status == 1);
  CHECK(contains(o.err, "m.nn:11:"));
  CHECK(contains(o.err, "test = [] lists no files"));
  s.write("m.nn", softmaxModel("data \"d-images\", \"d-labels\"", "[batch, 784]", "[\"a\", 2]"));
  o = s.nnjit({"check", "m.nn"});
  CHECK(o.status == 1);
  CHECK(contains(o.err, "each must be a quoted path"));
}

TEST_CASE("idx: Debian's Fashion-MNIST loads through a .nn file", "[e2e][idx][fashion]") {
  if (!fashionInstalled()) return;
  Scratch s;
  std::string dir = kFashionDir;
  s.write("f.nn", softmaxModel("data \"" + dir + "/train-images-idx3-ubyte.gz\", \"" + dir +
                                   "/train-labels-idx1-ubyte.gz\"",
                               "[batch, 28, 28]",
                               "[\"" + dir + "/t10k-images-idx3-ubyte.gz\", \"" + dir + "/t10k-labels-idx1-ubyte.gz\"]"));
  // No epochs: all 60,000 training and 10,000 test images are read, then saved untrained.
  Output o = s.nnjit({"train", "f.nn", "--epochs", "0", "--save", "zero.safetensors", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  std::vector<std::string> test = {"--data", dir + "/t10k-images-idx3-ubyte.gz", "--data",
                                   dir + "/t10k-labels-idx1-ubyte.gz"};
  std::vector<std::string> eval = {"eval", "f.nn", "--load", "zero.safetensors", "--log", "json"};
  eval.insert(eval.end(), test.begin(), test.end());
  Output e = s.nnjit(eval);
  INFO(e.err);
  REQUIRE(e.status == 0);
  nlohmann::json j = jsonLines(e.out).at(0);
  CHECK(near(j["loss"].get<double>(), std::log(10.0), 1e-3));  // zero params: every class alike
  CHECK(j["metrics"]["acc"].get<double>() == 0.1);              // 1,000 of each class; ties pick class 0
  // One short epoch on the 10,000 test images alone already classifies most of them.
  std::vector<std::string> train = {"train", "f.nn", "--log", "json", "--batch", "100"};
  train.insert(train.end(), test.begin(), test.end());
  Output t = s.nnjit(train);
  INFO(t.err);
  REQUIRE(t.status == 0);
  CHECK(epochLines(t.out).at(0)["test"]["acc"].get<double>() > 0.7);
}

TEST_CASE("idx: examples/fashion_mlp.nn compiles and reads its data", "[e2e][idx][fashion]") {
  if (!fashionInstalled()) return;
  Scratch s;
  s.copy("examples/fashion_mlp.nn", "fashion_mlp.nn");
  Output o = s.nnjit({"train", "fashion_mlp.nn", "--epochs", "0", "--log", "json"});
  INFO(o.err);
  CHECK(o.status == 0);
  CHECK(contains(o.out, "\"done\": true"));
}

TEST_CASE("idx: a CSV through a pipe is still CSV, IDX files in a list must be regular files", "[e2e][idx]") {
  Scratch s;
  s.write("c.nn", "input x[batch, 2]\ninput label[batch] : class(3)\nparam W[2, 3] = zeros\n"
                  "loss = cross_entropy(x @ W, label)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  s.write("d.csv", "a,b,label\n1,2,0\n3,4,1\n");
  Output o = s.shell("$NNJIT train c.nn --data <(cat d.csv)");
  INFO(o.err);
  CHECK(o.status == 0);
  writePair(s, "good", 10, false);
  s.write("m.nn", softmaxModel("data \"good-images\", \"good-labels\""));
  o = s.shell("$NNJIT train m.nn --data good-images --data <(cat good-labels)");
  CHECK(o.status == 1);
  CHECK(contains(o.err, "error: not a regular file; the IDX files of a 'data' list are read from files"));
}
