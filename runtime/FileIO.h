// FileIO: reading a whole file, with a size bound and the reason it failed as a diagnostic.
#pragma once

#include "Diagnostics.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace nnjit {

/// What a reader accepts: at most `maxBytes` (a device such as /dev/zero
/// never ends), and first bytes that `sniff` does not object to.
struct ReadLimits {
  uint64_t maxBytes = UINT64_MAX;
  std::string what = "file";  // names the limit: "a CSV file may have at most ..."
  /// Sees the first 64 KiB (or the whole file, if shorter) once read; a
  /// non-empty answer stops the read and is the error message.
  std::function<std::string(std::string_view first)> sniff;
};

/// The whole file at `path`; on failure `FILE: error: cannot read file: WHY`
/// naming it `displayName` (missing, permission denied, a directory...), or
/// the limit it broke, or how much was read when memory ran out.
Result<std::string> readFile(const std::string& path, const std::string& displayName, const ReadLimits& limits = {});

/// `n` bytes for people: "512 bytes", "16 MiB", "1.5 GiB".
std::string byteSize(uint64_t n);

} // namespace nnjit
