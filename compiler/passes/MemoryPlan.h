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

/// Plans the buffers of `s`'s kernels except those in `inSlot` (written to a
/// caller's buffer). Buffers are reused once their last reader has run;
/// those in `keepToEnd` stay valid until the function returns.
MemoryPlan planMemory(const Graph& g, const Schedule& s, const std::map<NodeId, int>& inSlot,
                      const std::vector<NodeId>& keepToEnd);

} // namespace nnjit
