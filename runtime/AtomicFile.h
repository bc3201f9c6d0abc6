// AtomicFile: replacing a file so that readers see the old one or the whole new one, never half.
#pragma once

#include "Diagnostics.h"

#include <string>

namespace nnjit {

/// Writes `bytes` as `path`: into an unnamed file in the same folder
/// (O_TMPFILE) where the file system allows, else an exclusively created
/// `PATH.tmp-PID-N` (O_EXCL | O_NOFOLLOW); synced, then renamed over `path`.
/// A symbolic link at `path` is followed: the file it points to is replaced
/// and the link stays. Temporaries that a killed run left (their PID is
/// gone) are removed first. Errors name `path`.
Status writeFileAtomically(const std::string& path, const std::string& bytes);

/// Whether `writeFileAtomically(path, ...)` could create the file: the path
/// is not empty or a folder, and the folder it goes in exists and is writable.
Status checkWritable(const std::string& path);

} // namespace nnjit
