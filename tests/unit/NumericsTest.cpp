// NumericsTest: values and gradients a differential test against PyTorch found wrong (#14) — a
// contraction over the batch, pow at base 0, maximum/minimum at ties — each against a hand reference.
#include "TestSupport.h"

using namespace nnjit;
using namespace nnjit::test;

namespace {

/// A float64 model with gradients, fed `x` (rows of `width` values) as its one input.
struct Fed {
  Compiled c;
  int64_t rows;
  Fed(const std::string& src, const std::vector<double>& x, int64_t width)
      : c(src, f64Gradients()), rows(static_cast<int64_t>(x.size()) / width) {
    INFO(c.errors);
    REQUIRE(c.ok());
    Dataset data;
    data.rows = rows;
    data.columns = {x};
    std::vector<int64_t> order(rows);
    for (int64_t r = 0; r < rows; ++r) order[r] = r;
    c.session->initParams(0);
    c.session->reserveRows(rows);
    c.session->feed(data, order, 0, rows, {0});
    c.session->run(c.cm->gradients, rows);
  }
  double loss() const { return c.session->scalar(c.cm->lossSlot); }
  std::vector<double> gradient(size_t param) const { return c.session->read(c.cm->gradientSlots[param]); }
};

/// The loss and gradients of a model with params only (no input), in float64.
struct Evaluated {
  Compiled c;
  explicit Evaluated(const std::string& src) : c(src, f64Gradients()) {
    INFO(c.errors);
    REQUIRE(c.ok());
    c.session->initParams(0);
    c.session->run(c.cm->gradients, 1);
  }
  std::vector<double> gradient(size_t param) const { return c.session->read(c.cm->gradientSlots[param]); }
};

const std::vector<double> kRows = {1, 2, 3, 4, 5, 6};  // x[batch, 2] with 3 rows

} // namespace

TEST_CASE("matmul over the batch: transpose(x) @ x is the Gram matrix", "[numerics][shape]") {
  // It was refused: "cannot multiply [2, batch] @ [batch, 2]".
  Fed gram("input x[batch, 2]\nparam M[2, 2] = [[1, 2], [3, 4]]\nloss = sum(M * (transpose(x) @ x))\n", kRows, 2);
  // G = [[35, 44], [44, 56]]; sum(M * G) = 35 + 88 + 132 + 224.
  CHECK(gram.loss() == 479);
  CHECK(gram.gradient(0) == std::vector<double>{35, 44, 44, 56});
  // The vector forms: [batch] @ [batch, 2] and [2, batch] @ [batch], both sum_r m_r x_r.
  Fed vectors("input x[batch, 2]\nparam s[2] = [1, 10]\n"
              "m = mean(x, axis = 1)\nloss = sum(s * (m @ x)) + sum(s * (transpose(x) @ m))\n",
              kRows, 2);
  CHECK(vectors.loss() == 2 * (39.5 + 10 * 50));
}

TEST_CASE("matmul over the batch: the gradient through it", "[numerics][autodiff]") {
  // L = sum(H^2) with H = transpose(x @ W) @ x = W^T G, so dL/dW = 2 G H^T.
  Fed f("input x[batch, 2]\nparam W[2, 2] = [[0.5, -1], [2, 0.25]]\nloss = sum(square(transpose(x @ W) @ x))\n",
        kRows, 2);
  const double G[2][2] = {{35, 44}, {44, 56}}, W[2][2] = {{0.5, -1}, {2, 0.25}};
  double H[2][2], want[4], loss = 0;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      H[i][j] = W[0][i] * G[0][j] + W[1][i] * G[1][j];
      loss += H[i][j] * H[i][j];
    }
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 2; ++i) want[k * 2 + i] = 2 * (G[k][0] * H[i][0] + G[k][1] * H[i][1]);
  CHECK(f.loss() == Approx(loss));
  std::vector<double> got = f.gradient(0);
  for (int e = 0; e < 4; ++e) CHECK(got[e] == Approx(want[e]));
  CHECK(gradientError(f.c, f.rows) < 1e-7);
  // A shorter batch contracts over its own rows only.
  f.c.session->run(f.c.cm->gradients, 2);
  CHECK(gradientError(f.c, 2) < 1e-7);
}

TEST_CASE("pow: gradients at base 0 follow PyTorch, elsewhere the formulas", "[numerics][autodiff]") {
  // Were nan (d/da of a^0 at 0; d/db of 0^0.3), and nan with -inf at (0, 0).
  Evaluated zeroZero("param a = 0\nparam b = 0\nloss = pow(a, b)\n");
  CHECK(zeroZero.gradient(0) == std::vector<double>{0});
  CHECK(zeroZero.gradient(1) == std::vector<double>{0});
  Evaluated constantZero("param a[3] = [0, 1, 2]\nloss = sum(pow(a, 0))\n");
  CHECK(constantZero.gradient(0) == std::vector<double>{0, 0, 0});
  Evaluated fraction("param a[3] = [0, 0.5, 2]\nparam b = 0.3\nloss = sum(pow(a, b))\n");
  std::vector<double> da = fraction.gradient(0);
  CHECK(std::isinf(da[0]));  // 0.3 * 0^-0.7, as in PyTorch
  CHECK(da[1] == Approx(0.3 * std::pow(0.5, -0.7)));
  CHECK(fraction.gradient(1)[0] == Approx(std::pow(0.5, 0.3) * std::log(0.5) + std::pow(2, 0.3) * std::log(2.0)));
  Evaluated square("param a = 0\nparam b = 2\nloss = pow(a, b)\n");
  CHECK(square.gradient(0) == std::vector<double>{0});
  CHECK(square.gradient(1) == std::vector<double>{0});
  Evaluated plain("param a = 2\nparam b = 3\nloss = pow(a, b)\n");
  CHECK(plain.gradient(0)[0] == Approx(12));
  CHECK(plain.gradient(1)[0] == Approx(8 * std::log(2.0)));
  // A negative exponent at 0 keeps its pole, and a negative base its NaN log, as in PyTorch.
  Evaluated pole("param a = 0\nparam b = -1\nloss = pow(a, b)\n");
  CHECK(std::isinf(pole.gradient(0)[0]));
  Evaluated negative("param a = -2\nparam b = 2\nloss = pow(a, b)\n");
  CHECK(negative.gradient(0)[0] == Approx(-4));
  CHECK(std::isnan(negative.gradient(1)[0]));
}

TEST_CASE("maximum and minimum: a tie shares the gradient equally", "[numerics][autodiff]") {
  // It all went to the first argument; PyTorch and tinygrad split it, as max(x) does.
  const std::string params = "param a[3] = [1, 2, 3]\nparam b[3] = [1, 3, 2]\n";
  Evaluated hi(params + "loss = sum(maximum(a, b))\n");
  CHECK(hi.gradient(0) == std::vector<double>{0.5, 0, 1});
  CHECK(hi.gradient(1) == std::vector<double>{0.5, 1, 0});
  Evaluated lo(params + "loss = sum(minimum(a, b))\n");
  CHECK(lo.gradient(0) == std::vector<double>{0.5, 1, 0});
  CHECK(lo.gradient(1) == std::vector<double>{0.5, 0, 1});
  // Broadcast against a scalar: its gradient sums the shares.
  Evaluated clip("param a[3] = [1, 2, 3]\nparam s = 2\nparam k[3] = [1, 10, 100]\nloss = sum(maximum(a, s) * k)\n");
  CHECK(clip.gradient(0) == std::vector<double>{0, 5, 100});
  CHECK(clip.gradient(1) == std::vector<double>{1 + 5});
}

namespace {

/// The params after `steps` train steps of `src`, in `dtype`.
std::vector<double> paramsAfter(const std::string& src, DType dtype, int steps) {
  CompileOptions o;
  o.trainStep = true;
  o.dtype = dtype;
  Compiled c(src, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  c.session->initParams(0);
  c.session->resetOptimizer();
  for (int t = 1; t <= steps; ++t) {
    c.session->setScalar(c.cm->stepSlot, t);
    c.session->trainStep(1);
  }
  return c.session->read(c.cm->paramSlots[0]);
}

} // namespace

TEST_CASE("adam and adamw in float32 stay within a few ulps of float64", "[numerics][optimizer]") {
  // 1 - 0.999^t in float32 was off by 1.3e-5 relative (0.999 itself rounds),
  // so the first step was ~30 float32 ulps from float64 (PyTorch keeps it in
  // double). The update now rounds like PyTorch's float32 one.
  for (std::string optimizer : {"adamw(lr = 0.01)", "adam(lr = 0.01)", "adamw(lr = 0.01 * 0.5 ^ epoch, beta2 = 0.99)"}) {
    std::string src = "param w[4] = [0.5, -1, 2, 3]\nloss = sum(square(w - 0.25))\noptimizer " + optimizer +
                      "\ntrain(epochs = 1)\n";
    for (int steps : {1, 2, 5}) {
      std::vector<double> f32 = paramsAfter(src, DType::F32, steps), f64 = paramsAfter(src, DType::F64, steps);
      double worst = 0;
      for (size_t i = 0; i < f32.size(); ++i) worst = std::max(worst, std::fabs(f32[i] - f64[i]) / std::fabs(f64[i]));
      INFO(optimizer << " after " << steps << " steps: f32 within " << worst / 0x1p-24 << " half-ulps of f64");
      CHECK(worst < 4 * 0x1p-24);
    }
  }
}

TEST_CASE("momentum on a param whose gradient reads it transposed: each step as written, from the old param",
          "[numerics][optimizer]") {
  // The velocity's update, computed inside the param's own loop, read
  // elements of W the loop had already updated (passes/MergeUpdates.h).
  std::string src = "param W[3, 3] = [[1, 2, 3], [4, 5, 6], [7, 8, 10]]\n"
                    "loss = sum(W * transpose(W)) + sum(square(W))\n"
                    "optimizer sgd(lr = 0.01, momentum = 0.9)\ntrain(epochs = 1)\n";
  std::vector<double> w{1, 2, 3, 4, 5, 6, 7, 8, 10}, v(9, 0.0);
  for (int step = 1; step <= 3; ++step) {
    std::vector<double> g(9);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) g[i * 3 + j] = 2 * w[j * 3 + i] + 2 * w[i * 3 + j];
    for (int e = 0; e < 9; ++e) {
      v[e] = 0.9 * v[e] + g[e];
      w[e] -= 0.01 * v[e];
    }
    std::vector<double> got = paramsAfter(src, DType::F64, step);
    for (int e = 0; e < 9; ++e) CHECK(got[e] == Approx(w[e]).epsilon(1e-12));
  }
}
