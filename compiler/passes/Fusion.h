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
};

/// `needed` are the values the function must produce; `inSlot` tells which
/// leaves live in caller-owned buffers.
Schedule planFusion(const Graph& g, const std::vector<NodeId>& needed, const std::function<bool(NodeId)>& inSlot);

/// Adds to `out` (once each) the buffers that computing `n` inline reads:
/// materialized nodes and slot leaves below it.
void collectReads(const Graph& g, NodeId n, const std::vector<bool>& materialized,
                  const std::function<bool(NodeId)>& inSlot, std::vector<NodeId>& out);

} // namespace nnjit
