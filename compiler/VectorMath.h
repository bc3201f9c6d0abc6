// VectorMath: transcendental functions of scalars and of whole vectors.
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace nnjit {

enum class MathFn { Exp, Log, Log1p, Tanh, Sin, Cos, Pow };

/// f(args) for scalar or vector arguments of float or double. Scalars go to
/// LLVM's intrinsics or libm; vectors to glibc's libmvec (its `_ZGV` SIMD
/// variants, within 4 ulp), one call per vector instead of one per element.
llvm::Value* emitMath(llvm::IRBuilder<>& ir, llvm::Module& module, MathFn fn, llvm::ArrayRef<llvm::Value*> args);

} // namespace nnjit
