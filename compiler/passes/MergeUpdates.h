// MergeUpdates: an update that only another update reads is computed inside that one's loop and
// stored along the way (adam's m and v inside the weight's): one pass over memory instead of three.
#pragma once

#include "../CodeGen.h"

namespace nnjit {

/// For each in-place update K of `fc` (after the finite guard, elementwise)
/// and each in-place update R it reads, when K is R's only reader, reads it
/// only at its own index, has R's shape, and no kernel between them touches
/// what R reads or writes: R is no longer a kernel of its own; K computes it
/// inline from R's reads and stores it into R's slot too (fc.alsoStores).
/// Run after updateInPlace, before the memory plan (the reads move).
void mergeUpdates(const Graph& g, FunctionCode& fc, const std::map<NodeId, int>& leafSlot);

} // namespace nnjit
