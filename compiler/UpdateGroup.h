// UpdateGroup: the updates of an entry point that run as one job on the threads — one hand-off for
// all of them, each thread a share of the rows of every one — instead of one hand-off per kernel.
#pragma once

#include "ModulePlan.h"

#include <vector>

namespace nnjit {

/// An optimizer's updates are elementwise kernels, one a param (with its
/// state stored along, passes/MergeUpdates.h), over tensors too small to be
/// worth a hand-off each; together they are. A guarded call joins the group when its kernel is
/// elementwise of rank 2 or more, writes a slot, and reads what the group
/// writes only at the index it writes (so a thread's share of the rows
/// needs nothing of another's); the calls outside the group that follow it
/// must touch nothing the group writes, nor write what it reads, so that
/// they can run after it. Returns, by call, whether it is in the group: none
/// are unless at least two are.
std::vector<bool> updateGroup(const CodeGenInput& in, const FunctionCode& fc, const std::vector<KernelCall>& calls);

/// The work of one element of a call's kernel, in units of a cheap
/// elementwise op: a square root, a division or a transcendental costs as
/// much as several multiply-adds do.
int64_t elementCost(const Graph& g, const KernelCall& call);

} // namespace nnjit
