// FileIO: reading a whole file, with the reason it failed as a diagnostic.
#pragma once

#include "Diagnostics.h"

#include <string>

namespace nnjit {

/// The whole file at `path`; on failure `FILE: error: cannot read file: WHY`
/// naming it `displayName` (missing, permission denied, a directory...).
Result<std::string> readFile(const std::string& path, const std::string& displayName);

} // namespace nnjit
