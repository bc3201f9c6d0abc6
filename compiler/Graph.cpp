// Graph: one hash-consed SSA node type for the whole computation.
#include "Graph.h"

#include <cstring>
#include <functional>
#include <iterator>

namespace nnjit {

const OpInfo& opInfo(Op op) {
  static const OpInfo table[] = {
#define NNJIT_OP(Name, Arity, Kind, Spelling) {#Name, Arity, OpKind::Kind, Spelling},
#include "Ops.def"
  };
  static_assert(std::size(table) == kOpCount);
  return table[static_cast<int>(op)];
}

bool Attrs::operator==(const Attrs& o) const {
  // Compare constants bitwise so that 0.0 and -0.0 (and NaNs) stay distinct.
  return std::memcmp(&value, &o.value, sizeof value) == 0 && ints == o.ints && name == o.name &&
         values.size() == o.values.size() &&
         (values.empty() || std::memcmp(values.data(), o.values.data(), values.size() * sizeof(double)) == 0);
}

size_t Graph::hashOf(Op op, const std::vector<NodeId>& inputs, const Shape& shape, const Attrs& attrs) {
  size_t h = std::hash<int>()(static_cast<int>(op));
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (NodeId i : inputs) mix(std::hash<NodeId>()(i));
  for (int64_t d : shape.dims) mix(std::hash<int64_t>()(d));
  uint64_t bits;
  std::memcpy(&bits, &attrs.value, sizeof bits);
  mix(std::hash<uint64_t>()(bits));
  for (int64_t v : attrs.ints) mix(std::hash<int64_t>()(v));
  mix(std::hash<std::string>()(attrs.name));
  for (double v : attrs.values) {
    std::memcpy(&bits, &v, sizeof bits);
    mix(std::hash<uint64_t>()(bits));
  }
  return h;
}

/// The index holds each node's hash, not a copy of its fields: a lookup
/// compares the few nodes of equal hash in place, so adding a node
/// allocates only the node itself.
NodeId Graph::add(Op op, std::vector<NodeId> inputs, Shape shape, Attrs attrs, SourceLoc loc, int32_t call) {
  size_t hash = hashOf(op, inputs, shape, attrs);
  auto [first, last] = index_.equal_range(hash);
  for (auto it = first; it != last; ++it) {
    const Node& n = nodes_[it->second];
    if (n.op == op && n.inputs == inputs && n.shape.dims == shape.dims && n.attrs == attrs) return it->second;
  }
  NodeId id = size();
  nodes_.push_back(Node{op, std::move(inputs), std::move(shape), std::move(attrs), loc, call});
  index_.emplace(hash, id);
  return id;
}

std::vector<bool> reachableFrom(const Graph& g, const std::vector<NodeId>& roots) {
  std::vector<bool> live(g.size(), false);
  for (NodeId r : roots) live[r] = true;
  for (NodeId i = g.size() - 1; i >= 0; --i)
    if (live[i])
      for (NodeId in : g.node(i).inputs) live[in] = true;
  return live;
}

std::vector<bool> dependentsOf(const Graph& g, std::vector<bool> seeds) {
  for (NodeId i = 0; i < g.size(); ++i)
    for (NodeId in : g.node(i).inputs) seeds[i] = seeds[i] || seeds[in];
  return seeds;
}

std::vector<int> useCounts(const Graph& g, const std::vector<bool>& live) {
  std::vector<int> uses(g.size(), 0);
  for (NodeId i = 0; i < g.size(); ++i)
    if (live[i])
      for (NodeId in : g.node(i).inputs) ++uses[in];
  return uses;
}

} // namespace nnjit
