// ForwardTest: the value the JIT'd code computes for every builtin and operator,
// in every broadcasting and axis form, against a plain double C++ reference,
// in float32 and float64, at several random points.
#include "TestSupport.h"
#include "HostInfo.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>

using namespace nnjit;
using namespace nnjit::test;

namespace {

// ---------------------------------------------------------------------------
// A tiny double-precision tensor library: the reference.

struct T {
  std::vector<int64_t> d;  // dims; empty: a scalar
  std::vector<double> v;   // row-major
};

int64_t count(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

T scalar(double x) { return {{}, {x}}; }

T map(const T& a, const std::function<double(double)>& f) {
  T r = a;
  for (double& x : r.v) x = f(x);
  return r;
}

/// NumPy broadcasting.
T zip(const T& a, const T& b, const std::function<double(double, double)>& f) {
  size_t rank = std::max(a.d.size(), b.d.size());
  std::vector<int64_t> ad(rank, 1), bd(rank, 1), od(rank);
  std::copy(a.d.begin(), a.d.end(), ad.begin() + (rank - a.d.size()));
  std::copy(b.d.begin(), b.d.end(), bd.begin() + (rank - b.d.size()));
  for (size_t i = 0; i < rank; ++i) {
    REQUIRE((ad[i] == bd[i] || ad[i] == 1 || bd[i] == 1));
    od[i] = std::max(ad[i], bd[i]);
  }
  T r{od, std::vector<double>(count(od))};
  std::vector<int64_t> idx(rank, 0);
  for (size_t k = 0; k < r.v.size(); ++k) {
    int64_t ia = 0, ib = 0;
    for (size_t i = 0; i < rank; ++i) {
      ia = ia * ad[i] + (ad[i] == 1 ? 0 : idx[i]);
      ib = ib * bd[i] + (bd[i] == 1 ? 0 : idx[i]);
    }
    r.v[k] = f(a.v[ia], b.v[ib]);
    for (int i = static_cast<int>(rank) - 1; i >= 0; --i) {
      if (++idx[i] < od[i]) break;
      idx[i] = 0;
    }
  }
  return r;
}

int normAxis(const T& a, int axis) { return axis < 0 ? axis + static_cast<int>(a.d.size()) : axis; }

struct Split {
  int64_t outer = 1, len = 1, inner = 1;
};
Split split(const T& a, int axis) {
  Split s;
  for (int i = 0; i < axis; ++i) s.outer *= a.d[i];
  s.len = a.d[axis];
  for (size_t i = axis + 1; i < a.d.size(); ++i) s.inner *= a.d[i];
  return s;
}

enum class Red { Sum, Mean, Max, ArgMax };

/// A reduction over one axis (removed from the shape).
T reduce(const T& a, Red kind, int axis) {
  axis = normAxis(a, axis);
  Split s = split(a, axis);
  T r;
  r.d = a.d;
  r.d.erase(r.d.begin() + axis);
  r.v.resize(s.outer * s.inner);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < s.inner; ++j) {
      double acc = kind == Red::Max || kind == Red::ArgMax ? -INFINITY : 0;
      int64_t best = 0;
      for (int64_t i = 0; i < s.len; ++i) {
        double x = a.v[(o * s.len + i) * s.inner + j];
        if (kind == Red::Max || kind == Red::ArgMax) {
          if (x > acc) acc = x, best = i;
        } else acc += x;
      }
      if (kind == Red::Mean) acc /= static_cast<double>(s.len);
      if (kind == Red::ArgMax) acc = static_cast<double>(best);
      r.v[o * s.inner + j] = acc;
    }
  return r;
}

/// A reduction over every element, to a scalar.
T reduceAll(const T& a, Red kind) {
  T flat{{count(a.d)}, a.v};
  return reduce(flat, kind, 0);
}

T softmax(const T& a, int axis, bool log) {
  axis = normAxis(a, axis);
  Split s = split(a, axis);
  T r = a;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < s.inner; ++j) {
      auto at = [&](int64_t i) { return (o * s.len + i) * s.inner + j; };
      double m = -INFINITY;
      for (int64_t i = 0; i < s.len; ++i) m = std::max(m, a.v[at(i)]);
      double z = 0;
      for (int64_t i = 0; i < s.len; ++i) z += std::exp(a.v[at(i)] - m);
      for (int64_t i = 0; i < s.len; ++i)
        r.v[at(i)] = log ? a.v[at(i)] - m - std::log(z) : std::exp(a.v[at(i)] - m) / z;
    }
  return r;
}

T transpose(const T& a) {
  size_t n = a.d.size();
  REQUIRE(n >= 2);
  int64_t rows = a.d[n - 2], cols = a.d[n - 1], outer = count(a.d) / (rows * cols);
  T r = a;
  std::swap(r.d[n - 2], r.d[n - 1]);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) r.v[o * rows * cols + j * rows + i] = a.v[o * rows * cols + i * cols + j];
  return r;
}

T reshape(const T& a, std::vector<int64_t> d) {
  REQUIRE(count(d) == count(a.d));
  return {std::move(d), a.v};
}

T concat(const T& a, const T& b, int axis) {
  axis = normAxis(a, axis);
  Split sa = split(a, axis), sb = split(b, axis);
  T r;
  r.d = a.d;
  r.d[axis] += b.d[axis];
  for (int64_t o = 0; o < sa.outer; ++o) {
    r.v.insert(r.v.end(), a.v.begin() + o * sa.len * sa.inner, a.v.begin() + (o + 1) * sa.len * sa.inner);
    r.v.insert(r.v.end(), b.v.begin() + o * sb.len * sb.inner, b.v.begin() + (o + 1) * sb.len * sb.inner);
  }
  return r;
}

/// [m,k]@[k,n], [k]@[k,n], [m,k]@[k].
T matmul(const T& a, const T& b) {
  bool av = a.d.size() == 1, bv = b.d.size() == 1;
  int64_t m = av ? 1 : a.d[0], k = a.d.back(), n = bv ? 1 : b.d[1];
  REQUIRE(b.d[0] == k);
  T r;
  if (!av) r.d.push_back(m);
  if (!bv) r.d.push_back(n);
  r.v.assign(m * n, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t t = 0; t < k; ++t) acc += a.v[i * k + t] * b.v[t * n + j];
      r.v[i * n + j] = acc;
    }
  return r;
}

T onehot(const T& label, int64_t n) {
  T r{{static_cast<int64_t>(label.v.size()), n}, {}};
  for (double l : label.v)
    for (int64_t j = 0; j < n; ++j) r.v.push_back(j == static_cast<int64_t>(l) ? 1 : 0);
  return r;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

T operator+(const T& a, const T& b) { return zip(a, b, std::plus<>()); }
T operator-(const T& a, const T& b) { return zip(a, b, std::minus<>()); }
T operator*(const T& a, const T& b) { return zip(a, b, std::multiplies<>()); }
T operator/(const T& a, const T& b) { return zip(a, b, std::divides<>()); }
T operator-(const T& a) { return map(a, [](double x) { return -x; }); }
T pow(const T& a, const T& b) { return zip(a, b, [](double x, double y) { return std::pow(x, y); }); }

// ---------------------------------------------------------------------------
// Random operands, exact in float32: multiples of 1/64.

std::vector<double> draw(std::mt19937& rng, int64_t n, double lo, double hi, int quantum = 64) {
  std::uniform_int_distribution<int> dist(static_cast<int>(lo * quantum), static_cast<int>(hi * quantum));
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<double>(dist(rng)) / quantum;
  return v;
}

std::string literal(const T& t, size_t dim = 0, int64_t offset = 0) {
  if (t.d.empty()) return fmt::format("{}", t.v[0]);
  if (dim == t.d.size()) return fmt::format("{}", t.v[offset]);
  int64_t stride = 1;
  for (size_t i = dim + 1; i < t.d.size(); ++i) stride *= t.d[i];
  std::string s = "[";
  for (int64_t i = 0; i < t.d[dim]; ++i) {
    if (i) s += ", ";
    s += literal(t, dim + 1, offset + i * stride);
  }
  return s + "]";
}

std::string dimsStr(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

/// The params every expression may use: signed ones (a, b, ...) and
/// positive ones (pa, pb, ...) for log, sqrt, division and powers.
struct Env {
  std::map<std::string, T> ops;
  std::vector<std::string> order;

  void add(const std::string& name, T t) {
    order.push_back(name);
    ops[name] = std::move(t);
  }
  const T& operator[](const std::string& name) const { return ops.at(name); }

  explicit Env(uint32_t seed) {
    std::mt19937 rng(seed);
    struct Spec {
      const char* name;
      std::vector<int64_t> dims;
    };
    const std::vector<Spec> shapes = {{"a", {2, 3}}, {"a2", {2, 3}}, {"b", {3}},    {"c", {2, 1}},
                                      {"r", {1, 3}}, {"e", {1, 3}},  {"s", {}},     {"t", {2, 3, 4}},
                                      {"t2", {2, 3, 4}}, {"u", {4}}, {"c3", {3, 1}}, {"m", {3, 4}},
                                      {"v", {3}},    {"k4", {4}}};
    for (const auto& sp : shapes) add(sp.name, T{sp.dims, draw(rng, count(sp.dims), -2, 2)});
    for (const char* p : {"a", "b", "c", "r", "s", "t"}) {
      const T& src = ops.at(p);
      add(std::string("p") + p, T{src.d, draw(rng, count(src.d), 0.25, 2)});
    }
    // Ties for maximum/minimum: ta equals a at about half the elements.
    T ta = ops.at("a");
    std::vector<double> other = draw(rng, 6, -2, 2);
    for (size_t i = 0; i < 6; ++i)
      if (rng() % 2) ta.v[i] = other[i];
    add("ta", ta);
    // Coarse values (multiples of 1/2 in [-1, 1]) so that argmax sees ties.
    add("g", T{{4, 3}, draw(rng, 12, -1, 1, 2)});
    // Logits far apart.
    add("big", T{{2, 3}, {1000, -1000, 0, -1000, 1000, 500}});
  }

  std::string decls() const {
    std::string s;
    for (const auto& name : order) {
      const T& t = ops.at(name);
      if (t.d.empty()) s += fmt::format("param {} = {}\n", name, literal(t));
      else s += fmt::format("param {}{} = {}\n", name, dimsStr(t.d), literal(t));
    }
    return s;
  }
};

const char* kFns = "fn sq(x) = x * x\nfn twice(x) = sq(x) + x\nfn affine(x, w, k) = x @ w + k\n";

// ---------------------------------------------------------------------------
// Running the JIT'd predict entry point.

struct Got {
  bool ok = false;
  std::string errors;
  std::vector<int64_t> d;
  std::vector<double> v;
};

/// Options that compile a model's predict function in `dtype`.
CompileOptions predictIn(DType dtype) {
  CompileOptions o;
  o.predict = true;
  o.dtype = dtype;
  return o;
}

Got predict(const std::string& src, DType dtype, const Dataset* data = nullptr, int64_t rows = 1) {
  Compiled c(src, predictIn(dtype));
  Got g;
  g.errors = c.errors;
  if (!c.ok() || !c.cm->predict || c.cm->outputSlot < 0) return g;
  Session& s = *c.session;
  s.initParams(0);
  if (data) {
    std::vector<int64_t> order(data->rows);
    std::iota(order.begin(), order.end(), 0);
    std::vector<int> columnOf(c.cm->declared.inputs.size());
    std::iota(columnOf.begin(), columnOf.end(), 0);
    s.reserveRows(rows);
    s.feed(*data, order, 0, rows, columnOf);
  }
  s.run(c.cm->predict, rows);
  const Shape& shape = c.cm->slots[c.cm->outputSlot].shape;
  for (int64_t x : shape.dims) g.d.push_back(x == kBatch ? rows : x);
  g.v = s.read(c.cm->outputSlot, shape.elements(rows));
  g.ok = true;
  return g;
}

/// Every element within `rtol` relative (abs below 1e-3 in magnitude); NaN passes only where NaN is expected.
std::string compare(const T& want, const Got& got, double rtol) {
  if (want.d != got.d) return fmt::format("shape: expected {}, got {}", dimsStr(want.d), dimsStr(got.d));
  std::string out;
  for (size_t i = 0; i < want.v.size(); ++i) {
    double w = want.v[i], x = got.v[i];
    bool good = (std::isnan(w) && std::isnan(x)) || (std::isinf(w) && w == x) ||
                std::fabs(x - w) <= rtol * std::max(std::fabs(w), 1e-3);
    if (!good) out += fmt::format("  [{}] expected {:.17g}, got {:.17g}\n", i, w, x);
  }
  return out;
}

using Ref = std::function<T(const Env&)>;

const double kF64Tol = 1e-12;

/// `y = expr`, in float32 and float64, at three random points.
void check(const std::string& expr, const Ref& ref, double f32tol = 1e-5) {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    Env env(seed);
    T want = ref(env);
    std::string src = env.decls() + kFns + "y = " + expr + "\noutput y\n";
    for (DType dt : {DType::F32, DType::F64}) {
      Got got = predict(src, dt);
      INFO("y = " << expr << "  (seed " << seed << ", " << (dt == DType::F32 ? "f32" : "f64") << ")\n" << got.errors);
      REQUIRE(got.ok);
      std::string diff = compare(want, got, dt == DType::F32 ? f32tol : kF64Tol);
      INFO(diff);
      CHECK(diff.empty());
    }
  }
}

/// `y = expr` over inputs fed from `data`, `rows` rows, in both dtypes.
void checkBatch(const std::string& decls, const std::string& expr, const Dataset& data, const T& want,
                double f32tol = 1e-5) {
  std::string src = decls + kFns + "y = " + expr + "\noutput y\n";
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src, dt, &data, data.rows);
    INFO(src << "(" << (dt == DType::F32 ? "f32" : "f64") << ", " << data.rows << " rows)\n" << got.errors);
    REQUIRE(got.ok);
    std::string diff = compare(want, got, dt == DType::F32 ? f32tol : kF64Tol);
    INFO(diff);
    CHECK(diff.empty());
  }
}

#define R(body) [](const Env& E) -> T { return body; }

} // namespace

// ---------------------------------------------------------------------------

TEST_CASE("forward: elementwise unary builtins", "[forward]") {
  check("exp(a)", R(map(E["a"], [](double x) { return std::exp(x); })));
  check("log(pa)", R(map(E["pa"], [](double x) { return std::log(x); })));
  check("sqrt(pa)", R(map(E["pa"], [](double x) { return std::sqrt(x); })));
  check("abs(a)", R(map(E["a"], [](double x) { return std::fabs(x); })));
  check("square(a)", R(map(E["a"], [](double x) { return x * x; })));
  check("tanh(a)", R(map(E["a"], [](double x) { return std::tanh(x); })), 1e-4);
  check("sigmoid(a)", R(map(E["a"], sigmoid)));
  check("relu(a)", R(map(E["a"], [](double x) { return x > 0 ? x : 0.0; })));
  check("softplus(a)", R(map(E["a"], softplus)));
  check("sin(a)", R(map(E["a"], [](double x) { return std::sin(x); })));
  check("cos(a)", R(map(E["a"], [](double x) { return std::cos(x); })));
  check("leaky_relu(a)", R(map(E["a"], [](double x) { return x > 0 ? x : 0.01 * x; })));
  check("leaky_relu(a, alpha = 0.2)", R(map(E["a"], [](double x) { return x > 0 ? x : 0.2 * x; })));
  check("-a", R(-E["a"]));
  // On rank 3, scalars and on wider ranges.
  check("exp(t)", R(map(E["t"], [](double x) { return std::exp(x); })));
  check("tanh(s)", R(map(E["s"], [](double x) { return std::tanh(x); })), 1e-4);
  check("sigmoid(a * 20)", R(map(E["a"], [](double x) { return sigmoid(x * 20); })));
  check("softplus(a * 20)", R(map(E["a"], [](double x) { return softplus(x * 20); })));
  check("tanh(a * 10)", R(map(E["a"], [](double x) { return std::tanh(x * 10); })), 1e-4);
  check("sin(a * 10)", R(map(E["a"], [](double x) { return std::sin(x * 10); })), 1e-4);
}

TEST_CASE("forward: elementwise builtins at special points", "[forward]") {
  // relu/abs/leaky_relu at exactly 0, sigmoid/softplus/tanh far out.
  std::string src = "param z[6] = [0, -0, 40, -40, 100, -100]\n"
                    "y = concat(concat(relu(z), abs(z), axis = 0), concat(leaky_relu(z), sigmoid(z), axis = 0), "
                    "axis = 0)\noutput y\n";
  T z{{6}, {0, -0.0, 40, -40, 100, -100}};
  T want = concat(concat(map(z, [](double x) { return x > 0 ? x : 0.0; }), map(z, [](double x) { return std::fabs(x); }), 0),
                  concat(map(z, [](double x) { return x > 0 ? x : 0.01 * x; }), map(z, sigmoid), 0), 0);
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    std::string diff = compare(want, got, dt == DType::F32 ? 1e-5 : kF64Tol);
    INFO(diff);
    CHECK(diff.empty());
  }
  std::string src2 = "param z[6] = [0, -0, 40, -40, 100, -100]\n"
                     "y = concat(softplus(z), tanh(z), axis = 0)\noutput y\n";
  T want2 = concat(map(z, softplus), map(z, [](double x) { return std::tanh(x); }), 0);
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src2, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    std::string diff = compare(want2, got, dt == DType::F32 ? 1e-5 : kF64Tol);
    INFO(diff);
    CHECK(diff.empty());
  }
}

TEST_CASE("forward: pow, maximum and minimum", "[forward]") {
  check("pow(pa, a)", R(pow(E["pa"], E["a"])), 1e-4);
  check("pow(pa, b)", R(pow(E["pa"], E["b"])), 1e-4);
  check("pow(pa, 2)", R(pow(E["pa"], scalar(2))));
  check("pow(ps, pa)", R(pow(E["ps"], E["pa"])), 1e-4);
  check("maximum(a, b)", R(zip(E["a"], E["b"], [](double x, double y) { return std::max(x, y); })));
  check("minimum(a, b)", R(zip(E["a"], E["b"], [](double x, double y) { return std::min(x, y); })));
  check("maximum(a, ta)", R(zip(E["a"], E["ta"], [](double x, double y) { return std::max(x, y); })));
  check("minimum(a, ta)", R(zip(E["a"], E["ta"], [](double x, double y) { return std::min(x, y); })));
  check("maximum(s, a)", R(zip(E["s"], E["a"], [](double x, double y) { return std::max(x, y); })));
  check("minimum(c, r)", R(zip(E["c"], E["r"], [](double x, double y) { return std::min(x, y); })));
  check("maximum(a, 0)", R(zip(E["a"], scalar(0), [](double x, double y) { return std::max(x, y); })));
}

TEST_CASE("forward: maximum and minimum propagate NaN, log(0), exp overflow", "[forward]") {
  // NumPy: maximum/minimum propagate a NaN from either side.
  std::string src = "param z[2] = [-1, 1]\nn = log(z) - 0 * z\n"
                    "y = concat(concat(maximum(n, 2), minimum(n, -2), axis = 0), "
                    "concat(maximum(2, n), minimum(-2, n), axis = 0), axis = 0)\noutput y\n";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  T want{{8}, {nan, 2, nan, -2, nan, 2, nan, -2}};
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    std::string diff = compare(want, got, 0);
    INFO(diff);
    CHECK(diff.empty());
  }
  std::string src2 = "param z[3] = [0, 1, 1000]\ny = concat(log(z), exp(z), axis = 0)\noutput y\n";
  T want2{{6}, {-INFINITY, 0, std::log(1000.0), 1, std::exp(1.0), INFINITY}};
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src2, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    std::string diff = compare(want2, got, dt == DType::F32 ? 1e-5 : kF64Tol);
    INFO(diff);
    CHECK(diff.empty());
  }
}

TEST_CASE("forward: powers of negative bases with whole exponents (NumPy semantics)", "[forward]") {
  // NumPy: (-2.0) ** 2 == 4, (-2.0) ** 3 == -8, (-0.5) ** -1 == -2.
  check("a ^ 2", R(pow(E["a"], scalar(2))));
  check("a ^ 3", R(pow(E["a"], scalar(3))));
  check("pow(a, 2)", R(pow(E["a"], scalar(2))));
  check("(0 - 2) ^ 3", R(scalar(-8)));
  check("(0 - 0.5) ^ (0 - 1)", R(scalar(-2)));
}

TEST_CASE("forward: binary operators with broadcasting", "[forward]") {
  struct Op {
    const char* sym;
    std::function<T(const T&, const T&)> f;
    bool positive;  // operands from the positive family
  };
  const std::vector<Op> ops = {
      {"+", [](const T& x, const T& y) { return x + y; }, false},
      {"-", [](const T& x, const T& y) { return x - y; }, false},
      {"*", [](const T& x, const T& y) { return x * y; }, false},
      {"/", [](const T& x, const T& y) { return x / y; }, true},
      {"^", [](const T& x, const T& y) { return pow(x, y); }, true},
  };
  // [2,3]∘[3], [3]∘[2,3], scalar∘[2,3], [2,3]∘scalar, [2,1]∘[1,3], [2,3]∘[2,1], [1,3]∘[2,1], same shape,
  // rank 3 with [4] and [3,1].
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"a", "b"}, {"b", "a"}, {"s", "a"}, {"a", "s"}, {"c", "r"}, {"a", "c"},
      {"r", "c"}, {"a", "a2"}, {"t", "u"}, {"t", "c3"}, {"s", "s"}};
  for (const Op& op : ops)
    for (auto [x, y] : forms) {
      std::string lx = x, ly = y;
      if (op.positive) {
        // The positive family has pa pb pc pr ps pt; use them, signed exponents for ^.
        auto pos = [](const std::string& n) -> std::string {
          if (n == "a2") return "pa";
          if (n == "u") return "pb";  // not a [4]: handled below
          if (n == "c3") return "pc";
          return "p" + n;
        };
        if (y == "u" || y == "c3") continue;  // no positive [4] / [3,1] operands; rank 3 covered below
        lx = pos(x);
        ly = std::string(op.sym) == "^" ? (y == "a2" ? "a2" : y) : pos(y);
      }
      std::string expr = lx + " " + op.sym + " " + ly;
      auto f = op.f;
      check(expr, [f, lx, ly](const Env& E) { return f(E[lx], E[ly]); }, std::string(op.sym) == "^" ? 1e-4 : 1e-5);
    }
  check("t / pt", R(E["t"] / E["pt"]));
  check("pt ^ c3", R(pow(E["pt"], E["c3"])), 1e-4);
  check("pt ^ u", R(pow(E["pt"], E["u"])), 1e-4);
  check("pt / k4", R(E["pt"] / E["k4"]));
  check("a + 1", R(E["a"] + scalar(1)));
  check("2 * a - 0.5", R(scalar(2) * E["a"] - scalar(0.5)));
  check("1 / pa", R(scalar(1) / E["pa"]));
}

TEST_CASE("forward: precedence and associativity", "[forward]") {
  check("-2^2", R(scalar(-4)));
  check("2^3^2", R(scalar(512)));
  check("(2^3)^2", R(scalar(64)));
  check("1 - 2 - 3", R(scalar(-4)));
  check("8 / 4 / 2", R(scalar(1)));
  check("1 + 2 * 3", R(scalar(7)));
  check("2 * 3 ^ 2", R(scalar(18)));
  check("-a ^ 2", R(-pow(E["a"], scalar(2))));
  check("a - b - s", R(E["a"] - E["b"] - E["s"]));
  check("a - b * s + c / pr", R(E["a"] - E["b"] * E["s"] + E["c"] / E["pr"]));
  check("pa ^ b * 2", R(pow(E["pa"], E["b"]) * scalar(2)), 1e-4);
  check("-a @ m", R(matmul(-E["a"], E["m"])));
  check("a + v @ m @ transpose(m)", R(E["a"] + matmul(matmul(E["v"], E["m"]), transpose(E["m"]))));
  check("- - a", R(E["a"]));
}

TEST_CASE("forward: sum, mean and max, whole and along an axis", "[forward]") {
  for (auto [name, kind] : {std::pair{"sum", Red::Sum}, {"mean", Red::Mean}, {"max", Red::Max}}) {
    Red k = kind;
    std::string n = name;
    check(n + "(a)", [k](const Env& E) { return reduceAll(E["a"], k); });
    for (int axis : {0, 1, -1, -2})
      check(fmt::format("{}(a, axis = {})", n, axis), [k, axis](const Env& E) { return reduce(E["a"], k, axis); });
    check(n + "(t)", [k](const Env& E) { return reduceAll(E["t"], k); });
    for (int axis : {0, 1, 2, -1, -3})
      check(fmt::format("{}(t, axis = {})", n, axis), [k, axis](const Env& E) { return reduce(E["t"], k, axis); });
    check(n + "(b)", [k](const Env& E) { return reduceAll(E["b"], k); });
    check(n + "(b, axis = 0)", [k](const Env& E) { return reduce(E["b"], k, 0); });
    check(n + "(s)", [k](const Env& E) { return reduceAll(E["s"], k); });
  }
  // max with ties and all-negative values.
  check("max(-abs(g), axis = 0)", R(reduce(map(E["g"], [](double x) { return -std::fabs(x); }), Red::Max, 0)));
  check("max(a - 100)", R(reduceAll(E["a"] - scalar(100), Red::Max)));
}

TEST_CASE("forward: transpose, reshape and concat", "[forward]") {
  check("transpose(a)", R(transpose(E["a"])));
  check("transpose(t)", R(transpose(E["t"])));
  check("transpose(transpose(t))", R(E["t"]));
  check("transpose(c)", R(transpose(E["c"])));
  check("reshape(a, [3, 2])", R(reshape(E["a"], {3, 2})));
  check("reshape(a, [6])", R(reshape(E["a"], {6})));
  check("reshape(a, [3, 1, 2])", R(reshape(E["a"], {3, 1, 2})));
  check("reshape(transpose(a), [6])", R(reshape(transpose(E["a"]), {6})));
  check("reshape(t, [4, 6])", R(reshape(E["t"], {4, 6})));
  check("reshape(a, [3, 2]) * 2", R(reshape(E["a"], {3, 2}) * scalar(2)));
  check("concat(a, a2, axis = 0)", R(concat(E["a"], E["a2"], 0)));
  check("concat(a, a2)", R(concat(E["a"], E["a2"], 0)));
  check("concat(a, e, axis = 0)", R(concat(E["a"], E["e"], 0)));
  check("concat(a, a2, axis = 1)", R(concat(E["a"], E["a2"], 1)));
  check("concat(a, c, axis = 1)", R(concat(E["a"], E["c"], 1)));
  check("concat(a, c, axis = -1)", R(concat(E["a"], E["c"], -1)));
  check("concat(c, a, axis = -1)", R(concat(E["c"], E["a"], -1)));
  check("concat(b, v)", R(concat(E["b"], E["v"], 0)));
  check("concat(t, t2, axis = 1)", R(concat(E["t"], E["t2"], 1)));
  check("concat(t, t2, axis = -1)", R(concat(E["t"], E["t2"], -1)));
  check("concat(t, t2, axis = 0)", R(concat(E["t"], E["t2"], 0)));
  check("concat(transpose(a), transpose(a2), axis = 1)", R(concat(transpose(E["a"]), transpose(E["a2"]), 1)));
}

TEST_CASE("forward: softmax and log_softmax", "[forward]") {
  for (bool log : {false, true}) {
    std::string fn = log ? "log_softmax" : "softmax";
    check(fn + "(a)", [log](const Env& E) { return softmax(E["a"], -1, log); });
    check(fn + "(a, axis = -1)", [log](const Env& E) { return softmax(E["a"], -1, log); });
    check(fn + "(a, axis = 1)", [log](const Env& E) { return softmax(E["a"], 1, log); });
    check(fn + "(a, axis = 0)", [log](const Env& E) { return softmax(E["a"], 0, log); });
    check(fn + "(a, axis = -2)", [log](const Env& E) { return softmax(E["a"], -2, log); });
    check(fn + "(b)", [log](const Env& E) { return softmax(E["b"], -1, log); });
    check(fn + "(t)", [log](const Env& E) { return softmax(E["t"], -1, log); });
    check(fn + "(t, axis = 1)", [log](const Env& E) { return softmax(E["t"], 1, log); });
    check(fn + "(a * 30)", [log](const Env& E) { return softmax(E["a"] * scalar(30), -1, log); });
    // ±1000: finite and exact.
    check(fn + "(big)", [log](const Env& E) { return softmax(E["big"], -1, log); });
    check(fn + "(big, axis = 0)", [log](const Env& E) { return softmax(E["big"], 0, log); });
  }
  check("log(softmax(a))", R(softmax(E["a"], -1, true)));
}

TEST_CASE("forward: matmul in every contract form", "[forward]") {
  check("a @ m", R(matmul(E["a"], E["m"])));
  check("b @ m", R(matmul(E["b"], E["m"])));
  check("a @ v", R(matmul(E["a"], E["v"])));
  check("transpose(m) @ v", R(matmul(transpose(E["m"]), E["v"])));
  check("m @ k4", R(matmul(E["m"], E["k4"])));
  check("a @ transpose(a2)", R(matmul(E["a"], transpose(E["a2"]))));
  check("c @ r", R(matmul(E["c"], E["r"])));
  check("a @ m + k4", R(matmul(E["a"], E["m"]) + E["k4"]));
  check("sum(a @ m, axis = 0)", R(reduce(matmul(E["a"], E["m"]), Red::Sum, 0)));
}

TEST_CASE("forward: mse, l2 and fn inlining", "[forward]") {
  check("mse(a, a2)", R(reduceAll(map(E["a"] - E["a2"], [](double x) { return x * x; }), Red::Mean)));
  check("mse(a, b)", R(reduceAll(map(E["a"] - E["b"], [](double x) { return x * x; }), Red::Mean)));
  check("mse(b, v)", R(reduceAll(map(E["b"] - E["v"], [](double x) { return x * x; }), Red::Mean)));
  check("l2(a)", R(reduceAll(E["a"] * E["a"], Red::Sum)));
  check("l2(t)", R(reduceAll(E["t"] * E["t"], Red::Sum)));
  check("l2(s)", R(E["s"] * E["s"]));
  check("sq(a)", R(E["a"] * E["a"]));
  check("twice(a)", R(E["a"] * E["a"] + E["a"]));
  check("twice(sq(b))", R(E["b"] * E["b"] * E["b"] * E["b"] + E["b"] * E["b"]));
  check("affine(a, m, k4)", R(matmul(E["a"], E["m"]) + E["k4"]));
  check("affine(sq(a), m, s)", R(matmul(E["a"] * E["a"], E["m"]) + E["s"]));
  check("sq(a) - sq(a2)", R(E["a"] * E["a"] - E["a2"] * E["a2"]));
}

TEST_CASE("forward: argmax on params, ties pick the first", "[forward]") {
  check("argmax(g)", R(reduce(E["g"], Red::ArgMax, -1)));
  check("argmax(g, axis = -1)", R(reduce(E["g"], Red::ArgMax, -1)));
  check("argmax(g, axis = 0)", R(reduce(E["g"], Red::ArgMax, 0)));
  check("argmax(a)", R(reduce(E["a"], Red::ArgMax, -1)));
  check("argmax(a, axis = 0)", R(reduce(E["a"], Red::ArgMax, 0)));
  check("argmax(t, axis = 1)", R(reduce(E["t"], Red::ArgMax, 1)));
  // Explicit ties.
  std::string src = "param q[3, 3] = [[1, 1, 0], [0, 2, 2], [5, 5, 5]]\ny = argmax(q)\noutput y\n";
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    CHECK(compare(T{{3}, {0, 1, 0}}, got, 0).empty());
  }
  std::string src0 = "param q[3, 2] = [[1, 4], [3, 4], [3, -1]]\ny = argmax(q, axis = 0)\noutput y\n";
  for (DType dt : {DType::F32, DType::F64}) {
    Got got = predict(src0, dt);
    INFO(got.errors);
    REQUIRE(got.ok);
    CHECK(compare(T{{2}, {1, 0}}, got, 0).empty());
  }
}

// ---------------------------------------------------------------------------
// Inputs with a batch dim.

namespace {

struct BatchData {
  Dataset data;
  std::vector<T> inputs;  // each with its batch dim filled in
};

/// Float inputs of the given per-row dims, then (if classes > 0) a class label.
BatchData makeBatch(uint32_t seed, int64_t rows, const std::vector<std::vector<int64_t>>& dims, int64_t classes = 0,
                    int quantum = 64) {
  std::mt19937 rng(seed);
  BatchData b;
  b.data.rows = rows;
  for (const auto& d : dims) {
    std::vector<int64_t> full{rows};
    full.insert(full.end(), d.begin(), d.end());
    T t{full, draw(rng, count(full), -2, 2, quantum)};
    b.data.columns.push_back(t.v);
    b.inputs.push_back(t);
  }
  if (classes > 0) {
    std::uniform_int_distribution<int> dist(0, static_cast<int>(classes) - 1);
    T l{{rows}, {}};
    for (int64_t r = 0; r < rows; ++r) l.v.push_back(dist(rng));
    b.data.columns.push_back(l.v);
    b.inputs.push_back(l);
  }
  return b;
}

} // namespace

TEST_CASE("forward: batch inputs, matmul and broadcasting over batch", "[forward]") {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    Env env(seed);
    BatchData b = makeBatch(seed, 5, {{4}});
    const T& x = b.inputs[0];
    std::string decls = env.decls() + "input x[batch, 4]\n";
    checkBatch(decls, "x", b.data, x);
    checkBatch(decls, "x @ transpose(m)", b.data, matmul(x, transpose(env["m"])));
    checkBatch(decls, "x @ transpose(m) + b", b.data, matmul(x, transpose(env["m"])) + env["b"]);
    checkBatch(decls, "x @ k4", b.data, matmul(x, env["k4"]));
    // A [20, batch] product read transposed: lanes run down its rows, a batch
    // apart (they read the neighbours to the left once).
    T q{{20, 4}, {}};
    for (int i = 0; i < 80; ++i) q.v.push_back(0.25 * (i % 7) - 0.5 + 0.01 * i);
    checkBatch(decls + "param q[20, 4] = " + literal(q) + "\n", "transpose(q @ transpose(x)) - 1", b.data,
               transpose(matmul(q, transpose(x))) - scalar(1));
    checkBatch(decls, "x + k4", b.data, x + env["k4"]);
    checkBatch(decls, "k4 - x", b.data, env["k4"] - x);
    checkBatch(decls, "x * s", b.data, x * env["s"]);
    checkBatch(decls, "relu(x) - 1", b.data, map(x, [](double v) { return std::max(v, 0.0); }) - scalar(1));
    checkBatch(decls, "softmax(x)", b.data, softmax(x, -1, false));
    checkBatch(decls, "log_softmax(x, axis = 0)", b.data, softmax(x, 0, true));
    checkBatch(decls, "sum(x)", b.data, reduceAll(x, Red::Sum));
    checkBatch(decls, "mean(x)", b.data, reduceAll(x, Red::Mean));
    checkBatch(decls, "max(x)", b.data, reduceAll(x, Red::Max));
    checkBatch(decls, "sum(x, axis = 0)", b.data, reduce(x, Red::Sum, 0));
    checkBatch(decls, "mean(x, axis = 0)", b.data, reduce(x, Red::Mean, 0));
    checkBatch(decls, "max(x, axis = 0)", b.data, reduce(x, Red::Max, 0));
    checkBatch(decls, "sum(x, axis = 1)", b.data, reduce(x, Red::Sum, 1));
    checkBatch(decls, "mean(x, axis = -1)", b.data, reduce(x, Red::Mean, -1));
    checkBatch(decls, "max(x, axis = -1)", b.data, reduce(x, Red::Max, -1));
    checkBatch(decls, "concat(x, x * 2, axis = 1)", b.data, concat(x, x * scalar(2), 1));
    checkBatch(decls, "reshape(x, [batch, 2, 2])", b.data, reshape(x, {5, 2, 2}));
    checkBatch(decls, "mse(x, k4)", b.data, reduceAll(map(x - env["k4"], [](double v) { return v * v; }), Red::Mean));
    checkBatch(decls, "l2(x)", b.data, reduceAll(x * x, Red::Sum));
    checkBatch(decls, "affine(x, transpose(m), b)", b.data, matmul(x, transpose(env["m"])) + env["b"]);
  }
}

TEST_CASE("forward: x[batch, 4] @ W[4, 3] + b on 5 rows", "[forward]") {
  std::string decls = "input x[batch, 4]\nparam W[4, 3] = [[0.5, -1, 0.25], [2, 0.125, -0.75], [-1.5, 1, 0], "
                      "[0.375, -0.25, 1.25]]\nparam b[3] = [0.1, -0.2, 0.3]\n";
  T W{{4, 3}, {0.5, -1, 0.25, 2, 0.125, -0.75, -1.5, 1, 0, 0.375, -0.25, 1.25}};
  T bias{{3}, {0.1, -0.2, 0.3}};
  BatchData b = makeBatch(7, 5, {{4}});
  // b[3] literal values are not exact in float32: compare f32 at 1e-5 relative (the sum is not near 0).
  checkBatch(decls, "x @ W + b", b.data, matmul(b.inputs[0], W) + bias, 1e-5);
  checkBatch(decls, "softmax(x @ W + b)", b.data, softmax(matmul(b.inputs[0], W) + bias, -1, false), 1e-5);
}

TEST_CASE("forward: mean over batch divides by the true row count", "[forward]") {
  std::string src = "input x[batch, 2]\ny = concat(concat(mean(x, axis = 0), sum(x, axis = 0), axis = 0), "
                    "reshape(mean(x), [1]), axis = 0)\noutput y\n";
  BatchData b = makeBatch(11, 7, {{2}});
  const T& x7 = b.inputs[0];
  for (DType dt : {DType::F32, DType::F64}) {
    Compiled c(src, predictIn(dt));
    INFO(c.errors);
    REQUIRE(c.ok());
    Session& s = *c.session;
    s.initParams(0);
    std::vector<int> columnOf{0};
    std::vector<int64_t> order{0, 1, 2, 3, 4, 5, 6};
    for (int64_t rows : {3, 7, 2}) {
      s.reserveRows(rows);
      s.feed(b.data, order, 0, rows, columnOf);
      s.run(c.cm->predict, rows);
      T x{{rows, 2}, std::vector<double>(x7.v.begin(), x7.v.begin() + rows * 2)};
      T want = concat(concat(reduce(x, Red::Mean, 0), reduce(x, Red::Sum, 0), 0),
                      reshape(reduceAll(x, Red::Mean), {1}), 0);
      Got got;
      got.ok = true;
      got.d = {5};
      got.v = s.read(c.cm->outputSlot, 5);
      std::string diff = compare(want, got, dt == DType::F32 ? 1e-5 : kF64Tol);
      INFO(rows << " rows\n" << diff);
      CHECK(diff.empty());
    }
  }
}

TEST_CASE("forward: onehot, cross_entropy and accuracy against class labels", "[forward]") {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    // Coarse scores (multiples of 1/2) so that rows often tie.
    BatchData b = makeBatch(seed, 9, {{4}}, 4, 2);
    const T& z = b.inputs[0];
    const T& label = b.inputs[1];
    std::string decls = "input z[batch, 4]\ninput label[batch] : class(4)\n";
    checkBatch(decls, "onehot(label, 4)", b.data, onehot(label, 4));
    checkBatch(decls, "onehot(label, 6)", b.data, onehot(label, 6));
    T ls = softmax(z, -1, true);
    double ce = 0;
    for (int64_t r = 0; r < 9; ++r) ce -= ls.v[r * 4 + static_cast<int64_t>(label.v[r])];
    checkBatch(decls, "cross_entropy(z, label)", b.data, scalar(ce / 9));
    checkBatch(decls, "cross_entropy(z * 50, label)", b.data, [&] {
      T l = softmax(z * scalar(50), -1, true);
      double acc = 0;
      for (int64_t r = 0; r < 9; ++r) acc -= l.v[r * 4 + static_cast<int64_t>(label.v[r])];
      return scalar(acc / 9);
    }());
    T am = reduce(z, Red::ArgMax, -1);
    double hits = 0;
    for (int64_t r = 0; r < 9; ++r) hits += am.v[r] == label.v[r];
    checkBatch(decls, "accuracy(z, label)", b.data, scalar(hits / 9));
    checkBatch(decls, "argmax(z)", b.data, am);
    checkBatch(decls, "argmax(z, axis = -1)", b.data, am);
    checkBatch(decls, "argmax(z, axis = 0)", b.data, reduce(z, Red::ArgMax, 0));
    checkBatch(decls, "mean(square(onehot(label, 4) - softmax(z)))", b.data,
               reduceAll(map(onehot(label, 4) - softmax(z, -1, false), [](double v) { return v * v; }), Red::Mean));
  }
  // Explicit ties: first max wins, for accuracy and argmax.
  Dataset d;
  d.rows = 4;
  d.columns = {{1, 1, 0, 0, /**/ 0, 2, 2, 0, /**/ 1, 2, 2, 0, /**/ -1, -1, -2, 0}, {0, 2, 1, 0}};
  // Row argmax: 0, 1 (tie with 2), 1 (tie with 2), 3; labels 0, 2, 1, 0: hits at rows 0 and 2.
  // Column argmax: col 0 ties rows 0 and 2 -> 0; col 1 ties rows 1, 2 -> 1; col 2 -> 1; col 3 all 0 -> 0.
  std::string decls = "input z[batch, 4]\ninput label[batch] : class(4)\n";
  checkBatch(decls, "argmax(z)", d, T{{4}, {0, 1, 1, 3}});
  checkBatch(decls, "accuracy(z, label)", d, scalar(0.5));
  checkBatch(decls, "argmax(z, axis = 0)", d, T{{4}, {0, 1, 1, 0}});
}

TEST_CASE("forward: higher-rank inputs fed row-major", "[forward]") {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    Env env(seed);
    BatchData b = makeBatch(seed, 4, {{2, 3}});
    const T& x = b.inputs[0];
    std::string decls = env.decls() + "input x[batch, 2, 3]\n";
    checkBatch(decls, "x", b.data, x);
    for (int axis : {0, 1, 2, -1, -2}) {
      checkBatch(decls, fmt::format("sum(x, axis = {})", axis), b.data, reduce(x, Red::Sum, axis));
      checkBatch(decls, fmt::format("mean(x, axis = {})", axis), b.data, reduce(x, Red::Mean, axis));
      checkBatch(decls, fmt::format("max(x, axis = {})", axis), b.data, reduce(x, Red::Max, axis));
    }
    checkBatch(decls, "sum(x)", b.data, reduceAll(x, Red::Sum));
    checkBatch(decls, "mean(x)", b.data, reduceAll(x, Red::Mean));
    checkBatch(decls, "x + a", b.data, x + env["a"]);
    checkBatch(decls, "x * b", b.data, x * env["b"]);
    checkBatch(decls, "x - c", b.data, x - env["c"]);
    checkBatch(decls, "transpose(x)", b.data, transpose(x));
    checkBatch(decls, "reshape(x, [batch, 6])", b.data, reshape(x, {4, 6}));
    checkBatch(decls, "reshape(x, [batch, 3, 2])", b.data, reshape(x, {4, 3, 2}));
    checkBatch(decls, "softmax(x)", b.data, softmax(x, -1, false));
    checkBatch(decls, "log_softmax(x, axis = 1)", b.data, softmax(x, 1, true));
    checkBatch(decls, "concat(x, x * 2, axis = 1)", b.data, concat(x, x * scalar(2), 1));
    checkBatch(decls, "concat(x, x * 2, axis = -1)", b.data, concat(x, x * scalar(2), -1));
    checkBatch(decls, "argmax(x)", b.data, reduce(x, Red::ArgMax, -1));
    checkBatch(decls, "reshape(x, [batch, 6]) @ transpose(reshape(t, [4, 6]))", b.data,
               matmul(reshape(x, {4, 6}), transpose(reshape(env["t"], {4, 6}))));
  }
}

TEST_CASE("forward: larger shapes (vector loops and their tails)", "[forward]") {
  // Odd sizes, so that any vectorized loop has a remainder.
  std::mt19937 rng(42);
  T A{{7, 37}, draw(rng, 7 * 37, -2, 2)}, B{{37}, draw(rng, 37, -2, 2)}, C{{7, 1}, draw(rng, 7, -2, 2)};
  T M{{37, 19}, draw(rng, 37 * 19, -2, 2)}, P{{7, 37}, draw(rng, 7 * 37, 0.25, 2)};
  T Q{{5, 9, 13}, draw(rng, 5 * 9 * 13, -2, 2)};
  std::string decls = fmt::format("param A[7, 37] = {}\nparam B[37] = {}\nparam C[7, 1] = {}\nparam M[37, 19] = {}\n"
                                  "param P[7, 37] = {}\nparam Q[5, 9, 13] = {}\n",
                                  literal(A), literal(B), literal(C), literal(M), literal(P), literal(Q));
  auto run = [&](const std::string& expr, const T& want, double f32tol = 1e-5) {
    for (DType dt : {DType::F32, DType::F64}) {
      Got got = predict(decls + "y = " + expr + "\noutput y\n", dt);
      INFO("y = " << expr << " (" << (dt == DType::F32 ? "f32" : "f64") << ")\n" << got.errors);
      REQUIRE(got.ok);
      std::string diff = compare(want, got, dt == DType::F32 ? f32tol : kF64Tol);
      INFO(diff);
      CHECK(diff.empty());
    }
  };
  run("A + B", A + B);
  run("A * C - B", A * C - B);
  run("P ^ C", pow(P, C), 1e-4);
  run("A / P", A / P);
  run("exp(A) + sqrt(P) + log(P)",
      map(A, [](double x) { return std::exp(x); }) + map(P, [](double x) { return std::sqrt(x); }) +
          map(P, [](double x) { return std::log(x); }));
  run("tanh(A) * sigmoid(A) + softplus(A)",
      map(A, [](double x) { return std::tanh(x) * sigmoid(x) + softplus(x); }), 1e-4);
  run("sin(A) + cos(A)", map(A, [](double x) { return std::sin(x) + std::cos(x); }), 1e-4);
  run("relu(A) + leaky_relu(A, alpha = 0.3) + abs(A)",
      map(A, [](double x) { return std::max(x, 0.0) + (x > 0 ? x : 0.3 * x) + std::fabs(x); }));
  run("maximum(A, B) - minimum(A, C)", zip(A, B, [](double x, double y) { return std::max(x, y); }) -
                                           zip(A, C, [](double x, double y) { return std::min(x, y); }));
  for (auto [n, k] : {std::pair{"sum", Red::Sum}, {"mean", Red::Mean}, {"max", Red::Max}}) {
    std::string name = n;
    run(name + "(A)", reduceAll(A, k));
    run(name + "(A, axis = 0)", reduce(A, k, 0));
    run(name + "(A, axis = -1)", reduce(A, k, -1));
    run(name + "(Q)", reduceAll(Q, k));
    run(name + "(Q, axis = 0)", reduce(Q, k, 0));
    run(name + "(Q, axis = 1)", reduce(Q, k, 1));
    run(name + "(Q, axis = -1)", reduce(Q, k, -1));
  }
  run("argmax(A)", reduce(A, Red::ArgMax, -1));
  run("argmax(A, axis = 0)", reduce(A, Red::ArgMax, 0));
  run("argmax(Q, axis = 1)", reduce(Q, Red::ArgMax, 1));
  run("A @ M", matmul(A, M));
  run("B @ M", matmul(B, M));
  run("A @ B", matmul(A, B));
  run("transpose(A) @ reshape(C, [7])", matmul(transpose(A), reshape(C, {7})));
  run("softmax(A)", softmax(A, -1, false));
  run("softmax(A, axis = 0)", softmax(A, 0, false));
  run("log_softmax(A * 10)", softmax(A * scalar(10), -1, true));
  run("log_softmax(Q, axis = 1)", softmax(Q, 1, true));
  run("transpose(Q)", transpose(Q));
  run("transpose(A)", transpose(A));
  run("reshape(Q, [13, 45])", reshape(Q, {13, 45}));
  run("concat(A, P, axis = 1)", concat(A, P, 1));
  run("concat(A, P, axis = 0)", concat(A, P, 0));
  run("concat(Q, Q * 2, axis = 1)", concat(Q, Q * scalar(2), 1));
  run("mse(A, P)", reduceAll(map(A - P, [](double x) { return x * x; }), Red::Mean));
  run("l2(Q)", reduceAll(Q * Q, Red::Sum));
}

TEST_CASE("forward: many rows of a wide input", "[forward]") {
  std::mt19937 rng(5);
  T M{{37, 19}, draw(rng, 37 * 19, -2, 2)}, B{{19}, draw(rng, 19, -2, 2)};
  std::string decls = fmt::format("input x[batch, 37]\nparam M[37, 19] = {}\nparam B[19] = {}\n", literal(M), literal(B));
  BatchData b = makeBatch(9, 101, {{37}});
  const T& x = b.inputs[0];
  T z = matmul(x, M) + B;
  checkBatch(decls, "x @ M + B", b.data, z);
  // Epilogues: elementwise chains computed in the matmul's tile (row and
  // column tails included: 101 rows, 19 columns).
  checkBatch(decls, "relu(x @ M + B) * 3", b.data, map(z, [](double v) { return std::max(v, 0.0) * 3; }));
  checkBatch(decls, "tanh(x @ M) - B", b.data, map(matmul(x, M), [](double v) { return std::tanh(v); }) - B, 1e-4);
  checkBatch(decls, "softmax(x @ M + B)", b.data, softmax(z, -1, false));
  checkBatch(decls, "mean(x @ M + B, axis = 0)", b.data, reduce(z, Red::Mean, 0));
  checkBatch(decls, "max(x, axis = 0)", b.data, reduce(x, Red::Max, 0));
  checkBatch(decls, "mean(x)", b.data, reduceAll(x, Red::Mean));
  checkBatch(decls, "sum(x, axis = -1)", b.data, reduce(x, Red::Sum, -1));
  checkBatch(decls, "argmax(x @ M)", b.data, reduce(matmul(x, M), Red::ArgMax, -1));
}

TEST_CASE("forward: vector transcendentals match libm over wide ranges", "[forward][vector-math]") {
  // 203 elements: vector kernels with a masked tail; values spread over each
  // function's whole useful range, extremes included.
  const int n = 203;
  auto spread = [&](double lo, double hi) {
    T t{{n}, {}};
    for (int i = 0; i < n; ++i) t.v.push_back(static_cast<float>(lo + (hi - lo) * i / (n - 1)));
    return t;
  };
  struct Case {
    const char* expr;
    T x;
    std::function<double(double)> f;
    double atol;  // for results near zero (sin and cos), else 0
  };
  const std::vector<Case> cases = {
      {"exp(x)", spread(-103, 88), [](double v) { return std::exp(v); }, 0},
      {"exp(x)", spread(-700, 700), [](double v) { return std::exp(v); }, 0},  // 0 and inf in f32
      {"log(x)", spread(1e-30, 1e30), [](double v) { return std::log(v); }, 0},
      {"log(x)", spread(1e-6, 4), [](double v) { return std::log(v); }, 0},
      {"log(x)", spread(-1, 1), [](double v) { return std::log(v); }, 0},  // NaN, -inf at 0
      {"tanh(x)", spread(-30, 30), [](double v) { return std::tanh(v); }, 0},
      {"sigmoid(x)", spread(-100, 100), [](double v) { return 1 / (1 + std::exp(-v)); }, 0},
      {"softplus(x)", spread(-100, 100), [](double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v))); }, 0},
      {"sin(x)", spread(-100, 100), [](double v) { return std::sin(v); }, 1e-6},
      {"cos(x)", spread(-100, 100), [](double v) { return std::cos(v); }, 1e-6},
      {"pow(x, 2.5)", spread(0, 1000), [](double v) { return std::pow(v, 2.5); }, 0},
      {"pow(x, -0.5)", spread(1e-3, 50), [](double v) { return std::pow(v, -0.5); }, 0},
  };
  for (const Case& c : cases) {
    std::string src = fmt::format("param x[{}] = {}\ny = {}\noutput y\n", n, literal(c.x), c.expr);
    for (DType dt : {DType::F32, DType::F64}) {
      Got got = predict(src, dt);
      INFO(c.expr << " over [" << c.x.v.front() << ", " << c.x.v.back() << "] ("
                  << (dt == DType::F32 ? "f32" : "f64") << ")\n" << got.errors);
      REQUIRE(got.ok);
      // libm in double, rounded to the dtype: what a correctly rounded result is.
      double rtol = dt == DType::F32 ? 4e-6 : 1e-13;
      std::string bad;
      for (int i = 0; i < n; ++i) {
        double want = c.f(c.x.v[i]);
        if (dt == DType::F32) want = static_cast<float>(want);
        double x = got.v[i];
        bool good = (std::isnan(want) && std::isnan(x)) || (std::isinf(want) && want == x) ||
                    std::fabs(x - want) <= rtol * std::fabs(want) + c.atol + (dt == DType::F32 ? 1e-38 : 1e-300);
        if (!good) bad += fmt::format("  x = {:.9g}: expected {:.17g}, got {:.17g}\n", c.x.v[i], want, x);
      }
      INFO(bad);
      CHECK(bad.empty());
    }
  }
}

namespace {

/// C = A @ B as the micro-kernel sums it: for each element, one chain of
/// multiply-adds over p = 0, 1, ..., fused when the CPU has FMA. `a(i, p)`
/// and `b(p, j)` read the operands.
template <class F>
std::vector<double> chainProduct(int64_t m, int64_t k, int64_t n, bool fused, const std::function<double(int64_t, int64_t)>& a,
                                 const std::function<double(int64_t, int64_t)>& b) {
  std::vector<double> c;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      F acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        F x = static_cast<F>(a(i, p)), y = static_cast<F>(b(p, j));
        if (fused) acc = std::fma(x, y, acc);
        else {
          volatile F product = x * y;  // rounded, as a separate multiply
          acc = acc + product;
        }
      }
      c.push_back(acc);
    }
  return c;
}

/// Predict once with `src`'s params drawn from `seed`: the params by name,
/// and the first `count` values of the output.
std::pair<std::map<std::string, std::vector<double>>, std::vector<double>> predictWithParams(const std::string& src,
                                                                                           DType dt, uint64_t seed,
                                                                                           int64_t count) {
  Compiled c(src, predictIn(dt));
  INFO(c.errors);
  REQUIRE(c.ok());
  Session& s = *c.session;
  s.initParams(seed);
  std::map<std::string, std::vector<double>> params;
  for (size_t i = 0; i < c.cm->slots.size(); ++i)
    if (c.cm->slots[i].kind == SlotKind::Param) params[c.cm->slots[i].name] = s.read(static_cast<int>(i));
  s.run(c.cm->predict, 1);
  return {params, s.read(c.cm->outputSlot, count)};
}

} // namespace

TEST_CASE("forward: a long k is taken in blocks, with the same sums in the same order as one pass", "[forward][matmul]") {
  // k = 2300 rows of a 70-wide B: a panel (2300 x 64 or 16 elements) outgrows
  // the block that stays in cache, so the tiles take k in three blocks (five
  // with 256-bit vectors), each going on from the sums the last left in C;
  // the result must be the one chain of multiply-adds per element that one
  // pass computes, bit for bit (row and column tails, an epilogue, and A read
  // transposed included).
  constexpr int64_t k = 2300;
  std::string src = fmt::format("param A[9, {0}] = uniform(-1, 1)\nparam P[{0}, 9] = uniform(-1, 1)\n"
                                "param M[{0}, 70] = uniform(-1, 1)\nparam b[70] = uniform(-1, 1)\n", k) +
                    "y = concat(relu(A @ M + b), transpose(P) @ M, axis = 0)\noutput y\n";
  bool fused = __builtin_cpu_supports("fma") && !std::getenv("NNJIT_CPU");
  for (DType dt : {DType::F32, DType::F64}) {
    auto [v, got] = predictWithParams(src, dt, 3, 18 * 70);
    auto a = [&](int64_t i, int64_t p) { return v["A"][i * k + p]; };
    auto pt = [&](int64_t i, int64_t p) { return v["P"][p * 9 + i]; };
    auto m = [&](int64_t p, int64_t j) { return v["M"][p * 70 + j]; };
    bool f32 = dt == DType::F32;
    std::vector<double> top = f32 ? chainProduct<float>(9, k, 70, fused, a, m) : chainProduct<double>(9, k, 70, fused, a, m);
    std::vector<double> bottom = f32 ? chainProduct<float>(9, k, 70, fused, pt, m) : chainProduct<double>(9, k, 70, fused, pt, m);
    for (size_t e = 0; e < top.size(); ++e) {
      double biased = f32 ? static_cast<double>(static_cast<float>(top[e]) + static_cast<float>(v["b"][e % 70]))
                          : top[e] + v["b"][e % 70];
      top[e] = std::max(biased, 0.0);
    }
    top.insert(top.end(), bottom.begin(), bottom.end());
    INFO((f32 ? "f32" : "f64") << (fused ? ", fused multiply-adds" : ", multiply then add"));
    size_t differ = 0;
    for (size_t e = 0; e < got.size(); ++e) differ += got[e] != top[e];
    CHECK(differ == 0);
  }
}

namespace {

/// `y = product` of x[batch, width] and param W (the model's first), in
/// float32 over `rows` rows, run by each of `threadCounts` threads in turn:
/// the same bits every time, and within `rtol` of reference(x, W).
void checkSharedOut(const std::string& src, int64_t width, int64_t rows, const std::vector<int>& threadCounts,
                    const std::function<T(const T&, const T&)>& reference, double rtol) {
  Compiled c(src, predictIn(DType::F32));
  REQUIRE(c.ok());
  Session& s = *c.session;
  s.initParams(3);
  BatchData b = makeBatch(9, rows, {{width}});
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  s.reserveRows(rows);
  s.feed(b.data, order, 0, rows, {0});
  const Slot& w = c.cm->slots[c.cm->paramSlots[0]];
  T want = reference(b.inputs[0], T{w.shape.dims, s.read(c.cm->paramSlots[0])});
  std::vector<double> first;
  for (int threads : threadCounts) {
    INFO(threads << " threads");
    s.setThreads(threads);
    s.run(c.cm->predict, rows);
    std::vector<double> y = s.read(c.cm->outputSlot, static_cast<int64_t>(want.v.size()));
    if (first.empty()) first = y;
    CHECK(y == first);
    std::string diff = compare(want, Got{true, "", want.d, y}, rtol);
    INFO(diff.substr(0, 400));
    CHECK(diff.empty());
  }
}

} // namespace

namespace {

/// The LLVM IR (before LLVM's optimizer) of `src`'s predict function in f32.
std::optional<std::string> predictIr(const std::string& src) {
  DiagnosticEngine diags("test.nn", src);
  return emitStage(src, "test.nn", Stage::Ir, predictIn(DType::F32), diags);
}

} // namespace

TEST_CASE("forward: panels of a B whose rows are 1 KB apart are copied, with the same sums in the same order",
          "[forward][matmul]") {
  // N's rows are 256 floats (or doubles) apart: with 256-bit vectors each
  // block's slice of a panel is copied to the stack before the row tiles
  // read it, and k = 784 is taken as two blocks of 392. The result is the one
  // chain of multiply-adds per element, bit for bit (13 rows: a short last
  // row tile, and an epilogue after the last block).
  std::string src = "param A[13, 784] = uniform(-1, 1)\nparam N[784, 256] = uniform(-1, 1)\n"
                    "input x[batch, 1]\ny = relu(A @ N)\noutput y\n";
  bool fused = __builtin_cpu_supports("fma") && !std::getenv("NNJIT_CPU");
  for (DType dt : {DType::F32, DType::F64}) {
    auto [v, got] = predictWithParams(src, dt, 5, 13 * 256);
    auto at = [&](int64_t i, int64_t p) { return v["A"][i * 784 + p]; };
    auto nt = [&](int64_t p, int64_t j) { return v["N"][p * 256 + j]; };
    std::vector<double> want = dt == DType::F32 ? chainProduct<float>(13, 784, 256, fused, at, nt)
                                                : chainProduct<double>(13, 784, 256, fused, at, nt);
    size_t differ = 0;
    for (size_t e = 0; e < got.size(); ++e) differ += got[e] != std::max(want[e], 0.0);
    INFO((dt == DType::F32 ? "f32" : "f64"));
    CHECK(differ == 0);
  }
  // The copy is in the IR where the target packs: vectors narrower than 512
  // bits (a 512-bit one's slice would be 256 KB of stack).
  std::optional<std::string> ir = predictIr("input x[batch, 784]\nparam W[784, 256] = 0.5\ny = x @ W\noutput y\n");
  REQUIRE(ir);
  CHECK((ir->find("%packed = alloca") != std::string::npos) == (hostVectorTarget().bits < 512));
  // Shared out by threads whose units start inside a panel's run of row
  // tiles: each thread copies the panel it starts in, the same bits.
  checkSharedOut("input x[batch, 784]\nparam W[784, 256] = uniform(-1, 1)\ny = x @ W\noutput y\n", 784, 301,
                 {1, 2, 3}, [](const T& x, const T& w) { return matmul(x, w); },
                 5e-2);  // float32 sums of 784 near 0 too (the exact sums: the test above)
}

TEST_CASE("forward: a transpose in register blocks, with the edges that fill no block", "[forward]") {
  // Blocks are up to 8 x 8: widths and row counts below, at and past whole blocks.
  std::mt19937 rng(11);
  for (int64_t rows : {5, 8, 13, 24, 35})
    for (int64_t width : {3, 8, 12, 16, 21}) {
      BatchData b = makeBatch(static_cast<uint32_t>(rows * 100 + width), rows, {{width}});
      std::string decls = fmt::format("input x[batch, {}]\n", width);
      checkBatch(decls, "transpose(x)", b.data, transpose(b.inputs[0]));
      // A weight's transpose in memory for the product (too small to rewrite).
      T q{{20, width}, draw(rng, 20 * width, -2, 2)};
      std::string withQ = decls + "param q[20, " + std::to_string(width) + "] = " + literal(q) + "\n";
      checkBatch(withQ, "x @ transpose(q)", b.data, matmul(b.inputs[0], transpose(q)));
      // The batch as the transpose's rows: q @ transpose(x) is [20, batch].
      checkBatch(withQ, "transpose(q @ transpose(x))", b.data, transpose(matmul(q, transpose(b.inputs[0]))));
    }
  // Rank 3: a block transpose for each outer index.
  BatchData b = makeBatch(5, 3, {{13, 19}});
  checkBatch("input x[batch, 13, 19]\n", "transpose(x)", b.data, transpose(b.inputs[0]));
}

TEST_CASE("forward: a transpose split across threads at rows that are not a block's edge", "[forward]") {
  // P's transpose in memory for the product (512 x 512 is the largest kept, not rewritten),
  // enough work to share out: at row 256 by two threads, 170 and 341 by three.
  // Three threads first: the transpose's buffer holds nothing a run before it wrote.
  checkSharedOut("input x[batch, 512]\nparam P[512, 512] = uniform(-1, 1)\ny = x @ transpose(P)\noutput y\n", 512, 4,
                 {3, 2, 1}, [](const T& x, const T& p) { return matmul(x, transpose(p)); }, 1e-3);  // float32 sums of 512
}

TEST_CASE("forward: a sum over the rows of a buffer runs a vector at a time, whatever computed the buffer",
          "[forward]") {
  // y is a concat (computed an element at a time) read by two kernels, so it
  // has a buffer; the sum over its rows loads that buffer along its columns.
  std::string src = "input x[batch, 20]\ny = concat(x, 2 * x, axis = 1)\nz = y * sum(y, axis = 0)\noutput z\n";
  std::optional<std::string> ir = predictIr(src);
  REQUIRE(ir);
  size_t sum = ir->find(".Sum(");
  REQUIRE(sum != std::string::npos);
  std::string body = ir->substr(sum, ir->find("\n}\n", sum) - sum);
  INFO(body);
  bool vectorTarget = ir->find(" x float>") != std::string::npos;  // any vectors at all on this CPU
  CHECK((body.find(" x float>") != std::string::npos) == vectorTarget);

  Dataset d;
  d.rows = 3;
  d.columns.resize(1);
  for (int64_t r = 0; r < 3; ++r)
    for (int j = 0; j < 20; ++j) d.columns[0].push_back(static_cast<double>(r * 20 + j) / 7);
  Got got = predict(src, DType::F32, &d, 3);
  REQUIRE(got.ok);
  for (int64_t r = 0; r < 3; ++r)
    for (int j = 0; j < 40; ++j) {
      auto x = [&](int64_t row) { return static_cast<double>(row * 20 + j % 20) / 7 * (j < 20 ? 1 : 2); };
      CHECK(got.v[r * 40 + j] == Approx(x(r) * (x(0) + x(1) + x(2))).epsilon(1e-6));
    }
}

TEST_CASE("forward: a product as wide as the batch has a half-width tile for a narrow last panel",
          "[forward][matmul]") {
  auto tiles = [](const std::string& product) {  // the register tiles' k loops in the IR
    std::string src = "input x[batch, 9]\nparam W[70, 9] = 0.5\nparam V[9, 70] = 0.5\ny = " + product + "\noutput y\n";
    std::optional<std::string> ir = predictIr(src);
    REQUIRE(ir);
    size_t count = 0;
    for (size_t at = ir->find("\nmm.fma"); at != std::string::npos; at = ir->find("\nmm.fma", at + 1)) ++count;
    return count;
  };
  // W @ V: 70 columns, a full panel and a masked one. W @ transpose(x): the
  // batch's columns, and a third tile for a last panel of at most half a tile.
  CHECK(tiles("W @ V") == 2);
  CHECK(tiles("W @ transpose(x)") == 3);
}

TEST_CASE("forward: a product over a chunk's rows takes tiles whose rows divide 32", "[forward][matmul]") {
  // The rows of the first register tile: one broadcast of A per row in its k loop.
  auto tileRows = [](const std::string& decls, const std::string& product) {
    std::string src = decls + "y = " + product + "\noutput y\n";
    std::optional<std::string> ir = predictIr(src);
    REQUIRE(ir);
    size_t begin = ir->find("\nmm.fma");
    REQUIRE(begin != std::string::npos);
    std::string body = ir->substr(begin, ir->find("br i1", begin) - begin);
    size_t rows = 0;
    for (size_t at = body.find("shufflevector"); at != std::string::npos; at = body.find("shufflevector", at + 1)) ++rows;
    return rows;
  };
  // BLIS's 6 x 4 tile would compute 36 rows for a chunk of 32; 4 x 4 computes 32.
  // A fixed 66 rows suit 6-row tiles; so does a k long enough to be taken in blocks.
  bool avx512 = hostVectorTarget().registers >= 32;
  CHECK(tileRows("input x[batch, 64]\nparam W[64, 128] = 0.5\n", "x @ W") == (avx512 ? 4u : 6u));
  CHECK(tileRows("input x[batch, 128]\nparam W[66, 64] = 0.5\nparam V[64, 128] = 0.5\n", "x @ transpose(W @ V)") == 6u);
  CHECK(tileRows("input x[batch, 4096]\nparam W[4096, 128] = 0.5\n", "x @ W") == 6u);
}

TEST_CASE("forward: a product whose B stays in L2 takes its tiles row group by row group", "[forward][matmul]") {
  // The unit loop's index is split by the panel count (a constant) when the
  // row groups are the outer loop, by the row group count (the batch's) when
  // the panels are.
  auto unitsSplitBy = [](const std::string& decls) {
    std::optional<std::string> ir = predictIr(decls + "y = x @ W\noutput y\n");
    REQUIRE(ir);
    std::smatch divide;  // the unit loop's index is %i, or %i4 inside a loop over blocks of k
    REQUIRE(std::regex_search(*ir, divide, std::regex("udiv i64 %i[0-9]*, ([^\\s]+)")));
    return divide[1].str();
  };
  std::string resident = unitsSplitBy("input x[batch, 200]\nparam W[200, 150] = 0.5\n");  // 120 KB
  std::string streamed = unitsSplitBy("input x[batch, 2000]\nparam W[2000, 150] = 0.5\n");  // 1.2 MB
  INFO(resident << " / " << streamed);
  CHECK(std::isdigit(static_cast<unsigned char>(resident[0])));
  CHECK(streamed[0] == '%');

  // Shared out by threads, at units inside a row group's run of panels: the
  // same bits as one thread, rows and columns with tails.
  checkSharedOut("input x[batch, 200]\nparam W[200, 150] = uniform(-1, 1)\ny = x @ W\noutput y\n", 200, 301, {1, 2, 3},
                 [](const T& x, const T& w) { return matmul(x, w); }, 1e-2);  // float32 sums of 200, near 0 too
}

TEST_CASE("forward: a product as wide as the batch, every width up to two panels", "[forward][matmul]") {
  // W @ transpose(x) has the batch for its columns, known only at run time:
  // the last panel takes a half-width tile when it is narrow enough.
  std::string src = "input x[batch, 9]\nparam W[70, 9] = uniform(-1, 1)\ny = W @ transpose(x)\noutput y\n";
  for (int64_t rows : {1, 5, 16, 31, 32, 33, 47, 64, 65, 100, 128}) {
    Dataset d;
    d.rows = rows;
    d.columns.resize(1);
    for (int64_t i = 0; i < rows * 9; ++i) d.columns[0].push_back(std::sin(0.37 * static_cast<double>(i)));
    Compiled c(src, predictIn(DType::F64));
    REQUIRE(c.ok());
    Session& s = *c.session;
    s.initParams(5);
    std::vector<double> w = s.read(c.cm->paramSlots[0]);
    std::vector<int64_t> order(rows);
    std::iota(order.begin(), order.end(), 0);
    s.reserveRows(rows);
    s.feed(d, order, 0, rows, {0});
    s.run(c.cm->predict, rows);
    std::vector<double> got = s.read(c.cm->outputSlot, 70 * rows);
    INFO(rows << " rows");
    size_t wrong = 0;
    for (int64_t i = 0; i < 70; ++i)
      for (int64_t j = 0; j < rows; ++j) {
        double want = 0;
        for (int64_t p = 0; p < 9; ++p) want += w[i * 9 + p] * d.columns[0][j * 9 + p];
        wrong += std::abs(got[i * rows + j] - want) > 1e-12;
      }
    CHECK(wrong == 0);
  }
}
