// VectorMath: transcendental functions of scalars and of whole vectors.
#include "VectorMath.h"

#include "InternalError.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

namespace nnjit {
namespace {

const char* libmName(MathFn fn) {
  switch (fn) {
  case MathFn::Exp: return "exp";
  case MathFn::Log: return "log";
  case MathFn::Log1p: return "log1p";
  case MathFn::Tanh: return "tanh";
  case MathFn::Sin: return "sin";
  case MathFn::Cos: return "cos";
  case MathFn::Pow: return "pow";
  }
  internalError("a math function without a name");
}

/// LLVM lowers these intrinsics to libm calls (or folds them) on scalars.
std::optional<llvm::Intrinsic::ID> intrinsic(MathFn fn) {
  switch (fn) {
  case MathFn::Exp: return llvm::Intrinsic::exp;
  case MathFn::Log: return llvm::Intrinsic::log;
  case MathFn::Sin: return llvm::Intrinsic::sin;
  case MathFn::Cos: return llvm::Intrinsic::cos;
  case MathFn::Pow: return llvm::Intrinsic::pow;
  case MathFn::Log1p:
  case MathFn::Tanh: return std::nullopt;
  }
  return std::nullopt;
}

llvm::Value* callPure(llvm::IRBuilder<>& ir, llvm::Module& module, const std::string& name,
                      llvm::ArrayRef<llvm::Value*> args) {
  llvm::Type* t = args[0]->getType();
  std::vector<llvm::Type*> params(args.size(), t);
  llvm::FunctionCallee callee = module.getOrInsertFunction(name, llvm::FunctionType::get(t, params, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->setDoesNotThrow();
    f->setOnlyAccessesInaccessibleMemory();  // errno at most: lets LLVM hoist it
    f->setWillReturn();
  }
  return ir.CreateCall(callee, args);
}

/// The x86-64 vector ABI name: _ZGV, the ISA (b: SSE, d: AVX2, e: AVX-512),
/// N and the lane count, one v per argument, _ and the libm name.
std::string libmvecName(MathFn fn, llvm::FixedVectorType* t, size_t arity) {
  unsigned bits = t->getPrimitiveSizeInBits().getFixedValue();
  char isa = bits == 128 ? 'b' : bits == 256 ? 'd' : bits == 512 ? 'e' : '?';
  NNJIT_CHECK(isa != '?', "a vector width libmvec does not have");
  std::string name = std::string("_ZGV") + isa + "N" + std::to_string(t->getNumElements()) + std::string(arity, 'v') +
                     "_" + libmName(fn);
  if (t->getElementType()->isFloatTy()) name += 'f';
  return name;
}

} // namespace

llvm::Value* emitMath(llvm::IRBuilder<>& ir, llvm::Module& module, MathFn fn, llvm::ArrayRef<llvm::Value*> args) {
  llvm::Type* t = args[0]->getType();
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(t)) return callPure(ir, module, libmvecName(fn, vt, args.size()), args);
  if (auto id = intrinsic(fn)) return ir.CreateIntrinsic(*id, {t}, args);
  std::string name = libmName(fn);
  if (t->isFloatTy()) name += 'f';
  return callPure(ir, module, name, args);
}

} // namespace nnjit
