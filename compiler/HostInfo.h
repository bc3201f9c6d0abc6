// HostInfo: what this build of nnjit is and runs on — its version, LLVM's, the host CPU and its vectors.
#pragma once

#include <string>

namespace nnjit {

struct HostInfo {
  std::string version;      // nnjit's, as the build set it
  std::string llvmVersion;  // the LLVM nnjit was built with
  std::string cpu;          // LLVM's name for the host CPU, e.g. "znver4"
  int vectorBits = 0;       // the widest vectors generated code uses here: 128, 256 or 512
};

HostInfo hostInfo();

} // namespace nnjit
