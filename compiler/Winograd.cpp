// Winograd: a stride-1 convolution as products of transformed tiles.
//
// Each axis of the output is cut into tiles of m pixels; a tile reads m + r - 1
// input pixels. F(m, r) computes a tile's m outputs from `points` = m + r - 1
// products instead of m * r: the tile's pixels and the kernel are each taken
// to `points` values by a fixed matrix, multiplied point by point, and the m
// outputs are a fixed combination of the products. In 2D the transforms act
// on each axis in turn, and the point-by-point products over the channels
// are one matmul per point (`points` x `points` of them, a group product):
// F(2, 5) in both axes takes 36 products per 4 outputs where the patches'
// matmul takes 100, for 5 x 5 kernels.
//
// Every step is a linear op with its adjoint in the op table (tiles, untile,
// the group product), so the gradients are the same kind of graph: the input
// gradient untiles the data transform, the kernel's is one group product per
// point summed over the rows, as the patches' matmul's is.
#include "Winograd.h"

#include "InternalError.h"

#include <algorithm>
#include <cmath>

namespace nnjit {
namespace {

/// Each tile has 6 points: F(2, 5), F(3, 4), F(4, 3), F(5, 2). At 6 points
/// the interpolation matrices' entries stay within 1/24 .. 16, and float32
/// results differ from the patches' matmul by a few units in the sixth digit.
constexpr int64_t kPoints = 6;

/// Below this many channels the transforms cost more than they save.
constexpr int64_t kLeastChannels = 16;

/// The evaluation points; the last point of every transform is infinity.
constexpr double kFinitePoints[] = {0, 1, -1, 2, -2};

/// points x cols: row j holds p_j^0 .. p_j^(cols-1), and the row of the
/// point at infinity picks the highest power.
std::vector<double> vandermonde(int64_t points, int64_t cols) {
  std::vector<double> v(size_t(points * cols), 0);
  for (int64_t j = 0; j + 1 < points; ++j)
    for (int64_t k = 0; k < cols; ++k) v[size_t(j * cols + k)] = std::pow(kFinitePoints[j], double(k));
  v[size_t((points - 1) * cols + cols - 1)] = 1;
  return v;
}

/// The inverse of a square matrix: Gauss-Jordan with partial pivoting on [a | I].
std::vector<double> inverse(const std::vector<double>& a, int64_t n) {
  int64_t width = 2 * n;
  std::vector<double> m(size_t(n * width), 0);
  auto at = [&](int64_t r, int64_t c) -> double& { return m[size_t(r * width + c)]; };
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) at(r, c) = a[size_t(r * n + c)];
    at(r, n + r) = 1;
  }
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(at(r, col)) > std::fabs(at(pivot, col))) pivot = r;
    if (at(pivot, col) == 0) internalError("a Winograd interpolation matrix that is singular");
    for (int64_t c = 0; c < width; ++c) std::swap(at(col, c), at(pivot, c));
    double scale = 1 / at(col, col);
    for (int64_t c = 0; c < width; ++c) at(col, c) *= scale;
    for (int64_t r = 0; r < n; ++r) {
      double f = at(r, col);
      if (r == col || f == 0) continue;
      for (int64_t c = 0; c < width; ++c) at(r, c) -= f * at(col, c);
    }
  }
  std::vector<double> inv(size_t(n * n));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c) inv[size_t(r * n + c)] = at(r, n + c);
  return inv;
}

/// A tiles/untile node's attributes: along `axis`, windows of `size` every
/// `stride` after `pad` zeros, each taken through `matrix`, its points at dim `at`.
Attrs tileAttrs(int64_t axis, int64_t size, int64_t stride, int64_t pad, int64_t at, std::vector<double> matrix) {
  Attrs a;
  a.ints = {axis, size, stride, pad, at};
  a.values = std::move(matrix);
  return a;
}

/// `s` with dim `axis` as `count` tiles and a dim of `points` at `at`.
Shape tiled(Shape s, int axis, int64_t count, int64_t points, int at) {
  s.dims[size_t(axis)] = count;
  s.dims.insert(s.dims.begin() + at, points);
  return s;
}

/// v as a fraction with a power of two below, when it is one (up to 2^-20).
std::optional<double> dyadic(double v) {
  double scaled = std::ldexp(v, 20), whole = std::round(scaled);
  if (std::fabs(scaled - whole) > 1e-6) return std::nullopt;
  return std::ldexp(whole, -20);
}

/// Scales each row of the data transform by the least odd number that
/// makes its entries exact in binary (2/3 and 1/6 times 3 are 2 and 1/2),
/// and the kernel transform's row by its inverse: the product per point is
/// the same, and the data's transform, computed for every tile, rounds only
/// in its additions. The kernel's is computed once a step.
void makeDataDyadic(WinogradAxis& t) {
  for (int64_t a = 0; a < t.points; ++a) {
    for (int64_t odd = 1; odd < 1000; odd += 2) {
      std::vector<double> row;
      for (int64_t i = 0; i < t.points; ++i)
        if (auto v = dyadic(t.data[size_t(a * t.points + i)] * double(odd))) row.push_back(*v);
      if (row.size() != size_t(t.points)) continue;
      std::copy(row.begin(), row.end(), t.data.begin() + a * t.points);
      for (int64_t k = 0; k < t.r; ++k) t.kernel[size_t(a * t.r + k)] /= double(odd);
      break;
    }
  }
}

int64_t tilesOver(int64_t n, int64_t m) { return (n + m - 1) / m; }

} // namespace

std::optional<WinogradAxis> winogradAxis(int64_t r) {
  if (r < 2 || r >= kPoints) return std::nullopt;
  WinogradAxis t;
  t.r = r;
  t.points = kPoints;
  t.m = kPoints - r + 1;
  // Correlation is the transpose of convolution, whose Cook-Toom algorithm is
  // s = V^-1 ((V_r g) * (V_m u)): so y = V_m^T ((V_r g) * (V^-T d)).
  std::vector<double> vInverse = inverse(vandermonde(kPoints, kPoints), kPoints);
  t.data.resize(size_t(kPoints * kPoints));
  for (int64_t a = 0; a < kPoints; ++a)
    for (int64_t i = 0; i < kPoints; ++i) t.data[size_t(a * kPoints + i)] = vInverse[size_t(i * kPoints + a)];
  t.kernel = vandermonde(kPoints, r);
  t.output = vandermonde(kPoints, t.m);
  makeDataDyadic(t);
  return t;
}

bool winogradPays(const std::array<int64_t, 2>& kernel, const std::array<int64_t, 2>& stride, int64_t channels,
                  int64_t filters) {
  return stride[0] == 1 && stride[1] == 1 && winogradAxis(kernel[0]) && winogradAxis(kernel[1]) &&
         channels >= kLeastChannels && filters >= kLeastChannels / 2;
}

NodeId winogradConv2d(Builder& b, NodeId x, NodeId w, const std::array<int64_t, 2>& before,
                      const std::array<int64_t, 2>& out) {
  const Shape image = b.shape(x), kernel = b.shape(w);
  WinogradAxis h = *winogradAxis(kernel.dims[0]), v = *winogradAxis(kernel.dims[1]);
  int64_t th = tilesOver(out[0], h.m), tw = tilesOver(out[1], v.m), groups = h.points * v.points;
  int64_t channels = image.dims[3], filters = kernel.dims[3];
  // The data: [n, th, tw, ph, pw, c], each tile through B^T along both axes.
  NodeId d = b.make(Op::Tiles, {x}, tileAttrs(1, h.points, h.m, before[0], 3, h.data), tiled(image, 1, th, h.points, 3));
  d = b.make(Op::Tiles, {d}, tileAttrs(2, v.points, v.m, before[1], 4, v.data), tiled(b.shape(d), 2, tw, v.points, 4));
  // The kernel: [ph, pw, 1, 1, c, f], through G along both axes: each point's
  // c x f matrix contiguous, so that its rows fall in distinct cache sets
  // (a row f floats apart, not a tile's points times that).
  NodeId k = b.make(Op::Tiles, {w}, tileAttrs(0, h.r, h.r, 0, 0, h.kernel), tiled(kernel, 0, 1, h.points, 0));
  k = b.make(Op::Tiles, {k}, tileAttrs(2, v.r, v.r, 0, 1, v.kernel), tiled(b.shape(k), 2, 1, v.points, 1));
  Attrs swap;
  swap.ints = {1, 0, 2};
  NodeId pointsOuter = b.reshape(k, Shape{groups, channels, filters});
  int64_t rows = dimTimes(image.dims[0], th * tw);
  NodeId products = b.make(Op::GroupMatMul, {b.reshape(d, Shape{rows, groups, channels}),
                                             b.make(Op::Permute, {pointsOuter}, swap)});
  // Back to pixels: each tile's points through A along the width, then the height.
  NodeId y = b.reshape(products, Shape{image.dims[0], th, tw, h.points, v.points, filters});
  y = b.make(Op::Untile, {y}, tileAttrs(2, v.m, v.m, 0, 4, v.output), Shape{image.dims[0], th, out[1], h.points, filters});
  return b.make(Op::Untile, {y}, tileAttrs(1, h.m, h.m, 0, 3, h.output), Shape{image.dims[0], out[0], out[1], filters});
}

} // namespace nnjit
