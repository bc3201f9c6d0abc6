// HostInfo: what this build of nnjit is and runs on — its version, LLVM's, the host CPU and its vectors.
#include "HostInfo.h"

#include "MatMulKernel.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>

#ifndef NNJIT_VERSION
#define NNJIT_VERSION "unknown"
#endif

namespace nnjit {

HostInfo hostInfo() {
  return {NNJIT_VERSION, LLVM_VERSION_STRING, llvm::sys::getHostCPUName().str(), hostVectorTarget().bits};
}

} // namespace nnjit
