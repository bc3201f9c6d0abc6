// Verify: the graph's invariants, checked between passes so that a broken pass is caught where it broke.
#pragma once

#include "../Graph.h"

#include <string>

namespace nnjit {

/// What is wrong with `g` and its `roots`, or "" when nothing is: every
/// input is an earlier node, each op has the arity Ops.def gives it and the
/// attributes it reads, every stored shape is the one ShapeRules infers, and
/// named leaves have names. Linear in the graph's size.
std::string verifyGraph(const Graph& g, const std::vector<NodeId>& roots);

/// Whether compiles verify the graph after every pass: always in builds
/// with assertions, and where NNJIT_VERIFY=1 (the test suite sets it).
bool verifyGraphsByDefault();

} // namespace nnjit
