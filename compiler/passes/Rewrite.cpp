// Rewrite: the shared driver of graph passes — rebuild the live graph node by node.
#include "Rewrite.h"

#include "InternalError.h"

namespace nnjit {

NodeId copyNode(Builder& nb, const Node& old, const std::vector<NodeId>& inputs) {
  nb.setLoc(old.loc);
  NodeId n = nb.make(old.op, inputs, old.attrs, old.shape);
  NNJIT_CHECK(n != kNoNode, "a rewrite broke a shape");
  return n;
}

NodeId fitShape(Builder& nb, NodeId x, const Shape& shape) {
  return nb.shape(x) == shape ? x : nb.broadcastTo(x, shape);
}

bool isConstant(const Graph& g, NodeId n, double v) {
  while (g.op(n) == Op::Broadcast) n = g.node(n).inputs[0];
  return g.op(n) == Op::Constant && g.node(n).attrs.value == v;
}

void rebuild(Program& p, const RewriteRule& rule) {
  Graph out;
  out.reserve(p.graph.size());
  Builder nb(out);
  std::vector<bool> live = reachableFrom(p.graph, p.roots);
  std::vector<NodeId> map(p.graph.size(), kNoNode);
  for (NodeId i = 0; i < p.graph.size(); ++i) {
    if (!live[i]) continue;
    const Node& old = p.graph.node(i);
    std::vector<NodeId> inputs;
    for (NodeId in : old.inputs) inputs.push_back(map[in]);
    nb.setLoc(old.loc);
    NodeId n = rule ? rule(nb, old, inputs) : kNoNode;
    map[i] = n != kNoNode ? n : copyNode(nb, old, inputs);
    NNJIT_CHECK(out.shape(map[i]) == old.shape, "a rewrite changed a shape");
  }
  for (NodeId& r : p.roots) r = map[r];
  p.graph = std::move(out);
}

} // namespace nnjit
