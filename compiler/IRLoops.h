// IRLoops: counted loops in LLVM IR, for every kernel emitter.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <functional>

namespace nnjit {

/// Emits `for (iv = from; iv < to; iv += step) body(iv)` at `ir`'s insertion
/// point and leaves it after the loop. When the trip count is a constant of
/// at most `unrollLimit`, the body is emitted that many times instead, with
/// constant ivs: cheaper for LLVM than unrolling a loop itself.
void emitLoop(llvm::IRBuilder<>& ir, llvm::Value* from, llvm::Value* to, int64_t step,
              const std::function<void(llvm::Value*)>& body, int64_t unrollLimit = 1);

} // namespace nnjit
