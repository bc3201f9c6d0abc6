// DType: the element type a run computes in.
#pragma once

#include <cstddef>

namespace nnjit {

enum class DType { F32, F64 };

inline size_t dtypeSize(DType t) { return t == DType::F32 ? 4 : 8; }

} // namespace nnjit
