// Jit: optimizes an LLVM module for the host CPU and compiles it in memory with ORC.
#pragma once

#include "Diagnostics.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace nnjit {

/// Signature of every generated entry point.
using EntryFn = void (*)(void* const* buffers, int64_t batch);

/// Owns one LLJIT instance: the native code lives as long as this object.
class Jit {
public:
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  /// Detects the host CPU; the target machine and the linker are made when first needed.
  static Result<std::unique_ptr<Jit>> create();

  /// Runs the optimization pipeline on `module` (in place).
  void optimize(llvm::Module& module);
  /// Native assembly of `module` for the host CPU.
  std::string assembly(llvm::Module& module);
  /// Compiles the (optimized) module to native code, as `compile` does but
  /// never through the object cache; its functions can then be looked up.
  Status add(llvm::Module& module);
  /// Hands the JIT the native code the object cache holds for each digest
  /// of code generation's input (CodeKey.h), compiled before on this CPU by
  /// this build; says which digests it held.
  Result<std::vector<bool>> linkCached(const std::vector<std::string>& codeDigests);
  /// Optimizes and compiles each module to native code (on several threads
  /// when there are several), then hands them to the JIT. With a digest per
  /// module (as `linkCached` takes), each is stored in the object cache
  /// under it; without, each is looked up by a digest of its IR first, and
  /// stored under that. Sets `cacheHit` when every module was cached.
  Status compile(const std::vector<llvm::Module*>& modules, const std::vector<std::string>& codeDigests = {});
  bool cacheHit = false;
  EntryFn lookup(const std::string& name);

  /// With NNJIT_PERF_MAP=1, kernels are compiled as separate functions and
  /// /tmp/perf-PID.map names them, so that `perf report` can tell them apart.
  static bool perfMapRequested();

  /// Time spent in each stage of the last `optimize` and `add`, for --time-report.
  double optimizeMs = 0, codegenMs = 0;

private:
  Result<std::string> emitObject(llvm::Module& module);
  Status link(const std::string& object, const std::string& dataLayout, const llvm::Module* module);
  void writePerfMap(const llvm::Module& module);
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Prepares LLVM's native target once per process.
void initializeNativeTarget();

/// How the JIT optimizes and compiles, as the object cache keys it: the
/// pass pipeline and the backend's options as they are in this process.
std::string backendRecipe();

} // namespace nnjit
