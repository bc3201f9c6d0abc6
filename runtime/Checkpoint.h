// Checkpoint: the safetensors file format — a JSON header, then raw little-endian tensors.
#pragma once

#include "DType.h"
#include "Diagnostics.h"

#include <string>
#include <string_view>
#include <vector>

namespace nnjit {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;  // [] for a scalar
  std::vector<double> values;  // row-major, converted from or to the file's dtype
};

/// Reads every tensor (F32, F64, F16 or BF16), validating the header against
/// the file so that a truncated or lying file is an error, never a bad read.
/// The header may be at most 16 MiB and nest at most 64 levels; a file
/// beyond `maxBytes` is refused without reading further.
Result<std::vector<NamedTensor>> readSafetensors(const std::string& path, const std::string& displayName,
                                                 uint64_t maxBytes = uint64_t(1) << 36);
Result<std::vector<NamedTensor>> parseSafetensors(std::string_view bytes, const std::string& displayName);

/// What is wrong with the first bytes of a file of `fileSize` bytes (as far
/// as they tell) as safetensors, without "not a safetensors file: "; empty if nothing.
std::string safetensorsSizeProblem(std::string_view first, uint64_t fileSize);

/// Writes to a temporary file beside `path`, syncs it, then renames it over
/// `path`: a reader sees the old file or the whole new one, never half.
Status writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors, DType dtype);

} // namespace nnjit
