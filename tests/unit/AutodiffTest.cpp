// AutodiffTest: every op's symbolic gradient against central finite differences in double.
#include "TestSupport.h"

using namespace nnjit;
using namespace nnjit::test;

namespace {

/// Checks `expr` (a value over params a[2,3], b[3], m[3,4], v[3], s) at
/// several random points; the loss weighs it by random c so that every
/// element's gradient matters (sum(softmax(x)) alone has gradient zero).
void checkGradient(const std::string& expr, const std::string& shape, const char* init = "uniform(0.5, 1.5)") {
  std::string src = fmt::format(
      "param a[2, 3] = {0}\nparam b[3] = {0}\nparam m[3, 4] = {0}\nparam v[3] = {0}\nparam s = {0}\n"
      "param c{1} = uniform(-1, 1)\n"
      "fn sq(x) = x * x\nfn twice(x) = sq(x) + x\n"
      "loss = sum(({2}) * c)\n",
      init, shape, expr);
  checkGradients(src);
}

} // namespace

TEST_CASE("autodiff: elementwise unary ops", "[autodiff]") {
  for (const char* op : {"exp", "log", "sqrt", "abs", "square", "tanh", "sigmoid", "relu", "softplus", "sin", "cos"})
    checkGradient(fmt::format("{}(a)", op), "[2, 3]");
  checkGradient("leaky_relu(a - 1)", "[2, 3]");
  checkGradient("leaky_relu(a - 1, alpha = 0.2)", "[2, 3]");
  checkGradient("-a", "[2, 3]");
  checkGradient("relu(a - 1)", "[2, 3]");
  checkGradient("abs(a - 1)", "[2, 3]");
}

TEST_CASE("autodiff: binary ops with broadcasting", "[autodiff]") {
  for (const char* op : {"+", "-", "*", "/", "^"}) {
    checkGradient(fmt::format("a {} b", op), "[2, 3]");
    checkGradient(fmt::format("b {} a", op), "[2, 3]");
    checkGradient(fmt::format("a {} s", op), "[2, 3]");
    checkGradient(fmt::format("s {} v", op), "[3]");
  }
  checkGradient("pow(a, b)", "[2, 3]");
  checkGradient("maximum(a, b)", "[2, 3]");
  checkGradient("minimum(a, 2 * b)", "[2, 3]");
  checkGradient("maximum(s, v)", "[3]");
}

TEST_CASE("autodiff: reductions over every axis form", "[autodiff]") {
  checkGradient("sum(a)", "");
  checkGradient("mean(a)", "");
  checkGradient("max(a)", "");
  checkGradient("sum(a, axis = 0)", "[3]");
  checkGradient("sum(a, axis = 1)", "[2]");
  checkGradient("sum(a, axis = -1)", "[2]");
  checkGradient("mean(a, axis = 0)", "[3]");
  checkGradient("mean(a, axis = -2)", "[3]");
  checkGradient("max(a, axis = 0)", "[3]");
  checkGradient("max(a, axis = -1)", "[2]");
}

TEST_CASE("autodiff: matmul in every contract form", "[autodiff]") {
  checkGradient("a @ m", "[2, 4]");
  checkGradient("v @ m", "[4]");
  checkGradient("a @ v", "[2]");
  checkGradient("transpose(m) @ v", "[4]");
}

TEST_CASE("autodiff: shape ops", "[autodiff]") {
  checkGradient("transpose(a)", "[3, 2]");
  checkGradient("reshape(a, [3, 2])", "[3, 2]");
  checkGradient("reshape(a, [6])", "[6]");
  checkGradient("concat(a, a * 2, axis = 0)", "[4, 3]");
  checkGradient("concat(a, m @ transpose(m), axis = 0)", "[5, 3]");
  checkGradient("concat(a, sq(a), axis = 1)", "[2, 6]");
  checkGradient("concat(a, sq(a), axis = -1)", "[2, 6]");
}

TEST_CASE("autodiff: network ops", "[autodiff]") {
  checkGradient("softmax(a)", "[2, 3]");
  checkGradient("softmax(a, axis = 0)", "[2, 3]");
  checkGradient("log_softmax(a)", "[2, 3]");
  checkGradient("log_softmax(a, axis = 0)", "[2, 3]");
  checkGradient("mse(a, b)", "");
  checkGradient("l2(a)", "");
  checkGradient("twice(a)", "[2, 3]");
}

TEST_CASE("autodiff: cross_entropy and onehot against class labels", "[autodiff]") {
  std::string src =
      "input x[batch, 3]\ninput label[batch] : class(3)\nparam W[3, 3] = normal(0, 1)\nparam b[3] = normal(0, 1)\n"
      "z = x @ W + b\nloss = cross_entropy(z, label) + mean(square(onehot(label, 3) - softmax(z)))\n";
  Dataset data;
  data.rows = 4;
  data.columns = {{0.1, -0.2, 0.3, 1, 2, -1, 0.5, 0.5, 0.5, -1, 0, 1}, {0, 2, 1, 2}};
  checkGradients(src, &data);
}

TEST_CASE("autodiff: metrics-only ops are refused where a gradient is needed", "[autodiff][diagnostics]") {
  std::string src = "input x[batch, 3]\ninput label[batch] : class(3)\nparam W[3, 3] = 0\n"
                    "loss = accuracy(x @ W, label)\noptimizer sgd(lr = 0.1)\n";
  CompileOptions o;
  o.trainStep = true;
  Compiled c(src, o);
  CHECK(!c.ok());
  CHECK(c.errors.find("test.nn:4:8: error: 'accuracy' has no gradient") != std::string::npos);  // named as written
}

namespace {

/// Loss value and gradients at fixed params, in float32.
std::pair<double, std::vector<double>> lossAndGradient(const std::string& src) {
  CompileOptions o;
  o.gradients = true;
  Compiled c(src, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  c.session->initParams(0);
  c.session->run(c.cm->gradients, 1);
  return {c.session->scalar(c.cm->lossSlot), c.session->read(c.cm->gradientSlots[0])};
}

bool allFinite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

} // namespace

TEST_CASE("stability: log(softmax), log_softmax and cross_entropy at logits of ±1000", "[autodiff][stability]") {
  const std::string params = "param a[2, 3] = [[1000, -1000, 0], [-1000, 1000, 500]]\n";
  // log_softmax of row 1 is [0, -2000, -1000]; of row 2 [-2000, 0, -500].
  auto [l1, g1] = lossAndGradient(params + "loss = sum(log(softmax(a)))\n");
  CHECK(l1 == Approx(-(0 + 2000 + 1000) - (2000 + 0 + 500)));
  CHECK(allFinite(g1));
  auto [l2, g2] = lossAndGradient(params + "loss = sum(log_softmax(a))\n");
  CHECK(l2 == Approx(l1));
  CHECK(allFinite(g2));
  auto [l3, g3] = lossAndGradient(params + "loss = sum(log(sigmoid(a)))\n");
  CHECK(l3 == Approx(-2000 - std::log(2.0)));  // log σ: 0, -1000, -log 2; -1000, 0, ~0
  CHECK(allFinite(g3));
  auto [l4, g4] = lossAndGradient(params + "loss = sum(softmax(a) * a) + sum(sigmoid(a)) + sum(softplus(a))\n");
  CHECK(std::isfinite(l4));
  CHECK(allFinite(g4));
}

TEST_CASE("stability: cross_entropy with logits of ±1000 against class labels", "[autodiff][stability]") {
  std::string src = "input z[batch, 3]\ninput label[batch] : class(3)\nparam s = 1\n"
                    "loss = cross_entropy(z * s, label)\n";
  CompileOptions o;
  o.gradients = true;
  Compiled c(src, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  Dataset data;
  data.rows = 2;
  data.columns = {{1000, -1000, 0, -1000, 1000, 500}, {1, 2}};
  std::vector<int64_t> rows{0, 1};
  c.session->initParams(0);
  c.session->reserveRows(2);
  c.session->feed(data, rows, 0, 2, {0, 1});
  c.session->run(c.cm->gradients, 2);
  // -(log_softmax row 1 at 1 + row 2 at 2) / 2 = (2000 + 500) / 2
  CHECK(c.session->scalar(c.cm->lossSlot) == Approx(1250));
  CHECK(allFinite(c.session->read(c.cm->gradientSlots[0])));
}
