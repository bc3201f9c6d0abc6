// Fusion: decides which nodes get a buffer; everything else is fused into its consumer's loop.
#include "Fusion.h"

namespace nnjit {

bool isCheap(const Graph& g, NodeId n, const std::vector<bool>& materialized,
             const std::function<bool(NodeId)>& inSlot) {
  const Node& node = g.node(n);
  if (materialized[n] || inSlot(n)) return true;
  auto inputsCheap = [&] {
    for (NodeId in : node.inputs)
      if (!isCheap(g, in, materialized, inSlot)) return false;
    return true;
  };
  switch (opKind(node.op)) {
  case OpKind::Leaf: return true;
  case OpKind::Layout: return node.op != Op::Concat && inputsCheap();
  case OpKind::Elementwise: return node.shape.isScalar() && inputsCheap();
  case OpKind::Reduction:
  case OpKind::Contraction: return false;
  }
  return false;
}

namespace {

/// Whether consumer `c` may recompute its unmaterialized input `in` inline
/// without doing more work than computing it once.
bool mayInline(const Graph& g, NodeId c, NodeId in) {
  const Node& node = g.node(c);
  switch (node.op) {
  case Op::MatMul:   // read k or n times per element
  case Op::Concat:   // both sides are evaluated for every element
  case Op::Reshape:  // would need a div/mod per element to find the source
  case Op::Broadcast:
    return false;
  default:
    // An elementwise consumer that broadcasts `in` would recompute it.
    return opKind(node.op) != OpKind::Elementwise || g.shape(in).elements(2) == node.shape.elements(2);
  }
}

} // namespace

void collectReads(const Graph& g, NodeId n, const std::vector<bool>& mat, const std::function<bool(NodeId)>& inSlot,
                  std::vector<NodeId>& out) {
  for (NodeId in : g.node(n).inputs) {
    if (mat[in] || inSlot(in)) {
      bool seen = false;
      for (NodeId r : out) seen |= r == in;
      if (!seen) out.push_back(in);
    } else {
      collectReads(g, in, mat, inSlot, out);
    }
  }
}

Schedule planFusion(const Graph& g, const std::vector<NodeId>& needed, const std::function<bool(NodeId)>& inSlot) {
  std::vector<bool> live = reachableFrom(g, needed);
  std::vector<int> uses = useCounts(g, live);
  Schedule s;
  s.materialized.assign(g.size(), false);
  std::vector<bool>& mat = s.materialized;
  for (NodeId r : needed)
    if (opKind(g.op(r)) != OpKind::Leaf) mat[r] = true;
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || opKind(g.op(n)) == OpKind::Leaf) continue;
    OpKind kind = opKind(g.op(n));
    if (kind == OpKind::Reduction || kind == OpKind::Contraction) mat[n] = true;
    for (NodeId in : g.node(n).inputs)
      if (!isCheap(g, in, mat, inSlot) && !mayInline(g, n, in)) mat[in] = true;
  }
  // A value read by several loops is computed once, unless it is cheap.
  for (NodeId n = 0; n < g.size(); ++n)
    if (live[n] && uses[n] > 1 && !isCheap(g, n, mat, inSlot)) mat[n] = true;
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || !mat[n] || opKind(g.op(n)) == OpKind::Leaf) continue;
    s.kernels.push_back(n);
    s.reads.emplace_back();
    collectReads(g, n, mat, inSlot, s.reads.back());
  }
  return s;
}

} // namespace nnjit
