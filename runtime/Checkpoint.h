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
Result<std::vector<NamedTensor>> readSafetensors(const std::string& path, const std::string& displayName);
Result<std::vector<NamedTensor>> parseSafetensors(std::string_view bytes, const std::string& displayName);

/// Writes to a temporary file beside `path`, syncs it, then renames it over
/// `path`: a reader sees the old file or the whole new one, never half.
Status writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors, DType dtype);

} // namespace nnjit
