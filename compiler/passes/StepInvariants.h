// StepInvariants: what every chunk of a train step would compute from the params alone
// (a weight's transpose for the backward product), computed once a step instead.
#pragma once

#include "../EntryPoints.h"

namespace nnjit {

/// Moves the row-independent values that `nnjit_train_rows` reads (those
/// with work worth sharing beneath them: a transpose, a sum of an exp; not a
/// view) into `nnjit_train_prepare`, which the runtime runs once a train step
/// before the chunks, on every process; the chunks read them from slots of
/// their own. Every thread and process count computes them alike, so the
/// bits stay the same for all. Nothing when the step does not run by chunks.
void hoistStepInvariants(EntryPoints& ep, CompiledModel& cm);

} // namespace nnjit
