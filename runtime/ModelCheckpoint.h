// ModelCheckpoint: a session's params, optimizer state and epoch to and from safetensors.
#pragma once

#include "Session.h"

namespace nnjit {

/// Saves atomically: the file at `path` is either the old one or the whole new one.
Status saveCheckpoint(const Session& session, const std::string& path);

/// Loads params (all required, exact shapes), optimizer state (optional; another
/// optimizer's is ignored) and the epoch count. Refuses any other tensor,
/// naming it. On refusal the session is unchanged.
Status loadCheckpoint(Session& session, const std::string& path, const std::string& displayName);

} // namespace nnjit
