// HostInfo: what this build of nnjit is and runs on — its version, LLVM's, the host CPU and its vectors.
#pragma once

#include "Diagnostics.h"

#include <string>

namespace nnjit {

struct HostInfo {
  std::string version;      // nnjit's, as the build set it
  std::string llvmVersion;  // the LLVM nnjit was built with
  std::string cpu;          // LLVM's name for the host CPU, e.g. "znver4"
  int vectorBits = 0;       // the widest vectors generated code uses here: 128, 256 or 512
};

HostInfo hostInfo();

/// The CPU generated code is made for: this host's, or the one NNJIT_CPU
/// names (an LLVM CPU name such as x86-64-v3 or haswell), so that the code an
/// older CPU gets can be run and tested on a newer one. An unknown name, or a
/// CPU with a feature this host lacks, is an error.
struct TargetCpu {
  std::string name;
  bool chosenByName = false;  // NNJIT_CPU: its features are the name's, not the host's
};
const Result<TargetCpu>& targetCpu();

/// How wide the generated code may go on this CPU.
struct VectorTarget {
  int bits = 256;      // widest vector register the CPU runs well: 128, 256 or 512
  int registers = 16;  // vector registers the allocator can use (32 with AVX-512)
  bool fma = true;     // fused multiply-add instructions (without, llvm.fma is a libm call per element)
};

/// The vector target of the target CPU (its features, as LLVM knows them).
VectorTarget hostVectorTarget();

} // namespace nnjit
