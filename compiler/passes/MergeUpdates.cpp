// MergeUpdates: an update that only another update reads is computed inside that one's loop.
#include "MergeUpdates.h"

#include "InPlace.h"

#include <algorithm>

namespace nnjit {
namespace {

bool elementwiseKernel(const Graph& g, const Schedule& s, NodeId n) {
  return opKind(g.op(n)) == OpKind::Elementwise && s.epilogueOf[n] == kNoNode && g.op(n) != Op::Transpose;
}

bool contains(const std::vector<NodeId>& v, NodeId n) { return std::find(v.begin(), v.end(), n) != v.end(); }

/// The schedule of one function as the pass sees it: who reads each value,
/// and which leaf each slot holds.
struct Facts {
  const Graph& g;
  const FunctionCode& fc;
  const std::map<NodeId, int>& leafSlot;
  std::vector<std::vector<int>> readers;  // by value: kernels by position; -1 for a copy or an assign
  std::map<int, NodeId> leafOf;

  Facts(const Graph& graph, const FunctionCode& f, const std::map<NodeId, int>& slots)
      : g(graph), fc(f), leafSlot(slots), readers(graph.size()) {
    const Schedule& s = fc.schedule;
    for (size_t k = 0; k < s.kernels.size(); ++k)
      for (NodeId r : s.reads[k]) readers[r].push_back(static_cast<int>(k));
    for (const auto* list : {&fc.copies, &fc.assigns})
      for (const auto& [n, slot] : *list) readers[n].push_back(-1);
    for (const auto& [leaf, slot] : leafSlot) leafOf[slot] = leaf;
  }
  bool update(NodeId n) const { return fc.inPlace.count(n) && elementwiseKernel(g, fc.schedule, n); }
  NodeId slotLeaf(NodeId written) const {
    auto it = leafOf.find(fc.writesToSlot.at(written));
    return it == leafOf.end() ? kNoNode : it->second;
  }
};

/// Whether update R (kernel `from`) can be computed in K's loop (kernel `k`).
bool mergeable(const Facts& f, size_t from, size_t k) {
  const Schedule& s = f.fc.schedule;
  NodeId r = s.kernels[from], into = s.kernels[k];
  if (from < static_cast<size_t>(f.fc.guardBeforeKernel) || !f.update(r) || f.fc.alsoStores.count(r)) return false;
  if (f.g.shape(r) != f.g.shape(into) || f.readers[r] != std::vector<int>{static_cast<int>(k)}) return false;
  if (!readsOnlyAtOwnIndex(f.g, into, r, s, f.leafSlot)) return false;
  // In K's loop R reads the slots K writes (its own, and those of what it
  // already stores along) while K overwrites them: only at its own index, or
  // it would read elements already new (or another thread's).
  std::vector<NodeId> written{into};
  if (auto along = f.fc.alsoStores.find(into); along != f.fc.alsoStores.end())
    written.insert(written.end(), along->second.begin(), along->second.end());
  for (NodeId w : written)
    if (NodeId leaf = f.slotLeaf(w); leaf != kNoNode && !readsOnlyAtOwnIndex(f.g, r, leaf, s, f.leafSlot)) return false;
  NodeId ownLeaf = f.slotLeaf(r);
  if (ownLeaf != kNoNode && !readsOnlyAtOwnIndex(f.g, into, ownLeaf, s, f.leafSlot)) return false;
  // R moves from its place to K's: nothing between may write what R reads,
  // nor read or write R's slot.
  int slot = f.fc.writesToSlot.at(r);
  for (size_t between = from + 1; between < k; ++between) {
    NodeId x = s.kernels[between];
    auto xSlot = f.fc.writesToSlot.find(x);
    if (contains(s.reads[from], x) || contains(s.reads[between], ownLeaf)) return false;
    if (xSlot == f.fc.writesToSlot.end()) continue;
    if (xSlot->second == slot) return false;
    for (NodeId read : s.reads[from])
      if (auto rs = f.leafSlot.find(read); rs != f.leafSlot.end() && rs->second == xSlot->second) return false;
  }
  return true;
}

/// Drops the merged kernels from the schedule; the guard stays before the first update left.
void dropMerged(FunctionCode& fc, const std::vector<bool>& merged) {
  Schedule& s = fc.schedule;
  std::vector<NodeId> kernels;
  std::vector<std::vector<NodeId>> reads;
  int guard = -1;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    if (merged[k]) {
      s.materialized[s.kernels[k]] = false;
      continue;
    }
    if (guard < 0 && k >= static_cast<size_t>(fc.guardBeforeKernel)) guard = static_cast<int>(kernels.size());
    kernels.push_back(s.kernels[k]);
    reads.push_back(std::move(s.reads[k]));
  }
  s.kernels = std::move(kernels);
  s.reads = std::move(reads);
  fc.guardBeforeKernel = guard;
}

} // namespace

void mergeUpdates(const Graph& g, FunctionCode& fc, const std::map<NodeId, int>& leafSlot) {
  if (fc.guardBeforeKernel < 0) return;
  Facts facts(g, fc, leafSlot);
  Schedule& s = fc.schedule;
  std::vector<bool> merged(s.kernels.size(), false);
  for (size_t k = static_cast<size_t>(fc.guardBeforeKernel); k < s.kernels.size(); ++k) {
    if (!facts.update(s.kernels[k])) continue;
    std::vector<NodeId> reads = s.reads[k];
    for (NodeId r : s.reads[k]) {
      auto at = std::find(s.kernels.begin(), s.kernels.end(), r);
      if (at == s.kernels.end()) continue;
      size_t from = static_cast<size_t>(at - s.kernels.begin());
      if (merged[from] || !mergeable(facts, from, k)) continue;
      // K now reads what R read, and stores R along.
      merged[from] = true;
      fc.alsoStores[s.kernels[k]].push_back(r);
      reads.erase(std::find(reads.begin(), reads.end(), r));
      for (NodeId rr : s.reads[from])
        if (!contains(reads, rr)) reads.push_back(rr);
    }
    s.reads[k] = std::move(reads);
  }
  dropMerged(fc, merged);
}

} // namespace nnjit
