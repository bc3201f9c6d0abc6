// RowSplit: which values a function can compute on chunks of the batch's rows,
// so that evaluating or predicting 10,000 images never holds all their activations at once.
#include "RowSplit.h"

#include <algorithm>

namespace nnjit {
namespace {

using Dep = RowDependence;

/// Batch-major: the batch (or a multiple of it) is the outermost dim, so each
/// batch row owns one contiguous block of the value.
bool batchMajor(const Shape& s) { return s.rank() >= 1 && isBatchDim(s.dims[0]); }

/// Two dependences met in one node: rows and sums of rows do not mix.
Dep join(Dep a, Dep b) {
  if (a == Dep::None) return b;
  if (b == Dep::None || a == b) return a;
  return Dep::Mixed;
}

/// A value whose batch rows are the output's rows: batch-major, with the same
/// outermost dim and rank, so broadcasting lines its rows up with the output's.
bool rowsLineUp(const Shape& in, const Shape& out) {
  return batchMajor(in) && batchMajor(out) && in.rank() == out.rank() && in.dims[0] == out.dims[0];
}

bool reducesAxis0(const Node& n) {
  return std::find(n.attrs.ints.begin(), n.attrs.ints.end(), 0) != n.attrs.ints.end();
}

/// `transpose(a) @ b` with a and b the same rows: a sum over the rows (the
/// gradient of a weight, `transpose(x) @ dz`), so a chunk's product is its share.
/// So is a group product of `permute(a, [2, 1, 0])` and b (a Winograd
/// convolution's kernel gradient, one product per point of its tiles).
bool contractsRows(const Graph& g, const std::vector<Dep>& dep, const Node& n) {
  bool product = n.op == Op::MatMul && g.op(n.inputs[0]) == Op::Transpose;
  bool groups = n.op == Op::GroupMatMul && g.op(n.inputs[0]) == Op::Permute &&
                g.node(n.inputs[0]).attrs.ints == std::vector<int64_t>{2, 1, 0};
  if (!product && !groups) return false;
  NodeId a = g.node(n.inputs[0]).inputs[0], b = n.inputs[1];
  const Shape &sa = g.shape(a), &sb = g.shape(b);
  int rank = product ? 2 : 3;
  return dep[a] == Dep::PerRow && dep[b] == Dep::PerRow && sa.rank() == rank && sb.rank() == rank && batchMajor(sa) &&
         sa.dims[0] == sb.dims[0];
}

class Sweep {
public:
  Sweep(const Graph& g, BatchSizeIs size) : g_(g), size_(size), dep_(g.size(), Dep::None) {}

  std::vector<Dep> run() {
    for (NodeId n = 0; n < g_.size(); ++n) dep_[n] = of(n);
    return std::move(dep_);
  }

private:
  Dep in(const Node& n, size_t i) const { return dep_[n.inputs[i]]; }
  const Shape& shapeOf(const Node& n, size_t i) const { return g_.shape(n.inputs[i]); }
  Dep joined(const Node& n) const {
    Dep d = Dep::None;
    for (NodeId i : n.inputs) d = join(d, dep_[i]);
    return d;
  }
  /// A layout op that keeps each batch row's block where it was.
  Dep keepsRows(const Node& n, bool keeps) const {
    Dep d = joined(n);
    return d == Dep::PerRow && !(keeps && batchMajor(n.shape)) ? Dep::Mixed : d;
  }

  Dep of(NodeId id) const {
    const Node& n = g_.node(id);
    switch (n.op) {
    case Op::Input: return batchMajor(n.shape) ? Dep::PerRow : Dep::Mixed;
    case Op::BatchSize: return size_ == BatchSizeIs::ChunkRows ? Dep::Summed : Dep::None;
    case Op::Constant:
    case Op::Param:
    case Op::State:
    case Op::Epoch:
    case Op::Step:
    case Op::ConstantTensor:
    case Op::RandomKey: return Dep::None;

    case Op::Neg: case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Abs: case Op::Square: case Op::Tanh:
    case Op::Sigmoid: case Op::Relu: case Op::Softplus: case Op::Sin: case Op::Cos: case Op::Sign:
    case Op::LeakyRelu: case Op::StopGradient: case Op::Add: case Op::Sub: case Op::Mul: case Op::Div:
    case Op::Pow: case Op::Maximum: case Op::Minimum: case Op::Greater: case Op::GreaterEqual: case Op::Equal:
    case Op::Select: {
      Dep d = joined(n);
      if (d != Dep::PerRow) return d;
      for (size_t i = 0; i < n.inputs.size(); ++i)
        if (in(n, i) == Dep::PerRow && !rowsLineUp(shapeOf(n, i), n.shape)) return Dep::Mixed;
      return d;
    }
    // A dropout mask is drawn by the element's index in the whole batch: a
    // chunk adds its first row to it (the random key's word 3), so a
    // batch-major value keeps its rows.
    case Op::Dropout: return keepsRows(n, true);
    // Mode ops are gone once a function has its mode.
    case Op::Mode: return joined(n) == Dep::None ? Dep::None : Dep::Mixed;

    case Op::Broadcast: {
      Dep d = in(n, 0);
      if (d == Dep::None) return !n.shape.hasBatch() ? Dep::None : batchMajor(n.shape) ? Dep::PerRow : Dep::Mixed;
      if (d == Dep::PerRow) return rowsLineUp(shapeOf(n, 0), n.shape) ? Dep::PerRow : Dep::Mixed;
      return n.shape.hasBatch() ? Dep::Mixed : d;
    }
    case Op::Transpose: return keepsRows(n, n.shape.rank() >= 3);  // swaps the last two dims only
    case Op::Reshape: return keepsRows(n, true);  // row-major: batch-major to batch-major keeps the blocks
    case Op::Concat:
    case Op::Slice: return keepsRows(n, n.attrs.ints[0] != 0);
    case Op::OneHot:
    case Op::Patches:
    case Op::Unpatch:
    case Op::Tiles:  // never along the batch dim (ShapeRules)
    case Op::Untile: return keepsRows(n, true);
    case Op::Permute: return keepsRows(n, n.attrs.ints[0] == 0);

    case Op::Sum:
      if (in(n, 0) == Dep::PerRow && reducesAxis0(n)) return Dep::Summed;
      return keepsRows(n, true);
    case Op::Max:
    case Op::ArgMax:
      if (in(n, 0) == Dep::PerRow && reducesAxis0(n)) return Dep::Mixed;
      return keepsRows(n, true);

    case Op::MatMul:
    case Op::GroupMatMul: {
      if (contractsRows(g_, dep_, n)) return Dep::Summed;
      // [rows, k] @ [k, n] with a fixed right side: each row of the product is
      // its own row of the left side times the same matrix.
      Dep a = in(n, 0), b = in(n, 1);
      if (a == Dep::PerRow) return b == Dep::None && batchMajor(n.shape) ? Dep::PerRow : Dep::Mixed;
      return b == Dep::PerRow ? Dep::Mixed : join(a, b);
    }
    }
    return Dep::Mixed;
  }

  const Graph& g_;
  BatchSizeIs size_;
  std::vector<Dep> dep_;
};

} // namespace

std::vector<RowDependence> rowDependence(const Graph& g, BatchSizeIs size) { return Sweep(g, size).run(); }

std::optional<std::vector<NodeId>> batchSums(const Graph& g, const std::vector<NodeId>& roots, BatchSizeIs size) {
  std::vector<Dep> dep = rowDependence(g, size);
  for (NodeId r : roots)
    if (dep[r] != Dep::Summed && dep[r] != Dep::None) return std::nullopt;
  // The sums are the Summed nodes that read rows directly; everything between
  // them and the roots reads only sums, the batch size and fixed values.
  std::vector<bool> live = reachableFrom(g, roots);
  std::vector<NodeId> sums;
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || dep[n] != Dep::Summed) continue;
    const Node& node = g.node(n);
    if ((node.op == Op::Sum && dep[node.inputs[0]] == Dep::PerRow) || contractsRows(g, dep, node)) sums.push_back(n);
  }
  if (sums.empty()) return std::nullopt;
  return sums;
}

bool computedPerRow(const Graph& g, NodeId root) { return rowDependence(g)[root] == Dep::PerRow; }

} // namespace nnjit
