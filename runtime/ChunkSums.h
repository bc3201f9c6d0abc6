// ChunkSums: the fixed order in which a train step adds its chunks' sums (docs/language.md, "Threads and processes").
#pragma once

#include <cstdint>

namespace nnjit {

/// The sums of a batch are a binary tree over its chunks, fixed by the chunk
/// count alone: level by level, chunk lo takes in chunk lo + step, so with
/// chunks p0..p4 the total is ((p0 + p1) + (p2 + p3)) + p4. Every aligned
/// block of chunks is a subtree, and each element is added in the same order
/// whoever computed which chunk: the same bits for any threads or processes.
/// `sums` holds the chunks one after another, `stride` elements each; the
/// total of elements [begin, end) lands in `total` (chunk 0's own, or a block
/// of its own that the tree's last addition writes).
template <typename T>
void addChunkSums(T* sums, int64_t stride, int64_t chunks, int64_t begin, int64_t end, T* total) {
  for (int64_t step = 1; step < chunks; step *= 2)
    for (int64_t lo = 0; lo + step < chunks; lo += 2 * step) {
      const T *a = sums + lo * stride, *b = sums + (lo + step) * stride;
      T* into = lo == 0 && 2 * step >= chunks ? total : sums + lo * stride;
      for (int64_t i = begin; i < end; ++i) into[i] = a[i] + b[i];
    }
  if (chunks == 1 && total != sums)
    for (int64_t i = begin; i < end; ++i) total[i] = sums[i];
}

} // namespace nnjit
