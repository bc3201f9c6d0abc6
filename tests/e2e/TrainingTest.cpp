// TrainingTest: the training loop's semantics — divergence, test splits, batches at
// their true size, steps without inputs, and each optimizer's update rule.
#include "Helpers.h"

#include <functional>
#include <regex>

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

/// Runs `model` (written as m.nn) with --log json; returns the epoch lines.
std::vector<json> trainJson(Scratch& s, const std::string& model, std::vector<std::string> extra = {}) {
  s.write("m.nn", model);
  std::vector<std::string> args = {"train", "m.nn", "--log", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Output o = s.nnjit(args);
  INFO(o.err);
  REQUIRE(o.status == 0);
  return epochLines(o.out);
}

/// Simulates quadratic.nn (g = 2(w + 1)) for `epochs` one-step epochs with `step`
/// (which updates w given g and the step count t from 1); checks loss and w per epoch.
void checkQuadratic(Scratch& s, const std::string& optimizer, int epochs,
                    const std::function<void(double& w, double g, int t)>& step) {
  INFO(optimizer);
  auto lines = trainJson(s, quadratic(optimizer, epochs));
  REQUIRE(lines.size() == size_t(epochs));
  double w = 5;
  for (int t = 1; t <= epochs; ++t) {
    INFO("epoch " << t);
    double loss = (w + 1) * (w + 1);
    step(w, 2 * (w + 1), t);
    CHECK(near(lines[t - 1]["loss"].get<double>(), loss));
    CHECK(near(lines[t - 1]["metrics"]["w"].get<double>(), w));
  }
}

std::string irisWithTest(const std::string& test, const std::string& shuffle = "116") {
  return "data \"iris.csv\"\n"
         "input  x[batch, 4]\n"
         "input  label[batch] : class(3)\n"
         "param  W[4, 3] = truncated_normal(0, 0.1)\n"
         "param  b[3]    = truncated_normal(0, 0.1)\n"
         "y      = softmax(x @ W + b)\n"
         "loss   = mean(square(onehot(label, 3) - y))\n"
         "metric acc = accuracy(y, label)\n"
         "optimizer sgd(lr = 0.1)\n"
         "train(epochs = 3, batch = 32, test = " + test + ", shuffle = " + shuffle + ")\n";
}

std::vector<json> dropTimes(std::vector<json> lines) {
  for (auto& j : lines) j.erase("ms");
  return lines;
}

} // namespace

TEST_CASE("training: a loss that overflows stops with exit 3, naming epoch and batch", "[e2e][training]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nloss = exp(w * w * w)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 3)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 3);
  CHECK(startsWith(o.err, "m.nn: error: "));
  CHECK(std::regex_search(o.err, std::regex("epoch\\D{0,3}1\\b")));
  CHECK(std::regex_search(o.err, std::regex("batch\\D{0,3}1\\b")));
}

TEST_CASE("training: sgd with a huge lr diverges in epoch 2", "[e2e][training]") {
  // Epoch 1: loss 36, w = 5 - 1e20 * 12; epoch 2's loss ~1.4e42 overflows float32.
  Scratch s;
  s.write("m.nn", quadratic("sgd(lr = 1e20)", 5));
  Output o = s.nnjit({"train", "m.nn", "--log", "json"});
  CHECK(o.status == 3);
  CHECK(startsWith(o.err, "m.nn: error: "));
  CHECK(std::regex_search(o.err, std::regex("epoch\\D{0,3}2\\b")));
  CHECK(std::regex_search(o.err, std::regex("batch\\D{0,3}1\\b")));
}

TEST_CASE("training: divergence at a later batch names that batch", "[e2e][training]") {
  // x = 1, 1, 1e30, 1: batch 3's loss square(x * w) = 1e60 overflows float32; w stays 1 (lr 0).
  Scratch s;
  s.write("x.csv", "x\n1\n1\n1e30\n1\n");
  s.write("m.nn", "data \"x.csv\"\ninput x[batch, 1]\nparam w = 1\nloss = mean(square(x * w))\n"
                  "optimizer sgd(lr = 0)\ntrain(epochs = 2, batch = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 3);
  CHECK(startsWith(o.err, "m.nn: error: "));
  CHECK(std::regex_search(o.err, std::regex("epoch\\D{0,3}1\\b")));
  CHECK(std::regex_search(o.err, std::regex("batch\\D{0,3}3\\b")));
}

TEST_CASE("training: test = 0.2 takes 30 of iris's 150 rows", "[e2e][training]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  auto fraction = trainJson(s, irisWithTest("0.2"));
  auto count = trainJson(s, irisWithTest("30"));
  auto other = trainJson(s, irisWithTest("31"));
  REQUIRE(fraction.size() == 3);
  CHECK(fraction[0].contains("test"));
  CHECK(dropTimes(fraction) == dropTimes(count));
  CHECK(dropTimes(fraction) != dropTimes(other));
}

TEST_CASE("training: a test fraction rounds to the nearest count, halves up", "[e2e][training]") {
  // 10 rows, 0.25 -> 2.5 -> 3 test rows.
  Scratch s;
  std::string csv = "x,y\n";
  for (int i = 1; i <= 10; ++i) csv += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  s.write("d.csv", csv);
  auto model = [](const std::string& test) {
    return "data \"d.csv\"\ninput x[batch, 1]\ninput y[batch, 1]\nparam w = 0\n"
           "loss = mean(square(x * w - y))\noptimizer sgd(lr = 0.01)\ntrain(epochs = 2, test = " + test + ")\n";
  };
  auto quarter = trainJson(s, model("0.25"));
  auto three = trainJson(s, model("3"));
  auto two = trainJson(s, model("2"));
  REQUIRE(quarter.size() == 2);
  CHECK(dropTimes(quarter) == dropTimes(three));
  CHECK(dropTimes(quarter) != dropTimes(two));
  // Without shuffle the test rows are the last three (x = 8, 9, 10; y = 2, 0, 1);
  // the first epoch's loss is over rows 1..7 with w = 0: mean(y^2).
  double ySq = (1 + 4 + 0 + 1 + 4 + 0 + 1) / 7.0;
  CHECK(near(three[0]["loss"].get<double>(), ySq));  // The fraction as written: 0.145 and 0.575 of 100 rows are 14.5 and 57.5
  // (15 and 58), though the doubles nearest them times 100 fall just short of the half.
  std::string hundred = "x,y\n";
  for (int i = 1; i <= 100; ++i) hundred += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  s.write("d.csv", hundred);
  CHECK(dropTimes(trainJson(s, model("0.145"))) == dropTimes(trainJson(s, model("15"))));
  CHECK(dropTimes(trainJson(s, model("0.575"))) == dropTimes(trainJson(s, model("58"))));
}

TEST_CASE("training: test = \"file.csv\" evaluates on that file", "[e2e][training]") {
  // The last 30 iris rows in their own file give the same run as test = 30 without shuffle.
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  auto rows = textLines(s.read("iris.csv"));
  REQUIRE(rows.size() == 151);
  std::string head, tail;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i == 0) {
      head += rows[i] + "\n";
      tail += rows[i] + "\n";
    } else {
      (i <= 120 ? head : tail) += rows[i] + "\n";
    }
  }
  std::filesystem::create_directories(s.path("m"));
  s.write("m/train.csv", head);
  s.write("m/held.csv", tail);
  s.copy("examples/iris.csv", "m/iris.csv");
  std::string base = irisWithTest("30", "false");
  std::string file = base;
  file.replace(file.find("data \"iris.csv\""), 15, "data \"train.csv\"");
  file.replace(file.find("test = 30"), 9, "test = \"held.csv\"");
  s.write("m/count.nn", base);
  s.write("m/file.nn", file);
  Output a = s.nnjit({"train", "m/count.nn", "--log", "json"});
  Output b = s.nnjit({"train", "m/file.nn", "--log", "json"});
  INFO(a.err << b.err);
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  auto la = epochLines(a.out), lb = epochLines(b.out);
  REQUIRE(la.size() == 3);
  REQUIRE(lb.size() == 3);
  CHECK(lb[0].contains("test"));
  CHECK(dropTimes(la) == dropTimes(lb));
}

TEST_CASE("training: the shorter last batch is used at its true size", "[e2e][training]") {
  // x = 1..10, batch 4: batches {1..4}, {5..8}, {9, 10} with means 2.5, 6.5, 9.5.
  Scratch s;
  std::string csv = "x\n";
  for (int i = 1; i <= 10; ++i) csv += std::to_string(i) + "\n";
  s.write("x.csv", csv);
  auto lines = trainJson(s, "data \"x.csv\"\ninput x[batch, 1]\nparam w = 0\nloss = square(mean(x) + w)\n"
                            "metric w\nmetric m = mean(x)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 2, batch = 4)\n");
  REQUIRE(lines.size() == 2);
  double w = 0;
  for (int e = 0; e < 2; ++e) {
    double sum = 0;
    for (double m : {2.5, 6.5, 9.5}) {
      sum += (m + w) * (m + w);
      w -= 0.1 * 2 * (m + w);
    }
    INFO("epoch " << e + 1);
    CHECK(near(lines[e]["loss"].get<double>(), sum / 3));
    CHECK(near(lines[e]["metrics"]["w"].get<double>(), w));
    // A metric that depends on an input: the mean over batches of the batch means.
    CHECK(near(lines[e]["metrics"]["m"].get<double>(), (2.5 + 6.5 + 9.5) / 3));
  }
}

TEST_CASE("training: a model without inputs takes one step per epoch", "[e2e][training]") {
  Scratch s;
  auto lines = trainJson(s, "param w = 5\nloss = square(w + 1)\nmetric w\noptimizer sgd(lr = 0.2)\n"
                            "train(epochs = 3, batch = 4)\n");
  REQUIRE(lines.size() == 3);
  double w = 5;
  for (int e = 0; e < 3; ++e) {
    w -= 0.2 * 2 * (w + 1);
    CHECK(near(lines[e]["metrics"]["w"].get<double>(), w));
  }
}

TEST_CASE("training: every optimizer decreases quadratic's loss", "[e2e][training]") {
  Scratch s;
  for (std::string opt : {"sgd(lr = 0.05, momentum = 0.9)", "sgd(lr = 0.05, momentum = 0.9, nesterov = true)",
                          "adam(lr = 0.3)", "adam()", "adamw(lr = 0.3)", "rmsprop(lr = 0.1)", "adagrad(lr = 1)",
                          "sgd(lr = 0.1, weight_decay = 0.01)"}) {
    INFO(opt);
    auto lines = trainJson(s, quadratic(opt, 30));
    REQUIRE(lines.size() == 30);
    CHECK(lines[29]["loss"].get<double>() < lines[0]["loss"].get<double>());
    CHECK(lines[0]["loss"].get<double>() == 36.0);
  }
}

TEST_CASE("training: sgd with momentum follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double v = 0;
  checkQuadratic(s, "sgd(lr = 0.1, momentum = 0.5)", 4, [&](double& w, double g, int) {
    v = 0.5 * v + g;
    w -= 0.1 * v;
  });
}

TEST_CASE("training: sgd with nesterov momentum follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double v = 0;
  checkQuadratic(s, "sgd(lr = 0.1, momentum = 0.5, nesterov = true)", 4, [&](double& w, double g, int) {
    v = 0.5 * v + g;
    w -= 0.1 * (g + 0.5 * v);
  });
}

TEST_CASE("training: sgd weight decay follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double v = 0;
  checkQuadratic(s, "sgd(lr = 0.1, momentum = 0.5, weight_decay = 0.1)", 4, [&](double& w, double g, int) {
    g += 0.1 * w;
    v = 0.5 * v + g;
    w -= 0.1 * v;
  });
}

TEST_CASE("training: adam follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double m = 0, v = 0;
  checkQuadratic(s, "adam(lr = 0.2)", 4, [&](double& w, double g, int t) {
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= 0.2 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-7);
  });
}

TEST_CASE("training: adam's defaults and explicit betas", "[e2e][training]") {
  Scratch s;
  double m = 0, v = 0;
  checkQuadratic(s, "adam(lr = 0.1, beta1 = 0.5, beta2 = 0.9, eps = 0.01)", 3, [&](double& w, double g, int t) {
    m = 0.5 * m + 0.5 * g;
    v = 0.9 * v + 0.1 * g * g;
    w -= 0.1 * (m / (1 - std::pow(0.5, t))) / (std::sqrt(v / (1 - std::pow(0.9, t))) + 0.01);
  });
  double m2 = 0, v2 = 0;
  checkQuadratic(s, "adam()", 3, [&](double& w, double g, int t) {
    m2 = 0.9 * m2 + 0.1 * g;
    v2 = 0.999 * v2 + 0.001 * g * g;
    w -= 0.001 * (m2 / (1 - std::pow(0.9, t))) / (std::sqrt(v2 / (1 - std::pow(0.999, t))) + 1e-7);
  });
}

TEST_CASE("training: adamw follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double m = 0, v = 0;
  checkQuadratic(s, "adamw(lr = 0.2, weight_decay = 0.1)", 4, [&](double& w, double g, int t) {
    w -= 0.2 * 0.1 * w;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= 0.2 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-7);
  });
}

TEST_CASE("training: rmsprop follows the contract's formula", "[e2e][training]") {
  Scratch s;
  double sq = 0;
  checkQuadratic(s, "rmsprop(lr = 0.1)", 4, [&](double& w, double g, int) {
    sq = 0.9 * sq + 0.1 * g * g;
    w -= 0.1 * g / (std::sqrt(sq) + 1e-7);
  });
}

TEST_CASE("training: adagrad follows the contract's formula, with initial", "[e2e][training]") {
  Scratch s;
  double sq = 0;
  checkQuadratic(s, "adagrad(lr = 0.5)", 4, [&](double& w, double g, int) {
    sq += g * g;
    w -= 0.5 * g / (std::sqrt(sq) + 1e-10);
  });
  double sq2 = 100;
  checkQuadratic(s, "adagrad(lr = 0.5, initial = 100)", 4, [&](double& w, double g, int) {
    sq2 += g * g;
    w -= 0.5 * g / (std::sqrt(sq2) + 1e-10);
  });
}

TEST_CASE("training: a param that does not affect the loss gets a zero gradient", "[e2e][training]") {
  Scratch s;
  auto lines = trainJson(s, "param w = 5\nparam u = 3\nloss = square(w + 1)\nmetric w\nmetric u\n"
                            "optimizer adam(lr = 0.1)\ntrain(epochs = 2)\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["metrics"]["u"].get<double>() == 3.0);
}

TEST_CASE("training: shuffle = SEED is deterministic and differs from no shuffle", "[e2e][training]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  auto a = trainJson(s, irisWithTest("30", "116"));
  auto b = trainJson(s, irisWithTest("30", "116"));
  auto c = trainJson(s, irisWithTest("30", "false"));
  CHECK(dropTimes(a) == dropTimes(b));
  CHECK(dropTimes(a) != dropTimes(c));
}

TEST_CASE("training: a nested list literal initializes a param row-major", "[e2e][training]") {
  Scratch s;
  auto lines = trainJson(s, "param c[2, 2] = [[1, 2], [3, 4]]\nloss = sum(square(c))\nmetric rowmax = max(sum(c, axis = 1))\n"
                            "metric total = sum(c)\noptimizer sgd(lr = 0)\ntrain(epochs = 1)\n");
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), 30));
  CHECK(near(lines[0]["metrics"]["total"].get<double>(), 10));
  CHECK(near(lines[0]["metrics"]["rowmax"].get<double>(), 7));  // rows [1, 2] and [3, 4]
}

TEST_CASE("training: a list literal that does not fit the param's dims is an error", "[e2e][training]") {
  Scratch s;
  s.write("m.nn", "param c[3] = [1, 2]\nloss = sum(c)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "m.nn:1:"));
}

TEST_CASE("training: negative numbers in a param's init and in a list literal", "[e2e][training]") {
  // "-0.25" is a number to any NumPy user: [0.5, -0.25, 1] sums to 1.25.
  Scratch s;
  auto lines = trainJson(s, "param w = -2\nparam c[3] = [0.5, -0.25, 1]\nloss = square(w + 1) + sum(c)\n"
                            "metric w\noptimizer sgd(lr = 0)\ntrain(epochs = 1)\n");
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), 1 + 1.25));
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), -2));
}
