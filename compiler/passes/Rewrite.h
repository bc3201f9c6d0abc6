// Rewrite: the shared driver of graph passes — rebuild the live graph node by node.
#pragma once

#include "../Builder.h"
#include "../Program.h"

#include <functional>

namespace nnjit {

/// Given the node being copied and its already-rebuilt inputs, returns its
/// replacement in the new graph, or kNoNode to copy it unchanged.
using RewriteRule = std::function<NodeId(Builder& nb, const Node& old, const std::vector<NodeId>& inputs)>;

/// Copies every node the roots depend on into a fresh graph, in order,
/// applying `rule`. Unreachable nodes are dropped (dead code elimination) and
/// identical nodes merge through hash-consing (common subexpressions).
void rebuild(Program& p, const RewriteRule& rule);

/// Copies `old` with new inputs, keeping its shape and attributes.
NodeId copyNode(Builder& nb, const Node& old, const std::vector<NodeId>& inputs);

/// `x`, broadcast to `shape` if it is smaller (rewrites must keep shapes).
NodeId fitShape(Builder& nb, NodeId x, const Shape& shape);

/// True when `n` is the scalar constant `v`, possibly broadcast.
bool isConstant(const Graph& g, NodeId n, double v);

} // namespace nnjit
