// HostInfo: what this build of nnjit is and runs on — its version, LLVM's, the CPU code is made for and its vectors.
#include "HostInfo.h"

#include "Jit.h"

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/TargetParser/Host.h>

#include <cstdlib>
#include <memory>

#ifndef NNJIT_VERSION
#define NNJIT_VERSION "unknown"
#endif

namespace nnjit {
namespace {

/// The subtarget of CPU `cpu` for this process's triple; null when LLVM has no target for it.
std::unique_ptr<llvm::MCSubtargetInfo> subtargetOf(const std::string& cpu) {
  initializeNativeTarget();
  std::string triple = llvm::sys::getProcessTriple(), error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return nullptr;
  return std::unique_ptr<llvm::MCSubtargetInfo>(target->createMCSubtargetInfo(triple, cpu, ""));
}

Result<TargetCpu> chooseTargetCpu() {
  TargetCpu host{llvm::sys::getHostCPUName().str(), false};
  const char* wanted = std::getenv("NNJIT_CPU");
  if (!wanted || !*wanted) return host;
  std::string name = wanted;
  auto refuse = [&](const std::string& why) {
    return Result<TargetCpu>(fileError("", fmt::format("NNJIT_CPU={}: {}", name, why)));
  };
  std::unique_ptr<llvm::MCSubtargetInfo> generic = subtargetOf("");
  if (!generic || !generic->isCPUStringValid(name))
    return refuse("not a CPU that LLVM knows (try x86-64-v2, x86-64-v3, haswell or unset it)");
  // Code for a CPU with features this one lacks would stop at its first such instruction.
  std::unique_ptr<llvm::MCSubtargetInfo> chosen = subtargetOf(name);
  llvm::StringMap<bool> hostHas = llvm::sys::getHostCPUFeatures();
  for (const llvm::SubtargetFeatureKV& f : chosen->getAllProcessorFeatures()) {
    std::string feature = f.Key;
    auto it = hostHas.find(feature);
    if (it != hostHas.end() && !it->second && chosen->checkFeatures("+" + feature))
      return refuse(fmt::format("it has '{}', which this CPU ({}) lacks", feature, host.name));
  }
  return TargetCpu{name, true};
}

} // namespace

const Result<TargetCpu>& targetCpu() {
  static const Result<TargetCpu> chosen = chooseTargetCpu();
  return chosen;
}

VectorTarget hostVectorTarget() {
  const Result<TargetCpu>& cpu = targetCpu();
  std::unique_ptr<llvm::MCSubtargetInfo> named = cpu && cpu->chosenByName ? subtargetOf(cpu->name) : nullptr;
  llvm::StringMap<bool> host = named ? llvm::StringMap<bool>() : llvm::sys::getHostCPUFeatures();
  auto has = [&](const char* f) { return named ? named->checkFeatures(std::string("+") + f) : host.lookup(f); };
  bool fma = has("fma");
  if (has("avx512f")) return {512, 32, fma};
  if (has("avx")) return {256, 16, fma};
  return {128, 16, fma};
}

HostInfo hostInfo() {
  const Result<TargetCpu>& cpu = targetCpu();
  std::string name = cpu ? cpu->name : llvm::sys::getHostCPUName().str();
  if (cpu && cpu->chosenByName) name += " (NNJIT_CPU)";
  if (!cpu) name += " (NNJIT_CPU refused: compiling is an error)";
  return {NNJIT_VERSION, LLVM_VERSION_STRING, name, hostVectorTarget().bits};
}

} // namespace nnjit
