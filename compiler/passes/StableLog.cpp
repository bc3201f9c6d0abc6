// StableLog: log(softmax(x)) and log(sigmoid(x)) as forms that stay finite, before autodiff differentiates them.
#include "StableLog.h"

#include "../Builder.h"

namespace nnjit {
namespace {

/// The node's input if it is `op`, else kNoNode.
NodeId inputIf(const Graph& g, NodeId n, Op op) { return g.op(n) == op ? g.node(n).inputs[0] : kNoNode; }

/// The stable form of log(x), or kNoNode when x is neither a softmax nor a sigmoid.
NodeId stableLogOf(Builder& b, NodeId x) {
  const Graph& g = b.graph();
  if (g.op(x) == Op::Div) {
    NodeId e = g.node(x).inputs[0], denom = g.node(x).inputs[1];
    NodeId sum = inputIf(g, denom, Op::Reshape);
    if (g.op(e) == Op::Exp && sum != kNoNode && g.op(sum) == Op::Sum && g.node(sum).inputs[0] == e)
      return b.sub(g.node(e).inputs[0], b.unary(Op::Log, denom));
  }
  if (NodeId z = inputIf(g, x, Op::Sigmoid); z != kNoNode) return b.neg(b.unary(Op::Softplus, b.neg(z)));
  return kNoNode;
}

/// Every node id the model holds, so that a rewrite can move them all.
template <class F>
void forEachNodeRef(Model& m, F&& f) {
  for (InputInfo& in : m.inputs) f(in.node);
  for (ParamInfo& p : m.params) f(p.node);
  for (ModelState& s : m.states) f(s.leaf), f(s.update);
  for (NamedValue& v : m.values) f(v.node);
  for (NamedValue& v : m.metrics) f(v.node);
  if (m.output) f(m.output->node);
  if (m.optimizer) f(m.optimizer->lr);
  f(m.loss);
}

} // namespace

void stabilizeLogs(Model& m) {
  Graph& g = m.graph;
  Builder b(g);
  const NodeId before = g.size();
  std::vector<NodeId> moved(before);
  bool changed = false;
  for (NodeId i = 0; i < before; ++i) {
    Node node = g.node(i);  // a copy: adding nodes may move the graph's storage
    bool inputsMoved = false;
    for (NodeId& in : node.inputs) {
      inputsMoved |= moved[in] != in;
      in = moved[in];
    }
    b.setLoc(node.loc);
    NodeId stable = node.op == Op::Log ? stableLogOf(b, node.inputs[0]) : kNoNode;
    if (stable != kNoNode) moved[i] = stable;
    else if (inputsMoved) moved[i] = b.make(node.op, node.inputs, node.attrs, node.shape);
    else moved[i] = i;
    changed |= moved[i] != i;
  }
  if (!changed) return;
  forEachNodeRef(m, [&](NodeId& n) {
    if (n != kNoNode && n < before) n = moved[n];
  });
}

} // namespace nnjit
