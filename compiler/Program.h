// Program: the graph with every value someone needs from it — what passes transform.
#pragma once

#include "Graph.h"

namespace nnjit {

/// Passes rebuild the graph and rewrite `roots` in place, so code holding a
/// root's index (not its NodeId) stays valid across passes.
struct Program {
  Graph graph;
  std::vector<NodeId> roots;

  size_t addRoot(NodeId n) {
    roots.push_back(n);
    return roots.size() - 1;
  }
};

} // namespace nnjit
