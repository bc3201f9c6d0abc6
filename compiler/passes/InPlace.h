// InPlace: updates that write their param or state slot directly, without a buffer and a copy.
#pragma once

#include "../CodeGen.h"

namespace nnjit {

/// Turns each assign of `fc` whose value can be computed straight into its
/// target's slot into a kernel that writes there: the value is elementwise
/// in the target (it reads the old value only at the element it writes) and
/// no later kernel or copy reads the old value. Such kernels run after the
/// finite guard (fc.guardBeforeKernel), which needs the loss's kernel first.
void updateInPlace(const Graph& g, FunctionCode& fc, const std::map<NodeId, int>& leafSlot);

/// Whether every read of buffer `leaf` that computing `v` inline makes (up
/// to the buffers of `s` and the slots) is at v's own index: through
/// elementwise ops of the leaf's shape only.
bool readsOnlyAtOwnIndex(const Graph& g, NodeId v, NodeId leaf, const Schedule& s, const std::map<NodeId, int>& leafSlot);

} // namespace nnjit
