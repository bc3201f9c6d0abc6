// Shape: tensor dims, with the symbolic `batch` dim known only at run time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnjit {

/// The size of the `batch` dim, unknown until a batch arrives.
constexpr int64_t kBatch = -1;

/// A dim of `batch` times c rows is written -c: a convolution multiplies the
/// batch's rows by its output pixels ([batch*196, 800] @ [800, 64]). Only the
/// compiler makes such dims; -1 is plain `batch`.
inline bool isBatchDim(int64_t d) { return d < 0; }
inline int64_t batchTimes(int64_t c) { return -c; }
/// The rows of batch dim `d` per batch row (1 for plain `batch`).
inline int64_t batchFactor(int64_t d) { return -d; }
/// Dim `d` taken `k` times over (each image's `k` windows as rows): a batch dim stays one.
inline int64_t dimTimes(int64_t d, int64_t k) { return isBatchDim(d) ? batchTimes(batchFactor(d) * k) : d * k; }

/// Largest element count (per batch row) we plan buffers for; beyond it a
/// shape is refused before anything is allocated.
constexpr int64_t kMaxElements = int64_t(1) << 31;

/// Most dims a value may have (NumPy's limit). Every stage walks a shape per
/// node, and codegen nests a loop per dim: a rank-100,000 value took 46 s and
/// 4 GB before codegen crashed, so larger ranks are refused where shapes are
/// made (declarations, reshape, and every op in Builder::make).
constexpr int kMaxRank = 32;

struct Shape {
  std::vector<int64_t> dims;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}

  int rank() const { return static_cast<int>(dims.size()); }
  bool isScalar() const { return dims.empty(); }
  int batchDims() const;
  bool hasBatch() const { return batchDims() > 0; }
  /// Elements per batch row: the product of the non-batch dims.
  int64_t staticElements() const;
  /// Elements for a batch of `batch` rows.
  int64_t elements(int64_t batch) const;
  std::string str() const;

  bool operator==(const Shape& o) const { return dims == o.dims; }
  bool operator!=(const Shape& o) const { return dims != o.dims; }
};

/// Whether `a` and `b` differ only in dims of size 1 (a reshape between them
/// moves no element: index i of one is index i of the other, unit dims aside).
bool sameUnitFree(const Shape& a, const Shape& b);

/// NumPy broadcasting of two shapes; false when they do not broadcast.
bool broadcastShapes(const Shape& a, const Shape& b, Shape& out);

} // namespace nnjit
