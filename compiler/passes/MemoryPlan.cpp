// MemoryPlan: where every intermediate lives in one arena, decided at compile time.
#include "MemoryPlan.h"

#include <algorithm>

namespace nnjit {
namespace {

/// 16 elements: 64 bytes of float, so every buffer starts on a cache line.
constexpr int64_t kAlign = 16;

int64_t roundUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

/// First-fit allocation of [offset, offset + size) ranges in one pool.
class Pool {
public:
  int64_t allocate(int64_t size) {
    int64_t at = 0;
    for (const auto& [begin, end] : used_) {
      if (begin - at >= size) break;
      at = std::max(at, end);
    }
    // Kept sorted by inserting in place: a sort per allocation made planning
    // a model of thousands of buffers quadratic times a log.
    used_.insert(std::upper_bound(used_.begin(), used_.end(), std::make_pair(at, at + size)), {at, at + size});
    high_ = std::max(high_, at + size);
    return at;
  }
  void release(int64_t offset) {
    used_.erase(std::find_if(used_.begin(), used_.end(), [&](const auto& r) { return r.first == offset; }));
  }
  int64_t high() const { return high_; }

private:
  std::vector<std::pair<int64_t, int64_t>> used_;
  int64_t high_ = 0;
};

} // namespace

MemoryPlan planMemory(const Graph& g, const Schedule& s, const std::map<NodeId, int>& inSlot,
                      const std::vector<NodeId>& keepToEnd) {
  size_t never = s.kernels.size();
  std::map<NodeId, size_t> lastUse;
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId r : s.reads[k]) lastUse[r] = k;
  for (NodeId n : keepToEnd) lastUse[n] = never;

  MemoryPlan plan;
  Pool fixed, perRow;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    NodeId n = s.kernels[k];
    if (!inSlot.count(n)) {
      const Shape& shape = g.shape(n);
      ArenaBuffer buf;
      buf.perRow = shape.hasBatch();
      buf.offset = (buf.perRow ? perRow : fixed).allocate(roundUp(shape.staticElements()));
      plan.buffers[n] = buf;
      // A value nobody reads (a dead kernel) is freed at once.
      if (!lastUse.count(n)) lastUse[n] = k;
    }
    // Release what this kernel was the last to read, after placing its output
    // so that the output never overlaps an input.
    std::vector<NodeId> done = s.reads[k];
    done.push_back(n);
    for (NodeId r : done) {
      auto it = plan.buffers.find(r);
      if (it != plan.buffers.end() && lastUse[r] == k) (it->second.perRow ? perRow : fixed).release(it->second.offset);
    }
  }
  plan.staticSize = roundUp(fixed.high());
  plan.rowSize = perRow.high();
  return plan;
}

} // namespace nnjit
