// Graph: one hash-consed SSA node type for the whole computation.
#pragma once

#include "Diagnostics.h"
#include "Shape.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace nnjit {

enum class Op {
#define NNJIT_OP(Name, Arity, Kind, Spelling) Name,
#include "Ops.def"
};

/// How many ops Ops.def has: loops over every op run to it, not to a last op.
constexpr int kOpCount = 0
#define NNJIT_OP(Name, Arity, Kind, Spelling) +1
#include "Ops.def"
    ;

enum class OpKind { Leaf, Elementwise, Layout, Reduction, Contraction };

struct OpInfo {
  const char* name;
  int arity;
  OpKind kind;
  const char* spelling;
};

const OpInfo& opInfo(Op op);
inline OpKind opKind(Op op) { return opInfo(op).kind; }

/// Whether the windows of a Patches or Unpatch (attrs.ints, Ops.def) do not
/// overlap, as a pooling's (stride >= size): each pixel is in one window at
/// most, so unpatch is a move of elements, not a sum.
inline bool disjointWindows(const std::vector<int64_t>& window) {
  return window[2] >= window[0] && window[3] >= window[1];
}

using NodeId = int32_t;
constexpr NodeId kNoNode = -1;

/// Per-op facts that are not inputs: a constant's value, axes, a leaf's name.
struct Attrs {
  double value = 0;
  std::vector<int64_t> ints;
  std::string name;
  std::vector<double> values;  // a ConstantTensor's elements, row-major
  bool operator==(const Attrs& o) const;
};

struct Node {
  Op op;
  std::vector<NodeId> inputs;
  Shape shape;
  Attrs attrs;
  SourceLoc loc;
  int32_t call = -1;  // the innermost builtin or fn call whose lowering made it (-1: none)
};

/// One builtin or `fn` call in the source, which graph pictures draw its
/// nodes under (a call inside a `fn` body, or inside another builtin, has a parent).
struct CallSite {
  std::string name;
  SourceLoc loc;  // where the call is written (not where a `fn` is defined)
  int32_t parent = -1;
  NodeId result = kNoNode;
  bool builtin = false;  // a builtin's call, not a `fn`'s
};

/// Nodes in creation order, which is a topological order: an input always
/// exists before the node that reads it.
class Graph {
public:
  /// Returns an existing identical node if there is one (hash-consing): it
  /// keeps the loc and call it was made with.
  NodeId add(Op op, std::vector<NodeId> inputs, Shape shape, Attrs attrs = {}, SourceLoc loc = {}, int32_t call = -1);

  /// Room for `nodes` nodes without growing (a pass that rebuilds a graph knows about how many).
  void reserve(size_t nodes) {
    nodes_.reserve(nodes);
    index_.reserve(nodes);
  }

  int32_t addCall(CallSite c) {
    calls_.push_back(std::move(c));
    return static_cast<int32_t>(calls_.size() - 1);
  }
  CallSite& call(int32_t i) { return calls_[i]; }
  const std::vector<CallSite>& calls() const { return calls_; }

  const Node& node(NodeId id) const { return nodes_[id]; }
  const Shape& shape(NodeId id) const { return nodes_[id].shape; }
  Op op(NodeId id) const { return nodes_[id].op; }
  NodeId size() const { return static_cast<NodeId>(nodes_.size()); }

private:
  static size_t hashOf(Op op, const std::vector<NodeId>& inputs, const Shape& shape, const Attrs& attrs);

  std::vector<Node> nodes_;
  std::vector<CallSite> calls_;
  std::unordered_multimap<size_t, NodeId> index_;  // by hashOf: the nodes that may equal a new one
};

/// Which nodes `roots` depend on (a mask over node ids).
std::vector<bool> reachableFrom(const Graph& g, const std::vector<NodeId>& roots);

/// Which nodes depend on a `seeds` node, the seeds included (a mask over node
/// ids), in one forward sweep: creation order is topological.
std::vector<bool> dependentsOf(const Graph& g, std::vector<bool> seeds);

/// How many nodes read each node (counting repeats), among `live` nodes.
std::vector<int> useCounts(const Graph& g, const std::vector<bool>& live);

} // namespace nnjit
