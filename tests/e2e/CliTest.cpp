// CliTest: the `nnjit` command line — usage, exit statuses and the options of `train`.
#include "Helpers.h"

using namespace nnjit::e2e;
using nlohmann::json;

namespace {


const char* kMeanModel = "data \"x.csv\"\n"
                         "input x[batch, 1]\n"
                         "param w = 0\n"
                         "loss = square(mean(x) + w)\n"
                         "metric w\n"
                         "optimizer sgd(lr = 0.1)\n"
                         "train(epochs = 1)\n";

} // namespace

TEST_CASE("cli: nnjit alone prints its usage and exits 2", "[e2e][cli]") {
  Scratch s;
  Output o = s.nnjit({});
  CHECK(o.status == 2);
  std::string all = o.out + o.err;
  CHECK(contains(all, "train"));
  CHECK(contains(all, "predict"));
}

TEST_CASE("cli: an unknown subcommand exits 2", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"frobnicate", "quadratic.nn"});
  CHECK(o.status == 2);
  CHECK(o.out.empty());
}

TEST_CASE("cli: an unknown flag exits 2", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--bogus"});
  CHECK(o.status == 2);
  CHECK(!contains(o.out, "epoch"));
}

TEST_CASE("cli: --help and train --help exit 0 and print help", "[e2e][cli]") {
  Scratch s;
  Output top = s.nnjit({"--help"});
  CHECK(top.status == 0);
  CHECK(!(top.out + top.err).empty());
  Output train = s.nnjit({"train", "--help"});
  CHECK(train.status == 0);
  CHECK(contains(train.out + train.err, "--epochs"));
}

TEST_CASE("cli: --log with a bad value exits 2", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--log", "xml"});
  CHECK(o.status == 2);
}

TEST_CASE("cli: --threads 0 exits 2", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--threads", "0"});
  CHECK(o.status == 2);
}

TEST_CASE("cli: a missing model argument or a bad --dtype exits 2", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  CHECK(s.nnjit({"train"}).status == 2);
  CHECK(s.nnjit({"train", "quadratic.nn", "--dtype", "f16"}).status == 2);
  CHECK(s.nnjit({"train", "quadratic.nn", "--epochs", "many"}).status == 2);
}

TEST_CASE("cli: --epochs 3 overrides train(epochs = 40)", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--epochs", "3", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = jsonLines(o.out);
  REQUIRE(lines.size() == 4);
  for (int i = 0; i < 3; ++i) CHECK(lines[i]["epoch"] == i + 1);
  CHECK(lines[3]["done"] == true);
  CHECK(lines[3]["epochs"] == 3);
  CHECK(lines[3]["loss"].get<double>() == lines[2]["loss"].get<double>());
}

TEST_CASE("cli: --batch overrides the batch size", "[e2e][cli]") {
  // x = 1, 2, 3, 4; loss = (mean(x) + w)^2, w = 0, lr 0.1.
  // One batch: loss 2.5^2 = 6.25. Batches of 2: 1.5^2 = 2.25, then w = -0.3,
  // then (3.5 - 0.3)^2 = 10.24; the epoch's loss is their mean 6.245.
  Scratch s;
  s.write("x.csv", "x\n1\n2\n3\n4\n");
  s.write("m.nn", kMeanModel);
  Output all = s.nnjit({"train", "m.nn", "--log", "json"});
  INFO(all.err);
  REQUIRE(all.status == 0);
  CHECK(near(epochLines(all.out).at(0)["loss"].get<double>(), 6.25));
  Output two = s.nnjit({"train", "m.nn", "--batch", "2", "--log", "json"});
  INFO(two.err);
  REQUIRE(two.status == 0);
  auto lines = epochLines(two.out);
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), 6.245));
  // w after the epoch: -0.3 - 0.1 * 2 * 3.2 = -0.94
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), -0.94));
}

TEST_CASE("cli: --lr overrides the optimizer's lr", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--lr", "0.1", "--epochs", "1", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["loss"].get<double>() == 36.0);
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), 3.8));  // 5 - 0.1 * 12
}

TEST_CASE("cli: --seed: the same seed reproduces a run, another seed changes it", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output a = s.nnjit({"train", "iris.nn", "--epochs", "3", "--seed", "7", "--log", "json"});
  Output b = s.nnjit({"train", "iris.nn", "--epochs", "3", "--seed", "7", "--log", "json"});
  Output c = s.nnjit({"train", "iris.nn", "--epochs", "3", "--seed", "8", "--log", "json"});
  INFO(a.err << c.err);
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  REQUIRE(c.status == 0);
  CHECK(withoutTimes(a.out) == withoutTimes(b.out));
  auto la = epochLines(a.out), lc = epochLines(c.out);
  REQUIRE(!la.empty());
  REQUIRE(!lc.empty());
  CHECK(la[0]["loss"].get<double>() != lc[0]["loss"].get<double>());
}

TEST_CASE("cli: the default seed is 0", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output a = s.nnjit({"train", "iris.nn", "--epochs", "2", "--log", "json"});
  Output b = s.nnjit({"train", "iris.nn", "--epochs", "2", "--seed", "0", "--log", "json"});
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  CHECK(withoutTimes(a.out) == withoutTimes(b.out));
}

TEST_CASE("cli: --data overrides the model's data, relative to the current directory", "[e2e][cli]") {
  Scratch s;
  std::filesystem::create_directories(s.path("models"));
  std::filesystem::create_directories(s.path("csv"));
  s.copy("examples/iris.nn", "models/iris.nn");  // its data "iris.csv" is not next to it
  s.copy("examples/iris.csv", "csv/flowers.csv");
  Output o = s.nnjit({"train", "models/iris.nn", "--data", "csv/flowers.csv", "--epochs", "2", "--log", "json"});
  INFO(o.err);
  CHECK(o.status == 0);
  CHECK(epochLines(o.out).size() == 2);
}

TEST_CASE("cli: data \"PATH\" is relative to the .nn file, not the current directory", "[e2e][cli]") {
  Scratch s;
  std::filesystem::create_directories(s.path("models"));
  s.copy("examples/iris.nn", "models/iris.nn");
  s.copy("examples/iris.csv", "models/iris.csv");
  Output o = s.nnjit({"train", "models/iris.nn", "--epochs", "2", "--log", "json"});
  INFO(o.err);
  CHECK(o.status == 0);
  CHECK(epochLines(o.out).size() == 2);
}

TEST_CASE("cli: --dtype f64 gives quadratic's loss 36 and w 2.6, computed in double", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--dtype", "f64", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 40);
  CHECK(lines[0]["loss"].get<double>() == 36.0);
  CHECK(std::fabs(lines[0]["metrics"]["w"].get<double>() - 2.6) < 1e-12);
  // In double, w + 1 = 3.6 * 0.6^40 ~ 4.8e-9 is still visible after 40 epochs.
  double w = 5;
  for (int e = 0; e < 40; ++e) w -= 0.2 * 2 * (w + 1);
  CHECK(std::fabs(lines[39]["metrics"]["w"].get<double>() - w) < 1e-12);
}

TEST_CASE("cli: the text log names the epochs and the loss", "[e2e][cli]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--epochs", "2"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "loss"));
  CHECK(contains(o.out, "36"));
  CHECK(contains(o.out, "2.6"));
  CHECK(contains(o.out, "1"));
  CHECK(contains(o.out, "2"));
  CHECK_THROWS(nlohmann::json::parse(textLines(o.out).at(0)));
}

TEST_CASE("cli: JSON logs write each number as the text log does (shortest in the dtype), no parse-back digits",
          "[e2e][cli]") {
  Scratch s;
  s.copy("examples/digits.nn", "digits.nn");
  s.copy("examples/digits.csv", "digits.csv");
  REQUIRE(s.nnjit({"train", "digits.nn", "--epochs", "1", "--save", "ck.safetensors"}).status == 0);
  Output text = s.nnjit({"eval", "digits.nn", "--load", "ck.safetensors"});
  Output json = s.nnjit({"eval", "digits.nn", "--load", "ck.safetensors", "--log", "json"});
  REQUIRE(text.status == 0);
  REQUIRE(json.status == 0);
  // text: "loss L\nacc A\n"; json: {"loss": L, "metrics": {"acc": A}}
  std::istringstream lines(text.out);
  std::string word, loss, acc;
  lines >> word >> loss >> word >> acc;
  CHECK(json.out == "{\"loss\": " + loss + ", \"metrics\": {\"acc\": " + acc + "}}\n");
}

TEST_CASE("cli: --log-every N prints epochs 1, N, 2N, ... and the last, in text and JSON", "[e2e][cli][log-every]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  auto epochsOf = [](const std::vector<std::string>& lines) {
    std::vector<int> numbers;
    for (const std::string& l : lines)
      if (startsWith(l, "epoch ")) numbers.push_back(std::stoi(l.substr(6)));
    return numbers;
  };
  Output text = s.nnjit({"train", "quadratic.nn", "--log-every", "15"});
  INFO(text.err);
  REQUIRE(text.status == 0);
  CHECK(epochsOf(textLines(text.out)) == std::vector<int>{1, 15, 30, 40});
  CHECK(startsWith(textLines(text.out).back(), "done: 40 epochs"));
  Output json = s.nnjit({"train", "quadratic.nn", "--log-every", "15", "--log", "json"});
  REQUIRE(json.status == 0);
  std::vector<int> jsonEpochs;
  for (const nlohmann::json& j : epochLines(json.out)) jsonEpochs.push_back(j["epoch"].get<int>());
  CHECK(jsonEpochs == std::vector<int>{1, 15, 30, 40});
  CHECK(s.nnjit({"train", "quadratic.nn", "--log-every", "0"}).status == 2);

  SECTION("a text log of more than 100 epochs prints about 50; JSON prints all") {
    Output many = s.nnjit({"train", "quadratic.nn", "--epochs", "500"});
    REQUIRE(many.status == 0);
    std::vector<int> printed = epochsOf(textLines(many.out));
    REQUIRE(printed.size() == 51);
    CHECK(printed.front() == 1);
    CHECK(printed[1] == 10);
    CHECK(printed.back() == 500);
    CHECK(epochsOf(textLines(s.nnjit({"train", "quadratic.nn", "--epochs", "100"}).out)).size() == 100);
    CHECK(epochLines(s.nnjit({"train", "quadratic.nn", "--epochs", "500", "--log", "json"}).out).size() == 500);
  }
  SECTION("a resumed run prints its first epoch and counts on from the checkpoint") {
    REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "4", "--save", "p.safetensors"}).status == 0);
    Output resumed = s.nnjit({"train", "quadratic.nn", "--load", "p.safetensors", "--epochs", "12", "--log-every", "5"});
    REQUIRE(resumed.status == 0);
    CHECK(epochsOf(textLines(resumed.out)) == std::vector<int>{5, 10, 15, 16});
  }
}

TEST_CASE("cli: an option without its value says so in words", "[e2e][cli]") {
  Scratch s;
  s.write("q.nn", "param w = 5\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output out = s.nnjit({"train", "q.nn", "--epochs"});
  CHECK(out.status == 2);
  CHECK(contains(out.err, "nnjit: error: --epochs needs a value: --epochs N"));
}
