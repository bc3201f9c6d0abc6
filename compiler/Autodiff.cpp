// Autodiff: symbolic reverse-mode differentiation, graph to graph.
#include "Autodiff.h"

#include "InternalError.h"

#include <fmt/format.h>

namespace nnjit {
namespace {

/// maximum/minimum: the loser of each element gets no gradient and a tie
/// shares it equally, as in PyTorch (and as nnjit's own max reduction does);
/// where neither loses nor ties (a NaN), each gets all of it, as in PyTorch.
std::vector<NodeId> tieShared(Builder& b, const std::vector<NodeId>& in, NodeId g, NodeId aLoses, NodeId bLoses) {
  NodeId share = b.select(b.binary(Op::Equal, in[0], in[1]), b.mul(g, b.constant(0.5)), g);
  NodeId zero = b.constant(0);
  return {b.sumTo(b.select(aLoses, zero, share), b.shape(in[0])), b.sumTo(b.select(bLoses, zero, share), b.shape(in[1]))};
}

/// One row per op: the gradients flowing into its inputs, given `g`, the
/// gradient flowing out of node `y`. kNoNode means "no gradient" (zero).
std::vector<NodeId> gradientRule(Builder& b, NodeId y, NodeId g) {
  const Node n = b.graph().node(y);
  const std::vector<NodeId>& in = n.inputs;
  NodeId x = in.empty() ? kNoNode : in[0];
  auto c = [&](double v) { return b.constant(v); };
  auto to = [&](NodeId grad, size_t i) { return b.sumTo(grad, b.shape(in[i])); };
  auto keepShape = [&](NodeId v) {  // y's value with the reduced axes kept as 1
    Shape kept = b.shape(x);
    for (int64_t a : n.attrs.ints) kept.dims[a] = 1;
    return b.broadcastTo(b.reshape(v, kept), b.shape(x));
  };
  switch (n.op) {
  case Op::Constant: case Op::Input: case Op::Param: case Op::State:
  case Op::Epoch: case Op::Step: case Op::BatchSize: case Op::ConstantTensor: case Op::RandomKey:
    return {};
  case Op::Neg: return {b.neg(g)};
  case Op::Exp: return {b.mul(g, y)};
  case Op::Log: return {b.div(g, x)};
  case Op::Sqrt: return {b.div(g, b.mul(c(2), y))};
  case Op::Abs: return {b.mul(g, b.unary(Op::Sign, x))};
  case Op::Square: return {b.mul(g, b.mul(c(2), x))};
  case Op::Tanh: return {b.mul(g, b.sub(c(1), b.unary(Op::Square, y)))};
  case Op::Sigmoid: return {b.mul(g, b.mul(y, b.sub(c(1), y)))};
  case Op::Relu: return {b.select(b.binary(Op::Greater, x, c(0)), g, c(0))};
  case Op::Softplus: return {b.mul(g, b.unary(Op::Sigmoid, x))};
  case Op::Sin: return {b.mul(g, b.unary(Op::Cos, x))};
  case Op::Cos: return {b.neg(b.mul(g, b.unary(Op::Sin, x)))};
  case Op::LeakyRelu:
    return {b.select(b.binary(Op::Greater, x, c(0)), g, b.mul(g, c(n.attrs.value)))};
  case Op::Sign: case Op::Greater: case Op::GreaterEqual: case Op::Equal:
  case Op::StopGradient: case Op::OneHot:
    return {}; // piecewise constant, or deliberately cut
  case Op::Add: return {to(g, 0), to(g, 1)};
  case Op::Sub: return {to(g, 0), to(b.neg(g), 1)};
  case Op::Mul: return {to(b.mul(g, in[1]), 0), to(b.mul(g, in[0]), 1)};
  case Op::Div: return {to(b.div(g, in[1]), 0), to(b.neg(b.div(b.mul(g, y), in[1])), 1)};
  case Op::Pow: {
    // PyTorch's convention at base 0, where the formulas give 0 * inf and
    // 1 * log(0): a^0 is 1 for every a, so d/da is 0 where b = 0; 0^b is 0
    // or 1 for every b >= 0, so d/db is 0 where a = 0 and b >= 0.
    NodeId da = b.mul(g, b.mul(in[1], b.binary(Op::Pow, in[0], b.sub(in[1], c(1)))));
    NodeId db = b.mul(g, b.mul(b.unary(Op::Log, in[0]), y));
    NodeId flatInA = b.binary(Op::Equal, in[1], c(0));
    NodeId flatInB = b.select(b.binary(Op::Equal, in[0], c(0)), b.binary(Op::GreaterEqual, in[1], c(0)), c(0));
    return {to(b.select(flatInA, c(0), da), 0), to(b.select(flatInB, c(0), db), 1)};
  }
  case Op::Maximum: return tieShared(b, in, g, b.binary(Op::Greater, in[1], in[0]), b.binary(Op::Greater, in[0], in[1]));
  case Op::Minimum: return tieShared(b, in, g, b.binary(Op::Greater, in[0], in[1]), b.binary(Op::Greater, in[1], in[0]));
  case Op::Select:
    return {kNoNode, to(b.select(in[0], g, c(0)), 1), to(b.select(in[0], c(0), g), 2)};
  case Op::Dropout:  // the same mask (same site, key and element) scales the gradient
    return {b.make(Op::Dropout, {g, in[1]}, n.attrs), kNoNode};
  case Op::Mode:
    internalError("a train/eval choice left for autodiff (specializeMode runs first)");
  case Op::Broadcast: return {to(g, 0)};
  case Op::Transpose: return {b.transpose(g)};
  case Op::Reshape: return {b.reshape(g, b.shape(x))};
  case Op::Concat: {
    int64_t axis = n.attrs.ints[0], split = b.shape(in[0]).dims[axis];
    Attrs first, second;
    first.ints = {axis, 0};
    second.ints = {axis, split};
    return {b.make(Op::Slice, {g}, first, b.shape(in[0])), b.make(Op::Slice, {g}, second, b.shape(in[1]))};
  }
  case Op::Slice: {
    // Pad g back to x's shape with zeros on both sides of the slice.
    int64_t axis = n.attrs.ints[0], start = n.attrs.ints[1];
    Shape before = b.shape(x), after = b.shape(x);
    before.dims[axis] = start;
    after.dims[axis] = b.shape(x).dims[axis] - start - b.shape(y).dims[axis];
    Attrs at;
    at.ints = {axis};
    NodeId out = g;
    if (before.dims[axis] > 0) out = b.make(Op::Concat, {b.broadcastTo(c(0), before), out}, at);
    if (after.dims[axis] > 0) out = b.make(Op::Concat, {out, b.broadcastTo(c(0), after)}, at);
    return {out};
  }
  case Op::Patches: return {b.make(Op::Unpatch, {g}, n.attrs, b.shape(x))};
  case Op::Unpatch: return {b.make(Op::Patches, {g}, n.attrs, b.shape(x))};
  case Op::Tiles: return {b.make(Op::Untile, {g}, n.attrs, b.shape(x))};
  case Op::Untile: return {b.make(Op::Tiles, {g}, n.attrs, b.shape(x))};
  case Op::Permute: {
    Attrs inverse;
    inverse.ints.assign(n.attrs.ints.size(), 0);
    for (size_t d = 0; d < n.attrs.ints.size(); ++d) inverse.ints[size_t(n.attrs.ints[d])] = int64_t(d);
    return {b.make(Op::Permute, {g}, inverse)};
  }
  case Op::Sum: return {keepShape(g)};
  case Op::Max: {
    // Ties share the gradient equally, like NumPy-style amax.
    NodeId mask = b.binary(Op::Equal, x, keepShape(y));
    NodeId count = keepShape(b.reduce(Op::Sum, mask, n.attrs.ints));
    return {b.div(b.mul(keepShape(g), mask), count)};
  }
  case Op::ArgMax:
    return {kNoNode}; // reported by the caller: it has no gradient
  case Op::MatMul:
    return {b.matmul(g, b.transpose(in[1])), b.matmul(b.transpose(in[0]), g)};
  case Op::GroupMatMul: {  // each group's product's rule, the groups kept in the middle
    Attrs outer, middle;
    outer.ints = {2, 1, 0};
    middle.ints = {1, 0, 2};
    // B's transpose, [n, g, k], as a view of [g, n, k]: one matrix per group,
    // its rows k apart (a row g * k apart would crowd a few cache sets).
    NodeId bT = b.make(Op::Permute, {b.transpose(b.make(Op::Permute, {in[1]}, middle))}, middle);
    return {b.make(Op::GroupMatMul, {g, bT}), b.make(Op::GroupMatMul, {b.make(Op::Permute, {in[0]}, outer), g})};
  }
  }
  return {};
}

bool hasNoGradient(Op op) { return op == Op::ArgMax; }

} // namespace

std::optional<Op> opNamed(const std::string& name) {
  for (int i = 0; i < kOpCount; ++i)
    if (name == opInfo(static_cast<Op>(i)).name) return static_cast<Op>(i);
  return std::nullopt;
}

std::vector<NodeId> differentiate(Builder& b, NodeId loss, const std::vector<NodeId>& wrt,
                                  DiagnosticEngine& diags, std::optional<Op> faultyOp) {
  Graph& g = b.graph();
  // Only nodes between a wrt leaf and the loss carry gradient.
  std::vector<bool> fromWrt(g.size(), false);
  for (NodeId w : wrt) fromWrt[w] = true;
  fromWrt = dependentsOf(g, std::move(fromWrt));
  std::vector<bool> toLoss = reachableFrom(g, {loss});

  // A metrics-only op between a param and the loss would silently give zero
  // gradient (its consumers are piecewise constant): refuse it by name.
  for (NodeId y = 0; y <= loss; ++y)
    if (fromWrt[y] && toLoss[y] && hasNoGradient(g.op(y))) {
      // Named as written: `accuracy(...)` is lowered to an argmax. A node
      // shared with a metric keeps the metric's call and place: then the
      // loss's own statement is where to look.
      std::string name = opInfo(g.op(y)).spelling;
      SourceLoc at = g.node(y).loc;
      int32_t c = g.node(y).call;
      NodeId result = c >= 0 ? g.calls()[c].result : kNoNode;
      bool onPath = result != kNoNode && result <= loss && fromWrt[result] && toLoss[result];
      if (c >= 0 && g.calls()[c].builtin && onPath) {
        name = g.calls()[c].name;
        at = g.calls()[c].loc;
      } else if (c >= 0 && !onPath) {
        at = g.node(loss).loc;
      }
      diags.error(at, fmt::format("'{}' has no gradient (accuracy and argmax are for metrics only), "
                                  "but the loss depends on it through a param", name));
    }
  if (diags.hasErrors()) return {};

  NodeId last = g.size();
  std::vector<NodeId> adjoint(last, kNoNode);
  b.setLoc(g.node(loss).loc);
  adjoint[loss] = b.constant(1);
  for (NodeId y = loss; y >= 0; --y) {
    if (adjoint[y] == kNoNode || !fromWrt[y] || !toLoss[y]) continue;
    b.setLoc(g.node(y).loc);
    std::vector<NodeId> grads = gradientRule(b, y, adjoint[y]);
    if (faultyOp == g.op(y))
      for (NodeId& grad : grads)
        if (grad != kNoNode) grad = b.mul(grad, b.constant(1.5));
    std::vector<NodeId> inputs = g.node(y).inputs;  // copy: the rule may grow the graph
    for (size_t i = 0; i < grads.size(); ++i) {
      NodeId in = inputs[i];
      if (grads[i] == kNoNode || !fromWrt[in]) continue;
      adjoint[in] = adjoint[in] == kNoNode ? grads[i] : b.add(adjoint[in], grads[i]);
    }
  }
  std::vector<NodeId> out;
  for (NodeId w : wrt)
    out.push_back(adjoint[w] != kNoNode ? adjoint[w] : b.broadcastTo(b.constant(0), g.shape(w)));
  return out;
}

} // namespace nnjit
