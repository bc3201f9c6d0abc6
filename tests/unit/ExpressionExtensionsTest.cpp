// ExpressionExtensionsTest: comparisons, where, list literals as values, reshape with -1
// and [], and reductions over several axes — values, gradients and diagnostics.
#include "TestSupport.h"

using namespace nnjit;
using namespace nnjit::test;

namespace {

// Fixed operands, exact in float32.
const char* kDecls = "param a[2, 3] = [[1, 2, 3], [-1, 0.5, 4]]\n"
                     "param b[3] = [2, 2, -1]\n"
                     "param s = 1.5\n"
                     "param m[2] = [-1, 0.25]\n"
                     "param W[2, 3] = [[1, 2, 3], [4, 5, 6]]\n"
                     "param t[2, 3, 4] = [[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]],\n"
                     "                    [[13, 14, 15, 16], [17, 18, 19, 20], [21, 22, 23, -24]]]\n"
                     "param one[1, 1] = [[7]]\n";

struct Value {
  std::vector<int64_t> dims;
  std::vector<double> v;
};

/// `y = expr` over kDecls (and `extra`), computed by the predict entry point in `dtype`.
Value eval(const std::string& expr, DType dtype, const std::string& extra = "") {
  CompileOptions o;
  o.predict = true;
  o.dtype = dtype;
  Compiled c(kDecls + extra + "y = " + expr + "\noutput y\n", o);
  INFO("y = " << expr << "\n" << c.errors);
  REQUIRE(c.ok());
  c.session->initParams(0);
  c.session->run(c.cm->predict, 1);
  const Shape& shape = c.cm->slots[c.cm->outputSlot].shape;
  Value out{shape.dims, c.session->read(c.cm->outputSlot, shape.elements(1))};
  return out;
}

/// `expr` has shape `dims` and the values `want` in float32 and float64 (NaN matches NaN).
void check(const std::string& expr, std::vector<int64_t> dims, std::vector<double> want) {
  for (DType dt : {DType::F32, DType::F64}) {
    Value got = eval(expr, dt);
    INFO("y = " << expr << (dt == DType::F32 ? " (f32)" : " (f64)"));
    CHECK(got.dims == dims);
    REQUIRE(got.v.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("element " << i << ": got " << got.v[i] << ", want " << want[i]);
      CHECK(((std::isnan(want[i]) && std::isnan(got.v[i])) ||
             std::fabs(got.v[i] - want[i]) <= 1e-6 * std::max(1.0, std::fabs(want[i]))));
    }
  }
}

/// The gradient of sum(expr * c) for random c, against finite differences, at three random points.
void checkGradient(const std::string& expr, const std::string& shape) {
  std::string src = "param a[2, 3] = uniform(0.5, 1.5)\nparam b[3] = uniform(0.5, 1.5)\n"
                    "param t[2, 3, 4] = uniform(-1, 1)\nparam W[2, 3] = uniform(-1, 1)\n"
                    "param one[1, 1] = uniform(0.5, 1.5)\n"
                    "param c" + shape + " = uniform(-1, 1)\nloss = sum((" + expr + ") * c)\n";
  checkGradients(src);
}

/// `src` fails with a diagnostic at `line:col` whose message contains `part`.
void checkError(const std::string& src, int line, int col, const std::string& part) {
  std::string e = lowerErrors(src);
  INFO(src << "\n---\n" << e);
  CHECK(e.find(fmt::format("t.nn:{}:{}: error: ", line, col)) != std::string::npos);
  CHECK(e.find(part) != std::string::npos);
  CHECK(e.find('^') != std::string::npos);
}

} // namespace

TEST_CASE("comparisons: every operator, elementwise with broadcasting", "[extensions][forward]") {
  check("a < b", {2, 3}, {1, 0, 0, 1, 1, 0});
  check("a <= b", {2, 3}, {1, 1, 0, 1, 1, 0});
  check("a > b", {2, 3}, {0, 0, 1, 0, 0, 1});
  check("a >= b", {2, 3}, {0, 1, 1, 0, 0, 1});
  check("a == b", {2, 3}, {0, 1, 0, 0, 0, 0});
  check("a != b", {2, 3}, {1, 0, 1, 1, 1, 1});
  check("s > b", {3}, {0, 0, 1});
  check("b == 2", {3}, {1, 1, 0});
  // NaN compares false, but unequal.
  check("sqrt(m) < 1", {2}, {0, 1});
  check("sqrt(m) >= 0", {2}, {0, 1});
  check("sqrt(m) == sqrt(m)", {2}, {0, 1});
  check("sqrt(m) != sqrt(m)", {2}, {1, 0});
}

TEST_CASE("comparisons: looser than + and -, tighter inside parentheses", "[extensions][forward]") {
  check("1 + 1 > 1.5", {}, {1});
  check("2 * 3 == 6", {}, {1});
  check("-1 < 0", {}, {1});
  check("(1 < 2) + 1", {}, {2});
  check("1 < 2 + 1", {}, {1});
  check("s - 1 >= 0.5", {}, {1});
  check("(a > 0) * (a < 3)", {2, 3}, {1, 1, 0, 0, 1, 0});
  // Constant arguments take comparisons too: axis = (1 > 0) is axis 1.
  check("sum(a, axis = (1 > 0))", {2}, {6, 3.5});
}

TEST_CASE("where: picks with broadcasting of all three", "[extensions][forward]") {
  check("where(a > 1.5, a, 10 * b)", {2, 3}, {20, 2, 3, 20, 20, 4});
  check("where(b > 0, a, s)", {2, 3}, {1, 2, 1.5, -1, 0.5, 1.5});
  check("where(m, 1, 0)", {2}, {1, 1});
  check("where(sqrt(m), 1, 0)", {2}, {1, 1});  // NaN is not 0
  check("where(0, a, b)", {2, 3}, {2, 2, -1, 2, 2, -1});
}

TEST_CASE("list literals: constant tensors of the nested shape", "[extensions][forward]") {
  check("[1, 2, 3]", {3}, {1, 2, 3});
  check("[[1, 2, 3]]", {1, 3}, {1, 2, 3});
  check("[[1], [2]]", {2, 1}, {1, 2});
  check("a * [1, 2, 3]", {2, 3}, {1, 4, 9, -1, 1, 12});
  check("a + [[10], [20]]", {2, 3}, {11, 12, 13, 19, 20.5, 24});
  check("[1 / 4, 2 ^ 3, -(1 + 1), 1 < 2]", {4}, {0.25, 8, -2, 1});
  check("sum([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], axis = 1)", {2, 2}, {4, 6, 12, 14});
  // As either side of a matmul, transposed or a vector.
  check("[[1, 0], [0, 1]] @ W", {2, 3}, {1, 2, 3, 4, 5, 6});
  check("[[0, 1], [2, 0]] @ W", {2, 3}, {4, 5, 6, 2, 4, 6});
  check("transpose([[0, 2], [1, 0]]) @ W", {2, 3}, {4, 5, 6, 2, 4, 6});
  check("[1, -1] @ W", {3}, {-3, -3, -3});
  check("W @ [1, 0, 2]", {2}, {7, 16});
  check("transpose(W) @ [1, 1]", {3}, {5, 7, 9});
  check("W @ [[1], [1], [1]] + 1", {2, 1}, {7, 16});
  // Long enough for vector loops with a masked tail.
  std::string list = "[";
  std::vector<double> want;
  for (int i = 0; i < 37; ++i) {
    list += fmt::format("{}{}", i ? ", " : "", i - 18);
    want.push_back(2.0 * (i - 18));
  }
  check(list + "] * 2", {37}, want);
  check("sum(" + list + "] * 2)", {}, {std::accumulate(want.begin(), want.end(), 0.0)});
}

TEST_CASE("reshape: to a scalar and with one inferred dim", "[extensions][forward]") {
  check("reshape(one, [])", {}, {7});
  check("reshape(one, [-1])", {1}, {7});
  check("reshape(a, [-1])", {6}, {1, 2, 3, -1, 0.5, 4});
  check("reshape(a, [3, -1])", {3, 2}, {1, 2, 3, -1, 0.5, 4});
  check("reshape(a, [-1, 1, 2])", {3, 1, 2}, {1, 2, 3, -1, 0.5, 4});
  check("sum(reshape(t, [-1, 4]), axis = 1)", {6}, {10, 26, 42, 58, 74, 42});
  check("sum(reshape(t, [2, -1]), axis = 1)", {2}, {78, 174});
}

TEST_CASE("reductions: several axes at once", "[extensions][forward]") {
  check("sum(t, axis = [1, 2])", {2}, {78, 174});
  check("sum(t, axis = [2, 1])", {2}, {78, 174});
  check("sum(t, axis = [0, 1, 2])", {}, {252});
  check("mean(t, axis = [0, 2])", {3}, {8.5, 12.5, 10.5});
  check("mean(t, axis = [-1, -3])", {3}, {8.5, 12.5, 10.5});
  check("max(t, axis = [0, -1])", {3}, {16, 20, 23});
  check("max(t, axis = [0])", {3, 4}, {13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 12});
  check("sum(a, axis = [0, 1])", {}, {9.5});
}

TEST_CASE("reductions and reshape: over a batch", "[extensions][forward]") {
  // x holds rows 0..5 and 6..11, then 12..17: mean over the batch and the last axis.
  Dataset data;
  data.rows = 3;
  data.columns.resize(1);
  for (int i = 0; i < 18; ++i) data.columns[0].push_back(i);
  auto run = [&](const std::string& expr, DType dt) {
    CompileOptions o;
    o.predict = true;
    o.dtype = dt;
    Compiled c("input x[batch, 2, 3]\ny = " + expr + "\noutput y\n", o);
    INFO(expr << "\n" << c.errors);
    REQUIRE(c.ok());
    feedAll(*c.session, data);
    c.session->run(c.cm->predict, 3);
    const Shape& shape = c.cm->slots[c.cm->outputSlot].shape;
    return std::make_pair(shape, c.session->read(c.cm->outputSlot, shape.elements(3)));
  };
  for (DType dt : {DType::F32, DType::F64}) {
    auto [shape, v] = run("mean(x, axis = [0, 2])", dt);
    CHECK(shape == Shape({2}));
    CHECK(v == std::vector<double>{7, 10});
    std::tie(shape, v) = run("reshape(x, [batch, -1]) * [1, 0, 0, 0, 0, -1]", dt);
    CHECK(shape == Shape({kBatch, 6}));
    CHECK(v == std::vector<double>{0, 0, 0, 0, 0, -5, 6, 0, 0, 0, 0, -11, 12, 0, 0, 0, 0, -17});
    std::tie(shape, v) = run("sum(x, axis = [1, 2])", dt);
    CHECK(v == std::vector<double>{15, 51, 87});
  }
}

TEST_CASE("gradients: where, comparisons, list literals, reshape and multi-axis reductions", "[extensions][autodiff]") {
  checkGradient("where(a > 1, a * a, b * 3)", "[2, 3]");
  checkGradient("where(b > 1, a, 2 * b)", "[2, 3]");
  checkGradient("where(a > b, sin(a), cos(b))", "[2, 3]");
  checkGradient("where([1, 0, 1], a, b)", "[2, 3]");
  checkGradient("(a > 1) * a + (a <= b) * b", "[2, 3]");
  checkGradient("a * [1, 2, 3] + [[1], [2]] * b", "[2, 3]");
  checkGradient("[[1, 0], [0.5, 1], [2, -1]] @ a", "[3, 3]");
  checkGradient("[1, -1] @ a", "[3]");
  checkGradient("a @ [1, 2, 3]", "[2]");
  checkGradient("transpose([[1, 2], [3, 4]]) @ W", "[2, 3]");
  checkGradient("reshape(t, [-1, 4])", "[6, 4]");
  checkGradient("reshape(t, [2, -1])", "[2, 12]");
  checkGradient("reshape(one, [])", "");
  checkGradient("sum(t, axis = [1, 2])", "[2]");
  checkGradient("mean(t, axis = [0, 2])", "[3]");
  checkGradient("max(t, axis = [0, -1])", "[3]");
  checkGradient("mean(t, axis = [0, 1, 2])", "");
}

TEST_CASE("gradients: the yogurt-sales loss over a batch", "[extensions][autodiff]") {
  std::string src = "input x[batch, 2]\ninput y_[batch]\nparam W[2] = normal(0, 1)\nparam b = normal(0, 1)\n"
                    "COST = 3\nPROFIT = 5\ny = x @ W + b\n"
                    "loss = mean(where(y > y_, COST * (y - y_), PROFIT * (y_ - y)))\n";
  Dataset data;
  data.rows = 4;
  data.columns = {{0.1, -0.2, 0.3, 1, 2, -1, 0.5, 0.5}, {1, -2, 0.5, 3}};
  checkGradients(src, &data);
}

TEST_CASE("diagnostics: comparisons and where", "[extensions][diagnostics]") {
  checkError("param a = 1\nloss = a < 2 < 3\n", 2, 14, "comparisons do not chain");
  checkError("param a = 1\nloss = a == 1 != 0\n", 2, 15, "comparisons do not chain");
  checkError("param a = 1\nloss = !a\n", 2, 8, "unexpected character '!'");
  checkError("param a[2] = 1\nparam b[3] = 1\nloss = sum(a < b)\n", 3, 14, "'<': shapes [2] and [3] do not broadcast");
  checkError("param a[2] = 1\nparam b[3] = 1\nloss = sum(where(a > 0, a, b))\n", 3, 12, "shapes");
  checkError("param a = 1\nloss = where(a > 0, a)\n", 2, 8, "'where' needs the argument 'b'");
  checkError("param a = 1\nwhere = a\nloss = a\n", 2, 1, "'where' is a builtin name");
  // `==` is not a named argument's `=`.
  CHECK(lowerErrors("param a = 1\nloss = sum(a == 1)\n").empty());
  checkError("param a = 1\nloss = sum(a, axis == 0)\n", 2, 15, "expected axis as a constant number");
}

TEST_CASE("diagnostics: list literals", "[extensions][diagnostics]") {
  checkError("param a[2, 2] = 1\nloss = sum(a * [[1, 2], [3]])\n", 2, 25, "dim 1 should have 2 elements, found 1");
  checkError("param a[2, 2] = 1\nloss = sum(a * [[1, 2], 3])\n", 2, 25, "dim 1 should have 2 elements");
  checkError("param a[2] = 1\nloss = sum(a * [1, [2, 3]])\n", 2, 20, "more levels");
  checkError("param a[2] = 1\nloss = sum(a * [])\n", 2, 16, "an empty list");
  checkError("param a[2] = 1\nloss = sum([a, 1])\n", 2, 13, "expected a list element as a constant number");
  checkError("param a[2] = 1\nloss = sum(a * [1, 2, 3])\n", 2, 14, "shapes [2] and [3] do not broadcast");
  checkError("param a[2] = 1\nloss = sum([1, 2] @ a @ [[1]])\n", 2, 23, "cannot multiply");
}

TEST_CASE("diagnostics: reshape with -1 and []", "[extensions][diagnostics]") {
  checkError("param a[2, 3] = 1\nloss = sum(reshape(a, [-1, -1]))\n", 2, 28, "only one dim may be -1");
  checkError("param a[2, 3] = 1\nloss = sum(reshape(a, [-1, 4]))\n", 2, 24,
             "cannot reshape [2, 3] to [-1, 4]: 6 elements are not a multiple of 4");
  checkError("param a[2, 3] = 1\nloss = sum(reshape(a, [0, -1]))\n", 2, 24, "at least 1 (or -1, inferred), not 0");
  checkError("param a[2, 3] = 1\nloss = sum(reshape(a, [-2, 3]))\n", 2, 24, "not -2");
  checkError("param a[2] = 1\nloss = reshape(a, [])\n", 2, 8, "cannot reshape [2] (2 elements) to []");
  checkError("input x[batch, 4]\nloss = sum(reshape(x, [-1, 2]))\n", 2, 24,
             "reshape [batch, 4] to [-1, 2]: write `batch` for the batch dim; -1 infers a fixed dim");
  checkError("input x[batch, 4]\nloss = sum(reshape(x, [batch, -1, 3]))\n", 2, 31,
             "4 elements per batch row are not a multiple of 3");
  checkError("param a[4] = 1\nloss = sum(reshape(a, [batch, -1]))\n", 2, 31, "it has no batch dim");
  checkError("param a[4] = 1\nloss = sum(reshape(a, 4))\n", 2, 23, "reshape needs its dims as a list");
}

TEST_CASE("diagnostics: reductions over several axes", "[extensions][diagnostics]") {
  checkError("param a[2, 3] = 1\nloss = sum(a, axis = [1, -1])\n", 2, 26, "axes 1 and -1 are both axis 1");
  checkError("param a[2, 3] = 1\nloss = sum(a, axis = [0, 0])\n", 2, 26, "axis 0 is listed twice");
  checkError("param a[2, 3] = 1\nloss = sum(mean(a, axis = [0, 2]))\n", 2, 31, "axis 2 is out of range");
  checkError("param a[2, 3] = 1\nloss = sum(a, axis = [])\n", 2, 22, "axis = [] names no axis");
  checkError("param a[2, 3] = 1\nloss = sum(max(a, axis = [[0]]))\n", 2, 27, "a list of axes holds numbers, not lists");
  checkError("param a[2, 3] = 1\nloss = sum(softmax(a, axis = [0]))\n", 2, 30, "this axis is one number");
}
