// IRLoops: counted loops in LLVM IR, for every kernel emitter.
#include "IRLoops.h"

namespace nnjit {

void emitLoop(llvm::IRBuilder<>& ir, llvm::Value* from, llvm::Value* to, int64_t step,
              const std::function<void(llvm::Value*)>& body, int64_t unrollLimit) {
  llvm::Type* i64 = ir.getInt64Ty();
  auto* f = llvm::dyn_cast<llvm::ConstantInt>(from);
  auto* t = llvm::dyn_cast<llvm::ConstantInt>(to);
  if (f && t) {
    int64_t trips = t->getSExtValue() > f->getSExtValue() ? (t->getSExtValue() - f->getSExtValue() + step - 1) / step : 0;
    if (trips <= std::max<int64_t>(unrollLimit, 1)) {
      for (int64_t i = 0; i < trips; ++i) body(llvm::ConstantInt::get(i64, f->getSExtValue() + i * step));
      return;
    }
  }
  llvm::Function* fn = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock* pre = ir.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ir.getContext(), "loop", fn);
  auto* bodyBlock = llvm::BasicBlock::Create(ir.getContext(), "body", fn);
  auto* exit = llvm::BasicBlock::Create(ir.getContext(), "exit", fn);
  ir.CreateBr(header);
  ir.SetInsertPoint(header);
  llvm::PHINode* iv = ir.CreatePHI(i64, 2, "i");
  iv->addIncoming(from, pre);
  ir.CreateCondBr(ir.CreateICmpSLT(iv, to), bodyBlock, exit);
  ir.SetInsertPoint(bodyBlock);
  body(iv);
  iv->addIncoming(ir.CreateAdd(iv, llvm::ConstantInt::get(i64, step), "", true, true), ir.GetInsertBlock());
  ir.CreateBr(header);
  ir.SetInsertPoint(exit);
}

} // namespace nnjit
