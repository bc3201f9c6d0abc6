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
