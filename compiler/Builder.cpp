// Builder: creates shape-checked nodes; the vocabulary of lowering and autodiff.
#include "Builder.h"

#include "InternalError.h"
#include "ShapeRules.h"

#include <algorithm>
#include <fmt/format.h>

namespace nnjit {

NodeId Builder::make(Op op, std::vector<NodeId> inputs, Attrs attrs, Shape preset) {
  std::vector<const Shape*> shapes;
  for (NodeId in : inputs) {
    if (in == kNoNode) return kNoNode;
    shapes.push_back(&g_.shape(in));
  }
  Shape out = std::move(preset);
  std::string err = inferShape(op, shapes, attrs, out);
  if (err.empty() && out.rank() > kMaxRank) err = fmt::format("the result would have {} dims, more than {}", out.rank(), kMaxRank);
  if (err.empty() && out.batchDims() > 1) err = fmt::format("{} would have more than one batch dim", out.str());
  if (err.empty() && out.staticElements() > kMaxElements)
    err = fmt::format("{} has more than {} elements", out.str(), kMaxElements);
  if (!err.empty()) {
    error_ = err;
    return kNoNode;
  }
  return g_.add(op, std::move(inputs), std::move(out), std::move(attrs), loc_, call_);
}

NodeId Builder::constant(double v) {
  Attrs a;
  a.value = v;
  return make(Op::Constant, {}, a);
}

NodeId Builder::reshape(NodeId x, Shape to) {
  if (x != kNoNode && shape(x) == to) return x;
  return make(Op::Reshape, {x}, {}, std::move(to));
}

NodeId Builder::broadcastTo(NodeId x, Shape to) {
  if (x != kNoNode && shape(x) == to) return x;
  return make(Op::Broadcast, {x}, {}, std::move(to));
}

NodeId Builder::reduce(Op op, NodeId x, std::vector<int64_t> axes) {
  if (x == kNoNode) return kNoNode;
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (axes.empty()) return x;
  Attrs a;
  a.ints = std::move(axes);
  return make(op, {x}, a);
}

NodeId Builder::mean(NodeId x, std::vector<int64_t> axes) {
  if (x == kNoNode) return kNoNode;
  int64_t count = 1;
  bool overBatch = false;
  for (int64_t a : axes) {
    int64_t d = shape(x).dims[a];
    if (isBatchDim(d)) overBatch = true;
    count *= isBatchDim(d) ? batchFactor(d) : d;
  }
  NodeId s = sum(x, axes);
  if (count != 1) s = div(s, constant(static_cast<double>(count)));
  if (overBatch) s = div(s, make(Op::BatchSize, {}));
  return s;
}

NodeId Builder::reduceKeep(Op op, NodeId x, std::vector<int64_t> axes) {
  if (x == kNoNode) return kNoNode;
  Shape kept = shape(x);
  for (int64_t a : axes) kept.dims[a] = 1;
  return reshape(reduce(op, x, std::move(axes)), kept);
}

NodeId Builder::sumTo(NodeId g, Shape target) {
  if (g == kNoNode || shape(g) == target) return g;
  const Shape from = shape(g);
  int lead = from.rank() - target.rank();
  std::vector<int64_t> axes;
  for (int i = 0; i < from.rank(); ++i) {
    int t = i - lead;
    if (t < 0 || (target.dims[t] == 1 && from.dims[i] != 1)) axes.push_back(i);
  }
  return reshape(sum(g, axes), target);
}

std::vector<int64_t> Builder::allAxes(const Shape& s) {
  std::vector<int64_t> axes(s.rank());
  for (int i = 0; i < s.rank(); ++i) axes[i] = i;
  return axes;
}

std::vector<NodeId> Builder::substitute(const std::vector<NodeId>& roots, const std::map<NodeId, NodeId>& replaced) {
  NodeId end = *std::max_element(roots.begin(), roots.end()) + 1;
  std::vector<bool> live = reachableFrom(g_, roots);
  std::vector<NodeId> map(end, kNoNode);
  for (NodeId n = 0; n < end; ++n) {
    if (!live[n]) continue;
    if (auto it = replaced.find(n); it != replaced.end()) {
      map[n] = it->second;
      continue;
    }
    const Node node = g_.node(n);  // a copy: the graph grows below
    std::vector<NodeId> inputs;
    for (NodeId in : node.inputs) inputs.push_back(map[in]);
    if (inputs == node.inputs) {
      map[n] = n;
      continue;
    }
    setLoc(node.loc);
    map[n] = make(node.op, inputs, node.attrs, node.shape);
    NNJIT_CHECK(map[n] != kNoNode, "substituting a value broke a shape");
  }
  std::vector<NodeId> out;
  for (NodeId r : roots) out.push_back(map[r]);
  return out;
}

} // namespace nnjit
