// MemoryPlan: where every intermediate lives in one arena, decided at compile time.
#include "MemoryPlan.h"

#include <algorithm>

namespace nnjit {
namespace {

/// 16 elements: 64 bytes of float, so every buffer starts on a cache line.
constexpr int64_t kAlign = 16;

int64_t roundUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

} // namespace

int64_t FirstFitPool::allocate(int64_t size) {
  for (auto it = gaps_.begin(); it != gaps_.end(); ++it) {
    auto [begin, end] = *it;
    if (end - begin < size) continue;
    gaps_.erase(it);
    if (end - begin > size) gaps_.emplace(begin + size, end);
    used_.emplace(begin, begin + size);
    return begin;
  }
  int64_t at = end_;
  used_.emplace(at, at + size);
  end_ = at + size;
  high_ = std::max(high_, end_);
  return at;
}

void FirstFitPool::release(int64_t offset) {
  auto it = used_.find(offset);
  if (it == used_.end()) return;
  int64_t begin = it->first, end = it->second;
  used_.erase(it);
  // Merge with the gaps on either side.
  if (auto next = gaps_.find(end); next != gaps_.end()) {
    end = next->second;
    gaps_.erase(next);
  }
  if (auto prev = gaps_.lower_bound(begin); prev != gaps_.begin() && std::prev(prev)->second == begin) {
    begin = std::prev(prev)->first;
    gaps_.erase(std::prev(prev));
  }
  if (end == end_) end_ = begin;  // the space above the last range in use is not a gap
  else gaps_.emplace(begin, end);
}

MemoryPlan planMemory(const Graph& g, const Schedule& s, const std::map<NodeId, int>& inSlot,
                      const std::vector<NodeId>& keepToEnd) {
  size_t never = s.kernels.size();
  std::map<NodeId, size_t> lastUse;
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId r : s.reads[k]) lastUse[r] = k;
  for (NodeId n : keepToEnd) lastUse[n] = never;

  MemoryPlan plan;
  FirstFitPool fixed, perRow;
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
