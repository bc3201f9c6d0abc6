// ExpressionExtensionsTest: comparisons, where, list literals, reshape with -1 and
// multi-axis reductions through the real binary — check, train and diagnostics.
#include "Helpers.h"

#include <fmt/format.h>

using namespace nnjit::e2e;

namespace {

/// Daily yogurt sales: two features per day and the demand, a noiseless
/// linear function of them (so a good fit exists).
std::string salesCsv() {
  std::string csv = "temp,weekend,demand\n";
  for (int day = 0; day < 40; ++day) {
    double temp = (day * 7 % 23) / 23.0, weekend = day % 7 >= 5 ? 1 : 0;
    csv += fmt::format("{},{},{}\n", temp, weekend, 2 + 3 * temp + 1.5 * weekend);
  }
  return csv;
}

/// The course's custom loss: too much stock costs COST per unit, too little
/// loses PROFIT per unit.
const char* kYogurt = "data \"sales.csv\"\n"
                      "input x[batch, 2]\n"
                      "input y_[batch]\n"
                      "param W[2] = zeros\n"
                      "param b = 0\n"
                      "COST = 1\n"
                      "PROFIT = 3\n"
                      "y = x @ W + b\n"
                      "loss = mean(where(y > y_, COST * (y - y_), PROFIT * (y_ - y)))\n"
                      "metric over = mean(y > y_)\n"
                      "optimizer sgd(lr = 0.05)\n"
                      "train(epochs = 60, batch = 8)\n";

} // namespace

TEST_CASE("extensions: the yogurt-sales loss trains and passes check", "[e2e][extensions]") {
  Scratch s;
  s.write("sales.csv", salesCsv());
  s.write("yogurt.nn", kYogurt);
  Output check = s.nnjit({"check", "yogurt.nn"});
  INFO(check.out << check.err);
  CHECK(check.status == 0);
  CHECK(contains(check.out, "PASS"));
  Output train = s.nnjit({"train", "yogurt.nn", "--log", "json"});
  INFO(train.out << train.err);
  REQUIRE(train.status == 0);
  auto epochs = epochLines(train.out);
  REQUIRE(epochs.size() == 60);
  double first = epochs.front()["loss"], last = epochs.back()["loss"];
  CHECK(first > 5);            // zeros predict 0: every unit is lost profit
  CHECK(last < first * 0.1);   // the fit gets close
  CHECK(epochs.back()["metrics"].contains("over"));
}

TEST_CASE("extensions: check passes on models using each new construct", "[e2e][extensions][check]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  const std::vector<std::string> models = {
      "a = x @ W1\nh = where(a > 0, a, 0.1 * a) + (a <= -1) * a + (a >= 1) * (a < 2) * a + (a == 0) + (a != 0)\nz = h @ W2\nextra = 0\n",
      "h = tanh((x * [0.5, 1, -1, 2]) @ W1 + [[0.1, 0.2, 0.3, 0.4, 0.5]])\n"
      "z = h @ W2 + [1, 0, -1] @ [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\nextra = 0\n",
      "h = reshape(reshape(x @ W1, [batch, -1, 5]), [batch, 5])\nz = h @ W2\n"
      "extra = reshape(sum(reshape(W1, [2, 2, 5]), axis = [0, -1]) @ [[1], [1]], []) ^ 2\n",
      "h = relu(x @ W1)\nz = h @ W2\n"
      "extra = sum(max(reshape(W1, [2, 2, 5]), axis = [0, 2])) + mean(reshape(W2, [5, 3, 1]), axis = [-1, 0]) @ [1, 2, 3]\n",
      // [batch, 2, 2] @ [2, 5] and [2, 5, 3] @ [3]: the leading dims as rows of one product.
      "h = reshape(tanh(reshape(x, [batch, 2, 2]) @ reshape(W1, [2, 10])), [batch, 20]) @ reshape(W1, [20, 1]) * [0.1, 0.2, 0.3]\n"
      "z = h + x @ W1 @ W2\nextra = sum(reshape(W2, [5, 3]) @ [1, 2, 3]) + sum(reshape(W1, [2, 2, 5]) @ [1, 0, 0, 1, 0])\n",
  };
  for (const std::string& body : models) {
    s.write("m.nn", "data \"iris.csv\"\n"
                    "input x[batch, 4]\n"
                    "input label[batch] : class(3)\n"
                    "param W1[4, 5] = glorot\n"
                    "param W2[5, 3] = glorot\n" +
                        body +
                        "loss = cross_entropy(z, label) + 0.01 * extra\n"
                        "optimizer adam(lr = 0.01)\n"
                        "train(epochs = 2, batch = 16)\n");
    Output o = s.nnjit({"check", "m.nn"});
    INFO(body << "\n" << o.out << o.err);
    CHECK(o.status == 0);
    CHECK(contains(o.out, "PASS"));
    CHECK(!contains(o.out, "FAIL"));
  }
}

TEST_CASE("extensions: misuse is a diagnostic with a caret", "[e2e][extensions][diagnostics]") {
  Scratch s;
  struct Case {
    std::string line;  // the loss line
    int col;
    std::string part;
  };
  const std::vector<Case> cases = {
      {"loss = mean(x < 1 < 2)", 19, "comparisons do not chain"},
      {"loss = sum(x * [[1, 2, 3], [4, 5]])", 28, "dim 1 should have 3 elements, found 2"},
      {"loss = sum(reshape(x, [-1, 3]))", 24, "write `batch` for the batch dim; -1 infers a fixed dim"},
      {"loss = sum(reshape(x, [batch, -1, 2]))", 31, "cannot reshape [batch, 3] to [batch, -1, 2]"},
      {"loss = sum(x, axis = [1, -1])", 26, "are both axis 1"},
      {"loss = sum(where(x > 0, x, [1, 2]))", 12, "do not broadcast"},
  };
  for (const Case& c : cases) {
    s.write("m.nn", "input x[batch, 3]\n" + c.line + "\n");
    Output o = s.nnjit({"check", "m.nn"});
    INFO(c.line << "\n" << o.err);
    CHECK(o.status == 1);
    std::string d = requireDiagnostic(o.err, "m.nn", 2, c.col, c.line);
    CHECK(contains(d, c.part));
  }
}

TEST_CASE("extensions: [batch, m, k] @ [k, n] multiplies each row's matrix, as NumPy does", "[e2e][extensions]") {
  Scratch s;
  s.write("d.csv", "1,2,3,4,5,6\n-1,0,1,0,2,1\n");
  s.write("m.nn", "input x[batch, 6]\nparam W[3, 2] = [[1, 2], [0, 1], [-1, 3]]\nparam v[2] = [1, -1]\n"
                  "h = reshape(x, [batch, 2, 3]) @ W\ny = reshape(h, [batch, 4])\n"
                  "output y\nloss = mean(square(h @ v))\noptimizer sgd(lr = 0)\ntrain(epochs = 1)\n");
  REQUIRE(s.nnjit({"train", "m.nn", "--data", "d.csv", "--save", "p.safetensors"}).status == 0);
  Output p = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "d.csv"});
  INFO(p.err);
  REQUIRE(p.status == 0);
  // Row 1: [1, 2, 3] @ W = [-2, 13], [4, 5, 6] @ W = [-2, 31]; row 2: [-1, 0, 1] @ W = [-2, 1], [0, 2, 1] @ W = [-1, 5].
  CHECK(p.out == "y0,y1,y2,y3\n-2,13,-2,31\n-2,1,-1,5\n");
  Output check = s.nnjit({"check", "m.nn", "--data", "d.csv"});
  INFO(check.out << check.err);
  CHECK(check.status == 0);
  // Only A's first dim may be batch, and the inner dims must agree.
  s.write("bad.nn", "input x[batch, 6]\nparam W[2, 2] = 0\nloss = sum(reshape(x, [batch, 2, 3]) @ W)\n");
  Output bad = s.nnjit({"check", "bad.nn"});
  CHECK(bad.status == 1);
  CHECK(contains(bad.err, "'@': cannot multiply [batch, 2, 3] @ [2, 2]"));
}
