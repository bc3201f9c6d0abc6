// CodeGen: the scheduled graph to LLVM IR — one loop nest per kernel, one function per entry point.
#include "CodeGen.h"

#include "InternalError.h"
#include "MatMulKernel.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <functional>

namespace nnjit {
namespace {

using Index = std::vector<llvm::Value*>;

/// Loops with at most this many iterations (a static count) become straight-line code.
constexpr int64_t kUnrollLimit = 8;

class CodeGen {
public:
  CodeGen(llvm::LLVMContext& ctx, const CodeGenInput& in)
      : ctx_(ctx), in_(in), g_(*in.graph), ir_(ctx),
        module_(std::make_unique<llvm::Module>("nnjit", ctx)),
        elem_(in.dtype == DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx)),
        i64_(llvm::Type::getInt64Ty(ctx)), ptr_(llvm::PointerType::get(ctx, 0)) {}

  std::unique_ptr<llvm::Module> run() {
    for (const FunctionCode& f : in_.functions) emitFunction(f);
    return std::move(module_);
  }

private:
  // ---- scalars and indices -------------------------------------------------
  llvm::Value* i64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }
  llvm::Value* fp(double v) { return llvm::ConstantFP::get(elem_, v); }
  llvm::Value* extent(int64_t d) { return d == kBatch ? batch_ : i64(d); }

  llvm::Value* linear(const Shape& s, const Index& idx) {
    llvm::Value* off = i64(0);
    for (int d = 0; d < s.rank(); ++d) off = ir_.CreateAdd(ir_.CreateMul(off, extent(s.dims[d]), "", true, true), idx[d], "", true, true);
    return off;
  }

  Index delinearize(llvm::Value* off, const Shape& s) {
    Index idx(s.rank());
    for (int d = s.rank() - 1; d >= 0; --d) {
      llvm::Value* e = extent(s.dims[d]);
      idx[d] = d == 0 ? off : ir_.CreateURem(off, e);
      off = ir_.CreateUDiv(off, e);
    }
    return idx;
  }

  /// The input index that output index `idx` reads under NumPy broadcasting.
  static Index broadcastIndex(const Shape& from, const Shape& to, const Index& idx, llvm::Value* zero) {
    Index out(from.rank());
    int lead = to.rank() - from.rank();
    for (int i = 0; i < from.rank(); ++i)
      out[i] = from.dims[i] == 1 && to.dims[i + lead] != 1 ? zero : idx[i + lead];
    return out;
  }

  llvm::Value* call(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value*> args) {
    return ir_.CreateIntrinsic(id, {elem_}, args);
  }

  llvm::Value* libm(const char* f32Name, const char* f64Name, llvm::Value* x) {
    const char* name = in_.dtype == DType::F32 ? f32Name : f64Name;
    llvm::FunctionCallee fn = module_->getOrInsertFunction(name, llvm::FunctionType::get(elem_, {elem_}, false));
    if (auto* f = llvm::dyn_cast<llvm::Function>(fn.getCallee())) {
      f->setDoesNotThrow();
      f->setOnlyAccessesInaccessibleMemory(); // errno only: lets LLVM hoist and vectorize
      f->setWillReturn();
    }
    return ir_.CreateCall(fn, {x});
  }

  llvm::Value* boolToFp(llvm::Value* b) { return ir_.CreateUIToFP(b, elem_); }

  // ---- values ----------------------------------------------------------------
  llvm::Value* address(NodeId n, const Index& idx) {
    return ir_.CreateGEP(elem_, ptrs_.at(n), linear(g_.shape(n), idx));
  }

  llvm::Value* value(NodeId n, const Index& idx) {
    if (n != self_ && ptrs_.count(n)) return ir_.CreateLoad(elem_, address(n, idx));
    return compute(n, idx);
  }

  llvm::Value* compute(NodeId n, const Index& idx) {
    const Node& node = g_.node(n);
    const Shape& s = node.shape;
    auto arg = [&](size_t i) { return value(node.inputs[i], broadcastIndex(g_.shape(node.inputs[i]), s, idx, i64(0))); };
    switch (node.op) {
    case Op::Constant: return fp(node.attrs.value);
    case Op::BatchSize: return ir_.CreateSIToFP(batch_, elem_);
    case Op::Input: case Op::Param: case Op::State: case Op::Epoch: case Op::Step:
      internalError("a slot leaf computed instead of loaded");
    case Op::Neg: return ir_.CreateFNeg(arg(0));
    case Op::Exp: return call(llvm::Intrinsic::exp, {arg(0)});
    case Op::Log: return call(llvm::Intrinsic::log, {arg(0)});
    case Op::Sqrt: return call(llvm::Intrinsic::sqrt, {arg(0)});
    case Op::Abs: return call(llvm::Intrinsic::fabs, {arg(0)});
    case Op::Square: { llvm::Value* x = arg(0); return ir_.CreateFMul(x, x); }
    case Op::Tanh: return libm("tanhf", "tanh", arg(0));
    case Op::Sigmoid:
      return ir_.CreateFDiv(fp(1), ir_.CreateFAdd(fp(1), call(llvm::Intrinsic::exp, {ir_.CreateFNeg(arg(0))})));
    case Op::Relu: { llvm::Value* x = arg(0); return ir_.CreateSelect(ir_.CreateFCmpOLT(x, fp(0)), fp(0), x); }
    case Op::Softplus: {
      // max(x, 0) + log1p(exp(-|x|)): never overflows, exact for large |x|.
      llvm::Value* x = arg(0);
      llvm::Value* tail = libm("log1pf", "log1p", call(llvm::Intrinsic::exp, {ir_.CreateFNeg(call(llvm::Intrinsic::fabs, {x}))}));
      return ir_.CreateFAdd(ir_.CreateSelect(ir_.CreateFCmpOGT(x, fp(0)), x, fp(0)), tail);
    }
    case Op::Sin: return call(llvm::Intrinsic::sin, {arg(0)});
    case Op::Cos: return call(llvm::Intrinsic::cos, {arg(0)});
    case Op::Sign: {
      llvm::Value* x = arg(0);
      return ir_.CreateFSub(boolToFp(ir_.CreateFCmpOGT(x, fp(0))), boolToFp(ir_.CreateFCmpOLT(x, fp(0))));
    }
    case Op::LeakyRelu: {
      llvm::Value* x = arg(0);
      return ir_.CreateSelect(ir_.CreateFCmpOGT(x, fp(0)), x, ir_.CreateFMul(x, fp(node.attrs.value)));
    }
    case Op::StopGradient: return arg(0);
    case Op::Add: return ir_.CreateFAdd(arg(0), arg(1));
    case Op::Sub: return ir_.CreateFSub(arg(0), arg(1));
    case Op::Mul: return ir_.CreateFMul(arg(0), arg(1));
    case Op::Div: return ir_.CreateFDiv(arg(0), arg(1));
    case Op::Pow: return call(llvm::Intrinsic::pow, {arg(0), arg(1)});
    case Op::Maximum: return call(llvm::Intrinsic::maximum, {arg(0), arg(1)});
    case Op::Minimum: return call(llvm::Intrinsic::minimum, {arg(0), arg(1)});
    case Op::Greater: return boolToFp(ir_.CreateFCmpOGT(arg(0), arg(1)));
    case Op::GreaterEqual: return boolToFp(ir_.CreateFCmpOGE(arg(0), arg(1)));
    case Op::Equal: return boolToFp(ir_.CreateFCmpOEQ(arg(0), arg(1)));
    case Op::Select: return ir_.CreateSelect(ir_.CreateFCmpUNE(arg(0), fp(0)), arg(1), arg(2));
    case Op::Broadcast: return arg(0);
    case Op::Transpose: {
      Index t = idx;
      std::swap(t[s.rank() - 1], t[s.rank() - 2]);
      return value(node.inputs[0], t);
    }
    case Op::Reshape: {
      NodeId x = node.inputs[0];
      llvm::Value* off = linear(s, idx);
      if (ptrs_.count(x)) return ir_.CreateLoad(elem_, ir_.CreateGEP(elem_, ptrs_.at(x), off));
      return value(x, delinearize(off, g_.shape(x)));
    }
    case Op::Concat: return concat(node, idx);
    case Op::Slice: {
      Index t = idx;
      int64_t axis = node.attrs.ints[0];
      t[axis] = ir_.CreateAdd(t[axis], i64(node.attrs.ints[1]));
      return value(node.inputs[0], t);
    }
    case Op::OneHot: {
      Index rows(idx.begin(), idx.end() - 1);
      llvm::Value* label = value(node.inputs[0], rows);
      return boolToFp(ir_.CreateFCmpOEQ(label, ir_.CreateSIToFP(idx.back(), elem_)));
    }
    case Op::Sum: case Op::Max: case Op::ArgMax: case Op::MatMul:
      internalError("a reduction or contraction computed inline");
    }
    return fp(0);
  }

  /// Both sides are read at clamped indices (always in bounds), then one is picked:
  /// no branch in the loop, so it still vectorizes.
  llvm::Value* concat(const Node& node, const Index& idx) {
    int64_t axis = node.attrs.ints[0];
    int64_t split = g_.shape(node.inputs[0]).dims[axis];
    llvm::Value* i = idx[axis];
    llvm::Value* inFirst = ir_.CreateICmpSLT(i, i64(split));
    Index a = idx, b = idx;
    a[axis] = ir_.CreateSelect(inFirst, i, i64(split - 1));
    b[axis] = ir_.CreateSelect(inFirst, i64(0), ir_.CreateSub(i, i64(split)));
    return ir_.CreateSelect(inFirst, value(node.inputs[0], a), value(node.inputs[1], b));
  }

  // ---- loops -------------------------------------------------------------------
  void loop(llvm::Value* n, const std::function<void(llvm::Value*)>& body) {
    // Short fixed trip counts are unrolled here, where it is cheap, instead of
    // by LLVM's unroller, which is the largest share of compile time.
    if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(n); c && c->getSExtValue() <= kUnrollLimit) {
      for (int64_t i = 0; i < c->getSExtValue(); ++i) body(i64(i));
      return;
    }
    llvm::Function* f = ir_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = ir_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, "loop", f);
    auto* bodyBlock = llvm::BasicBlock::Create(ctx_, "body", f);
    auto* exit = llvm::BasicBlock::Create(ctx_, "exit", f);
    ir_.CreateBr(header);
    ir_.SetInsertPoint(header);
    llvm::PHINode* i = ir_.CreatePHI(i64_, 2, "i");
    i->addIncoming(i64(0), pre);
    ir_.CreateCondBr(ir_.CreateICmpSLT(i, n), bodyBlock, exit);
    ir_.SetInsertPoint(bodyBlock);
    body(i);
    i->addIncoming(ir_.CreateAdd(i, i64(1), "", true, true), ir_.GetInsertBlock());
    ir_.CreateBr(header);
    ir_.SetInsertPoint(exit);
  }

  void loopNest(const Shape& s, const std::function<void(const Index&)>& body, Index prefix = {}) {
    if (static_cast<int>(prefix.size()) == s.rank()) return body(prefix);
    loop(extent(s.dims[prefix.size()]), [&](llvm::Value* i) {
      Index next = prefix;
      next.push_back(i);
      loopNest(s, body, next);
    });
  }

  llvm::AllocaInst* local(llvm::Type* t, const char* name) {
    llvm::IRBuilder<> entry(&ir_.GetInsertBlock()->getParent()->getEntryBlock(),
                            ir_.GetInsertBlock()->getParent()->getEntryBlock().begin());
    return entry.CreateAlloca(t, nullptr, name);
  }

  // ---- kernels -----------------------------------------------------------------
  void store(NodeId n, const Index& idx, llvm::Value* v) { ir_.CreateStore(v, address(n, idx)); }

  void elementwiseKernel(NodeId n) {
    loopNest(g_.shape(n), [&](const Index& idx) { store(n, idx, compute(n, idx)); });
  }

  void copyKernel(NodeId n, llvm::Value* dst) {
    loopNest(g_.shape(n), [&](const Index& idx) {
      ir_.CreateStore(value(n, idx), ir_.CreateGEP(elem_, dst, linear(g_.shape(n), idx)));
    });
  }

  llvm::Value* combine(Op op, llvm::Value* acc, llvm::Value* v) {
    if (op == Op::Max) return call(llvm::Intrinsic::maximum, {acc, v});
    // Reassociation lets LLVM vectorize the sum; the order is still fixed per compile.
    auto* add = llvm::cast<llvm::Instruction>(ir_.CreateFAdd(acc, v));
    add->setHasAllowReassoc(true);
    return add;
  }

  void reductionKernel(NodeId n) {
    const Node& node = g_.node(n);
    NodeId x = node.inputs[0];
    const Shape& in = g_.shape(x);
    std::vector<bool> reduced(in.rank(), false);
    for (int64_t a : node.attrs.ints) reduced[a] = true;
    Shape reducedShape;
    for (int d = 0; d < in.rank(); ++d)
      if (reduced[d]) reducedShape.dims.push_back(in.dims[d]);
    auto merge = [&](const Index& outIdx, const Index& redIdx) {
      Index full;
      size_t o = 0, r = 0;
      for (int d = 0; d < in.rank(); ++d) full.push_back(reduced[d] ? redIdx[r++] : outIdx[o++]);
      return full;
    };
    double identity = node.op == Op::Sum ? 0.0 : -INFINITY;
    if (node.op == Op::ArgMax || reduced.back()) {
      // The reduced axes are innermost: accumulate in a register per output.
      loopNest(node.shape, [&](const Index& outIdx) {
        llvm::AllocaInst* acc = local(elem_, "acc");
        llvm::AllocaInst* best = local(i64_, "best");
        ir_.CreateStore(fp(identity), acc);
        ir_.CreateStore(i64(0), best);
        loopNest(reducedShape, [&](const Index& redIdx) {
          llvm::Value* v = value(x, merge(outIdx, redIdx));
          llvm::Value* cur = ir_.CreateLoad(elem_, acc);
          if (node.op == Op::ArgMax) {
            llvm::Value* better = ir_.CreateFCmpOGT(v, cur);  // the first maximum wins ties
            ir_.CreateStore(ir_.CreateSelect(better, v, cur), acc);
            ir_.CreateStore(ir_.CreateSelect(better, linear(reducedShape, redIdx), ir_.CreateLoad(i64_, best)), best);
          } else {
            ir_.CreateStore(combine(node.op, cur, v), acc);
          }
        });
        llvm::Value* result = node.op == Op::ArgMax ? ir_.CreateSIToFP(ir_.CreateLoad(i64_, best), elem_)
                                                    : ir_.CreateLoad(elem_, acc);
        store(n, outIdx, result);
      });
      return;
    }
    // An outer axis is reduced: sweep the input in memory order, accumulating
    // into the output, so the inner loop is contiguous and vectorizes.
    loopNest(node.shape, [&](const Index& outIdx) { store(n, outIdx, fp(identity)); });
    loopNest(in, [&](const Index& full) {
      Index outIdx;
      for (int d = 0; d < in.rank(); ++d)
        if (!reduced[d]) outIdx.push_back(full[d]);
      llvm::Value* at = address(n, outIdx);
      ir_.CreateStore(combine(node.op, ir_.CreateLoad(elem_, at), value(x, full)), at);
    });
  }

  /// A matmul operand as the micro-kernel reads it: a buffer and strides.
  struct View {
    llvm::Value* base;
    llvm::Value* rowStride;
    llvm::Value* colStride;
  };

  /// Fusion leaves only strided views of buffers as operands (see isMatMulView).
  View matmulView(NodeId x) {
    const Shape& s = g_.shape(x);
    if (x != self_ && ptrs_.count(x)) return {ptrs_.at(x), extent(s.dims[1]), i64(1)};
    const Node& node = g_.node(x);
    if (node.op == Op::Reshape && ptrs_.count(node.inputs[0])) return {ptrs_.at(node.inputs[0]), extent(s.dims[1]), i64(1)};
    if (node.op == Op::Transpose) {
      View v = matmulView(node.inputs[0]);
      return {v.base, v.colStride, v.rowStride};
    }
    internalError("a matmul operand that is not a strided view of a buffer");
  }

  void matmulKernel(NodeId n) {
    const Node& node = g_.node(n);
    View a = matmulView(node.inputs[0]), b = matmulView(node.inputs[1]);
    if (!llvm::isa<llvm::ConstantInt>(b.colStride) || !llvm::cast<llvm::ConstantInt>(b.colStride)->isOne())
      internalError("a matmul whose right operand's rows are not contiguous");
    const Shape& sc = node.shape;
    MatMulOperands ops;
    ops.a = a.base;
    ops.aRowStride = a.rowStride;
    ops.aColStride = a.colStride;
    ops.b = b.base;
    ops.bRowStride = b.rowStride;
    ops.c = ptrs_.at(n);
    ops.m = extent(sc.dims[0]);
    ops.k = extent(g_.shape(node.inputs[0]).dims[1]);
    ops.n = extent(sc.dims[1]);
    emitMatMul(ir_, elem_, in_.target, ops);
  }

  enum class KernelKind { Compute, Copy };

  /// A kernel is its own function with noalias buffer arguments, so LLVM
  /// knows the loops do not alias; it is inlined into the entry point.
  llvm::Function* kernelFunction(const std::string& name, size_t numBuffers) {
    std::vector<llvm::Type*> params(numBuffers, ptr_);
    params.push_back(i64_);
    auto* f = llvm::Function::Create(llvm::FunctionType::get(ir_.getVoidTy(), params, false),
                                     llvm::Function::InternalLinkage, name, *module_);
    f->addFnAttr(llvm::Attribute::AlwaysInline);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    setVectorWidth(f);
    for (size_t i = 0; i < numBuffers; ++i) {
      f->addParamAttr(i, llvm::Attribute::NoAlias);
      f->addParamAttr(i, llvm::Attribute::NoCapture);
    }
    return f;
  }

  /// Emits the function that computes `n` (or copies its value, for Copy)
  /// into its first argument, reading `reads` from the others.
  llvm::Function* emitKernel(const std::string& name, NodeId n, const std::vector<NodeId>& reads, KernelKind kind) {
    llvm::IRBuilderBase::InsertPointGuard guard(ir_);
    llvm::Function* f = kernelFunction(name, reads.size() + 1);
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    ptrs_.clear();
    self_ = kind == KernelKind::Compute ? n : kNoNode;
    if (kind == KernelKind::Compute) ptrs_[n] = f->getArg(0);
    for (size_t i = 0; i < reads.size(); ++i) ptrs_[reads[i]] = f->getArg(i + 1);
    batch_ = f->getArg(reads.size() + 1);
    if (kind == KernelKind::Copy) copyKernel(n, f->getArg(0));
    else if (opKind(g_.op(n)) == OpKind::Reduction) reductionKernel(n);
    else if (opKind(g_.op(n)) == OpKind::Contraction) matmulKernel(n);
    else elementwiseKernel(n);
    ir_.CreateRetVoid();
    return f;
  }

  /// Lets the backend keep the kernels' explicit vectors whole: some CPUs with
  /// AVX-512 are tuned to prefer 256-bit code, which would split them in two.
  void setVectorWidth(llvm::Function* f) {
    std::string bits = std::to_string(in_.target.bits);
    f->addFnAttr("min-legal-vector-width", bits);
    f->addFnAttr("prefer-vector-width", bits);
  }

  // ---- entry points ------------------------------------------------------------
  void emitFunction(const FunctionCode& fc) {
    auto* f = llvm::Function::Create(llvm::FunctionType::get(ir_.getVoidTy(), {ptr_, i64_}, false),
                                     llvm::Function::ExternalLinkage, fc.name, *module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    setVectorWidth(f);
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::Value* buffers = f->getArg(0);
    llvm::Value* batch = f->getArg(1);
    auto slotPtr = [&](int slot) {
      return ir_.CreateLoad(ptr_, ir_.CreateGEP(ptr_, buffers, i64(slot)), fmt(slot));
    };
    llvm::Value* arena = slotPtr(in_.arenaSlot);
    std::map<NodeId, llvm::Value*> where;
    for (const auto& [node, slot] : in_.leafSlot) where[node] = slotPtr(slot);
    for (const auto& [node, slot] : fc.writesToSlot) where[node] = slotPtr(slot);
    for (const auto& [node, buf] : fc.memory.buffers) {
      llvm::Value* off = buf.perRow ? ir_.CreateAdd(i64(fc.memory.staticSize), ir_.CreateMul(batch, i64(buf.offset)))
                                    : i64(buf.offset);
      where[node] = ir_.CreateGEP(elem_, arena, off);
    }
    auto invoke = [&](llvm::Function* kernel, llvm::Value* dst, const std::vector<NodeId>& reads) {
      std::vector<llvm::Value*> args{dst};
      for (NodeId r : reads) args.push_back(where.at(r));
      args.push_back(batch);
      ir_.CreateCall(kernel, args);
    };
    const Schedule& s = fc.schedule;
    for (size_t k = 0; k < s.kernels.size(); ++k) {
      NodeId n = s.kernels[k];
      std::string name = fc.name + "." + std::to_string(n) + "." + opInfo(g_.op(n)).name;
      invoke(emitKernel(name, n, s.reads[k], KernelKind::Compute), where.at(n), s.reads[k]);
    }
    auto copyAll = [&](const std::vector<std::pair<NodeId, int>>& list, const char* what) {
      for (const auto& [node, slot] : list) {
        std::vector<NodeId> reads;
        auto inSlot = [&](NodeId x) { return in_.leafSlot.count(x) > 0; };
        if (s.materialized[node] || inSlot(node)) reads.push_back(node);
        else collectReads(g_, node, s.materialized, inSlot, reads);
        std::string name = fc.name + "." + what + "." + std::to_string(slot);
        llvm::Function* kernel = emitKernel(name, node, reads, KernelKind::Copy);
        invoke(kernel, slotPtr(slot), reads);
      }
    };
    copyAll(fc.copies, "out");
    copyAll(fc.assigns, "update");
    ir_.CreateRetVoid();
  }

  static std::string fmt(int slot) { return "slot" + std::to_string(slot); }

  llvm::LLVMContext& ctx_;
  const CodeGenInput& in_;
  const Graph& g_;
  llvm::IRBuilder<> ir_;
  std::unique_ptr<llvm::Module> module_;
  llvm::Type* elem_;
  llvm::Type* i64_;
  llvm::Type* ptr_;
  std::map<NodeId, llvm::Value*> ptrs_;
  NodeId self_ = kNoNode;
  llvm::Value* batch_ = nullptr;
};

} // namespace

std::unique_ptr<llvm::Module> generateIR(llvm::LLVMContext& ctx, const CodeGenInput& in) {
  return CodeGen(ctx, in).run();
}

} // namespace nnjit
