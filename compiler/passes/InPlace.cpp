// InPlace: updates that write their param or state slot directly, without a buffer and a copy.
#include "InPlace.h"

#include <algorithm>
#include <climits>

namespace nnjit {

bool readsOnlyAtOwnIndex(const Graph& g, NodeId v, NodeId leaf, const Schedule& s,
                         const std::map<NodeId, int>& leafSlot) {
  // The nodes computed inline with v, up to the buffers it reads.
  std::vector<NodeId> inside, stack{v};
  std::vector<bool> seen(g.size(), false);
  while (!stack.empty()) {
    NodeId n = stack.back();
    stack.pop_back();
    if (seen[n]) continue;
    seen[n] = true;
    inside.push_back(n);
    for (NodeId in : g.node(n).inputs) {
      bool buffer = in == leaf || leafSlot.count(in) || s.materialized[in];
      if (!buffer) stack.push_back(in);
    }
  }
  // Every node between v and the leaf must keep the index: an elementwise op
  // of the leaf's shape whose input with the leaf, directly or through such
  // ops, keeps it too (a transpose above one moves it). Inputs come first
  // in creation order.
  std::sort(inside.begin(), inside.end());
  const Shape& shape = g.shape(leaf);
  std::vector<bool> sees(g.size(), false);
  for (NodeId n : inside) {
    for (NodeId in : g.node(n).inputs) sees[n] = sees[n] || in == leaf || sees[in];
    if (sees[n] && (opKind(g.op(n)) != OpKind::Elementwise || g.shape(n) != shape)) return false;
  }
  return true;
}

void updateInPlace(const Graph& g, FunctionCode& fc, const std::map<NodeId, int>& leafSlot) {
  const Schedule& s = fc.schedule;
  std::vector<int> position(g.size(), -1);
  for (size_t k = 0; k < s.kernels.size(); ++k) position[s.kernels[k]] = static_cast<int>(k);
  int loss = -1;
  for (const auto& [n, slot] : fc.writesToSlot)
    if (slot == fc.finiteGuardSlot) loss = position[n];
  if (loss < 0) return;  // the guard could only run after every kernel
  // The last kernel that reads each buffer; copies read after every kernel.
  std::vector<int> lastRead(g.size(), -1);
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId r : s.reads[k]) lastRead[r] = std::max(lastRead[r], static_cast<int>(k));
  auto inSlot = [&](NodeId n) { return leafSlot.count(n) > 0; };
  ReadCollector collect(g, s.materialized, inSlot);
  for (const auto* list : {&fc.copies, &fc.assigns})
    for (const auto& [n, slot] : *list) {
      if (s.materialized[n] || inSlot(n)) continue;  // the copy reads n's own buffer
      for (NodeId r : collect.reads(n)) lastRead[r] = INT_MAX;
    }
  std::map<int, NodeId> leafOf;
  for (const auto& [leaf, slot] : leafSlot) leafOf[slot] = leaf;
  std::vector<std::pair<NodeId, int>> copied;
  for (const auto& [v, slot] : fc.assigns) {
    NodeId leaf = leafOf.count(slot) ? leafOf[slot] : kNoNode;
    bool inPlace = leaf != kNoNode && s.materialized[v] && !inSlot(v) && !fc.writesToSlot.count(v) &&
                   opKind(g.op(v)) == OpKind::Elementwise && s.epilogueOf[v] == kNoNode &&
                   g.shape(v) == g.shape(leaf) && position[v] > loss && lastRead[leaf] <= position[v] &&
                   readsOnlyAtOwnIndex(g, v, leaf, s, leafSlot);
    if (!inPlace) {
      copied.push_back({v, slot});
      continue;
    }
    fc.writesToSlot[v] = slot;
    fc.inPlace.insert(v);
    if (fc.guardBeforeKernel < 0 || position[v] < fc.guardBeforeKernel) fc.guardBeforeKernel = position[v];
  }
  fc.assigns = std::move(copied);
}

} // namespace nnjit
