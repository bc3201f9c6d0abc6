// ModelCheckpoint: a session's params, optimizer state and epoch to and from safetensors.
#pragma once

#include "Checkpoint.h"
#include "Session.h"

namespace nnjit {

/// Saves atomically: the file at `path` is either the old one or the whole new one.
Status saveCheckpoint(const Session& session, const std::string& path);

/// Loads params (all required, exact shapes), optimizer state (optional; another
/// optimizer's is ignored) and the epoch count. Refuses any other tensor,
/// naming it. On refusal the session is unchanged.
/// The file is read only up to the size a checkpoint of this model can have.
/// Counters (`epoch`, `KIND.t`) must be whole numbers from 0 to 10^15.
Status loadCheckpoint(Session& session, const std::string& path, const std::string& displayName);

/// The same from tensors already read (the fuzz target's way in).
Status loadCheckpointFrom(Session& session, const std::vector<NamedTensor>& tensors, const std::string& displayName);

} // namespace nnjit
