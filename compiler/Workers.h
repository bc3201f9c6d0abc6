// Workers: how generated code hands a kernel's independent pieces to threads.
#pragma once

#include <cstdint>

namespace nnjit {

/// A kernel split into `count` independent units; this runs units
/// [begin, end). `args` are the kernel's buffers.
using KernelRange = void (*)(void* const* args, int64_t batch, int64_t begin, int64_t end);

/// What the generated code finds in its workers slot. `parallelFor` runs
/// every unit of `range` exactly once, on any threads, and returns when all
/// are done; `cost` is the work of one unit (multiply-adds or elements), for
/// deciding whether spreading it is worth the hand-off. Units never share
/// output elements, so the result does not depend on who runs which.
struct Workers {
  void (*parallelFor)(void* pool, KernelRange range, void* const* args, int64_t batch, int64_t count,
                      int64_t cost) = nullptr;
  void* pool = nullptr;
};

} // namespace nnjit
