// MemoryPlan: where every intermediate lives in one arena, decided at compile time.
#pragma once

#include "Fusion.h"

#include <map>

namespace nnjit {

/// Offsets are in elements. A buffer whose shape has the batch dim lives in
/// the per-row part of the arena, at staticSize + batch * rowOffset.
struct ArenaBuffer {
  bool perRow = false;
  int64_t offset = 0;
};

struct MemoryPlan {
  std::map<NodeId, ArenaBuffer> buffers;  // kernels not written straight into a slot
  int64_t staticSize = 0;
  int64_t rowSize = 0;
  int64_t elements(int64_t batch) const { return staticSize + rowSize * batch; }
};

/// First-fit placement of [offset, offset + size) ranges: each goes to the
/// lowest gap between the ranges in use that holds it, else after the last.
/// The gaps are kept apart from the ranges, so placing one costs what the
/// gaps number (a few), not what the ranges do (ten thousand scalar updates).
class FirstFitPool {
public:
  int64_t allocate(int64_t size);
  void release(int64_t offset);
  int64_t high() const { return high_; }  // the most the pool ever held

private:
  std::map<int64_t, int64_t> used_;  // begin -> end
  std::map<int64_t, int64_t> gaps_;  // begin -> end: free space below end_
  int64_t end_ = 0;                  // the end of the last range in use
  int64_t high_ = 0;
};

/// Plans the buffers of `s`'s kernels except those in `inSlot` (written to a
/// caller's buffer). Buffers are reused once their last reader has run;
/// those in `keepToEnd` stay valid until the function returns.
MemoryPlan planMemory(const Graph& g, const Schedule& s, const std::map<NodeId, int>& inSlot,
                      const std::vector<NodeId>& keepToEnd);

} // namespace nnjit
