// Fusion: decides which nodes get a buffer; everything else is fused into its consumer's loop.
#pragma once

#include "../Graph.h"

#include <functional>

namespace nnjit {

/// The kernels of one function: each materialized node is one loop nest that
/// computes it (and, inlined, every unmaterialized node it reads).
struct Schedule {
  std::vector<bool> materialized;          // by NodeId
  std::vector<NodeId> kernels;             // materialized nodes, in execution order
  std::vector<std::vector<NodeId>> reads;  // per kernel: the buffers its loop reads
  /// By NodeId: for an elementwise kernel computed in a matmul's output tile
  /// (its epilogue: a bias add, an activation, a gradient's mask), that
  /// matmul, which then has no buffer or kernel of its own; else kNoNode.
  std::vector<NodeId> epilogueOf;
  /// By NodeId, for such a kernel: the value its tile is (the matmul, or a
  /// reshape of it that regroups the rows).
  std::vector<NodeId> epilogueTile;
  /// By NodeId, for an epilogue computed from a group product's rows instead
  /// of its tiles (a Winograd output transform: the untile of its points
  /// along one axis, then the other): the first untile, which the kernel
  /// keeps, row group by row group, on the stack; else kNoNode.
  std::vector<NodeId> rowsScratch;
};

/// `needed` are the values the function must produce; `inSlot` tells which
/// leaves live in caller-owned buffers.
Schedule planFusion(const Graph& g, const std::vector<NodeId>& needed, const std::function<bool(NodeId)>& inSlot);

/// Whether every value `root` computes inline (down to the nodes `isBuffer`
/// names) can be emitted a vector of lanes at a time: a concat or an argmax
/// cannot, nor a reshape of a value that is not in a buffer.
bool isLaneWise(const Graph& g, NodeId root, const std::function<bool(NodeId)>& isBuffer);

/// Lists, node after node, the buffers that computing a node inline reads;
/// one mark vector serves every call, so a list costs what it holds.
class ReadCollector {
public:
  ReadCollector(const Graph& g, const std::vector<bool>& materialized, std::function<bool(NodeId)> inSlot);
  std::vector<NodeId> reads(NodeId n);

private:
  const Graph& g_;
  const std::vector<bool>& materialized_;
  std::function<bool(NodeId)> inSlot_;
  std::vector<bool> seen_;
};

} // namespace nnjit
