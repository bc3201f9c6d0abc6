// CodeKey: a digest of everything code generation reads, so that the object cache can be asked before any IR exists.
#pragma once

#include "CodeGen.h"

#include <string>

namespace nnjit {

/// SHA-256 (hex) of every field that `generateIR` reads to make module
/// `part` of `planModules(in, parts)`: the graph's nodes, the slots, every
/// function's schedule, memory plan and wiring (a module calls kernels
/// planned from the others), the dtype and the vector target. Two inputs
/// with the same digest generate the same IR with the same code generator,
/// so together with that generator's build (see `generatorBuildId`) and the
/// CPU it keys the object cache.
std::string codeDigest(const CodeGenInput& in, size_t parts, size_t part);

/// The GNU build id of the binary this code generator is linked into, in
/// hex: different code generators have different ids. Empty when the binary
/// was linked without one; then nothing can be keyed by `codeDigest`.
const std::string& generatorBuildId();

} // namespace nnjit
