// Simplify: algebraic identities that autodiff and optimizers leave behind.
#include "Passes.h"
#include "Rewrite.h"

namespace nnjit {
namespace {

/// sum(broadcast(x)) over axes that only the broadcast created is x times
/// their size: no loop at all. Autodiff makes this shape for every
/// gradient of a mean flowing into a bias.
NodeId sumOfBroadcast(Builder& nb, const Node& old, NodeId bcast) {
  const Graph& g = nb.graph();
  NodeId x = g.node(bcast).inputs[0];
  Shape from = g.shape(x), to = g.shape(bcast);
  int lead = to.rank() - from.rank();
  std::vector<int64_t> kept;  // x's dims that survive the sum
  NodeId count = nb.constant(1);
  double fixed = 1;
  std::vector<bool> reduced(to.rank(), false);
  for (int64_t a : old.attrs.ints) reduced[a] = true;
  for (int d = 0; d < to.rank(); ++d) {
    bool created = d < lead || (from.dims[d - lead] == 1 && to.dims[d] != 1);
    if (reduced[d] && !created) return kNoNode;
    if (reduced[d]) {
      if (isBatchDim(to.dims[d])) count = nb.make(Op::BatchSize, {});
      fixed *= static_cast<double>(isBatchDim(to.dims[d]) ? batchFactor(to.dims[d]) : to.dims[d]);
    } else if (d >= lead) {
      kept.push_back(from.dims[d - lead]);
    }
  }
  NodeId scaled = nb.mul(nb.reshape(x, Shape(kept)), nb.mul(count, nb.constant(fixed)));
  return fitShape(nb, scaled, old.shape);
}

/// The batch a product's cost is weighed at when the batch is not known yet.
constexpr int64_t kTypicalBatch = 256;

/// A @ transpose(B) needs B's transpose in memory (the micro-kernel reads B
/// by rows): n*k elements per step, whatever the batch. With A's rows the
/// batch and B a fixed [n, k] weight (a gradient's dZ @ W^T), transpose(B @
/// transpose(A)) transposes only the batch's [m, k] and [n, m] values: for a
/// 3136 x 1024 weight, a 3.2M-element copy per step becomes two of 100K.
/// Each element is the same sum in the same order, so the bits do not change.
NodeId productOfTransposed(Builder& nb, NodeId a, NodeId b) {
  const Shape &sa = nb.shape(a), &sb = nb.shape(b);
  if (!isBatchDim(sa.dims[0]) || sb.hasBatch()) return kNoNode;
  int64_t n = sb.dims[0], k = sb.dims[1];
  if (n * k <= kTypicalBatch * (n + k)) return kNoNode;
  return nb.transpose(nb.matmul(b, nb.transpose(a)));
}

/// transpose(A) @ B over many rows of k (a convolution's weight gradient:
/// 196 rows an image), with A wide and B narrow ([k, 800] and [k, 64]),
/// reads A down its columns: every step of k a new cache line of it, each
/// fetched once for every row tile that shares it. transpose(transpose(B) @
/// A) streams A along its rows as the micro-kernel's B operand instead, each
/// line once, and broadcasts from the narrow one; only the small [64, 800]
/// result is transposed. The same sums in the same order: the same bits.
NodeId productOfWideTransposed(Builder& nb, NodeId a, NodeId b) {
  const Shape &sa = nb.shape(a), &sb = nb.shape(b);
  if (sa.rank() != 2 || sb.rank() != 2 || !isBatchDim(sa.dims[0]) || sa.dims[0] != sb.dims[0]) return kNoNode;
  int64_t m = sa.dims[1], n = sb.dims[1];
  if (isBatchDim(m) || isBatchDim(n) || batchFactor(sa.dims[0]) < 33 || m < 4 * n) return kNoNode;
  return nb.transpose(nb.matmul(nb.transpose(b), a));
}

NodeId simplifyNode(Builder& nb, const Node& old, const std::vector<NodeId>& in) {
  const Graph& g = nb.graph();
  auto is = [&](size_t i, double v) { return isConstant(g, in[i], v); };
  auto keep = [&](NodeId x) { return fitShape(nb, x, old.shape); };
  auto opOf = [&](size_t i) { return g.op(in[i]); };
  switch (old.op) {
  case Op::Add:
    if (is(1, 0)) return keep(in[0]);
    if (is(0, 0)) return keep(in[1]);
    break;
  case Op::Sub:
    if (is(1, 0)) return keep(in[0]);
    if (is(0, 0)) return keep(nb.neg(in[1]));
    break;
  case Op::Mul:
    // x*0 is not folded: it is NaN when x is inf or NaN.
    if (is(1, 1)) return keep(in[0]);
    if (is(0, 1)) return keep(in[1]);
    if (is(1, -1)) return keep(nb.neg(in[0]));
    if (is(0, -1)) return keep(nb.neg(in[1]));
    break;
  case Op::Div:
    if (is(1, 1)) return keep(in[0]);
    break;
  case Op::Pow:
    if (is(1, 1)) return keep(in[0]);
    if (is(1, 2)) return keep(nb.unary(Op::Square, in[0]));
    break;
  case Op::Neg:
    if (opOf(0) == Op::Neg) return g.node(in[0]).inputs[0];
    break;
  case Op::Transpose:
    if (opOf(0) == Op::Transpose) return g.node(in[0]).inputs[0];
    break;
  case Op::Reshape:
    if (opOf(0) == Op::Reshape) return nb.reshape(g.node(in[0]).inputs[0], old.shape);
    if (nb.shape(in[0]) == old.shape) return in[0];
    break;
  case Op::Broadcast:
    if (opOf(0) == Op::Broadcast) return nb.broadcastTo(g.node(in[0]).inputs[0], old.shape);
    if (nb.shape(in[0]) == old.shape) return in[0];
    break;
  case Op::Select:
    if (opOf(0) == Op::Constant) return keep(g.node(in[0]).attrs.value != 0 ? in[1] : in[2]);
    if (in[1] == in[2]) return keep(in[1]);
    break;
  case Op::Sum:
    if (opOf(0) == Op::Broadcast) return sumOfBroadcast(nb, old, in[0]);
    break;
  case Op::MatMul:
    if (opOf(1) == Op::Transpose) return productOfTransposed(nb, in[0], g.node(in[1]).inputs[0]);
    if (opOf(0) == Op::Transpose) return productOfWideTransposed(nb, g.node(in[0]).inputs[0], in[1]);
    break;
  case Op::StopGradient:
    // Past autodiff it means nothing; dropping it lets CSE share the value.
    return in[0];
  default:
    break;
  }
  return kNoNode;
}

} // namespace

void simplify(Program& p) { rebuild(p, simplifyNode); }

} // namespace nnjit
