// Autodiff: symbolic reverse-mode differentiation, graph to graph.
#pragma once

#include "Builder.h"

#include <optional>

namespace nnjit {

/// Adds to the graph the gradient of the scalar `loss` with respect to each of
/// `wrt`, returning one node per entry (a zero of the right shape when the
/// loss does not depend on it). A metrics-only op on the path is an error.
///
/// `faultyOp` is a test hook: that op's gradient rule is scaled by 1.5, so
/// tests can prove that `nnjit check` catches a wrong rule.
std::vector<NodeId> differentiate(Builder& b, NodeId loss, const std::vector<NodeId>& wrt,
                                  DiagnosticEngine& diags, std::optional<Op> faultyOp = std::nullopt);

/// The op whose Ops.def name is `name` (e.g. "Exp"), for the test hook.
std::optional<Op> opNamed(const std::string& name);

} // namespace nnjit
