// SchedulePrinter: each function's kernels, their buffers and the memory plan as text (show --emit schedule).
#pragma once

#include "CodeGen.h"
#include "Compiler.h"

#include <string>

namespace nnjit {

/// Per function, in execution order: each kernel (the node it computes,
/// the buffers it reads, where its result lives), then the copies and
/// updates into slots, then the arena it needs.
std::string printSchedule(const CodeGenInput& in, const std::vector<Slot>& slots);

} // namespace nnjit
