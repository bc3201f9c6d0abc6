// GraphPrinter: the graph as stable text (for golden tests) and as Graphviz dot.
#pragma once

#include "Graph.h"

#include <map>
#include <string>

namespace nnjit {

/// One node as printGraph prints it, without the newline.
std::string printNode(const Graph& g, NodeId n);

/// One line per live node: `%3 = + %1, %2 : [batch, 3]`, then the roots.
std::string printGraph(const Graph& g, const std::vector<NodeId>& roots);

/// What a picture can say besides ops and shapes.
struct DotLabels {
  std::map<NodeId, std::string> values;  // the source's names of values (`y = ...`)
  NodeId firstGradient = -1;             // nodes from here on are the gradient's: drawn apart
  bool expandCalls = false;              // builtin and fn calls as open clusters, not one box each
};

/// A Graphviz digraph; nodes labelled with op, shape and `.nn` line.
/// `names` labels root nodes (loss, metrics, gradients) by what they are.
std::string printDot(const Graph& g, const std::vector<NodeId>& roots, const std::vector<std::string>& names,
                     const std::string& title, const DotLabels& labels = {});

} // namespace nnjit
