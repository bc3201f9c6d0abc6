// Jit: optimizes an LLVM module for the host CPU and compiles it in memory with ORC.
#pragma once

#include "Diagnostics.h"

#include <memory>
#include <string>

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

  static Result<std::unique_ptr<Jit>> create();

  /// Runs the optimization pipeline on `module` (in place).
  void optimize(llvm::Module& module);
  /// Native assembly of `module` for the host CPU.
  std::string assembly(llvm::Module& module);
  /// Hands the module to the JIT; its functions can then be looked up.
  Status add(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx);
  /// Optimizes and compiles `module` to native code, or takes that code from
  /// the object cache when this IR was compiled before on this CPU; then
  /// hands it to the JIT. Sets `cacheHit`.
  Status compile(llvm::Module& module);
  bool cacheHit = false;
  EntryFn lookup(const std::string& name);

  /// Time spent in each stage of the last `optimize` and `add`, for --time-report.
  double optimizeMs = 0, codegenMs = 0;

private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Prepares LLVM's native target once per process.
void initializeNativeTarget();

} // namespace nnjit
