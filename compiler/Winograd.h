// Winograd: a stride-1 convolution as products of transformed tiles (Lavin and Gray's F(m, r)).
#pragma once

#include "Builder.h"

#include <array>
#include <optional>

namespace nnjit {

/// The three matrices of one axis of F(m, r), for tiles of `points` = m +
/// r - 1 elements: data (points x points, B^T), kernel (points x r, G) and
/// output (points x m, A), each row-major, from the Cook-Toom construction
/// at the points 0, 1, -1, 2, -2 and infinity.
struct WinogradAxis {
  int64_t m = 0, r = 0, points = 0;
  std::vector<double> data, kernel, output;
};

/// F(m, r) for a kernel `r` wide, or none where Winograd does not pay (a
/// 1-wide kernel is a product already; past 5 the tiles' rounding grows).
std::optional<WinogradAxis> winogradAxis(int64_t r);

/// Whether a convolution of `channels` into `filters` with this stride and
/// kernel is computed the Winograd way: with few channels (a first layer on
/// grey pixels) the transforms cost more than the products they save.
bool winogradPays(const std::array<int64_t, 2>& kernel, const std::array<int64_t, 2>& stride, int64_t channels,
                  int64_t filters);

/// conv2d(x, w) for x [n, h, w, c], w [kh, kw, c, f], stride 1, `before`
/// zeros above and left of the image and an output of `out` pixels.
NodeId winogradConv2d(Builder& b, NodeId x, NodeId w, const std::array<int64_t, 2>& before,
                      const std::array<int64_t, 2>& out);

} // namespace nnjit
