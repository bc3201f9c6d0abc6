// CodeGen: the scheduled graph to LLVM IR — one loop nest per kernel, one function per entry point.
#include "CodeGen.h"

#include "InternalError.h"
#include "IRLoops.h"
#include "MatMulKernel.h"
#include "ModulePlan.h"
#include "UpdateGroup.h"
#include "VectorMath.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <functional>
#include <optional>

namespace nnjit {
namespace {

/// Where one element (or one vector of elements) of a value is. In a vector
/// kernel the lanes of a value run along dim `lane` of its own shape, one
/// element apart; lane -1 means every lane reads the same element.
struct Index {
  std::vector<llvm::Value*> at;
  int lane = -1;
};

/// Loops with at most this many iterations (a static count) become
/// straight-line code, and a kernel whose innermost dim is that short stays
/// scalar: a vector would be mostly empty lanes.
constexpr int64_t kUnrollLimit = 8;

/// Up to this many kernel calls are made by the entry point itself; beyond,
/// it calls parts of this many kernel calls each. Scalar kernels are inlined
/// into their part, which is then one basic block, and the backend's
/// scheduler is quadratic in a block's length: 16 per part instead of 64
/// halved native code time for 2,500-5,000 scalar params (adam).
constexpr size_t kMaxCallsInOneFunction = 96;
constexpr size_t kKernelsPerPart = 16;
/// The parts an update job's rows are cut into, for the workers to share.
constexpr int64_t kUpdateJobParts = 64;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

class CodeGen {
public:
  CodeGen(llvm::LLVMContext& ctx, const CodeGenInput& in, const ModulePlan& plan, size_t part)
      : ctx_(ctx), in_(in), plan_(plan), part_(plan.parts.at(part)), g_(*in.graph), ir_(ctx),
        module_(std::make_unique<llvm::Module>("nnjit", ctx)),
        elem_(in.dtype == DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx)),
        i64_(llvm::Type::getInt64Ty(ctx)), ptr_(llvm::PointerType::get(ctx, 0)),
        vectorLanes_(in.target.bits / (in.dtype == DType::F32 ? 32 : 64)) {}

  std::unique_ptr<llvm::Module> run() {
    for (size_t k : part_.kernels) defineKernel(k);
    for (size_t f : part_.functions) emitFunction(f);
    return std::move(module_);
  }

private:
  // ---- scalars, vectors and indices ------------------------------------------
  llvm::Value* i64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }
  llvm::Type* valueType() { return lanes_ == 1 ? elem_ : llvm::FixedVectorType::get(elem_, lanes_); }
  llvm::Value* fp(double v) { return llvm::ConstantFP::get(valueType(), v); }
  llvm::Value* uniform(llvm::Value* scalar) { return lanes_ == 1 ? scalar : ir_.CreateVectorSplat(lanes_, scalar); }
  llvm::Value* extent(int64_t d) {
    if (d == kBatch) return batch_;
    return isBatchDim(d) ? ir_.CreateMul(batch_, i64(batchFactor(d)), "", true, true) : i64(d);
  }
  llvm::Align align() const { return llvm::Align(elem_->getPrimitiveSizeInBits() / 8); }

  llvm::Value* linear(const Shape& s, const std::vector<llvm::Value*>& idx) {
    llvm::Value* off = i64(0);
    for (int d = 0; d < s.rank(); ++d) off = ir_.CreateAdd(ir_.CreateMul(off, extent(s.dims[d]), "", true, true), idx[d], "", true, true);
    return off;
  }

  /// Elements between neighbouring lanes that run along dim `lane` of `s`:
  /// a constant, or a product with the batch when a later dim is the batch
  /// (lanes down the rows of a transposed [n, batch] value).
  llvm::Value* laneStride(const Shape& s, int lane) {
    llvm::Value* stride = i64(1);
    for (int d = lane + 1; d < s.rank(); ++d) stride = ir_.CreateMul(stride, extent(s.dims[d]), "", true, true);
    return stride;
  }
  llvm::Value* laneStride(const Shape& s, const Index& idx) { return idx.lane < 0 ? i64(0) : laneStride(s, idx.lane); }

  /// l * stride for each lane l.
  llvm::Value* laneOffsets(llvm::Value* stride) {
    std::vector<llvm::Constant*> steps;
    for (int l = 0; l < lanes_; ++l) steps.push_back(llvm::ConstantInt::get(i64_, l));
    return ir_.CreateMul(ir_.CreateVectorSplat(lanes_, stride), llvm::ConstantVector::get(steps));
  }

  std::vector<llvm::Value*> delinearize(llvm::Value* off, const Shape& s) {
    std::vector<llvm::Value*> idx(s.rank());
    for (int d = s.rank() - 1; d >= 0; --d) {
      llvm::Value* e = extent(s.dims[d]);
      idx[d] = d == 0 ? off : ir_.CreateURem(off, e);
      off = ir_.CreateUDiv(off, e);
    }
    return idx;
  }

  /// The input index that output index `idx` reads under NumPy broadcasting.
  Index broadcastIndex(const Shape& from, const Shape& to, const Index& idx) {
    Index out;
    out.at.resize(from.rank());
    int lead = to.rank() - from.rank();
    for (int i = 0; i < from.rank(); ++i) {
      bool spread = from.dims[i] == 1 && to.dims[i + lead] != 1;
      out.at[i] = spread ? i64(0) : idx.at[i + lead];
      if (idx.lane == i + lead && !spread) out.lane = i;
    }
    return out;
  }

  /// Index `d` of every lane, as numbers of the element type.
  llvm::Value* indexAsNumber(const Index& idx, int d) {
    llvm::Value* base = uniform(idx.at[d]);
    if (idx.lane == d) {
      std::vector<llvm::Constant*> step;
      for (int l = 0; l < lanes_; ++l) step.push_back(llvm::ConstantInt::get(i64_, l));
      base = ir_.CreateAdd(base, llvm::ConstantVector::get(step));
    }
    return ir_.CreateSIToFP(base, valueType());
  }

  llvm::Value* call(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value*> args) {
    return ir_.CreateIntrinsic(id, {args[0]->getType()}, args);
  }
  llvm::Value* math(MathFn fn, llvm::ArrayRef<llvm::Value*> args) { return emitMath(ir_, *module_, fn, args); }
  llvm::Value* boolToFp(llvm::Value* b) { return ir_.CreateUIToFP(b, valueType()); }

  // ---- memory ------------------------------------------------------------------
  /// Reads at `offset` from `base`: one element for every lane (stride 0), a
  /// vector (stride 1, masked in a tail) or a gather.
  llvm::Value* loadAt(llvm::Value* base, llvm::Value* offset, llvm::Value* stride) {
    llvm::Value* ptr = ir_.CreateGEP(elem_, base, offset);
    auto* fixed = llvm::dyn_cast<llvm::ConstantInt>(stride);
    if (lanes_ == 1 || (fixed && fixed->isZero())) return uniform(ir_.CreateAlignedLoad(elem_, ptr, align()));
    auto* vt = llvm::cast<llvm::FixedVectorType>(valueType());
    llvm::Value* none = llvm::Constant::getNullValue(vt);
    if (fixed && fixed->isOne() && mask_) return ir_.CreateMaskedLoad(vt, ptr, align(), mask_, none);
    if (fixed && fixed->isOne()) return ir_.CreateAlignedLoad(vt, ptr, align());
    llvm::Value* ptrs = ir_.CreateGEP(elem_, ptr, laneOffsets(stride));
    return ir_.CreateMaskedGather(vt, ptrs, align(), mask_, none);
  }

  llvm::Value* load(NodeId n, const Index& idx) {
    const Shape& s = g_.shape(n);
    return loadAt(ptrs_.at(n), linear(s, idx.at), laneStride(s, idx));
  }

  /// Writes a value whose lanes run along the innermost dim of `s`.
  void storeAt(llvm::Value* base, const Shape& s, const Index& idx, llvm::Value* v) {
    llvm::Value* ptr = ir_.CreateGEP(elem_, base, linear(s, idx.at));
    if (mask_) ir_.CreateMaskedStore(v, ptr, align(), mask_);
    else ir_.CreateAlignedStore(v, ptr, align());
  }

  // ---- values ----------------------------------------------------------------
  bool isBuffer(NodeId n) const { return n != self_ && ptrs_.count(n); }

  /// A constant tensor's elements: a private constant array in the module,
  /// made the first time a kernel reads it.
  llvm::Value* tensorData(NodeId n) {
    llvm::GlobalVariable*& global = tensors_[n];
    if (global) return global;
    const std::vector<double>& values = g_.node(n).attrs.values;
    llvm::Constant* init = nullptr;
    if (elem_->isFloatTy()) {
      std::vector<float> rounded(values.begin(), values.end());
      init = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<float>(rounded));
    } else {
      init = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<double>(values));
    }
    global = new llvm::GlobalVariable(*module_, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init,
                                      "tensor." + std::to_string(n));
    global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    global->setAlignment(llvm::Align(64));
    return global;
  }

  /// The memory a value already lives in: its buffer, or a constant tensor's array; else null.
  llvm::Value* storage(NodeId n) {
    if (isBuffer(n)) return ptrs_.at(n);
    if (g_.op(n) == Op::ConstantTensor) return tensorData(n);
    return nullptr;
  }

  llvm::Value* value(NodeId n, const Index& idx) {
    if (n == epilogueNode_) return epilogueValue_;
    if (isBuffer(n)) return load(n, idx);
    // A value stored along is read at the kernel's own index only: computed once.
    for (const auto& [node, ptr] : alsoStore_)
      if (node == n) {
        llvm::Value*& v = alsoStored_[n];
        if (!v) v = compute(n, idx);
        return v;
      }
    return compute(n, idx);
  }

  llvm::Value* compute(NodeId n, const Index& idx) {
    const Node& node = g_.node(n);
    const Shape& s = node.shape;
    auto arg = [&](size_t i) { return value(node.inputs[i], broadcastIndex(g_.shape(node.inputs[i]), s, idx)); };
    switch (node.op) {
    case Op::Constant: return fp(node.attrs.value);
    case Op::ConstantTensor: return loadAt(tensorData(n), linear(s, idx.at), laneStride(s, idx));
    case Op::BatchSize: return uniform(ir_.CreateSIToFP(batch_, elem_));
    case Op::Input: case Op::Param: case Op::State: case Op::Epoch: case Op::Step: case Op::RandomKey:
      internalError("a slot leaf computed instead of loaded");
    case Op::Neg: return ir_.CreateFNeg(arg(0));
    case Op::Exp: return math(MathFn::Exp, {arg(0)});
    case Op::Log: return math(MathFn::Log, {arg(0)});
    case Op::Sqrt: return call(llvm::Intrinsic::sqrt, {arg(0)});
    case Op::Abs: return call(llvm::Intrinsic::fabs, {arg(0)});
    case Op::Square: { llvm::Value* x = arg(0); return ir_.CreateFMul(x, x); }
    case Op::Tanh: return math(MathFn::Tanh, {arg(0)});
    case Op::Sigmoid:
      return ir_.CreateFDiv(fp(1), ir_.CreateFAdd(fp(1), math(MathFn::Exp, {ir_.CreateFNeg(arg(0))})));
    case Op::Relu: { llvm::Value* x = arg(0); return ir_.CreateSelect(ir_.CreateFCmpOLT(x, fp(0)), fp(0), x); }
    case Op::Softplus: {
      // max(x, 0) + log1p(exp(-|x|)): never overflows, exact for large |x|.
      llvm::Value* x = arg(0);
      llvm::Value* tail = math(MathFn::Log1p, {math(MathFn::Exp, {ir_.CreateFNeg(call(llvm::Intrinsic::fabs, {x}))})});
      return ir_.CreateFAdd(ir_.CreateSelect(ir_.CreateFCmpOGT(x, fp(0)), x, fp(0)), tail);
    }
    case Op::Sin: return math(MathFn::Sin, {arg(0)});
    case Op::Cos: return math(MathFn::Cos, {arg(0)});
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
    case Op::Pow: return math(MathFn::Pow, {arg(0), arg(1)});
    case Op::Maximum: return call(llvm::Intrinsic::maximum, {arg(0), arg(1)});
    case Op::Minimum: return call(llvm::Intrinsic::minimum, {arg(0), arg(1)});
    case Op::Greater: return boolToFp(ir_.CreateFCmpOGT(arg(0), arg(1)));
    case Op::GreaterEqual: return boolToFp(ir_.CreateFCmpOGE(arg(0), arg(1)));
    case Op::Equal: return boolToFp(ir_.CreateFCmpOEQ(arg(0), arg(1)));
    case Op::Select: return ir_.CreateSelect(ir_.CreateFCmpUNE(arg(0), fp(0)), arg(1), arg(2));
    case Op::Dropout: return dropout(node, idx, arg(0));
    case Op::Mode: internalError("a train/eval choice left for codegen (specializeMode runs first)");
    case Op::Broadcast: return arg(0);
    case Op::Transpose: {
      Index t = idx;
      int r = s.rank();
      std::swap(t.at[r - 1], t.at[r - 2]);
      if (t.lane >= r - 2) t.lane = (r - 2) + (r - 1) - t.lane;
      return value(node.inputs[0], t);
    }
    case Op::Reshape: return reshape(node, idx);
    case Op::Concat: return concat(node, idx);
    case Op::Slice: {
      Index t = idx;
      int64_t axis = node.attrs.ints[0];
      t.at[axis] = ir_.CreateAdd(t.at[axis], i64(node.attrs.ints[1]));
      return value(node.inputs[0], t);
    }
    case Op::OneHot: {
      Index rows = idx;
      rows.at.pop_back();
      if (rows.lane == s.rank() - 1) rows.lane = -1;
      llvm::Value* label = value(node.inputs[0], rows);
      return boolToFp(ir_.CreateFCmpOEQ(label, indexAsNumber(idx, s.rank() - 1)));
    }
    case Op::Patches: return windowed(s, idx, 5, [&](const Index& i) { return patch(node, i); });
    case Op::Unpatch: return windowed(s, idx, 3, [&](const Index& i) { return unpatch(node, i); });
    case Op::Tiles: return windowed(s, idx, s.rank() - 1, [&](const Index& i) { return tiles(n, i); });
    case Op::Untile: return windowed(s, idx, s.rank() - 1, [&](const Index& i) { return untile(n, i); });
    case Op::Permute: {
      Index from{std::vector<llvm::Value*>(idx.at.size()), -1};
      for (size_t d = 0; d < idx.at.size(); ++d) {
        auto source = static_cast<size_t>(node.attrs.ints[d]);
        from.at[source] = idx.at[d];
        if (idx.lane == int(d)) from.lane = int(source);
      }
      return value(node.inputs[0], from);
    }
    case Op::Sum: case Op::Max: case Op::ArgMax: case Op::MatMul: case Op::GroupMatMul:
      internalError("a reduction or contraction computed inline");
    }
    internalError("an op without a codegen rule");
  }

  // ---- random numbers ------------------------------------------------------------
  /// SplitMix64's finalizer: every bit of the result depends on every bit of z.
  llvm::Value* mix64(llvm::Value* z) {
    auto k = [&](uint64_t v) {
      llvm::Constant* c = llvm::ConstantInt::get(i64_, v);
      return z->getType()->isVectorTy() ? ir_.CreateVectorSplat(lanes_, c) : c;
    };
    z = ir_.CreateMul(ir_.CreateXor(z, ir_.CreateLShr(z, k(30))), k(0xbf58476d1ce4e5b9ULL));
    z = ir_.CreateMul(ir_.CreateXor(z, ir_.CreateLShr(z, k(27))), k(0x94d049bb133111ebULL));
    return ir_.CreateXor(z, ir_.CreateLShr(z, k(31)));
  }

  /// Inverted dropout: x / (1 - rate) where the element's uniform number is
  /// at least `rate`, else 0. The number is a pure function of the seed, the
  /// epoch, the batch, the dropout's site and the element's index (SplitMix64
  /// in counter mode), so any thread count, and a resumed run, draws it the same.
  llvm::Value* dropout(const Node& node, const Index& idx, llvm::Value* x) {
    llvm::Value* key = ptrs_.at(node.inputs[1]);
    auto word = [&](int i) { return ir_.CreateLoad(i64_, ir_.CreateGEP(i64_, key, i64(i))); };
    llvm::Value* call = ir_.CreateAdd(ir_.CreateMul(word(1), i64(0xd1b54a32d192ed03ULL)),
                                      ir_.CreateMul(word(2), i64(0xaef17502108ef2d9ULL)));
    call = ir_.CreateAdd(call, i64(static_cast<int64_t>(node.attrs.ints[0] * 0x8cb92ba72f3d8dd7ULL)));
    int lanes = lanes_;
    lanes_ = 1;
    llvm::Value* stream = mix64(ir_.CreateXor(word(0), mix64(call)));
    lanes_ = lanes;
    llvm::Value* element = linear(node.shape, idx.at);
    // A chunk of a train step draws the masks of its rows in the whole batch:
    // word 3 is the chunk's first row (0 for a whole batch).
    if (node.shape.rank() >= 1 && isBatchDim(node.shape.dims[0]))
      element = ir_.CreateAdd(element, ir_.CreateMul(word(3), i64(node.shape.staticElements())));
    if (lanes_ > 1) {
      element = ir_.CreateAdd(ir_.CreateVectorSplat(lanes_, element), laneOffsets(laneStride(node.shape, idx)));
      stream = ir_.CreateVectorSplat(lanes_, stream);
    }
    llvm::Value* golden = llvm::ConstantInt::get(i64_, 0x9e3779b97f4a7c15ULL);
    if (lanes_ > 1) golden = ir_.CreateVectorSplat(lanes_, golden);
    llvm::Value* bits = mix64(ir_.CreateAdd(stream, ir_.CreateMul(element, golden)));
    // The element stays when its top 24 bits, as a fraction of 2^24, reach
    // the rate: an integer compare, so float32 and float64 drop the same ones.
    auto splat = [&](int64_t v) { return lanes_ > 1 ? ir_.CreateVectorSplat(lanes_, i64(v)) : i64(v); };
    double rate = node.attrs.value;
    llvm::Value* keep = ir_.CreateICmpUGE(ir_.CreateLShr(bits, splat(40)),
                                          splat(static_cast<int64_t>(std::ceil(std::ldexp(rate, 24)))));
    return ir_.CreateSelect(keep, ir_.CreateFMul(x, fp(1 / (1 - rate))), fp(0));
  }

  /// A window op computes lanes that run along its channel dim `channel`
  /// directly (the channels of one pixel are neighbours in both layouts);
  /// lanes along any other dim are computed one at a time.
  llvm::Value* windowed(const Shape& s, const Index& idx, int channel, const std::function<llvm::Value*(const Index&)>& at) {
    if (lanes_ == 1 || idx.lane < 0 || idx.lane == channel) return at(idx);
    int lanes = lanes_;
    llvm::Value* mask = mask_;
    lanes_ = 1;
    mask_ = nullptr;
    llvm::Value* out = llvm::PoisonValue::get(llvm::FixedVectorType::get(elem_, lanes));
    llvm::Value* last = ir_.CreateSub(extent(s.dims[idx.lane]), i64(1));
    for (int l = 0; l < lanes; ++l) {
      Index one = idx;
      // A masked lane past the end reads the last element instead: never out of bounds.
      llvm::Value* i = ir_.CreateAdd(idx.at[idx.lane], i64(l));
      one.at[idx.lane] = ir_.CreateSelect(ir_.CreateICmpULT(i, last), i, last);
      one.lane = -1;
      out = ir_.CreateInsertElement(out, at(one), l);
    }
    lanes_ = lanes;
    mask_ = mask;
    return out;
  }

  /// One element (or channel vector) of patches: the image pixel under
  /// window position (kh, kw), zero where the window hangs over the edge.
  llvm::Value* patch(const Node& node, const Index& idx) {
    const Shape& image = g_.shape(node.inputs[0]);
    const std::vector<int64_t>& a = node.attrs.ints;
    llvm::Value* h = ir_.CreateSub(ir_.CreateAdd(ir_.CreateMul(idx.at[1], i64(a[2])), idx.at[3]), i64(a[4]));
    llvm::Value* w = ir_.CreateSub(ir_.CreateAdd(ir_.CreateMul(idx.at[2], i64(a[3])), idx.at[4]), i64(a[5]));
    // Unsigned compares: a negative row is a huge one.
    llvm::Value* inside = ir_.CreateAnd(ir_.CreateICmpULT(h, i64(image.dims[1])), ir_.CreateICmpULT(w, i64(image.dims[2])));
    Index pixel{{idx.at[0], ir_.CreateSelect(inside, h, i64(0)), ir_.CreateSelect(inside, w, i64(0)), idx.at[5]},
                idx.lane == 5 ? 3 : -1};
    return ir_.CreateSelect(inside, value(node.inputs[0], pixel), fp(0));
  }

  /// One element of unpatch: the sum, over the window positions (kh, kw) in
  /// order, of the window element that copied pixel (h, w), if any.
  llvm::Value* unpatch(const Node& node, const Index& idx) {
    const Shape& windows = g_.shape(node.inputs[0]);
    const std::vector<int64_t>& a = node.attrs.ints;
    if (disjointWindows(a)) return unpatchDisjoint(node, idx);
    auto windowOf = [&](llvm::Value* pixel, int64_t k, int64_t stride, int64_t pad, int64_t count, llvm::Value*& ok) {
      llvm::Value* start = ir_.CreateSub(ir_.CreateAdd(pixel, i64(pad)), i64(k));  // where window 0 would begin
      llvm::Value* o = stride == 1 ? start : ir_.CreateSDiv(start, i64(stride));
      ok = ir_.CreateICmpULT(o, i64(count));  // also false for a negative start
      if (stride != 1) ok = ir_.CreateAnd(ok, ir_.CreateICmpEQ(ir_.CreateSRem(start, i64(stride)), i64(0)));
      return ir_.CreateSelect(ok, o, i64(0));
    };
    llvm::Value* sum = fp(0);
    for (int64_t kh = 0; kh < a[0]; ++kh) {
      for (int64_t kw = 0; kw < a[1]; ++kw) {
        llvm::Value *okH, *okW;
        llvm::Value* oh = windowOf(idx.at[1], kh, a[2], a[4], windows.dims[1], okH);
        llvm::Value* ow = windowOf(idx.at[2], kw, a[3], a[5], windows.dims[2], okW);
        Index from{{idx.at[0], oh, ow, i64(kh), i64(kw), idx.at[3]}, idx.lane == 3 ? 5 : -1};
        sum = ir_.CreateFAdd(sum, ir_.CreateSelect(ir_.CreateAnd(okH, okW), value(node.inputs[0], from), fp(0)));
      }
    }
    return sum;
  }

  /// Unpatch of windows that do not overlap (a pooling's, stride >= size):
  /// the pixel is in one window at most, at one position, found by a
  /// division instead of trying every position. The sum starts from zero as
  /// unpatch's does, so a -0 comes out as +0 alike.
  llvm::Value* unpatchDisjoint(const Node& node, const Index& idx) {
    const Shape& windows = g_.shape(node.inputs[0]);
    const std::vector<int64_t>& a = node.attrs.ints;
    auto place = [&](llvm::Value* pixel, int64_t size, int64_t stride, int64_t pad, int64_t count, llvm::Value*& window,
                     llvm::Value*& at) {
      llvm::Value* q = ir_.CreateAdd(pixel, i64(pad));
      window = ir_.CreateUDiv(q, i64(stride));
      at = ir_.CreateSub(q, ir_.CreateMul(window, i64(stride)));
      return ir_.CreateAnd(ir_.CreateICmpULT(at, i64(size)), ir_.CreateICmpULT(window, i64(count)));
    };
    llvm::Value *oh, *kh, *ow, *kw;
    llvm::Value* inside = ir_.CreateAnd(place(idx.at[1], a[0], a[2], a[4], windows.dims[1], oh, kh),
                                        place(idx.at[2], a[1], a[3], a[5], windows.dims[2], ow, kw));
    auto safe = [&](llvm::Value* v) { return ir_.CreateSelect(inside, v, i64(0)); };
    Index from{{idx.at[0], safe(oh), safe(ow), safe(kh), safe(kw), idx.at[3]}, idx.lane == 3 ? 5 : -1};
    return ir_.CreateFAdd(fp(0), ir_.CreateSelect(inside, value(node.inputs[0], from), fp(0)));
  }

  /// Element (a, i) of tiles/untile `n`'s matrix: a constant when both are
  /// (null for a zero, a term to leave out), else read from its table.
  llvm::Value* tileCoefficient(NodeId n, llvm::Value* a, llvm::Value* i) {
    const Node& node = g_.node(n);
    int64_t size = node.attrs.ints[1];
    auto *ca = llvm::dyn_cast<llvm::ConstantInt>(a), *ci = llvm::dyn_cast<llvm::ConstantInt>(i);
    if (ca && ci) {
      double v = node.attrs.values[size_t(ca->getSExtValue() * size + ci->getSExtValue())];
      return v == 0 ? nullptr : fp(v);
    }
    llvm::Value* at = ir_.CreateGEP(elem_, tensorData(n), ir_.CreateAdd(ir_.CreateMul(a, i64(size)), i));
    return uniform(ir_.CreateAlignedLoad(elem_, at, align()));
  }

  /// sum + coefficient * v (one rounding where the CPU has FMA, as in the
  /// matmul kernel), or the product alone when sum is null.
  llvm::Value* addTerm(llvm::Value* sum, llvm::Value* coefficient, llvm::Value* v) {
    if (!sum) return ir_.CreateFMul(coefficient, v);
    if (in_.target.fma) return call(llvm::Intrinsic::fma, {coefficient, v, sum});
    return ir_.CreateFAdd(sum, ir_.CreateFMul(coefficient, v));
  }

  /// One element (or channel vector) of tiles: point a of tile t, the sum
  /// over the tile's window, in order, of T[a, i] times its elements; zero
  /// where the window hangs over the edge.
  llvm::Value* tiles(NodeId n, const Index& idx) {
    const Node& node = g_.node(n);
    const Shape& x = g_.shape(node.inputs[0]);
    const std::vector<int64_t>& a = node.attrs.ints;  // axis, size, stride, pad, at
    int64_t axis = a[0], at = a[4];
    Index from{idx.at, idx.lane == x.rank() ? x.rank() - 1 : -1};
    from.at.erase(from.at.begin() + at);
    llvm::Value* first = ir_.CreateSub(ir_.CreateMul(from.at[axis], i64(a[2])), i64(a[3]));
    llvm::Value* sum = nullptr;
    for (int64_t i = 0; i < a[1]; ++i) {
      llvm::Value* c = tileCoefficient(n, idx.at[at], i64(i));
      if (!c) continue;
      llvm::Value* pos = ir_.CreateAdd(first, i64(i));
      llvm::Value* inside = ir_.CreateICmpULT(pos, i64(x.dims[axis]));  // unsigned: a negative one is huge
      from.at[axis] = ir_.CreateSelect(inside, pos, i64(0));
      sum = addTerm(sum, c, ir_.CreateSelect(inside, value(node.inputs[0], from), fp(0)));
    }
    return sum ? sum : fp(0);
  }

  /// The index u * stride + r, known to untile() as such: the place r of
  /// tile u, so that the places it takes in the tiles, hence the coefficients
  /// of the matrix, are constants (outputTransform). `tileInRange`: u is a
  /// tile of the untile that reads it.
  llvm::Value* place(llvm::Value* u, int64_t r, int64_t stride, bool tileInRange) {
    llvm::Value* x = ir_.CreateAdd(ir_.CreateMul(u, i64(stride)), i64(r));
    places_[x] = Place{u, r, stride, tileInRange};
    return x;
  }

  /// One element of untile: the sum, over the tiles whose window holds it
  /// (the last first) and over their points in order, of T[a, i] times the
  /// point, i its place in the window.
  llvm::Value* untile(NodeId n, const Index& idx) {
    const Node& node = g_.node(n);
    const Shape& tiled = g_.shape(node.inputs[0]);
    const std::vector<int64_t>& a = node.attrs.ints;  // axis, size, stride, pad, at
    int64_t axis = a[0], size = a[1], stride = a[2], at = a[4];
    int64_t points = tiled.dims[at], tileDim = axis < at ? axis : axis + 1;
    int last = node.shape.rank() - 1;
    Index from{idx.at, idx.lane == last ? last + 1 : -1};
    from.at.insert(from.at.begin() + at, i64(0));
    llvm::Value* q = ir_.CreateAdd(idx.at[axis], i64(a[3]));
    // A place u * stride + r (place()) is in tile u + (r + pad) / stride at
    // (r + pad) % stride, in the one before at that plus stride, and so on.
    auto known = places_.find(idx.at[axis]);
    bool placed = known != places_.end() && known->second.stride == stride;
    int64_t firstPlace = placed ? (known->second.r + a[3]) % stride : 0;
    int64_t lastOffset = placed ? (known->second.r + a[3]) / stride : 0;
    llvm::Value* lastTile = placed ? ir_.CreateAdd(known->second.u, i64(lastOffset))
                                   : ir_.CreateUDiv(q, i64(stride));  // the last tile that may hold it
    llvm::Value* sum = nullptr;
    for (int64_t j = 0; j * stride < size; ++j) {
      if (placed && firstPlace + j * stride >= size) continue;  // past the tile: no term
      llvm::Value* t = placed && lastOffset == j ? known->second.u : ir_.CreateSub(lastTile, i64(j));
      llvm::Value* i = placed ? i64(firstPlace + j * stride) : ir_.CreateSub(q, ir_.CreateMul(t, i64(stride)));
      llvm::Value* holds =
          placed && lastOffset == j && known->second.tileInRange
              ? ir_.getTrue()
              : ir_.CreateAnd(ir_.CreateICmpULT(t, i64(tiled.dims[tileDim])), ir_.CreateICmpULT(i, i64(size)));
      llvm::Value* safeI = ir_.CreateSelect(holds, i, i64(0));
      from.at[tileDim] = ir_.CreateSelect(holds, t, i64(0));
      for (int64_t p = 0; p < points; ++p) {
        from.at[at] = i64(p);
        llvm::Value* c = tileCoefficient(n, i64(p), safeI);
        if (!c) continue;
        sum = addTerm(sum, c, ir_.CreateSelect(holds, value(node.inputs[0], from), fp(0)));
      }
    }
    return sum ? sum : fp(0);
  }

  /// Same elements, row-major: a buffer is read at the flat offset; anything
  /// else (scalar kernels only, see vectorizable) at the delinearized index.
  llvm::Value* reshape(const Node& node, const Index& idx) {
    NodeId x = node.inputs[0];
    const Shape& from = g_.shape(x);
    if (!isBuffer(x) && sameUnitFree(from, node.shape)) return value(x, unitFreeIndex(node.shape, from, idx));
    llvm::Value* off = linear(node.shape, idx.at);
    if (isBuffer(x)) return loadAt(ptrs_.at(x), off, laneStride(node.shape, idx));
    return value(x, Index{delinearize(off, g_.shape(x)), -1});
  }

  /// Index `idx` of a value of shape `to` as an index of the same element in
  /// `from`, the two differing only in unit dims (see sameUnitFree).
  Index unitFreeIndex(const Shape& to, const Shape& from, const Index& idx) {
    Index out;
    int t = 0;
    for (int d = 0; d < from.rank(); ++d) {
      if (from.dims[d] == 1) {
        out.at.push_back(i64(0));
        continue;
      }
      while (to.dims[t] == 1) ++t;
      if (idx.lane == t) out.lane = d;
      out.at.push_back(idx.at[t++]);
    }
    return out;
  }

  /// Both sides are read at clamped indices (always in bounds), then one is picked:
  /// no branch in the loop, so it still vectorizes.
  llvm::Value* concat(const Node& node, const Index& idx) {
    int64_t axis = node.attrs.ints[0];
    int64_t split = g_.shape(node.inputs[0]).dims[axis];
    llvm::Value* i = idx.at[axis];
    llvm::Value* inFirst = ir_.CreateICmpSLT(i, i64(split));
    Index a = idx, b = idx;
    a.at[axis] = ir_.CreateSelect(inFirst, i, i64(split - 1));
    b.at[axis] = ir_.CreateSelect(inFirst, i64(0), ir_.CreateSub(i, i64(split)));
    return ir_.CreateSelect(inFirst, value(node.inputs[0], a), value(node.inputs[1], b));
  }

  /// Whether `root` can be read a vector at a time here: a buffer can (what
  /// computed it does not matter), an inline value when all it computes can.
  bool vectorizable(NodeId root) {
    return isBuffer(root) || isLaneWise(g_, root, [&](NodeId n) { return isBuffer(n) || n == epilogueNode_; });
  }

  // ---- loops -------------------------------------------------------------------
  /// Loops over the first `dims` dims of `s`; in a split kernel, the
  /// outermost one covers only the kernel's units.
  void loopNest(const Shape& s, int dims, const std::function<void(const Index&)>& body, Index prefix = {}) {
    if (static_cast<int>(prefix.at.size()) == dims) return body(prefix);
    int d = static_cast<int>(prefix.at.size());
    bool outer = prefix.at.empty() && rangeBegin_;
    llvm::Value* from = outer ? rangeBegin_ : i64(0);
    llvm::Value* to = outer ? rangeEnd_ : extent(s.dims[d]);
    // Short loops become straight-line code, but only while the copies of
    // the body stay few: unrolled, [7, 7, 3, 3, 2] is 882 bodies.
    int64_t copies = 1;
    for (int inner = d; inner < dims && copies <= kUnrollLimit; ++inner)
      copies = s.dims[inner] > 0 ? copies * s.dims[inner] : kUnrollLimit + 1;
    emitLoop(
        ir_, from, to, 1,
        [&](llvm::Value* i) {
      Index next = prefix;
      next.at.push_back(i);
      loopNest(s, dims, body, next);
        },
        copies <= kUnrollLimit ? kUnrollLimit : 1);
  }

  /// Lanes of the vector at `from` that lie before `end`.
  llvm::Value* tailMask(llvm::Value* from, llvm::Value* end) {
    // 32-bit lanes: one register's worth of compares (dims are below 2^31).
    std::vector<llvm::Constant*> lane;
    for (int l = 0; l < lanes_; ++l) lane.push_back(ir_.getInt32(l));
    llvm::Value* left = ir_.CreateTrunc(ir_.CreateSub(end, from), ir_.getInt32Ty());
    return ir_.CreateICmpSLT(llvm::ConstantVector::get(lane), ir_.CreateVectorSplat(lanes_, left));
  }

  /// body(j) for j = from, from + lanes, from + 2 lanes, ... < n (from 0
  /// when `from` is null), with `lanes_` set and the last, partial vector masked.
  void vectorLoop(llvm::Value* n, const std::function<void(llvm::Value*)>& body, llvm::Value* from = nullptr) {
    lanes_ = vectorLanes_;
    llvm::Value* full = from ? ir_.CreateAdd(from, roundDown(ir_.CreateSub(n, from), lanes_)) : roundDown(n, lanes_);
    if (!from) from = i64(0);
    emitLoop(ir_, from, full, lanes_, body);
    emitLoop(ir_, full, n, lanes_, [&](llvm::Value* j) {
      mask_ = tailMask(j, n);
      body(j);
      mask_ = nullptr;
    });
    lanes_ = 1;
  }

  /// Whether a kernel over `s` gains from vectors along its innermost dim.
  bool worthVectors(const Shape& s) const {
    return vectorLanes_ > 1 && s.rank() > 0 && (isBatchDim(s.dims.back()) || s.dims.back() > kUnrollLimit);
  }

  /// body(idx) for every element of `s`, a vector of them at a time along the
  /// innermost dim when `vectors` is set.
  void forEach(const Shape& s, bool vectors, const std::function<void(const Index&)>& body) {
    if (!vectors) return loopNest(s, s.rank(), body);
    int last = s.rank() - 1;
    loopNest(s, last, [&](const Index& outer) {
      vectorLoop(extent(s.dims[last]), [&](llvm::Value* j) {
        Index idx = outer;
        idx.at.push_back(j);
        idx.lane = last;
        body(idx);
      });
    });
  }

  llvm::AllocaInst* local(llvm::Type* t, const char* name) {
    llvm::IRBuilder<> entry(&ir_.GetInsertBlock()->getParent()->getEntryBlock(),
                            ir_.GetInsertBlock()->getParent()->getEntryBlock().begin());
    return entry.CreateAlloca(t, nullptr, name);
  }

  // ---- kernels -----------------------------------------------------------------
  void elementwiseKernel(NodeId n) {
    const Shape& s = g_.shape(n);
    if (g_.op(n) == Op::Transpose && isBuffer(g_.node(n).inputs[0]) && worthVectors(s)) return transposeKernel(n);
    forEach(s, worthVectors(s) && vectorizable(n), [&](const Index& idx) {
      // Every value is computed before anything is stored: the updates
      // stored along overwrite slots that the others read at this index.
      alsoStored_.clear();
      llvm::Value* v = compute(n, idx);
      std::vector<llvm::Value*> along;
      for (const auto& [node, ptr] : alsoStore_) along.push_back(value(node, idx));
      storeAt(ptrs_.at(n), s, idx, v);
      for (size_t i = 0; i < along.size(); ++i) storeAt(alsoStore_[i].second, s, idx, along[i]);
    });
  }

  /// A transposed copy of a buffer (a weight's for a backward product, once a
  /// step). Square blocks of up to 8 x 8 elements are read a row vector at a
  /// time, transposed in registers and stored a row vector at a time; the
  /// edges that fill no block are gathered, a vector of output columns at a
  /// time from as many input rows. (A block of 16 x 16 takes 64 shuffles,
  /// which cost LLVM's backend some 6 ms to compile; 8 x 8 takes 24.)
  void transposeKernel(NodeId n) {
    const Shape& s = g_.shape(n);
    int rows = s.rank() - 2, cols = s.rank() - 1;
    int64_t lanes = blockLanes();
    auto shorter = [&](int64_t d) { return !isBatchDim(d) && d < lanes; };
    bool blocks = !shorter(s.dims[rows]) && !shorter(s.dims[cols]);
    loopNest(s, rows, [&](const Index& outer) {
      bool split = outer.at.empty() && rangeBegin_;
      llvm::Value* from = split ? rangeBegin_ : i64(0);
      llvm::Value* to = split ? rangeEnd_ : extent(s.dims[rows]);
      llvm::Value* width = extent(s.dims[cols]);
      if (!blocks) return gatherTranspose(n, outer, from, to, i64(0), width);
      llvm::Value* rowsEnd = ir_.CreateAdd(from, roundDown(ir_.CreateSub(to, from), lanes));
      llvm::Value* colsEnd = roundDown(width, lanes);
      emitLoop(ir_, from, rowsEnd, lanes, [&](llvm::Value* i) {
        emitLoop(ir_, i64(0), colsEnd, lanes, [&](llvm::Value* j) { transposeBlock(n, outer, i, j); });
      });
      bool wholeBlocksWide = !isBatchDim(s.dims[cols]) && s.dims[cols] % lanes == 0;
      if (!wholeBlocksWide) gatherTranspose(n, outer, from, rowsEnd, colsEnd, width);
      gatherTranspose(n, outer, rowsEnd, to, i64(0), width);
    });
  }

  llvm::Value* roundDown(llvm::Value* x, int64_t multiple) {
    return ir_.CreateMul(ir_.CreateUDiv(x, i64(multiple)), i64(multiple));
  }

  int blockLanes() const { return std::min(vectorLanes_, 8); }

  /// Output rows [i, i + lanes) by columns [j, j + lanes) of transpose `n`.
  void transposeBlock(NodeId n, const Index& outer, llvm::Value* i, llvm::Value* j) {
    NodeId x = g_.node(n).inputs[0];
    int lanes = blockLanes();
    lanes_ = lanes;
    std::vector<llvm::Value*> v(lanes);
    auto at = [&](llvm::Value* row, int r, llvm::Value* col) {
      std::vector<llvm::Value*> idx = outer.at;
      idx.insert(idx.end(), {ir_.CreateAdd(row, i64(r)), col});
      return idx;
    };
    for (int r = 0; r < lanes; ++r) v[r] = loadAt(ptrs_.at(x), linear(g_.shape(x), at(j, r, i)), i64(1));
    v = transposedInRegisters(std::move(v));
    for (int r = 0; r < lanes; ++r) storeAt(ptrs_.at(n), g_.shape(n), Index{at(i, r, j), -1}, v[r]);
    lanes_ = 1;
  }

  /// A square block of vectors (one per row) transposed: log2(lanes) rounds,
  /// each swapping the off-diagonal sub-blocks of `size` lanes between pairs
  /// of rows `size` apart; a round is one two-vector shuffle per row.
  std::vector<llvm::Value*> transposedInRegisters(std::vector<llvm::Value*> v) {
    int lanes = static_cast<int>(v.size());
    for (int size = 1; size < lanes; size *= 2) {
      std::vector<int> low(lanes), high(lanes);
      for (int c = 0; c < lanes; ++c) {
        int block = c / (2 * size) * 2 * size, at = c % (2 * size);
        low[c] = at < size ? block + at : lanes + block + at - size;
        high[c] = at < size ? block + at + size : lanes + block + at;
      }
      for (int r = 0; r < lanes; ++r)
        if (!(r & size)) {
          llvm::Value *a = v[r], *b = v[r + size];
          v[r] = ir_.CreateShuffleVector(a, b, low);
          v[r + size] = ir_.CreateShuffleVector(a, b, high);
        }
    }
    return v;
  }

  /// Output rows [rowFrom, rowTo) by columns [colFrom, colTo) of transpose
  /// `n`, a vector of columns at a time, each gathered from as many input rows.
  /// The columns' loop is outside the rows', so those input rows stay in the
  /// L1 cache while every row of the output takes its vector from them.
  void gatherTranspose(NodeId n, const Index& outer, llvm::Value* rowFrom, llvm::Value* rowTo, llvm::Value* colFrom,
                       llvm::Value* colTo) {
    const Shape& s = g_.shape(n);
    int cols = s.rank() - 1;
    vectorLoop(colTo, [&](llvm::Value* j) {
      emitLoop(ir_, rowFrom, rowTo, 1, [&](llvm::Value* i) {
        Index idx = outer;
        idx.at.insert(idx.at.end(), {i, j});
        idx.lane = cols;
        storeAt(ptrs_.at(n), s, idx, compute(n, idx));
      });
    }, colFrom);
  }

  void copyKernel(NodeId n, llvm::Value* dst) {
    const Shape& s = g_.shape(n);
    forEach(s, worthVectors(s) && vectorizable(n), [&](const Index& idx) { storeAt(dst, s, idx, value(n, idx)); });
  }

  llvm::Value* combine(Op op, llvm::Value* acc, llvm::Value* v) {
    if (op == Op::Max) return call(llvm::Intrinsic::maximum, {acc, v});
    // Reassociation lets LLVM vectorize a scalar sum; the order is still fixed per compile.
    auto* add = llvm::cast<llvm::Instruction>(ir_.CreateFAdd(acc, v));
    add->setHasAllowReassoc(true);
    return add;
  }

  /// One lane-wise sum or max of a vector accumulator, in a fixed tree order.
  llvm::Value* horizontal(Op op, llvm::Value* acc) {
    if (op == Op::Max) return ir_.CreateFPMaximumReduce(acc);
    auto* sum = llvm::cast<llvm::Instruction>(ir_.CreateFAddReduce(llvm::ConstantFP::get(elem_, -0.0), acc));
    sum->setHasAllowReassoc(true);
    return sum;
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
      for (int d = 0; d < in.rank(); ++d) {
        if (reduced[d] && redIdx.lane == static_cast<int>(r)) full.lane = d;
        if (!reduced[d] && outIdx.lane == static_cast<int>(o)) full.lane = d;
        full.at.push_back(reduced[d] ? redIdx.at[r++] : outIdx.at[o++]);
      }
      return full;
    };
    double identity = node.op == Op::Sum ? 0.0 : -INFINITY;
    bool vectors = node.op != Op::ArgMax && worthVectors(in) && vectorizable(x);
    if (node.op == Op::ArgMax || reduced.back()) {
      // The reduced axes are innermost: accumulate in a register per output.
      loopNest(node.shape, node.shape.rank(), [&](const Index& outIdx) {
        if (vectors) {
          llvm::AllocaInst* acc = local(llvm::FixedVectorType::get(elem_, vectorLanes_), "acc");
          lanes_ = vectorLanes_;
          ir_.CreateStore(fp(identity), acc);
          forEach(reducedShape, true, [&](const Index& redIdx) {
            llvm::Value* v = value(x, merge(outIdx, redIdx));
            if (mask_) v = ir_.CreateSelect(mask_, v, fp(identity));
            ir_.CreateStore(combine(node.op, ir_.CreateLoad(valueType(), acc), v), acc);
          });
          lanes_ = vectorLanes_;
          llvm::Value* total = horizontal(node.op, ir_.CreateLoad(valueType(), acc));
          lanes_ = 1;
          storeAt(ptrs_.at(n), node.shape, outIdx, total);
          return;
        }
        llvm::AllocaInst* acc = local(elem_, "acc");
        llvm::AllocaInst* best = local(i64_, "best");
        ir_.CreateStore(fp(identity), acc);
        ir_.CreateStore(i64(0), best);
        loopNest(reducedShape, reducedShape.rank(), [&](const Index& redIdx) {
          llvm::Value* v = value(x, merge(outIdx, redIdx));
          llvm::Value* cur = ir_.CreateLoad(elem_, acc);
          if (node.op == Op::ArgMax) {
            llvm::Value* better = ir_.CreateFCmpOGT(v, cur);  // the first maximum wins ties
            ir_.CreateStore(ir_.CreateSelect(better, v, cur), acc);
            ir_.CreateStore(ir_.CreateSelect(better, linear(reducedShape, redIdx.at), ir_.CreateLoad(i64_, best)), best);
          } else {
            ir_.CreateStore(combine(node.op, cur, v), acc);
          }
        });
        llvm::Value* result = node.op == Op::ArgMax ? ir_.CreateSIToFP(ir_.CreateLoad(i64_, best), elem_)
                                                    : ir_.CreateLoad(elem_, acc);
        storeAt(ptrs_.at(n), node.shape, outIdx, result);
      });
      return;
    }
    // An outer axis is reduced: sweep the input in memory order, accumulating
    // into the output, so the inner loop is contiguous (and a vector).
    forEach(node.shape, vectors, [&](const Index& outIdx) { storeAt(ptrs_.at(n), node.shape, outIdx, fp(identity)); });
    forEach(in, vectors, [&](const Index& full) {
      Index outIdx;
      for (int d = 0; d < in.rank(); ++d) {
        if (reduced[d]) continue;
        if (full.lane == d) outIdx.lane = static_cast<int>(outIdx.at.size());
        outIdx.at.push_back(full.at[d]);
      }
      llvm::Value* cur = load(n, outIdx);
      storeAt(ptrs_.at(n), node.shape, outIdx, combine(node.op, cur, value(x, full)));
    });
  }

  /// A matmul operand as the micro-kernel reads it: a buffer and the
  /// strides of its dims (rows and columns; of a group product's operand,
  /// rows, groups and columns).
  struct View {
    llvm::Value* base;
    std::vector<llvm::Value*> strides;
  };

  /// Fusion leaves only strided views of buffers as operands (see isMatMulView).
  View matmulView(NodeId x) {
    if (llvm::Value* at = storage(x)) return rowMajorView(at, g_.shape(x));
    const Node& node = g_.node(x);
    if (node.op == Op::Reshape && storage(node.inputs[0])) return rowMajorView(storage(node.inputs[0]), node.shape);
    if (node.op == Op::Transpose) {
      View v = matmulView(node.inputs[0]);
      std::swap(v.strides[0], v.strides[1]);
      return v;
    }
    if (node.op == Op::Permute) {
      View from = matmulView(node.inputs[0]), v{from.base, {}};
      for (int64_t source : node.attrs.ints) v.strides.push_back(from.strides[size_t(source)]);
      return v;
    }
    internalError("a matmul operand that is not a strided view of a buffer");
  }

  View rowMajorView(llvm::Value* base, const Shape& s) {
    View v{base, std::vector<llvm::Value*>(size_t(s.rank()))};
    llvm::Value* stride = i64(1);
    for (int d = s.rank() - 1; d >= 0; --d) {
      v.strides[size_t(d)] = stride;
      stride = ir_.CreateMul(stride, extent(s.dims[d]), "", true, true);
    }
    return v;
  }

  /// The sizes of matmul `n` (extents read from the current function's batch).
  MatMulOperands matmulSizes(NodeId n) {
    const Node& node = g_.node(n);
    MatMulOperands ops;
    int cols = node.shape.rank() - 1;
    ops.m = extent(node.shape.dims[0]);
    ops.k = extent(g_.shape(node.inputs[0]).dims[cols]);
    ops.n = extent(node.shape.dims[cols]);
    if (node.op == Op::GroupMatMul) ops.groups = extent(node.shape.dims[1]);
    return ops;
  }

  /// Computes matmul `c`; with `epilogue` set, elementwise kernel `epilogue`
  /// instead, from each of c's tiles while it is in registers.
  void matmulKernel(NodeId c, NodeId epilogue = kNoNode) {
    const Node& node = g_.node(c);
    View a = matmulView(node.inputs[0]), b = matmulView(node.inputs[1]), out = rowMajorView(nullptr, node.shape);
    auto* bCol = llvm::dyn_cast<llvm::ConstantInt>(b.strides.back());
    if (!bCol || !bCol->isOne()) internalError("a matmul whose right operand's rows are not contiguous");
    MatMulOperands ops = matmulSizes(c);
    ops.a = a.base;
    ops.aRowStride = a.strides.front();
    ops.aColStride = a.strides.back();
    ops.b = b.base;
    ops.bRowStride = b.strides.front();
    ops.c = ptrs_.at(epilogue == kNoNode ? c : epilogue);
    ops.cRowStride = out.strides.front();
    if (ops.groups) {
      ops.aGroupStride = a.strides[1];
      ops.bGroupStride = b.strides[1];
      ops.cGroupStride = out.strides[1];
    }
    ops.partialSumsInC = !inPlace_;  // C may be a buffer the epilogue reads
    if (epilogue != kNoNode && schedule_->rowsScratch[epilogue] != kNoNode) {
      ops.wholeRows = true;
      RowEpilogue transform = [&](llvm::Value* first, llvm::Value* count, llvm::Value* scratch, int tileRows) {
        outputTransform(c, epilogue, first, count, scratch, tileRows);
      };
      return emitMatMul(ir_, elem_, in_.target, ops, rangeBegin_, rangeEnd_, {}, transform);
    }
    TileEpilogue apply;
    if (epilogue != kNoNode)
      apply = [&, epilogue, c](llvm::Value* tile, llvm::Value* row, llvm::Value* col, llvm::Value* mask) {
        lanes_ = vectorLanes_;
        mask_ = mask;
        epilogueNode_ = schedule_->epilogueTile[epilogue];
        epilogueValue_ = tile;
        Index at{{row, col}, 1};
        if (epilogueNode_ != c) {
          const Shape& image = g_.shape(epilogueNode_);
          at.at = delinearize(row, Shape(std::vector<int64_t>(image.dims.begin(), image.dims.end() - 1)));
          at.at.push_back(col);
          at.lane = image.rank() - 1;
        }
        llvm::Value* v = compute(epilogue, at);
        epilogueNode_ = kNoNode;
        mask_ = nullptr;
        lanes_ = 1;
        return v;
      };
    emitMatMul(ir_, elem_, in_.target, ops, rangeBegin_, rangeEnd_, apply);
  }

  /// Kernel `p` for rows [first, first + count) of group product `c`, whose
  /// rows are tiles (Schedule::rowsScratch): `scratch` holds them, laid out
  /// as c, from row `first`. Each tile's points go through the first untile
  /// into a scratch of their own, then through the second and the rest of
  /// `p`'s chain into `p`: the places of a tile are constants (place()), so
  /// both untiles' coefficients are.
  void outputTransform(NodeId c, NodeId p, llvm::Value* first, llvm::Value* count, llvm::Value* scratch, int tileRows) {
    NodeId across = schedule_->rowsScratch[p];
    const Shape &tiles = g_.shape(g_.node(across).inputs[0]), &mid = g_.shape(across), &out = g_.shape(p);
    int64_t th = tiles.dims[1], tw = tiles.dims[2], ph = tiles.dims[3];
    int64_t mw = g_.node(across).attrs.ints[1], mh = out.dims[1] / th;
    int64_t perRow = mw * ph * mid.dims[4];  // the first untile's elements of one tile
    llvm::Value* midScratch = local(llvm::ArrayType::get(elem_, uint64_t(tileRows * perRow)), "tile.rows");
    llvm::cast<llvm::AllocaInst>(midScratch)->setAlignment(llvm::Align(64));
    ptrs_[c] = ir_.CreateGEP(elem_, scratch, ir_.CreateNeg(ir_.CreateMul(first, i64(g_.shape(c).dims[1] * g_.shape(c).dims[2]))));
    ptrs_[across] = ir_.CreateGEP(elem_, midScratch, ir_.CreateNeg(ir_.CreateMul(first, i64(perRow))));
    llvm::Value* channels = extent(out.dims.back());
    emitLoop(ir_, i64(0), count, 1, [&](llvm::Value* r) {
      llvm::Value* row = ir_.CreateAdd(first, r);
      llvm::Value* image = ir_.CreateUDiv(row, i64(th * tw));
      llvm::Value* inImage = ir_.CreateURem(row, i64(th * tw));
      llvm::Value* ty = ir_.CreateUDiv(inImage, i64(tw));
      llvm::Value* tx = ir_.CreateURem(inImage, i64(tw));
      for (int64_t i = 0; i < mw; ++i) {
        llvm::Value* x = place(tx, i, mw, true);
        emitLoop(ir_, i64(0), i64(ph), 1, [&](llvm::Value* py) {
          vectorLoop(channels, [&](llvm::Value* f) {
            Index at{{image, ty, x, py, f}, 4};
            storeAt(ptrs_.at(across), mid, at, compute(across, at));
          });
        }, kUnrollLimit);
      }
      for (int64_t j = 0; j < mh; ++j) {
        llvm::Value* y = place(ty, j, mh, true);
        for (int64_t i = 0; i < mw; ++i) {
          llvm::Value* x = place(tx, i, mw, false);
          vectorLoop(channels, [&](llvm::Value* f) {
            Index at{{image, y, x, f}, 3};
            storeAt(ptrs_.at(p), out, at, compute(p, at));
          });
        }
      }
    });
    ptrs_.erase(c);
    ptrs_.erase(across);
  }

  using KernelKind = KernelCall::Kind;

  llvm::FunctionType* kernelType(size_t numBuffers) {
    std::vector<llvm::Type*> params(numBuffers, ptr_);
    params.insert(params.end(), {i64_, i64_, i64_});
    return llvm::FunctionType::get(ir_.getVoidTy(), params, false);
  }

  /// A kernel is its own function with noalias buffer arguments, so LLVM
  /// knows the loops do not alias. Its last arguments are the batch and the
  /// units [begin, end) to compute. A kernel of the plan is called by name,
  /// from any module; a scalar kernel is a few instructions, which a function
  /// of its own would cost more to compile (and call) than they do, so it is
  /// inlined. An update computed in place writes the slot it reads: its
  /// buffers may alias.
  llvm::Function* kernelFunction(const std::string& name, size_t numBuffers, bool outlined, bool noAlias) {
    auto* f = llvm::Function::Create(kernelType(numBuffers), llvm::Function::InternalLinkage, name, *module_);
    if (outlined || in_.profileKernels) {
      // Visible, so that other modules (and a profiler) find it by name.
      f->setLinkage(llvm::Function::ExternalLinkage);
      f->setVisibility(llvm::GlobalValue::HiddenVisibility);
      f->addFnAttr(llvm::Attribute::NoInline);
    } else {
      f->addFnAttr(llvm::Attribute::AlwaysInline);
    }
    f->addFnAttr(llvm::Attribute::NoUnwind);
    setVectorWidth(f);
    for (size_t i = 0; i < numBuffers; ++i) {
      if (noAlias) f->addParamAttr(i, llvm::Attribute::NoAlias);
      f->addParamAttr(i, llvm::Attribute::NoCapture);
    }
    return f;
  }

  /// Emits the function that computes `call.node` (or copies its value, for
  /// Copy) into its first argument, and what it stores along with it into
  /// the next ones, reading `call.reads` from the rest.
  llvm::Function* emitKernel(const std::string& name, const KernelCall& call, bool outlined) {
    llvm::IRBuilderBase::InsertPointGuard guard(ir_);
    NodeId n = call.node;
    KernelKind kind = call.kind;
    const std::vector<NodeId>& reads = call.reads;
    size_t buffers = call.buffers();
    llvm::Function* f = kernelFunction(name, buffers, outlined, !call.inPlace);
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    ptrs_.clear();
    places_.clear();
    alsoStore_.clear();
    self_ = kind == KernelKind::Compute ? n : kNoNode;
    if (kind == KernelKind::Compute) ptrs_[n] = f->getArg(0);
    for (size_t i = 0; i < call.alsoStores.size(); ++i) alsoStore_.push_back({call.alsoStores[i], f->getArg(i + 1)});
    size_t firstRead = 1 + call.alsoStores.size();
    for (size_t i = 0; i < reads.size(); ++i) ptrs_[reads[i]] = f->getArg(firstRead + i);
    batch_ = f->getArg(buffers);
    inPlace_ = call.inPlace;
    bool split = splits(n, kind);
    rangeBegin_ = split ? f->getArg(buffers + 1) : nullptr;
    rangeEnd_ = split ? f->getArg(buffers + 2) : nullptr;
    if (!alsoStore_.empty() && (kind != KernelKind::Compute || opKind(g_.op(n)) != OpKind::Elementwise ||
                                schedule_->epilogueOf[n] != kNoNode || g_.op(n) == Op::Transpose))
      internalError("values stored along with a kernel that is not elementwise");
    if (kind == KernelKind::Copy) copyKernel(n, f->getArg(0));
    else if (opKind(g_.op(n)) == OpKind::Reduction) reductionKernel(n);
    else if (opKind(g_.op(n)) == OpKind::Contraction) matmulKernel(n);
    else if (NodeId c = schedule_->epilogueOf[n]; c != kNoNode) matmulKernel(c, n);
    else elementwiseKernel(n);
    ir_.CreateRetVoid();
    return f;
  }

  /// How a kernel splits into independent units for the workers: a matmul
  /// into its tiles, an elementwise kernel of rank 2 or more into its
  /// outermost index. Reductions run whole, on one thread, so that every sum
  /// keeps one order. Evaluated with the current function's batch.
  using Units = MatMulUnits;  // a count of units and the work of one, for any kernel
  NodeId matmulOf(NodeId n, KernelKind kind) const {
    if (kind != KernelKind::Compute) return kNoNode;
    return opKind(g_.op(n)) == OpKind::Contraction ? n : schedule_->epilogueOf[n];
  }
  bool splits(NodeId n, KernelKind kind) const {
    if (matmulOf(n, kind) != kNoNode) return true;
    if (kind == KernelKind::Compute && opKind(g_.op(n)) == OpKind::Reduction) return false;
    return g_.shape(n).rank() >= 2;
  }
  std::optional<Units> splitUnits(const KernelCall& call) {
    NodeId n = call.node;
    if (!splits(n, call.kind)) return std::nullopt;
    if (NodeId matmul = matmulOf(n, call.kind); matmul != kNoNode) {
      MatMulOperands sizes = matmulSizes(matmul);
      sizes.wholeRows = matmul != n && schedule_->rowsScratch[n] != kNoNode;
      return matmulUnits(ir_, elem_, in_.target, sizes);
    }
    const Shape& s = g_.shape(n);
    Shape inner(std::vector<int64_t>(s.dims.begin() + 1, s.dims.end()));
    return Units{extent(s.dims[0]), std::max(inner.staticElements(), readPerUnit(call))};
  }

  /// The most elements a unit of `call` reads from one of its buffers: a
  /// kernel can read far more than it writes (the gradient of a convolution's
  /// input sums every window that copied each pixel: 25 reads an element of a
  /// 5 x 5 kernel), which its output's size alone does not tell.
  int64_t readPerUnit(const KernelCall& call) const {
    int64_t outer = g_.shape(call.node).dims[0], most = 0;
    for (NodeId r : call.reads) {
      const Shape& read = g_.shape(r);
      if (isBatchDim(outer)) most = std::max(most, read.elements(1) / batchFactor(outer));
      else if (!read.hasBatch() && outer > 0) most = std::max(most, read.staticElements() / outer);
    }
    return most;
  }

  /// Defines kernel `k` of the plan, and its range function when it splits
  /// into units, with the schedule of the entry point it was planned from.
  void defineKernel(size_t k) {
    const ModulePlan::Kernel& kernel = plan_.kernels[k];
    schedule_ = &in_.functions[kernel.function].schedule;
    // A kernel that splits is only ever called through its range function:
    // inlined there, it is one function for the backend instead of two.
    bool split = splits(kernel.call.node, kernel.call.kind);
    llvm::Function* f = emitKernel(kernel.symbol, kernel.call, !split);
    if (split) rangeFunction(f, kernel.call.buffers(), true);
  }

  /// Kernel `k` of the plan (or its range function) in this module: its
  /// definition when this module has it, else a declaration.
  llvm::Function* planned(size_t k, bool range) {
    const ModulePlan::Kernel& kernel = plan_.kernels[k];
    std::string name = range ? kernel.symbol + ".range" : kernel.symbol;
    if (llvm::Function* f = module_->getFunction(name)) return f;
    llvm::FunctionType* type = range ? rangeType() : kernelType(kernel.call.buffers());
    auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, *module_);
    f->setVisibility(llvm::GlobalValue::HiddenVisibility);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    return f;
  }

  /// `void NAME.range(ptr args, i64 batch, i64 begin, i64 end)`: the shape of
  /// function a worker calls, unpacking the buffers from `args`.
  llvm::FunctionType* rangeType() { return llvm::FunctionType::get(ir_.getVoidTy(), {ptr_, i64_, i64_, i64_}, false); }

  llvm::Function* rangeFunction(llvm::Function* kernel, size_t numBuffers, bool planned) {
    llvm::IRBuilderBase::InsertPointGuard guard(ir_);
    auto linkage = planned ? llvm::Function::ExternalLinkage : kernel->getLinkage();
    auto* f = llvm::Function::Create(rangeType(), linkage, kernel->getName() + ".range", *module_);
    // Visible, so that other modules (and a profiler) find it by name.
    f->setVisibility(planned ? llvm::GlobalValue::HiddenVisibility : kernel->getVisibility());
    f->addFnAttr(llvm::Attribute::NoUnwind);
    f->addFnAttr(llvm::Attribute::NoInline);
    setVectorWidth(f);
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    std::vector<llvm::Value*> args;
    for (size_t i = 0; i < numBuffers; ++i) args.push_back(ir_.CreateLoad(ptr_, ir_.CreateGEP(ptr_, f->getArg(0), i64(i))));
    args.insert(args.end(), {f->getArg(1), f->getArg(2), f->getArg(3)});
    ir_.CreateCall(kernel, args);
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
  /// Where a function body finds its buffers: slot pointers and arena
  /// offsets, each emitted once, the first time a kernel asks.
  struct Body {
    llvm::Function* f = nullptr;
    llvm::Value* buffers = nullptr;
    llvm::Value* batch = nullptr;
    llvm::Value* arena = nullptr;
    llvm::Value* parallelFor = nullptr;
    llvm::Value* pool = nullptr;
    llvm::AllocaInst* argArray = nullptr;
    std::map<int, llvm::Value*> slots;
    std::map<NodeId, llvm::Value*> where;
    bool guarded = false;  // the finite guard of the assigns is emitted
  };

  /// Returns from the body unless the guard slot holds a finite number: the
  /// updates of a step whose loss is NaN or infinite are never written.
  void guardAssigns(Body& b, const FunctionCode& fc) {
    if (fc.finiteGuardSlot < 0 || b.guarded) return;
    b.guarded = true;
    llvm::Value* v = ir_.CreateLoad(elem_, slotPtr(b, fc.finiteGuardSlot), "guard");
    llvm::Value* finite = ir_.CreateFCmpOLT(ir_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v),
                                            llvm::ConstantFP::getInfinity(elem_));
    auto* update = llvm::BasicBlock::Create(ctx_, "update", b.f);
    auto* skip = llvm::BasicBlock::Create(ctx_, "skip", b.f);
    ir_.CreateCondBr(finite, update, skip);
    ir_.SetInsertPoint(skip);
    ir_.CreateRetVoid();
    ir_.SetInsertPoint(update);
  }

  llvm::Function* newEntry(const std::string& name, llvm::GlobalValue::LinkageTypes linkage) {
    auto* f = llvm::Function::Create(llvm::FunctionType::get(ir_.getVoidTy(), {ptr_, i64_}, false), linkage, name, *module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    setVectorWidth(f);
    return f;
  }

  Body openBody(llvm::Function* f) {
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    Body b;
    b.f = f;
    b.buffers = f->getArg(0);
    b.batch = f->getArg(1);
    b.arena = slotPtr(b, in_.arenaSlot);
    llvm::Value* workers = slotPtr(b, in_.workersSlot);
    b.parallelFor = ir_.CreateLoad(ptr_, workers, "parallel_for");
    b.pool = ir_.CreateLoad(ptr_, ir_.CreateGEP(ptr_, workers, i64(1)), "pool");
    return b;
  }

  llvm::Value* slotPtr(Body& b, int slot) {
    llvm::Value*& p = b.slots[slot];
    if (!p) p = ir_.CreateLoad(ptr_, ir_.CreateGEP(ptr_, b.buffers, i64(slot)), fmt(slot));
    return p;
  }

  /// Where a value lives: `fixed + batch * perRow` elements into slot `slot`'s buffer.
  struct BufferRef {
    int64_t slot, fixed, perRow;
  };
  BufferRef bufferOf(const FunctionCode& fc, NodeId n) const {
    if (auto it = in_.leafSlot.find(n); it != in_.leafSlot.end()) return {it->second, 0, 0};
    if (auto it = fc.writesToSlot.find(n); it != fc.writesToSlot.end()) return {it->second, 0, 0};
    const ArenaBuffer& buf = fc.memory.buffers.at(n);
    if (buf.perRow) return {in_.arenaSlot, fc.memory.staticSize, buf.offset};
    return {in_.arenaSlot, buf.offset, 0};
  }

  llvm::Value* where(Body& b, const FunctionCode& fc, NodeId n) {
    llvm::Value*& p = b.where[n];
    if (p) return p;
    BufferRef at = bufferOf(fc, n);
    if (at.fixed == 0 && at.perRow == 0) return p = slotPtr(b, static_cast<int>(at.slot));
    llvm::Value* off = at.perRow ? ir_.CreateAdd(i64(at.fixed), ir_.CreateMul(b.batch, i64(at.perRow))) : i64(at.fixed);
    return p = ir_.CreateGEP(elem_, slotPtr(b, static_cast<int>(at.slot)), off);
  }

  /// Makes `call`: kernel `plannedIndex` of the plan, or (-1) a kernel
  /// emitted here as `inlineName`; directly, or, for a kernel that splits into
  /// units, through the workers with its buffers in an array.
  void invoke(Body& b, const FunctionCode& fc, const KernelCall& call, int plannedIndex, llvm::Value* dst,
              const std::string& inlineName) {
    llvm::Function* inlined = plannedIndex < 0 ? emitKernel(inlineName, call, false) : nullptr;
    std::vector<llvm::Value*> args{dst};
    for (NodeId a : call.alsoStores) args.push_back(where(b, fc, a));
    for (NodeId r : call.reads) args.push_back(where(b, fc, r));
    batch_ = b.batch;
    std::optional<Units> units = splitUnits(call);
    if (!units) {
      args.insert(args.end(), {b.batch, i64(0), i64(0)});
      ir_.CreateCall(inlined ? inlined : planned(plannedIndex, false), args);
      return;
    }
    if (!b.argArray || b.argArray->getAllocationSize(module_->getDataLayout())->getFixedValue() < args.size() * 8) {
      llvm::IRBuilder<> entry(&b.f->getEntryBlock(), b.f->getEntryBlock().begin());
      b.argArray = entry.CreateAlloca(llvm::ArrayType::get(ptr_, std::max<size_t>(args.size(), 16)), nullptr, "args");
    }
    for (size_t i = 0; i < args.size(); ++i) ir_.CreateStore(args[i], ir_.CreateGEP(ptr_, b.argArray, i64(i)));
    llvm::Function* range = inlined ? rangeFunction(inlined, args.size(), false) : planned(plannedIndex, true);
    auto* type = llvm::FunctionType::get(ir_.getVoidTy(), {ptr_, ptr_, ptr_, i64_, i64_, i64_}, false);
    ir_.CreateCall(type, b.parallelFor, {b.pool, range, b.argArray, b.batch, units->count, i64(units->cost)});
  }

  /// The update group (UpdateGroup.h) as one job for the workers: its calls'
  /// buffers in one array, and a range function that runs, for parts
  /// [begin, end) of kUpdateJobParts, that share of every call's rows.
  void emitUpdateJob(Body& b, const FunctionCode& fc, const std::vector<KernelCall>& calls,
                     const std::vector<int>& plannedIndex, const std::vector<bool>& grouped) {
    std::vector<size_t> members;
    std::vector<llvm::Value*> args;
    int64_t work = 0;
    for (size_t c = 0; c < calls.size(); ++c) {
      if (!grouped[c]) continue;
      members.push_back(c);
      args.push_back(where(b, fc, calls[c].node));
      for (NodeId a : calls[c].alsoStores) args.push_back(where(b, fc, a));
      for (NodeId r : calls[c].reads) args.push_back(where(b, fc, r));
      work += g_.shape(calls[c].node).staticElements() * elementCost(g_, calls[c]);
    }
    llvm::IRBuilder<> entry(&b.f->getEntryBlock(), b.f->getEntryBlock().begin());
    llvm::AllocaInst* array = entry.CreateAlloca(llvm::ArrayType::get(ptr_, args.size()), nullptr, "update_job");
    for (size_t i = 0; i < args.size(); ++i) ir_.CreateStore(args[i], ir_.CreateGEP(ptr_, array, i64(i)));
    llvm::Function* job = updateJobFunction(fc.name + ".job.updates", calls, plannedIndex, members);
    auto* type = llvm::FunctionType::get(ir_.getVoidTy(), {ptr_, ptr_, ptr_, i64_, i64_, i64_}, false);
    ir_.CreateCall(type, b.parallelFor,
                   {b.pool, job, array, b.batch, i64(kUpdateJobParts), i64(ceilDiv(work, kUpdateJobParts))});
  }

  llvm::Function* updateJobFunction(const std::string& name, const std::vector<KernelCall>& calls,
                                    const std::vector<int>& plannedIndex, const std::vector<size_t>& members) {
    llvm::IRBuilderBase::InsertPointGuard guard(ir_);
    auto* f = llvm::Function::Create(rangeType(), llvm::Function::InternalLinkage, name, *module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    f->addFnAttr(llvm::Attribute::NoInline);
    setVectorWidth(f);
    ir_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::Value *batch = f->getArg(1), *begin = f->getArg(2), *end = f->getArg(3);
    int64_t at = 0;  // where the call's buffers start in the job's array
    for (size_t c : members) {
      const KernelCall& call = calls[c];
      // The same rows of every call for the same parts: each row is one thread's.
      llvm::Value* rows = i64(g_.shape(call.node).dims[0]);
      auto share = [&](llvm::Value* part) { return ir_.CreateUDiv(ir_.CreateMul(part, rows), i64(kUpdateJobParts)); };
      ir_.CreateCall(planned(plannedIndex[c], true),
                     {ir_.CreateGEP(ptr_, f->getArg(0), i64(at)), batch, share(begin), share(end)});
      at += static_cast<int64_t>(call.buffers());
    }
    ir_.CreateRetVoid();
    return f;
  }

  std::string callName(const FunctionCode& fc, const KernelCall& call) const {
    if (call.kind == KernelKind::Compute)
      return fc.name + "." + std::to_string(call.node) + "." + opInfo(g_.op(call.node)).name;
    return fc.name + (call.guarded ? ".update." : ".out.") + std::to_string(call.slot);
  }

  /// What makes two calls the same for a run (repeatedRuns): the same kernel,
  /// on the same side of the finite guard; empty for a kernel the workers
  /// split, which a run (one thread) would not.
  std::vector<std::string> runKeys(const std::vector<KernelCall>& calls, const std::vector<int>& plannedIndex) const {
    std::vector<std::string> keys;
    for (size_t c = 0; c < calls.size(); ++c) {
      const KernelCall& call = calls[c];
      if (splits(call.node, call.kind)) keys.emplace_back();
      else if (plannedIndex[c] >= 0) keys.push_back((call.guarded ? "guarded planned " : "planned ") + std::to_string(plannedIndex[c]));
      else keys.push_back((call.guarded ? "guarded inline " : "inline ") + call.key(g_, *schedule_));
    }
    return keys;
  }

  /// One value for each block of a run: `a + d * block` when it steps
  /// evenly (slots and arena offsets often do), else read from a table.
  llvm::Value* perBlock(const std::vector<int64_t>& values, llvm::Value* block) {
    int64_t step = values.size() > 1 ? values[1] - values[0] : 0;
    bool even = true;
    for (size_t i = 1; i < values.size() && even; ++i) even = values[i] - values[i - 1] == step;
    if (even) return step == 0 ? i64(values[0]) : ir_.CreateAdd(i64(values[0]), ir_.CreateMul(block, i64(step)));
    auto* init = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<int64_t>(values));
    auto* table = new llvm::GlobalVariable(*module_, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init, "run.table");
    table->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return ir_.CreateLoad(i64_, ir_.CreateGEP(i64_, table, block));
  }

  /// A run of calls as a loop over its blocks: each block calls the block's
  /// kernels in order, with that block's buffers.
  void emitRun(Body& b, const FunctionCode& fc, const std::vector<KernelCall>& calls, const std::vector<int>& plannedIndex,
               const CallRun& run) {
    std::vector<llvm::Function*> kernels;
    for (size_t k = 0; k < run.period; ++k) {
      size_t c = run.first + k;
      kernels.push_back(plannedIndex[c] >= 0 ? planned(plannedIndex[c], false) : emitKernel(callName(fc, calls[c]), calls[c], false));
    }
    // By call of the block, by argument: where each block's buffer is.
    std::vector<std::vector<std::vector<BufferRef>>> at(run.period);
    for (size_t block = 0; block < run.count; ++block)
      for (size_t k = 0; k < run.period; ++k) {
        const KernelCall& call = calls[run.first + block * run.period + k];
        std::vector<BufferRef>& args = at[k].emplace_back();
        args.push_back(call.kind == KernelKind::Compute ? bufferOf(fc, call.node) : BufferRef{call.slot, 0, 0});
        for (NodeId a : call.alsoStores) args.push_back(bufferOf(fc, a));
        for (NodeId r : call.reads) args.push_back(bufferOf(fc, r));
      }
    emitLoop(ir_, i64(0), i64(static_cast<int64_t>(run.count)), 1, [&](llvm::Value* block) {
      for (size_t k = 0; k < run.period; ++k) {
        std::vector<llvm::Value*> args;
        for (size_t a = 0; a < at[k][0].size(); ++a) {
          std::vector<int64_t> slot, fixed, perRow;
          for (const std::vector<BufferRef>& blockArgs : at[k]) {
            slot.push_back(blockArgs[a].slot);
            fixed.push_back(blockArgs[a].fixed);
            perRow.push_back(blockArgs[a].perRow);
          }
          llvm::Value* base = ir_.CreateLoad(ptr_, ir_.CreateGEP(ptr_, b.buffers, perBlock(slot, block)));
          llvm::Value* off = ir_.CreateAdd(perBlock(fixed, block), ir_.CreateMul(b.batch, perBlock(perRow, block)));
          args.push_back(ir_.CreateGEP(elem_, base, off));
        }
        args.insert(args.end(), {b.batch, i64(0), i64(0)});
        ir_.CreateCall(kernels[k], args);
      }
    });
  }

  void emitFunction(size_t index) {
    const FunctionCode& fc = in_.functions[index];
    schedule_ = &fc.schedule;
    std::vector<KernelCall> calls = kernelCalls(in_, fc);
    const std::vector<int>& plannedIndex = plan_.kernelOf.at(index);
    // One function of hundreds of kernel calls costs LLVM's backend far
    // more than several small ones: a long list is cut into parts.
    bool onePart = calls.size() <= kMaxCallsInOneFunction;
    llvm::Function* entry = newEntry(fc.name, llvm::Function::ExternalLinkage);
    Body top = openBody(entry);
    Body part = top;
    size_t made = 0;
    auto nextCall = [&]() -> Body& {
      if (onePart || made++ % kKernelsPerPart) return onePart ? top : part;
      llvm::Function* f = newEntry(fc.name + ".part" + std::to_string(made / kKernelsPerPart), llvm::Function::InternalLinkage);
      f->addFnAttr(llvm::Attribute::NoInline);
      if (part.f != top.f) ir_.CreateRetVoid();
      ir_.SetInsertPoint(&top.f->back());
      ir_.CreateCall(f, {top.buffers, top.batch});
      part = openBody(f);
      return part;
    };
    std::vector<CallRun> runs = repeatedRuns(runKeys(calls, plannedIndex));
    auto run = runs.begin();
    std::vector<bool> grouped = updateGroup(in_, fc, calls);
    bool groupDone = false;
    for (size_t c = 0; c < calls.size(); ++c) {
      const KernelCall& call = calls[c];
      if (grouped[c] && groupDone) continue;
      Body& b = nextCall();
      if (call.guarded) guardAssigns(b, fc);
      if (grouped[c]) {
        emitUpdateJob(b, fc, calls, plannedIndex, grouped);
        groupDone = true;
        continue;
      }
      if (run != runs.end() && run->first == c) {
        emitRun(b, fc, calls, plannedIndex, *run);
        c += run->period * run->count - 1;
        ++run;
        continue;
      }
      llvm::Value* dst = call.kind == KernelKind::Compute ? where(b, fc, call.node) : slotPtr(b, call.slot);
      invoke(b, fc, call, plannedIndex[c], dst, callName(fc, call));
    }
    if (part.f != top.f) {
      ir_.CreateRetVoid();
      ir_.SetInsertPoint(&top.f->back());
    }
    ir_.CreateRetVoid();
  }

  static std::string fmt(int slot) { return "slot" + std::to_string(slot); }

  llvm::LLVMContext& ctx_;
  const CodeGenInput& in_;
  const ModulePlan& plan_;
  const ModulePlan::Part& part_;  // what this module defines
  const Graph& g_;
  llvm::IRBuilder<> ir_;
  std::unique_ptr<llvm::Module> module_;
  llvm::Type* elem_;
  llvm::Type* i64_;
  llvm::Type* ptr_;
  std::map<NodeId, llvm::Value*> ptrs_;
  std::map<NodeId, llvm::GlobalVariable*> tensors_;  // constant tensors emitted so far
  NodeId self_ = kNoNode;
  llvm::Value* batch_ = nullptr;
  const int vectorLanes_;        // elements in one of the target's vectors
  int lanes_ = 1;                // lanes of the values being emitted: 1 or vectorLanes_
  llvm::Value* mask_ = nullptr;  // in a vector tail: the lanes that exist
  const Schedule* schedule_ = nullptr;  // of the function being emitted
  NodeId epilogueNode_ = kNoNode;       // in an epilogue: the matmul whose tile
  llvm::Value* epilogueValue_ = nullptr;  // is at hand, and that tile's vector
  bool inPlace_ = false;               // the kernel being emitted writes a buffer it reads
  std::vector<std::pair<NodeId, llvm::Value*>> alsoStore_;  // values stored along with the kernel's, and where
  std::map<NodeId, llvm::Value*> alsoStored_;               // ... as computed at the index being emitted
  /// Indices known to be u * stride + r (place()).
  struct Place {
    llvm::Value* u;
    int64_t r, stride;
    bool tileInRange;
  };
  std::map<llvm::Value*, Place> places_;
  llvm::Value* rangeBegin_ = nullptr;  // a split kernel's units [begin, end): its
  llvm::Value* rangeEnd_ = nullptr;    // outermost index, or a matmul's tiles
};

} // namespace

std::unique_ptr<llvm::Module> generateIR(llvm::LLVMContext& ctx, const CodeGenInput& in, const ModulePlan& plan,
                                         size_t part) {
  return CodeGen(ctx, in, plan, part).run();
}

} // namespace nnjit
