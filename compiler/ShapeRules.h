// ShapeRules: the output shape of every op, or why its inputs do not fit.
#pragma once

#include "Graph.h"

namespace nnjit {

/// Computes `out` from the inputs' shapes. For leaves, Broadcast and Reshape
/// `out` arrives holding the requested shape and is checked instead. Returns
/// an error message for the user, or "" when the shapes fit.
std::string inferShape(Op op, const std::vector<const Shape*>& in, const Attrs& attrs, Shape& out);

} // namespace nnjit
