// Autodiff: symbolic reverse-mode differentiation, graph to graph.
#pragma once

#include "Builder.h"

namespace nnjit {

/// Adds to the graph the gradient of the scalar `loss` with respect to each of
/// `wrt`, returning one node per entry (a zero of the right shape when the
/// loss does not depend on it). A metrics-only op on the path is an error.
std::vector<NodeId> differentiate(Builder& b, NodeId loss, const std::vector<NodeId>& wrt,
                                  DiagnosticEngine& diags);

} // namespace nnjit
