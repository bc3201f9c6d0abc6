// ConvTest: conv2d, max_pool and avg_pool against a direct NHWC reference in
// double, and their gradients against central differences, in every padding
// and stride form, odd sizes and channel counts past a vector's width.
#include "TestSupport.h"
#include "Winograd.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <regex>

using namespace nnjit;
using namespace nnjit::test;

namespace {

struct Image {
  int64_t n, h, w, c;
  std::vector<double> v;
  double at(int64_t i, int64_t y, int64_t x, int64_t ch) const { return v[((i * h + y) * w + x) * c + ch]; }
};

std::vector<double> draw(std::mt19937& rng, int64_t count) {
  std::uniform_int_distribution<int> dist(-64, 64);  // multiples of 1/32: exact in float32
  std::vector<double> v(count);
  for (double& x : v) x = dist(rng) / 32.0;
  return v;
}

/// TensorFlow's window placement: the padding before the first window and
/// the window count, for `pad` < 0 meaning "same" and "valid" as pad 0
/// without spill.
std::pair<int64_t, int64_t> place(int64_t size, int64_t k, int64_t s, int64_t pad, bool same) {
  if (same) {
    int64_t count = (size + s - 1) / s;
    return {std::max<int64_t>((count - 1) * s + k - size, 0) / 2, count};
  }
  return {pad, (size + 2 * pad - k) / s + 1};
}

struct Conv {
  int64_t kh, kw, sh, sw, ph, pw;
  bool same;
};

/// The convolution, or with `magnitude` set the sum of its terms' magnitudes
/// (what a rounding error is relative to).
Image conv(const Image& x, const std::vector<double>& k, int64_t filters, const Conv& p, bool magnitude = false) {
  auto [top, oh] = place(x.h, p.kh, p.sh, p.ph, p.same);
  auto [left, ow] = place(x.w, p.kw, p.sw, p.pw, p.same);
  Image y{x.n, oh, ow, filters, std::vector<double>(x.n * oh * ow * filters)};
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t f = 0; f < filters; ++f) {
          double acc = 0;
          for (int64_t dy = 0; dy < p.kh; ++dy)
            for (int64_t dx = 0; dx < p.kw; ++dx)
              for (int64_t ch = 0; ch < x.c; ++ch) {
                int64_t yy = oy * p.sh + dy - top, xx = ox * p.sw + dx - left;
                if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w) continue;
                double term = x.at(i, yy, xx, ch) * k[((dy * p.kw + dx) * x.c + ch) * filters + f];
                acc += magnitude ? std::fabs(term) : term;
              }
          y.v[((i * oh + oy) * ow + ox) * filters + f] = acc;
        }
  return y;
}

Image pool(const Image& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, bool isMax) {
  int64_t oh = (x.h - kh) / sh + 1, ow = (x.w - kw) / sw + 1;
  Image y{x.n, oh, ow, x.c, std::vector<double>(x.n * oh * ow * x.c)};
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ch = 0; ch < x.c; ++ch) {
          double acc = isMax ? -INFINITY : 0;
          for (int64_t dy = 0; dy < kh; ++dy)
            for (int64_t dx = 0; dx < kw; ++dx) {
              double v = x.at(i, oy * sh + dy, ox * sw + dx, ch);
              acc = isMax ? std::max(acc, v) : acc + v / static_cast<double>(kh * kw);
            }
          y.v[((i * oh + oy) * ow + ox) * x.c + ch] = acc;
        }
  return y;
}

/// `src` compiled to predict, with the images of x fed as its input.
std::unique_ptr<Compiled> predicting(const std::string& src, const Image& x, DType dtype) {
  CompileOptions o;
  o.predict = true;
  o.dtype = dtype;
  auto c = std::make_unique<Compiled>(src, o);
  INFO(src << c->errors);
  REQUIRE(c->ok());
  Dataset data;
  data.rows = x.n;
  data.columns = {x.v};
  std::vector<int64_t> order(x.n);
  std::iota(order.begin(), order.end(), 0);
  c->session->initParams(0);
  c->session->reserveRows(x.n);
  c->session->feed(data, order, 0, x.n, {0});
  return c;
}

/// y's elements after predicting from x.
std::vector<double> predicted(Compiled& c, const Image& x) {
  c.session->run(c.cm->predict, x.n);
  return c.session->read(c.cm->outputSlot, c.cm->slots[c.cm->outputSlot].shape.elements(x.n));
}

/// Runs `output y = EXPR` over a batch of images x[batch, h, w, c] (and a
/// kernel param K given as a list), returning y's elements.
std::vector<double> run(const std::string& expr, const Image& x, const std::string& kernelDecl, DType dtype) {
  std::string src = fmt::format("input x[batch, {}, {}, {}]\n{}\ny = {}\noutput y\n", x.h, x.w, x.c, kernelDecl, expr);
  return predicted(*predicting(src, x, dtype), x);
}

std::string listOf(const std::vector<double>& v, const std::vector<int64_t>& dims, size_t d = 0, int64_t off = 0) {
  if (d == dims.size()) return fmt::format("{}", v[off]);
  int64_t stride = 1;
  for (size_t i = d + 1; i < dims.size(); ++i) stride *= dims[i];
  std::string s = "[";
  for (int64_t i = 0; i < dims[d]; ++i) s += (i ? ", " : "") + listOf(v, dims, d + 1, off + i * stride);
  return s + "]";
}

/// Each element within tol of the reference, relative to its magnitude
/// where that is above 1, or with `scale` set, to the largest of scale's.
void near(const std::vector<double>& want, const std::vector<double>& got, double tol,
          const std::vector<double>& scale = {}) {
  REQUIRE(want.size() == got.size());
  double largest = scale.empty() ? 0 : *std::max_element(scale.begin(), scale.end());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    double size = std::max(1.0, scale.empty() ? std::fabs(want[i]) : largest);
    CHECK(std::fabs(want[i] - got[i]) <= tol * size);
  }
}

} // namespace

TEST_CASE("conv2d: forward against a direct NHWC convolution", "[conv]") {
  std::mt19937 rng(7);
  struct Case {
    int64_t h, w, c, f;
    Conv p;
    const char* args;
  };
  const std::vector<Case> cases = {
      {5, 5, 1, 2, {3, 3, 1, 1, 0, 0, false}, ""},
      {6, 7, 3, 4, {3, 3, 1, 1, 0, 0, true}, ", padding = \"same\""},
      {7, 6, 2, 3, {5, 5, 1, 1, 0, 0, true}, ", padding = \"same\""},
      {8, 9, 2, 5, {3, 2, 2, 3, 0, 0, true}, ", stride = [2, 3], padding = \"same\""},
      {7, 7, 3, 2, {3, 3, 2, 2, 0, 0, false}, ", stride = 2"},
      {6, 5, 2, 3, {2, 3, 1, 2, 1, 2, false}, ", stride = [1, 2], padding = [1, 2]"},
      {4, 4, 20, 17, {3, 3, 1, 1, 1, 1, false}, ", padding = 1"},  // channels past a vector
      {5, 6, 2, 3, {3, 1, 1, 1, 1, 1, false}, ", padding = 1"},  // a last column of windows all padding
      {9, 11, 16, 8, {5, 5, 1, 1, 0, 0, true}, ", padding = \"same\""},
      {7, 10, 24, 9, {5, 3, 1, 1, 0, 0, false}, ""},
      {6, 9, 17, 12, {2, 4, 1, 1, 3, 1, false}, ", padding = [3, 1]"},
      {9, 9, 1, 33, {4, 4, 3, 3, 0, 0, true}, ", stride = 3, padding = \"same\""},
      // Outputs in whole tiles: the transform runs in the product's rows (its own kernel above).
      {8, 8, 16, 8, {3, 3, 1, 1, 0, 0, true}, ", padding = \"same\""},   // F(4, 3)
      {10, 6, 16, 9, {5, 5, 1, 1, 0, 0, true}, ", padding = \"same\""},  // F(2, 5), a tail of filters
      {6, 10, 20, 8, {4, 2, 1, 1, 0, 0, true}, ", padding = \"same\""},  // F(3, 4) down, F(5, 2) across
  };
  for (const Case& k : cases) {
    for (DType dtype : {DType::F32, DType::F64}) {
      Image x{3, k.h, k.w, k.c, draw(rng, 3 * k.h * k.w * k.c)};
      std::vector<double> kernel = draw(rng, k.p.kh * k.p.kw * k.c * k.f);
      std::string decl = fmt::format("param K[{}, {}, {}, {}] = {}", k.p.kh, k.p.kw, k.c, k.f,
                                     listOf(kernel, {k.p.kh, k.p.kw, k.c, k.f}));
      INFO("conv2d(x, K" << k.args << ") over " << k.h << "x" << k.w << "x" << k.c);
      std::vector<double> want = conv(x, kernel, k.f, k.p).v, got = run(fmt::format("conv2d(x, K{})", k.args), x, decl, dtype);
      // Stride 1 on 16 channels or more goes by Winograd's tiles: an output's
      // rounding is relative to its tile's values (one that should be 0, its
      // window all padding, comes out near 0), a few float32 ulps of the largest.
      if (k.p.sh == 1 && k.p.sw == 1 && k.c >= 16)
        near(want, got, dtype == DType::F32 ? 2e-6 : 1e-13, conv(x, kernel, k.f, k.p, true).v);
      else
        near(want, got, dtype == DType::F32 ? 1e-5 : 1e-12);
    }
  }
}

TEST_CASE("conv2d by Winograd's tiles: shared out by 1, 2 and 3 threads, the same bits", "[conv][threads]") {
  // 12 images of 14 x 14 x 32 through a 5 x 5 kernel to 64 filters: the
  // group product's 14,112 tiles of C are shared out, a share starting
  // inside a product (36 of them) and inside a row group's run of panels.
  std::mt19937 rng(5);
  Image x{12, 14, 14, 32, draw(rng, 12 * 14 * 14 * 32)};
  std::vector<double> kernel = draw(rng, 5 * 5 * 32 * 64);
  std::string src = fmt::format("input x[batch, 14, 14, 32]\nparam K[5, 5, 32, 64] = {}\n"
                                "y = conv2d(x, K, padding = \"same\")\noutput y\n",
                                listOf(kernel, {5, 5, 32, 64}));
  std::unique_ptr<Compiled> c = predicting(src, x, DType::F32);
  Conv same{5, 5, 1, 1, 0, 0, true};
  std::vector<double> want = conv(x, kernel, 64, same).v, first;
  for (int threads : {1, 2, 3}) {
    INFO(threads << " threads");
    c->session->setThreads(threads);
    std::vector<double> y = predicted(*c, x);
    if (first.empty()) {
      first = y;
      near(want, y, 2e-6, conv(x, kernel, 64, same, true).v);
    }
    CHECK(y == first);
  }
}

TEST_CASE("Winograd's F(m, r): a tile's m outputs are the correlation of its m + r - 1 inputs", "[conv]") {
  // y = A^T ((G g) * (B^T d)) for every kernel width it serves, in double;
  // a 1-wide kernel and one past 5 have none.
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  CHECK_FALSE(winogradAxis(1));
  CHECK_FALSE(winogradAxis(6));
  for (int64_t r = 2; r <= 5; ++r) {
    std::optional<WinogradAxis> t = winogradAxis(r);
    REQUIRE(t);
    CHECK(t->points == 6);
    CHECK(t->m + r - 1 == t->points);
    std::vector<double> d(static_cast<size_t>(t->points)), g(static_cast<size_t>(r));
    for (double& v : d) v = u(rng);
    for (double& v : g) v = u(rng);
    std::vector<double> product(size_t(t->points));
    for (int64_t a = 0; a < t->points; ++a) {
      double kernel = 0, data = 0;
      for (int64_t k = 0; k < r; ++k) kernel += t->kernel[size_t(a * r + k)] * g[size_t(k)];
      for (int64_t i = 0; i < t->points; ++i) data += t->data[size_t(a * t->points + i)] * d[size_t(i)];
      product[size_t(a)] = kernel * data;
    }
    for (int64_t y = 0; y < t->m; ++y) {
      double want = 0, got = 0;
      for (int64_t k = 0; k < r; ++k) want += g[size_t(k)] * d[size_t(y + k)];
      for (int64_t a = 0; a < t->points; ++a) got += t->output[size_t(a * t->m + y)] * product[size_t(a)];
      INFO("F(" << t->m << ", " << r << "), output " << y);
      CHECK(std::fabs(got - want) < 1e-12);
    }
  }
}

TEST_CASE("max_pool and avg_pool: forward against direct pooling", "[conv]") {
  std::mt19937 rng(11);
  for (DType dtype : {DType::F32, DType::F64}) {
    Image x{2, 7, 6, 19, draw(rng, 2 * 7 * 6 * 19)};
    near(pool(x, 2, 2, 2, 2, true).v, run("max_pool(x, 2)", x, "", dtype), 0);
    near(pool(x, 3, 2, 2, 1, true).v, run("max_pool(x, [3, 2], stride = [2, 1])", x, "", dtype), 0);
    near(pool(x, 2, 2, 2, 2, false).v, run("avg_pool(x, 2)", x, "", dtype), 1e-6);
    near(pool(x, 3, 3, 1, 1, false).v, run("avg_pool(x, 3, stride = 1)", x, "", dtype), 1e-6);
    Image one{2, 5, 5, 1, draw(rng, 50)};
    near(pool(one, 2, 2, 2, 2, true).v, run("max_pool(x, 2)", one, "", dtype), 0);
  }
}

namespace {

/// The gradient of sum(EXPR * C) for every param (an image P[2, h, w, c], a
/// kernel K), at several random points, against central differences. A
/// convolution's loss is linear in each param, so a long step is exact
/// where a short one would see its rounding: float64 Winograd rounds at
/// about 1e-13 of the loss, which a step of 1e-6 magnifies to 1e-5.
void checkGradient(const std::string& expr, const std::string& params, const std::string& outShape,
                   double step = 1e-6) {
  std::string src = fmt::format("{}\nparam C{} = uniform(-1, 1)\nloss = sum(({}) * C)\n", params, outShape, expr);
  Compiled c(src, f64Gradients());
  INFO(expr << "\n" << c.errors);
  REQUIRE(c.ok());
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    c.session->initParams(seed);
    CHECK(gradientError(c, 1, step) < 1e-6);
  }
}

} // namespace

TEST_CASE("conv2d, max_pool, avg_pool: gradients in every form", "[conv][autodiff]") {
  const std::string p = "param P[2, 5, 6, 3] = uniform(-1, 1)\nparam K[3, 3, 3, 2] = uniform(-1, 1)\n";
  checkGradient("conv2d(P, K)", p, "[2, 3, 4, 2]");
  checkGradient("conv2d(P, K, padding = \"same\")", p, "[2, 5, 6, 2]");
  checkGradient("conv2d(P, K, stride = 2, padding = \"same\")", p, "[2, 3, 3, 2]");
  checkGradient("conv2d(P, K, stride = [2, 3], padding = 1)", p, "[2, 3, 2, 2]");
  checkGradient("conv2d(P, K, stride = [1, 2])", p, "[2, 3, 2, 2]");
  // Windows that do not overlap (stride >= size): unpatch moves elements instead of summing windows.
  const std::string small = "param P[2, 5, 6, 3] = uniform(-1, 1)\nparam K[2, 2, 3, 2] = uniform(-1, 1)\n";
  checkGradient("conv2d(P, K, stride = 2)", small, "[2, 2, 3, 2]");
  checkGradient("conv2d(P, K, stride = 3, padding = 1)", small, "[2, 2, 3, 2]");
  const std::string even = "param P[2, 6, 5, 2] = uniform(-1, 1)\nparam K[2, 4, 2, 3] = uniform(-1, 1)\n";
  checkGradient("conv2d(P, K, padding = \"same\")", even, "[2, 6, 5, 3]");
  checkGradient("conv2d(P, K, stride = 2, padding = \"same\")", even, "[2, 3, 3, 3]");
  // Winograd's tiles (stride 1, 16 channels or more): F(4, 3), F(2, 5), F(3, 4) and F(5, 2), outputs that
  // fill no whole tile, padding wider than the kernel; and a kernel 1 wide, which goes by the patches' product.
  const std::string deep = "param P[2, 5, 7, 16] = uniform(-1, 1)\n";
  auto kernel = [&](const char* dims) { return deep + "param K" + dims + " = uniform(-1, 1)\n"; };
  checkGradient("conv2d(P, K, padding = \"same\")", kernel("[3, 3, 16, 8]"), "[2, 5, 7, 8]", 1e-3);
  checkGradient("conv2d(P, K, padding = \"same\")", kernel("[5, 5, 16, 9]"), "[2, 5, 7, 9]", 1e-3);
  checkGradient("conv2d(P, K)", kernel("[4, 2, 16, 8]"), "[2, 2, 6, 8]", 1e-3);
  checkGradient("conv2d(P, K, padding = [3, 1])", kernel("[2, 4, 16, 8]"), "[2, 10, 6, 8]", 1e-3);
  checkGradient("conv2d(P, K, padding = 1)", kernel("[3, 1, 16, 8]"), "[2, 5, 9, 8]", 1e-3);
  // Through relu and a pool: not linear, a short step.
  checkGradient("max_pool(relu(conv2d(P, K, padding = \"same\")), 2)", kernel("[3, 3, 16, 8]"), "[2, 2, 3, 8]", 1e-5);
  // Outputs in whole tiles, read twice (relu and its gradient): the output transform runs in the product's rows.
  checkGradient("max_pool(relu(conv2d(P, K, padding = \"same\")), 2)",
                "param P[2, 8, 4, 16] = uniform(-1, 1)\nparam K[3, 3, 16, 8] = uniform(-1, 1)\n", "[2, 4, 2, 8]", 1e-5);
  // Pools of distinct values (ties share the gradient, which differences cannot check).
  const std::string img = "param P[2, 5, 7, 3] = uniform(-1, 1)\n";
  checkGradient("max_pool(P, 2)", img, "[2, 2, 3, 3]");
  checkGradient("max_pool(P, [3, 2], stride = [1, 2])", img, "[2, 3, 3, 3]");
  checkGradient("avg_pool(P, 2)", img, "[2, 2, 3, 3]");
  checkGradient("avg_pool(P, 3, stride = 2)", img, "[2, 2, 3, 3]");
  checkGradient("max_pool(P, 2, stride = 3)", img, "[2, 2, 2, 3]");
  checkGradient("avg_pool(P, [2, 1], stride = [2, 3])", img, "[2, 2, 3, 3]");
  checkGradient("max_pool(relu(conv2d(P, K, padding = \"same\")), 2)",
                img + "param K[3, 3, 3, 4] = uniform(-1, 1)\n", "[2, 2, 3, 4]");
}

TEST_CASE("conv2d and pools: shape errors name the shapes", "[conv][diagnostics]") {
  auto errorsOf = [](const std::string& src) {
    CompileOptions o;
    o.predict = true;
    Compiled c(src, o);
    CHECK(!c.ok());
    return c.errors;
  };
  CHECK_THAT(errorsOf("input x[batch, 5, 5]\nparam K[3, 3, 1, 2] = 0\ny = conv2d(x, K)\noutput y\n"),
             Catch::Contains("test.nn:3:5: error: conv2d needs images as [batch, height, width, channels] (NHWC), "
                             "not [batch, 5, 5]"));
  CHECK_THAT(errorsOf("input x[batch, 5, 5, 3]\nparam K[3, 3, 1, 2] = 0\ny = conv2d(x, K)\noutput y\n"),
             Catch::Contains("conv2d needs a kernel [kh, kw, 3, filters] for images [batch, 5, 5, 3], not [3, 3, 1, 2]"));
  CHECK_THAT(errorsOf("input x[batch, 2, 2, 1]\nparam K[3, 3, 1, 2] = 0\ny = conv2d(x, K)\noutput y\n"),
             Catch::Contains("a 3x3 window does not fit in an image of 2x2 pixels (padding = \"same\" pads it)"));
  CHECK_THAT(errorsOf("input x[batch, 4, 4, 1]\ny = max_pool(x, 2, stride = 0)\noutput y\n"),
             Catch::Contains("test.nn:2:29: error: stride must be at least 1, not 0"));
  CHECK_THAT(errorsOf("input x[batch, 4, 4, 1]\ny = max_pool(x, [2, 2, 2])\noutput y\n"),
             Catch::Contains("the pool size is one number or a list of two (height, width), not 3 numbers"));
  CHECK_THAT(errorsOf("input x[batch, 4, 4, 1]\nparam K[1, 1, 1, 1] = 1\ny = conv2d(x, K, padding = \"full\")\noutput y\n"),
             Catch::Contains("padding is \"same\", \"valid\" or a number of pixels, not \"full\""));
}

TEST_CASE("conv2d's gradients are weighed by what they read, so threads share them out", "[conv][threads]") {
  // The work of a unit, as the train step hands it to the workers (the last
  // argument of each parallel_for call), by the kernel's op.
  // (On 12 channels: 16 or more would go by Winograd's tiles, tested below.)
  std::string src = "input x[batch, 14, 14, 8]\nparam K1[3, 3, 8, 12] = normal(0, 0.1)\n"
                    "param K2[5, 5, 12, 32] = normal(0, 0.1)\nh = relu(conv2d(x, K1, padding = \"same\"))\n"
                    "y = conv2d(h, K2, padding = \"same\")\nloss = mean(y * y)\noptimizer sgd(lr = 0.1)\n";
  std::optional<std::string> ir = trainStepStage(src, Stage::Ir);
  REQUIRE(ir);
  std::regex call(R"(parallel_for\(ptr %pool, ptr @nnjit\.k\d+\.\d+\.(\w+)\.range, ptr %args, i64 %\d+, i64 (\d+|%\d+), i64 (\d+)\))");
  std::multimap<std::string, std::pair<std::string, int64_t>> work;  // op: units, work of one
  for (std::sregex_iterator it(ir->begin(), ir->end(), call), end; it != end; ++it)
    work.emplace((*it)[1].str(), std::make_pair((*it)[2].str(), std::stoll((*it)[3].str())));
  std::string listed;
  for (const auto& [op, units] : work) listed += fmt::format("{}: {} units of {}\n", op, units.first, units.second);
  INFO(listed);
  // relu's gradient of the first convolution's output reads, for each image,
  // the 14 x 14 windows of 5 x 5 x 12 that the second one's input gradient sums.
  REQUIRE(work.count("Select") == 1);
  CHECK(work.find("Select")->second.second == 14 * 14 * 5 * 5 * 12);
  // The kernels' gradients (as many tiles whatever the batch) sum over k = 196
  // rows an image: a tile's work is a chunk's 32 images of them, not 64 rows.
  int64_t weightGradients = 0;
  for (const auto& [op, units] : work)
    if (op == "MatMul" && units.first[0] != '%') {
      CHECK(units.second >= 32 * 196);
      ++weightGradients;
    }
  CHECK(weightGradients == 2);
}
