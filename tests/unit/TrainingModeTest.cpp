// TrainingModeTest: dropout and batch_norm, which train differently from how they evaluate:
// values against a double reference, the running statistics a step leaves,
// and the masks' determinism.
#include "TestSupport.h"

#include <numeric>

using namespace nnjit;
using namespace nnjit::test;

namespace {

/// Feeds every row of `data` (one column per input) and returns the row count.
int64_t feedAll(Compiled& c, const Dataset& data) {
  std::vector<int64_t> order(data.rows);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int> columnOf(data.columns.size());
  std::iota(columnOf.begin(), columnOf.end(), 0);
  c.session->initParams(0);
  c.session->reserveRows(data.rows);
  c.session->feed(data, order, 0, data.rows, columnOf);
  return data.rows;
}

int stateSlot(const Compiled& c, const std::string& name) {
  for (size_t i = 0; i < c.cm->states.size(); ++i)
    if (c.cm->states[i].name == name) return c.cm->stateSlots[i];
  FAIL("no state " << name);
  return -1;
}

// x[4, 2, 3] (batch 4, 2 positions, 3 features): per-feature statistics over 8 values.
const std::vector<double> kX = {0.5, -1, 2, 1.5, 0, -2, -0.5, 3, 1,   2,  1, 0,
                                1,   -2, 4, 0,   1, 1,  2.5,  -1, -1, 0.5, 0, 2};

struct Stats {
  std::vector<double> mean, var;  // biased
};

Stats statsOf(const std::vector<double>& x, int features) {
  Stats s{std::vector<double>(features, 0), std::vector<double>(features, 0)};
  size_t n = x.size() / features;
  for (size_t i = 0; i < x.size(); ++i) s.mean[i % features] += x[i] / static_cast<double>(n);
  for (size_t i = 0; i < x.size(); ++i) {
    double d = x[i] - s.mean[i % features];
    s.var[i % features] += d * d / static_cast<double>(n);
  }
  return s;
}

const char* kBatchNorm = R"(
input x[batch, 2, 3]
param G[3] = [1.5, -0.5, 2]
param B[3] = [0.1, 0.2, -0.3]
param C[2, 3] = [[1, -2, 0.5], [0.25, 3, -1]]
y = batch_norm(x, G, B, momentum = 0.25, eps = 0.01)
loss = sum(y * C)
optimizer sgd(lr = 0)
)";

/// sum over rows of y * C, y normalized with `mean` and `var`.
double referenceLoss(const std::vector<double>& mean, const std::vector<double>& var, double eps) {
  const double G[3] = {1.5, -0.5, 2}, B[3] = {0.1, 0.2, -0.3}, C[6] = {1, -2, 0.5, 0.25, 3, -1};
  double loss = 0;
  for (size_t i = 0; i < kX.size(); ++i) {
    int f = static_cast<int>(i % 3);
    loss += (G[f] * (kX[i] - mean[f]) / std::sqrt(var[f] + eps) + B[f]) * C[i % 6];
  }
  return loss;
}

Dataset batchNormData() {
  Dataset d;
  d.rows = 4;
  d.columns = {kX};
  return d;
}

} // namespace

TEST_CASE("batch_norm: batch statistics in the train step, running ones in evaluation", "[batchnorm]") {
  CompileOptions o = f64Gradients();
  o.trainStep = true;
  Compiled c(kBatchNorm, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  int64_t rows = feedAll(c, batchNormData());
  Stats s = statsOf(kX, 3);
  // The gradients entry point computes the loss as the train step does.
  c.session->run(c.cm->gradients, rows);
  CHECK(c.session->scalar(c.cm->lossSlot) == Approx(referenceLoss(s.mean, s.var, 0.01)).epsilon(1e-12));
  // Evaluation before any step: running mean 0, variance 1.
  Compiled eval(kBatchNorm, [] {
    CompileOptions e;
    e.dtype = DType::F64;
    e.evaluate = true;
    e.trainStep = true;
    return e;
  }());
  REQUIRE(eval.ok());
  feedAll(eval, batchNormData());
  eval.session->evaluate(rows);
  CHECK(eval.session->scalar(eval.cm->lossSlot) ==
        Approx(referenceLoss({0, 0, 0}, {1, 1, 1}, 0.01)).epsilon(1e-12));
  // One step moves them a quarter of the way to the batch's (unbiased variance: 8 values).
  eval.session->trainStep(rows);
  std::vector<double> mean = eval.session->read(stateSlot(eval, "batch_norm.mean.G"));
  std::vector<double> var = eval.session->read(stateSlot(eval, "batch_norm.var.G"));
  for (int f = 0; f < 3; ++f) {
    CHECK(mean[f] == Approx(0.25 * s.mean[f]).epsilon(1e-12));
    CHECK(var[f] == Approx(0.75 + 0.25 * s.var[f] * 8 / 7).epsilon(1e-12));
  }
  eval.session->evaluate(rows);
  CHECK(eval.session->scalar(eval.cm->lossSlot) == Approx(referenceLoss(mean, var, 0.01)).epsilon(1e-12));
}

TEST_CASE("batch_norm: gradients against central differences, on batch statistics", "[batchnorm][autodiff]") {
  for (const char* expr : {"batch_norm(x * W, G, B)", "batch_norm(x * W, G, B, axis = 1)",
                           "relu(batch_norm(x * W, G, B, eps = 0.1))"}) {
    std::string src = fmt::format(
        "input x[batch, 2, 3]\nparam W[2, 3] = uniform(0.5, 1.5)\nparam G[{0}] = uniform(0.5, 1.5)\n"
        "param B[{0}] = uniform(-1, 1)\nparam C[2, 3] = uniform(-1, 1)\nloss = sum(({1}) * C)\n",
        std::string(expr).find("axis = 1") != std::string::npos ? 2 : 3, expr);
    Compiled c(src, f64Gradients());
    INFO(expr << "\n" << c.errors);
    REQUIRE(c.ok());
    int64_t rows = feedAll(c, batchNormData());
    for (uint64_t seed = 1; seed <= 2; ++seed) {
      c.session->initParams(seed);
      CHECK(gradientError(c, rows) < 1e-6);
    }
  }
}

namespace {

/// After one sgd step (lr 1) of loss = mean(dropout(x, rate) * W) on a row of
/// ones with W = 0, W is -mask / (1 - rate) / 4096: the mask itself.
std::vector<double> dropoutMask(double rate, DType dtype, uint64_t seed, int64_t epoch, int64_t batch) {
  std::string src = fmt::format("input x[batch, 4096]\nparam W[4096] = 0\nloss = mean(dropout(x, {}) * W)\n"
                                "optimizer sgd(lr = 1)\n",
                                rate);
  CompileOptions o;
  o.trainStep = true;
  o.evaluate = true;
  o.dtype = dtype;
  Compiled c(src, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  Dataset ones;
  ones.rows = 1;
  ones.columns = {std::vector<double>(4096, 1.0)};
  feedAll(c, ones);
  c.session->initParams(seed);  // the seed random ops draw from
  c.session->setRandomKey(epoch, batch);
  c.session->trainStep(1);
  std::vector<double> w = c.session->read(c.cm->paramSlots[0]);
  for (double& v : w) v *= -4096 * (1 - rate);
  return w;
}

} // namespace

TEST_CASE("dropout: drops the rate's share in the train step and scales the rest", "[dropout]") {
  for (double rate : {0.1, 0.4, 0.75}) {
    std::vector<double> mask = dropoutMask(rate, DType::F64, 0, 0, 1);
    int64_t dropped = 0;
    for (double m : mask) {
      CHECK((std::fabs(m) < 1e-12 || std::fabs(m - 1) < 1e-9));
      dropped += std::fabs(m) < 0.5;
    }
    // Binomial: four standard deviations of 4096 draws.
    double sd = std::sqrt(4096 * rate * (1 - rate));
    CHECK(std::fabs(static_cast<double>(dropped) - 4096 * rate) < 4 * sd);
  }
}

TEST_CASE("dropout: the mask is a function of the seed, the epoch, the batch and the element", "[dropout]") {
  auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
    int64_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += std::fabs(a[i] - b[i]) > 1e-3;
    return differ;
  };
  std::vector<double> base = dropoutMask(0.5, DType::F64, 7, 2, 3);
  CHECK(same(base, dropoutMask(0.5, DType::F64, 7, 2, 3)) == 0);
  CHECK(same(base, dropoutMask(0.5, DType::F32, 7, 2, 3)) == 0);  // an integer threshold: no rounding
  for (auto [seed, epoch, batch] : {std::tuple{8, 2, 3}, {7, 3, 3}, {7, 2, 4}})
    CHECK(same(base, dropoutMask(0.5, DType::F64, seed, epoch, batch)) > 1500);  // about half differ
}

TEST_CASE("dropout and batch_norm: evaluation and predict are the identity / running statistics", "[dropout]") {
  std::string src = "input x[batch, 3]\ny = dropout(x, 0.9)\nloss = sum(y)\noutput y\n";
  CompileOptions o;
  o.evaluate = true;
  o.predict = true;
  o.dtype = DType::F64;
  Compiled c(src, o);
  REQUIRE(c.ok());
  Dataset d;
  d.rows = 2;
  d.columns = {{1, 2, 3, 4, 5, 6}};
  feedAll(c, d);
  c.session->evaluate(2);
  CHECK(c.session->scalar(c.cm->lossSlot) == 21);
  c.session->run(c.cm->predict, 2);
  CHECK(c.session->read(c.cm->outputSlot, 6) == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("dropout and batch_norm: misuse is a diagnostic", "[dropout][batchnorm][diagnostics]") {
  auto errorsOf = [](const std::string& src) {
    CompileOptions o;
    o.evaluate = true;
    Compiled c(src, o);
    CHECK(!c.ok());
    return c.errors;
  };
  CHECK_THAT(errorsOf("input x[batch, 3]\nloss = sum(dropout(x, 1))\n"),
             Catch::Contains("test.nn:2:23: error: the dropout rate is a fraction from 0 up to (not including) 1, not 1"));
  CHECK_THAT(errorsOf("input x[batch, 3]\nparam G[4] = 1\nparam B[3] = 0\nloss = sum(batch_norm(x, G, B))\n"),
             Catch::Contains("batch_norm's gamma must be [3], one per feature of [batch, 3] along axis 1, not [4]"));
  CHECK_THAT(errorsOf("input x[batch, 3]\nparam B[3] = 0\nloss = sum(batch_norm(x, B * 2, B))\n"),
             Catch::Contains("batch_norm's gamma must be a param"));
  CHECK_THAT(errorsOf("input x[batch, 3]\nparam G[3] = 1\nparam B[3] = 0\n"
                      "loss = sum(batch_norm(x, G, B) + batch_norm(2 * x, G, B))\n"),
             Catch::Contains("gamma 'G' belongs to another batch_norm already"));
  CHECK_THAT(errorsOf("input x[batch, 3]\nparam G[3] = 1\nparam B[3] = 0\nloss = sum(batch_norm(x, G, B, axis = 0))\n"),
             Catch::Contains("batch_norm's feature axis cannot be the batch"));
}
