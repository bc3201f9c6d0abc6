// MergeUpdates: an update that only another update reads is computed inside that one's loop.
#include "MergeUpdates.h"

#include "InPlace.h"

#include <algorithm>

namespace nnjit {
namespace {

bool elementwiseKernel(const Graph& g, const Schedule& s, NodeId n) {
  return opKind(g.op(n)) == OpKind::Elementwise && s.epilogueOf[n] == kNoNode && g.op(n) != Op::Transpose;
}

} // namespace

void mergeUpdates(const Graph& g, FunctionCode& fc, const std::map<NodeId, int>& leafSlot) {
  Schedule& s = fc.schedule;
  if (fc.guardBeforeKernel < 0) return;
  // Every reader of each value: kernels by position; copies and assigns read after all of them.
  std::vector<std::vector<int>> readers(g.size());
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId r : s.reads[k]) readers[r].push_back(static_cast<int>(k));
  for (const auto* list : {&fc.copies, &fc.assigns})
    for (const auto& [n, slot] : *list) readers[n].push_back(-1);
  std::map<int, NodeId> leafOf;
  for (const auto& [leaf, slot] : leafSlot) leafOf[slot] = leaf;
  auto update = [&](NodeId n) { return fc.inPlace.count(n) && elementwiseKernel(g, s, n); };
  std::vector<bool> merged(s.kernels.size(), false);
  for (size_t k = static_cast<size_t>(fc.guardBeforeKernel); k < s.kernels.size(); ++k) {
    NodeId into = s.kernels[k];
    if (!update(into)) continue;
    std::vector<NodeId> reads = s.reads[k];
    for (NodeId r : s.reads[k]) {
      auto at = std::find(s.kernels.begin(), s.kernels.end(), r);
      if (at == s.kernels.end()) continue;
      size_t from = static_cast<size_t>(at - s.kernels.begin());
      bool mergeable = from >= static_cast<size_t>(fc.guardBeforeKernel) && !merged[from] && update(r) &&
                       !fc.alsoStores.count(r) && g.shape(r) == g.shape(into) && readers[r] == std::vector<int>{int(k)} &&
                       readsOnlyAtOwnIndex(g, into, r, s, leafSlot);
      // R moves from its place to K's: nothing between may write what it
      // reads, nor read or write its slot.
      if (!mergeable) continue;
      int slot = fc.writesToSlot.at(r);
      NodeId slotLeaf = leafOf.count(slot) ? leafOf[slot] : kNoNode;
      // Inside K's loop R reads the slots K writes (its own, and those of
      // what it already stores along) while K overwrites them: only at its
      // own index, or it would read some already new (or another thread's).
      std::vector<NodeId> written{into}, overwritten;
      if (auto along = fc.alsoStores.find(into); along != fc.alsoStores.end())
        written.insert(written.end(), along->second.begin(), along->second.end());
      for (NodeId w : written)
        if (int ws = fc.writesToSlot.at(w); leafOf.count(ws)) overwritten.push_back(leafOf[ws]);
      for (NodeId leaf : overwritten) mergeable = mergeable && readsOnlyAtOwnIndex(g, r, leaf, s, leafSlot);
      if (slotLeaf != kNoNode) mergeable = mergeable && readsOnlyAtOwnIndex(g, into, slotLeaf, s, leafSlot);
      for (size_t between = from + 1; between < k && mergeable; ++between) {
        NodeId x = s.kernels[between];
        const std::vector<NodeId>& xr = s.reads[between];
        bool touches = std::find(s.reads[from].begin(), s.reads[from].end(), x) != s.reads[from].end() ||
                       std::find(xr.begin(), xr.end(), slotLeaf) != xr.end() ||
                       (fc.writesToSlot.count(x) && fc.writesToSlot.at(x) == slot);
        for (NodeId rr : s.reads[from])
          if (fc.writesToSlot.count(x) && leafSlot.count(rr) && leafSlot.at(rr) == fc.writesToSlot.at(x)) touches = true;
        mergeable = !touches;
      }
      if (!mergeable) continue;
      merged[from] = true;
      fc.alsoStores[into].push_back(r);
      reads.erase(std::find(reads.begin(), reads.end(), r));
      for (NodeId rr : s.reads[from])
        if (std::find(reads.begin(), reads.end(), rr) == reads.end()) reads.push_back(rr);
    }
    s.reads[k] = std::move(reads);
  }
  // The merged kernels leave the schedule; the guard stays before the first update left.
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

} // namespace nnjit
