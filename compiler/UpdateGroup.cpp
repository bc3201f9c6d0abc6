// UpdateGroup: the updates of an entry point that run as one job on the threads.
#include "UpdateGroup.h"

#include "passes/InPlace.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

namespace nnjit {
namespace {

/// The nodes a call's kernel computes: its node and all it reaches through
/// its inputs short of the buffers it reads.
std::vector<NodeId> insideNodes(const Graph& g, const KernelCall& call) {
  std::set<NodeId> stop(call.reads.begin(), call.reads.end());
  stop.erase(call.node);
  std::vector<NodeId> out, stack{call.node};
  std::set<NodeId> seen{call.node};
  while (!stack.empty()) {
    NodeId n = stack.back();
    stack.pop_back();
    out.push_back(n);
    for (NodeId in : g.node(n).inputs)
      if (!stop.count(in) && seen.insert(in).second) stack.push_back(in);
  }
  return out;
}

/// Elements [begin, end) of a slot's buffer or of the arena's.
struct Span {
  int slot = -1;
  int64_t begin = 0, end = 0;
  bool overlaps(const Span& o) const { return slot == o.slot && begin < o.end && o.begin < end; }
};
constexpr int64_t kWhole = std::numeric_limits<int64_t>::max();

/// Where node `n` lives in `fc` (as CodeGen places it); nothing for a
/// buffer with the batch dim, whose place depends on the batch.
std::optional<Span> spanOf(const CodeGenInput& in, const FunctionCode& fc, NodeId n) {
  if (auto it = in.leafSlot.find(n); it != in.leafSlot.end()) return Span{it->second, 0, kWhole};
  if (auto it = fc.writesToSlot.find(n); it != fc.writesToSlot.end()) return Span{it->second, 0, kWhole};
  auto it = fc.memory.buffers.find(n);
  if (it == fc.memory.buffers.end() || it->second.perRow) return std::nullopt;
  return Span{in.arenaSlot, it->second.offset, it->second.offset + in.graph->shape(n).staticElements()};
}

struct Touches {
  std::vector<Span> reads, writes;
};

std::optional<Touches> touchesOf(const CodeGenInput& in, const FunctionCode& fc, const KernelCall& call) {
  Touches t;
  std::optional<Span> out = call.kind == KernelCall::Kind::Compute ? spanOf(in, fc, call.node)
                                                                     : std::optional(Span{call.slot, 0, kWhole});
  if (!out) return std::nullopt;
  t.writes.push_back(*out);
  for (NodeId a : call.alsoStores) {
    std::optional<Span> also = spanOf(in, fc, a);
    if (!also) return std::nullopt;
    t.writes.push_back(*also);
  }
  for (NodeId r : call.reads) {
    std::optional<Span> s = spanOf(in, fc, r);
    if (!s) return std::nullopt;
    t.reads.push_back(*s);
  }
  return t;
}

bool overlapsAny(const std::vector<Span>& a, const std::vector<Span>& b) {
  for (const Span& x : a)
    for (const Span& y : b)
      if (x.overlaps(y)) return true;
  return false;
}

bool candidate(const CodeGenInput& in, const FunctionCode& fc, const KernelCall& call) {
  const Graph& g = *in.graph;
  if (!call.guarded || call.kind != KernelCall::Kind::Compute) return false;
  if (opKind(g.op(call.node)) != OpKind::Elementwise || fc.schedule.epilogueOf[call.node] != kNoNode) return false;
  if (g.shape(call.node).rank() < 2 || g.shape(call.node).hasBatch()) return false;
  return fc.writesToSlot.count(call.node) > 0;
}

} // namespace

std::vector<bool> updateGroup(const CodeGenInput& in, const FunctionCode& fc, const std::vector<KernelCall>& calls) {
  const Graph& g = *in.graph;
  std::vector<bool> none(calls.size(), false), group(calls.size(), false);
  std::vector<Touches> touches(calls.size());
  size_t members = 0;
  for (size_t c = 0; c < calls.size(); ++c) {
    if (!calls[c].guarded) continue;
    std::optional<Touches> t = touchesOf(in, fc, calls[c]);
    if (!t) return none;
    touches[c] = std::move(*t);
    if (candidate(in, fc, calls[c])) group[c] = true, ++members;
  }
  // A member that reads what the group writes anywhere but at its own index
  // leaves it; what it writes then no longer counts, so look again.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<Span> written;
    for (size_t c = 0; c < calls.size(); ++c)
      if (group[c]) written.insert(written.end(), touches[c].writes.begin(), touches[c].writes.end());
    for (size_t c = 0; c < calls.size(); ++c) {
      for (size_t r = 0; r < calls[c].reads.size() && group[c]; ++r) {
        if (!overlapsAny({touches[c].reads[r]}, written)) continue;
        if (!readsOnlyAtOwnIndex(g, calls[c].node, calls[c].reads[r], fc.schedule, in.leafSlot))
          group[c] = false, changed = true, --members;
      }
    }
  }
  if (members < 2) return none;
  std::vector<Span> groupReads, groupWrites;
  size_t first = calls.size(), last = 0;
  for (size_t c = 0; c < calls.size(); ++c) {
    if (!group[c]) continue;
    first = std::min(first, c), last = c;
    groupReads.insert(groupReads.end(), touches[c].reads.begin(), touches[c].reads.end());
    groupWrites.insert(groupWrites.end(), touches[c].writes.begin(), touches[c].writes.end());
  }
  std::vector<Span> groupTouches = groupReads;
  groupTouches.insert(groupTouches.end(), groupWrites.begin(), groupWrites.end());
  // The job runs where the first member was: the calls between the first
  // member and the last then run after it, so they must not depend on it,
  // nor it on them. Calls after the last member run after it either way.
  for (size_t c = first; c < last; ++c) {
    if (group[c]) continue;
    if (!calls[c].guarded) return none;
    if (overlapsAny(touches[c].writes, groupTouches) || overlapsAny(touches[c].reads, groupWrites)) return none;
  }
  return group;
}

int64_t elementCost(const Graph& g, const KernelCall& call) {
  int64_t cost = 0;
  for (NodeId n : insideNodes(g, call)) {
    switch (g.op(n)) {
      case Op::Div:
      case Op::Sqrt:
      case Op::Exp:
      case Op::Log:
      case Op::Pow:
      case Op::Tanh:
      case Op::Sigmoid:
      case Op::Softplus:
      case Op::Sin:
      case Op::Cos:
        cost += 8;
        break;
      default:
        cost += opKind(g.op(n)) == OpKind::Leaf ? 0 : 1;
    }
  }
  return std::max<int64_t>(cost, 1);
}

} // namespace nnjit
