// IRLoops: counted loops in LLVM IR, for every kernel emitter.
#include "IRLoops.h"

namespace nnjit {

/// Loops are emitted already rotated (a guard, then a body that ends with
/// the exit test), the form LICM wants, so LLVM's loop-rotate pass and its
/// induction-variable simplification need not run.
void emitLoop(llvm::IRBuilder<>& ir, llvm::Value* from, llvm::Value* to, int64_t step,
              const std::function<void(llvm::Value*)>& body, int64_t unrollLimit) {
  llvm::Type* i64 = ir.getInt64Ty();
  auto* f = llvm::dyn_cast<llvm::ConstantInt>(from);
  auto* t = llvm::dyn_cast<llvm::ConstantInt>(to);
  bool known = f && t;
  int64_t trips = known && t->getSExtValue() > f->getSExtValue()
                      ? (t->getSExtValue() - f->getSExtValue() + step - 1) / step
                      : 0;
  if (known && trips <= std::max<int64_t>(unrollLimit, 1)) {
    for (int64_t i = 0; i < trips; ++i) body(llvm::ConstantInt::get(i64, f->getSExtValue() + i * step));
    return;
  }
  llvm::Function* fn = ir.GetInsertBlock()->getParent();
  auto* preheader = llvm::BasicBlock::Create(ir.getContext(), "preheader", fn);
  auto* bodyBlock = llvm::BasicBlock::Create(ir.getContext(), "body", fn);
  auto* exit = llvm::BasicBlock::Create(ir.getContext(), "exit", fn);
  if (known) ir.CreateBr(preheader);
  else ir.CreateCondBr(ir.CreateICmpSLT(from, to), preheader, exit);
  ir.SetInsertPoint(preheader);
  ir.CreateBr(bodyBlock);
  ir.SetInsertPoint(bodyBlock);
  llvm::PHINode* iv = ir.CreatePHI(i64, 2, "i");
  iv->addIncoming(from, preheader);
  body(iv);
  llvm::Value* next = ir.CreateAdd(iv, llvm::ConstantInt::get(i64, step), "", true, true);
  iv->addIncoming(next, ir.GetInsertBlock());
  ir.CreateCondBr(ir.CreateICmpSLT(next, to), bodyBlock, exit);
  ir.SetInsertPoint(exit);
}

} // namespace nnjit
