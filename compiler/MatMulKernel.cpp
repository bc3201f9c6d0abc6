// MatMulKernel: C = A @ B as a register-blocked FMA micro-kernel in LLVM IR.
//
// The BLIS scheme, specialized to what we know at compile time: a tile of C,
// `rows` x `vectors` registers, stays in vector registers for the whole k
// loop; each step broadcasts one element of A per row and loads one vector
// of B per column block, issuing rows x vectors FMAs. Panels of B (all of k
// by one tile's width) are the outer loop, so a panel stays in L2 while every
// row tile of A streams past it. Tails are masked vectors (columns) and a
// last row group that repeats its last row (rows), never scalar code.
#include "MatMulKernel.h"

#include "IRLoops.h"
#include "InternalError.h"

#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <functional>
#include <tuple>
#include <vector>

namespace nnjit {

namespace {

/// The most rows a tile takes: more would cost a broadcast load per FMA
/// without adding reuse of B.
constexpr int kMaxTileRows = 8;

/// The most bytes of a panel of B that one pass of the row tiles reads: a
/// longer k is taken in blocks this tall, so that the block stays in cache
/// while every row tile passes it (a convolution's weight gradient sums 196
/// rows of k per image: its whole panel was read from L3 once per row tile).
/// Measured per vector width, on the fashion CNN's step. With 512-bit vectors
/// (64-float panels; Zen 5, 1 MB L2) a quarter of L2: 6% faster than 128 KB,
/// the 784-512-256-10 MLP the same. With 256-bit ones (16-float panels; Zen 3,
/// 32 KB L1, 512 KB L2) L1's worth, 512 rows: its weight gradient took 0.68 s
/// in blocks of 512 rows, 0.88 s of 768, 0.96 s of 1024, 1.4 s of 4096 (256 KB),
/// and its dense layer's product (k = 3136, each row of the panel in a page of
/// its own) half the time it took unblocked.
int64_t panelBlockBytes(int vectorBits) { return vectorBits >= 512 ? 256 << 10 : 32 << 10; }

/// A product whose B is at most this big, all of it, is taken row group by
/// row group, each group's tiles across every panel: A's rows are read from
/// L1 again for each panel and B stays in L2, where panel by panel streams
/// all of A from beyond L2 once per panel. On Zen 3 the fashion CNN's second
/// convolution (B 800 x 64) took 19% less time, its input gradient (B 64 x
/// 800) 5%.
constexpr int64_t kResidentBBytes = 256 << 10;

/// What k is known to be a multiple of: itself when a constant, the factor
/// of a batch dim (`batch * 196`), else 1.
int64_t knownFactor(llvm::Value* k) {
  if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(k)) return c->getSExtValue();
  if (auto* mul = llvm::dyn_cast<llvm::BinaryOperator>(k); mul && mul->getOpcode() == llvm::Instruction::Mul)
    for (llvm::Value* side : {mul->getOperand(0), mul->getOperand(1)})
      if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(side)) return c->getSExtValue();
  return 1;
}

/// The rows of k one pass of the tiles covers, [begin, begin + count), and
/// whether it is the first (the tiles start from zero, not from C) and the
/// last (the epilogue runs); all null when k is taken whole.
struct KBlock {
  llvm::Value *begin = nullptr, *count = nullptr, *first = nullptr, *last = nullptr;
  llvm::Value* packedB = nullptr;  // the block's slice of the panel, contiguous, when packed
};

/// The tile shape for a product with `n` columns (when known).
struct Tiling {
  int lanes = 1;    // elements per vector
  int vectors = 1;  // vectors across a full tile
  int rows = 1;     // rows of a full tile
  int64_t panel() const { return int64_t(vectors) * lanes; }
};

/// The rows of k one pass of the row tiles takes, for panels `panel` elements wide.
int64_t blockRowsFor(int64_t panel, llvm::Type* elem, int vectorBits) {
  return std::max<int64_t>(64, panelBlockBytes(vectorBits) / (panel * int64_t(elem->getPrimitiveSizeInBits() / 8)));
}

/// Whether a k this long is taken in blocks of blockRowsFor rows (unless
/// the panels are packed: then always, a short k as one block).
bool takenInBlocks(int64_t likelyK, int64_t panel, llvm::Type* elem, int vectorBits) {
  return likelyK > 2 * blockRowsFor(panel, elem, vectorBits);
}

/// A cache line.
constexpr int64_t kLineBytes = 64;

/// The most bytes of a block's slice of a panel a thread copies to its stack.
constexpr int64_t kMostPackedBytes = 64 << 10;

/// Whether a streamed B (not bStaysResident) has each block's slice of a
/// panel copied to contiguous memory before the row tiles read it (packed,
/// as BLIS does). Rows of B a multiple of 1 KB apart (a 256, 512 or
/// 1024-wide float matrix) fall in at most 4 of L1's 64 sets (the 4 KB that
/// L1 indexes on x86), so a panel's lines cannot stay in L1 from one row tile
/// to the next, however short the block; contiguous, a block's slice does.
/// With 256-bit vectors (a slice of 32 KB at most; Zen 3, the best of 3
/// processes each timing 300 calls) a [64, 784] @ [784, 512] product went
/// from 36-44 to 69-71 GFLOP/s, [64, 1024] @ [1024, 1024] from 34-48 to
/// 68-71 and the fashion CNN's dense layer [32, 3136] @ [3136, 1024] from
/// 46-50 to 54-64 (of 86-93). Its weight gradient's B, rows 3200 bytes apart,
/// is spread over 32 sets already and was 10% slower packed. With 512-bit
/// vectors the slice (256 KB) is too big for a stack; not measured there.
bool packsPanels(const MatMulOperands& ops, int64_t panel, llvm::Type* elem, int vectorBits) {
  int64_t bytes = int64_t(elem->getPrimitiveSizeInBits() / 8);
  auto* stride = llvm::dyn_cast<llvm::ConstantInt>(ops.bRowStride);
  return stride && stride->getSExtValue() * bytes % 1024 == 0 &&
         blockRowsFor(panel, elem, vectorBits) * panel * bytes <= kMostPackedBytes;
}

/// Whether all of B, k x n, is known to fit in kResidentBBytes.
bool bStaysResident(const MatMulOperands& ops, llvm::Type* elem) {
  auto *k = llvm::dyn_cast<llvm::ConstantInt>(ops.k), *n = llvm::dyn_cast<llvm::ConstantInt>(ops.n);
  return k && n && k->getSExtValue() * n->getSExtValue() * int64_t(elem->getPrimitiveSizeInBits() / 8) <= kResidentBBytes;
}

/// The rows a batch dim is taken to have: a train step's chunk (32 rows, or
/// 64 for a model with many sums; what divides 32 divides 64 too).
constexpr int64_t kLikelyBatch = 32;

/// What a dim of a product is likely to be: itself when a constant, else
/// kLikelyBatch times its known factor.
int64_t likelyExtent(llvm::Value* d) {
  return knownFactor(d) * (llvm::isa<llvm::ConstantInt>(d) ? 1 : kLikelyBatch);
}

/// Cycles per step of k for a tile of `rows` x `vectors` registers, on a core
/// with two FMA pipes and two vector loads a cycle: its FMAs, its loads (a
/// broadcast per row, a vector of B per column block), or the latency of an
/// accumulator's chain of FMAs, whichever binds.
double tileStepCycles(int rows, int vectors) {
  return std::max({rows * vectors / 2.0, (rows + vectors) / 2.0, 4.0});
}

/// Cycles per step of k for all of C's tiles, how many panels they take, and
/// whether the last is narrower (a second tile to compile).
struct TilingCost {
  double cycles;
  int64_t panels;
  bool narrowLast;
};

TilingCost tilingCost(int rows, int vectors, int lanes, int64_t m, int64_t n) {
  int64_t panel = int64_t(vectors) * lanes;
  int64_t full = n / panel, rest = n - full * panel;
  int tail = static_cast<int>((rest + lanes - 1) / lanes);
  double perGroup = double(full) * tileStepCycles(rows, vectors) + (tail ? tileStepCycles(rows, tail) : 0);
  return {double((m + rows - 1) / rows) * perGroup, full + (tail ? 1 : 0), tail > 0 && full > 0};
}

/// Another tile shape takes over from BLIS's only where the cycle count says
/// it saves this share; shapes within `kNearlyAsFast` of the fewest cycles are
/// told apart by preference.
constexpr double kWorthChanging = 0.02, kNearlyAsFast = 0.01;

/// The tile shape for an m x n x k product. BLIS's shape for the registers
/// comes first: rows x vectors accumulators, one register per B vector and
/// one for the broadcast (6 x 4 of 32 registers with AVX-512, 6 x 2 of 16
/// with AVX2). Its 6 rows waste an eighth of the FMAs on a chunk of 32 rows
/// (36 computed), so with 32 registers the other candidates are, for each
/// vector count, the most rows the registers allow (8 x 3, 8 x 2, 8 x 1) and
/// 4 rows where that still makes 12 accumulators (4 x 4, 4 x 3). One of them
/// takes over where tilingCost says it saves 2% of the cycles; among near-equal
/// ones, one without a narrower last panel (its tile is more code for LLVM to
/// compile), then the most accumulators, then the fewest panels (A read the
/// fewest times). Not when k is long enough to be taken in blocks: those
/// products (a wide dense layer, a convolution's weight gradient) read their
/// operands from beyond L1, and narrower panels made none of them measurably
/// faster. With 16 registers (AVX2) BLIS's shape stays: the others were not
/// measured there.
Tiling tilingFor(llvm::Type* elem, const VectorTarget& target, llvm::Value* m, llvm::Value* n, llvm::Value* k) {
  Tiling t;
  t.lanes = target.bits / static_cast<int>(elem->getPrimitiveSizeInBits());
  bool manyRegisters = target.registers >= 32;
  int maxVectors = manyRegisters ? 4 : 2;
  int64_t likelyM = likelyExtent(m), likelyN = likelyExtent(n);
  if (llvm::isa<llvm::ConstantInt>(n))  // a batch's width may be wide
    maxVectors = static_cast<int>(std::clamp<int64_t>((likelyN + t.lanes - 1) / t.lanes, 1, maxVectors));
  auto rowsFor = [&](int vectors) { return std::min(kMaxTileRows, (target.registers - 1 - vectors) / vectors); };
  struct Candidate {
    int rows, vectors;
    TilingCost cost;
    auto preference() const { return std::make_tuple(!cost.narrowLast, rows * vectors, -cost.panels, rows); }
  };
  std::vector<Candidate> candidates;  // BLIS's first
  for (int v = maxVectors; v >= 1; --v)
    for (int r : {rowsFor(v), 4})
      if (r == rowsFor(v) || (r < rowsFor(v) && r * v >= 12))
        candidates.push_back({r, v, tilingCost(r, v, t.lanes, likelyM, likelyN)});
  Candidate chosen = candidates.front();
  double fewest = chosen.cost.cycles;
  for (const Candidate& c : candidates) fewest = std::min(fewest, c.cost.cycles);
  bool blocked = takenInBlocks(likelyExtent(k), int64_t(chosen.vectors) * t.lanes, elem, target.bits);
  if (manyRegisters && !blocked && fewest < (1 - kWorthChanging) * chosen.cost.cycles) {
    chosen = {};
    for (const Candidate& c : candidates)
      if (c.cost.cycles <= (1 + kNearlyAsFast) * fewest && (chosen.rows == 0 || c.preference() > chosen.preference()))
        chosen = c;
  }
  t.rows = chosen.rows;
  t.vectors = chosen.vectors;
  return t;
}

llvm::Value* ceilDiv(llvm::IRBuilder<>& ir, llvm::Value* x, int64_t d) {
  return ir.CreateUDiv(ir.CreateAdd(x, ir.getInt64(d - 1)), ir.getInt64(d));
}

/// Units are numbered panel by panel, row group by row group within one, so
/// a contiguous run of units (one thread's share) keeps its panels of B hot;
/// with a B that stays in L2 (bStaysResident), row group by row group, panel
/// by panel within one, so that it keeps its rows of A hot.
class MatMulEmitter {
public:
  MatMulEmitter(llvm::IRBuilder<>& ir, llvm::Type* elem, const VectorTarget& target, const MatMulOperands& ops,
                const TileEpilogue& epilogue, const RowEpilogue& rowEpilogue)
      : ir_(ir), elem_(elem), ops_(ops), epilogue_(epilogue), rowEpilogue_(rowEpilogue), i64_(ir.getInt64Ty()),
        tiling_(tilingFor(elem, target, ops.m, ops.n, ops.k)),
        fma_(target.fma), vectorBits_(target.bits), groupsOuter_(bStaysResident(ops, elem)), a_(ops.a), b_(ops.b),
        c_(ops.c) {
    lanes_ = tiling_.lanes;
    vec_ = llvm::FixedVectorType::get(elem, lanes_);
  }

  void emit(llvm::Value* begin, llvm::Value* end) {
    if (ops_.wholeRows) return emitWholeRows(begin, end);
    llvm::Value* groups = ceilDiv(ir_, ops_.m, tiling_.rows);
    llvm::Value* panels = ceilDiv(ir_, ops_.n, tiling_.panel());
    llvm::Value* fullPanels = ir_.CreateUDiv(ops_.n, i64(tiling_.panel()));
    llvm::Value* rest = ir_.CreateSub(ops_.n, mul(fullPanels, i64(tiling_.panel())));
    // The last, narrower panel: as many vectors as its width needs, masked.
    int tailVectors = tiling_.vectors;
    if (auto* r = llvm::dyn_cast<llvm::ConstantInt>(rest)) tailVectors = static_cast<int>((r->getSExtValue() + lanes_ - 1) / lanes_);
    std::vector<llvm::Value*> fullMasks(tiling_.vectors, nullptr), tailMasks(tailVectors);
    for (int v = 0; v < tailVectors; ++v) tailMasks[v] = laneMask(rest, v);
    auto* fullCount = llvm::dyn_cast<llvm::ConstantInt>(fullPanels);
    auto units = [&] {
      emitLoop(ir_, begin, end, 1, [&](llvm::Value* unit) {
        llvm::Value* first = ir_.CreateICmpEQ(unit, begin);
        if (ops_.groups) unit = selectProduct(unit, panels, groups);
        llvm::Value* outer = ir_.CreateUDiv(unit, groupsOuter_ ? panels : groups);
        llvm::Value* inner = ir_.CreateSub(unit, mul(outer, groupsOuter_ ? panels : groups));
        llvm::Value* panel = groupsOuter_ ? inner : outer;
        llvm::Value* group = groupsOuter_ ? outer : inner;
        llvm::Value* j = mul(panel, i64(tiling_.panel()));
        // A thread's first tile of a panel copies the block's slice of it.
        if (block_.packedB)
          ifElse(ir_.CreateOr(ir_.CreateICmpEQ(group, i64(0)), first), [&] { packPanel(j); },
                 [] {});
        auto full = [&] { groupTiles(group, j, fullMasks); };
        // A width known only at run time (the batch, as in transpose(W @ transpose(dz)))
        // gets a half-width tile too: at 32 columns of a 4-vector tile, half its FMAs
        // would run on empty lanes.
        int halfVectors = tiling_.vectors / 2;
        auto tail = [&] {
          if (llvm::isa<llvm::ConstantInt>(rest) || halfVectors < 1) return groupTiles(group, j, tailMasks);
          std::vector<llvm::Value*> halfMasks(tailMasks.begin(), tailMasks.begin() + halfVectors);
          ifElse(ir_.CreateICmpULE(rest, i64(int64_t(halfVectors) * lanes_)), [&] { groupTiles(group, j, halfMasks); },
                 [&] { groupTiles(group, j, tailMasks); });
        };
        if (tailVectors == 0) full();
        else if (fullCount && fullCount->isZero()) tail();
        else ifElse(ir_.CreateICmpULT(panel, fullPanels), full, tail);
      });
    };
    int64_t blockRows = blockRowsFor(tiling_.panel(), elem_, vectorBits_);
    // An A read across its rows (transpose(x) @ dz) takes a line of cache for
    // each row of the block as well: the block is as much shorter as leaves
    // room for those. A Winograd kernel gradient's (Zen 3: 512 rows of a
    // 16-float panel -> 256) took 7-12% less time.
    if (auto* step = llvm::dyn_cast<llvm::ConstantInt>(ops_.aColStride); !step || !step->isOne()) {
      int64_t panelBytes = tiling_.panel() * int64_t(elemBytes());
      blockRows = std::max<int64_t>(64, blockRows * panelBytes / (panelBytes + kLineBytes));
    }
    // Packing pays for its copy when several row tiles read the panel.
    bool packed = ops_.partialSumsInC && !groupsOuter_ && packsPanels(ops_, tiling_.panel(), elem_, vectorBits_) &&
                  likelyExtent(ops_.m) >= 2 * tiling_.rows;
    // A batch dim is taken as kLikelyBatch rows: enough to tell a convolution's k from a dense layer's.
    // Packed panels are copied a block at a time, the whole of a short k as one.
    if (!packed && (!ops_.partialSumsInC || !takenInBlocks(likelyExtent(ops_.k), tiling_.panel(), elem_, vectorBits_)))
      return units();
    // Each thread's units take every block in turn: its tiles of C are its own throughout.
    llvm::Value* blocks = ceilDiv(ir_, ops_.k, blockRows);
    blocks = ir_.CreateSelect(ir_.CreateICmpSGT(blocks, i64(1)), blocks, i64(1));  // k = 0: one, empty
    // Packed, the blocks are as long as one another (784 rows: two of 392, each slice in L1).
    llvm::Value* rowsPerBlock =
        packed ? ir_.CreateUDiv(ir_.CreateAdd(ops_.k, ir_.CreateSub(blocks, i64(1))), blocks) : i64(blockRows);
    llvm::Value* packedB = packed ? stackPanel(blockRows * tiling_.panel(), "packed") : nullptr;
    emitLoop(ir_, i64(0), blocks, 1, [&](llvm::Value* b) {
      block_.packedB = packedB;
      block_.begin = mul(b, rowsPerBlock);
      llvm::Value* left = ir_.CreateSub(ops_.k, block_.begin);
      block_.count = ir_.CreateSelect(ir_.CreateICmpSLT(left, rowsPerBlock), left, rowsPerBlock);
      block_.first = ir_.CreateICmpEQ(b, i64(0));
      block_.last = ir_.CreateICmpEQ(b, ir_.CreateSub(blocks, i64(1)));
      units();
    });
    block_ = {};
  }

private:
  /// Units [begin, end) of a wholeRows product: row group by row group, every
  /// product's tiles of the group into the scratch, then the row epilogue.
  void emitWholeRows(llvm::Value* begin, llvm::Value* end) {
    auto* groups = llvm::dyn_cast<llvm::ConstantInt>(ops_.groups);
    auto *k = llvm::dyn_cast<llvm::ConstantInt>(ops_.k), *n = llvm::dyn_cast<llvm::ConstantInt>(ops_.n);
    if (!groups || !k || !n || !rowEpilogue_ ||
        takenInBlocks(k->getSExtValue(), tiling_.panel(), elem_, vectorBits_))
      internalError("a whole-rows product needs a constant count of products, k and n, k taken whole, and its epilogue");
    int64_t perRow = groups->getSExtValue() * n->getSExtValue();
    int64_t rows = tiling_.rows;
    if (rows * perRow * int64_t(elemBytes()) > kMostWholeRowsBytes) internalError("a whole-rows product's scratch is too big");
    llvm::Value* scratch = stackPanel(rows * perRow, "rows");
    llvm::Value* panels = ceilDiv(ir_, ops_.n, tiling_.panel());
    llvm::Value* fullPanels = ir_.CreateUDiv(ops_.n, i64(tiling_.panel()));
    int64_t rest = n->getSExtValue() % tiling_.panel();
    std::vector<llvm::Value*> fullMasks(tiling_.vectors, nullptr), tailMasks(size_t((rest + lanes_ - 1) / lanes_));
    for (size_t v = 0; v < tailMasks.size(); ++v) tailMasks[v] = laneMask(i64(rest), static_cast<int>(v));
    emitLoop(ir_, begin, end, 1, [&](llvm::Value* group) {
      llvm::Value* first = mul(group, i64(rows));
      // The scratch holds the group's rows: row i of C at i - first.
      wholeRowsC_ = at(scratch, ir_.CreateNeg(mul(first, i64(perRow))));
      emitLoop(ir_, i64(0), ops_.groups, 1, [&](llvm::Value* product) {
        a_ = at(ops_.a, mul(product, ops_.aGroupStride));
        b_ = at(ops_.b, mul(product, ops_.bGroupStride));
        c_ = at(wholeRowsC_, mul(product, n));
        emitLoop(ir_, i64(0), panels, 1, [&](llvm::Value* panel) {
          llvm::Value* j = mul(panel, i64(tiling_.panel()));
          if (tailMasks.empty()) return groupTiles(group, j, fullMasks);
          ifElse(ir_.CreateICmpULT(panel, fullPanels), [&] { groupTiles(group, j, fullMasks); },
                 [&] { groupTiles(group, j, tailMasks); });
        });
      });
      llvm::Value* left = ir_.CreateSub(ops_.m, first);
      llvm::Value* count = ir_.CreateSelect(ir_.CreateICmpSLT(left, i64(rows)), left, i64(rows));
      rowEpilogue_(first, count, scratch, static_cast<int>(rows));
    });
  }

  llvm::Value* i64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }
  llvm::Value* mul(llvm::Value* a, llvm::Value* b) { return ir_.CreateMul(a, b, "", true, true); }
  llvm::Value* add(llvm::Value* a, llvm::Value* b) { return ir_.CreateAdd(a, b, "", true, true); }
  llvm::Value* at(llvm::Value* base, llvm::Value* offset) { return ir_.CreateGEP(elem_, base, offset); }

  void ifElse(llvm::Value* cond, const std::function<void()>& then, const std::function<void()>& otherwise) {
    llvm::Function* fn = ir_.GetInsertBlock()->getParent();
    auto* thenBlock = llvm::BasicBlock::Create(ir_.getContext(), "mm.then", fn);
    auto* elseBlock = llvm::BasicBlock::Create(ir_.getContext(), "mm.else", fn);
    auto* merge = llvm::BasicBlock::Create(ir_.getContext(), "mm.merge", fn);
    ir_.CreateCondBr(cond, thenBlock, elseBlock);
    ir_.SetInsertPoint(thenBlock);
    then();
    ir_.CreateBr(merge);
    ir_.SetInsertPoint(elseBlock);
    otherwise();
    ir_.CreateBr(merge);
    ir_.SetInsertPoint(merge);
  }

  /// Points a_, b_ and c_ at the product of a group product that `unit`
  /// belongs to, and returns the unit's number within that product. Row group
  /// by row group (groupsOuter_), each group's tiles take every product in
  /// turn (their rows of A lie side by side); else product by product.
  llvm::Value* selectProduct(llvm::Value* unit, llvm::Value* panels, llvm::Value* rowGroups) {
    llvm::Value* product = nullptr;
    if (groupsOuter_) {
      llvm::Value* perRowGroup = mul(panels, ops_.groups);
      llvm::Value* rowGroup = ir_.CreateUDiv(unit, perRowGroup);
      llvm::Value* rest = ir_.CreateSub(unit, mul(rowGroup, perRowGroup));
      product = ir_.CreateUDiv(rest, panels);
      unit = add(mul(rowGroup, panels), ir_.CreateSub(rest, mul(product, panels)));
    } else {
      llvm::Value* perProduct = mul(panels, rowGroups);
      product = ir_.CreateUDiv(unit, perProduct);
      unit = ir_.CreateSub(unit, mul(product, perProduct));
    }
    a_ = at(ops_.a, mul(product, ops_.aGroupStride));
    b_ = at(ops_.b, mul(product, ops_.bGroupStride));
    c_ = at(ops_.c, mul(product, ops_.cGroupStride));
    return unit;
  }

  /// The rows of row group `group` over the panel at column j, as one full
  /// tile. In the last, short group the rows past the end repeat the last
  /// row: they compute and store its values again, the same bits, so one tile
  /// serves every group (half the code of a separate one-row tail).
  void groupTiles(llvm::Value* group, llvm::Value* j, const std::vector<llvm::Value*>& masks) {
    llvm::Value* i = mul(group, i64(tiling_.rows));
    auto* m = llvm::dyn_cast<llvm::ConstantInt>(ops_.m);
    clampRows_ = !(m && m->getSExtValue() % tiling_.rows == 0);
    tile(i, j, tiling_.rows, masks);
  }

  /// `elements` on the kernel's stack, allocated once at its entry.
  llvm::Value* stackPanel(int64_t elements, const char* name) {
    llvm::BasicBlock& entry = ir_.GetInsertBlock()->getParent()->getEntryBlock();
    llvm::IRBuilder<> atEntry(&entry, entry.getFirstInsertionPt());
    auto* slot = atEntry.CreateAlloca(llvm::ArrayType::get(elem_, uint64_t(elements)), nullptr, name);
    slot->setAlignment(llvm::Align(64));
    return slot;
  }

  /// Copies rows [begin, begin + count) of the panel of B at column j into
  /// block_.packedB, a panel's width apart; lanes past n are zeros.
  void packPanel(llvm::Value* j) {
    std::vector<llvm::Value*> masks(tiling_.vectors);
    llvm::Value* width = ir_.CreateSub(ops_.n, j);
    for (int v = 0; v < tiling_.vectors; ++v) masks[v] = laneMask(width, v);
    emitLoop(ir_, i64(0), block_.count, 1, [&](llvm::Value* p) {
      llvm::Value* from = at(b_, add(mul(add(block_.begin, p), ops_.bRowStride), j));
      llvm::Value* to = at(block_.packedB, mul(p, i64(tiling_.panel())));
      for (int v = 0; v < tiling_.vectors; ++v)
        storeC(loadB(at(from, i64(int64_t(v) * lanes_)), masks[v]), at(to, i64(int64_t(v) * lanes_)), nullptr);
    });
  }

  /// Row r of the tile starting at row i, within C.
  llvm::Value* rowOf(llvm::Value* i, int r) {
    llvm::Value* row = add(i, i64(r));
    if (!clampRows_) return row;
    llvm::Value* last = ir_.CreateSub(ops_.m, i64(1));
    return ir_.CreateSelect(ir_.CreateICmpSGT(row, last), last, row);
  }

  /// Lanes of vector `v` that fall inside a panel `width` columns wide; null
  /// when all of them do.
  llvm::Value* laneMask(llvm::Value* width, int v) {
    if (auto* w = llvm::dyn_cast<llvm::ConstantInt>(width); w && w->getSExtValue() >= int64_t(v + 1) * lanes_)
      return nullptr;
    // 32-bit lanes: one register's worth of compares (dims are below 2^31).
    std::vector<llvm::Constant*> lane;
    for (int l = 0; l < lanes_; ++l) lane.push_back(ir_.getInt32(v * lanes_ + l));
    llvm::Value* limit = ir_.CreateVectorSplat(lanes_, ir_.CreateTrunc(width, ir_.getInt32Ty()));
    return ir_.CreateICmpSLT(llvm::ConstantVector::get(lane), limit);
  }

  llvm::Value* loadB(llvm::Value* ptr, llvm::Value* mask) {
    if (!mask) return ir_.CreateAlignedLoad(vec_, ptr, llvm::Align(elemBytes()));
    return ir_.CreateMaskedLoad(vec_, ptr, llvm::Align(elemBytes()), mask, llvm::Constant::getNullValue(vec_));
  }

  void storeC(llvm::Value* v, llvm::Value* ptr, llvm::Value* mask) {
    if (!mask) ir_.CreateAlignedStore(v, ptr, llvm::Align(elemBytes()));
    else ir_.CreateMaskedStore(v, ptr, llvm::Align(elemBytes()), mask);
  }

  uint64_t elemBytes() const { return elem_->getPrimitiveSizeInBits() / 8; }

  /// C[i .. i+rows, panel at j] = A[i .. i+rows, :] @ B[:, panel at j]. The
  /// accumulators and one pointer per row of A and one into B are carried
  /// through the k loop as phis: registers, with no address arithmetic for
  /// LLVM's loop strength reduction to untangle (a large share of its time).
  void tile(llvm::Value* i, llvm::Value* j, int rows, const std::vector<llvm::Value*>& masks) {
    int vectors = static_cast<int>(masks.size());
    std::vector<llvm::Value*> aStart(rows);
    std::vector<llvm::Value*> rowIndex(rows);
    for (int r = 0; r < rows; ++r) rowIndex[r] = rowOf(i, r);
    llvm::Value* k = block_.count ? block_.count : ops_.k;
    llvm::Value* aSkip = block_.begin ? mul(block_.begin, ops_.aColStride) : i64(0);
    for (int r = 0; r < rows; ++r) aStart[r] = at(a_, add(mul(rowIndex[r], ops_.aRowStride), aSkip));
    llvm::Value* bStart = at(b_, block_.begin ? add(j, mul(block_.begin, ops_.bRowStride)) : j);
    llvm::Value* bRowStride = ops_.bRowStride;
    std::vector<llvm::Value*> bMasks = masks;
    if (block_.packedB) {
      bStart = block_.packedB;
      bRowStride = i64(tiling_.panel());
      bMasks.assign(vectors, nullptr);  // a packed panel's lanes past n hold zeros
    }
    std::vector<llvm::Value*> cRows(rows);
    llvm::Value* cRowStride = ops_.wholeRows ? mul(ops_.groups, ops_.n) : ops_.cRowStride ? ops_.cRowStride : ops_.n;
    for (int r = 0; r < rows; ++r) cRows[r] = at(c_, add(mul(rowIndex[r], cRowStride), j));
    // A block after the first goes on from the sums the last one stored.
    std::vector<llvm::Value*> start(rows * vectors, llvm::Constant::getNullValue(vec_));
    if (block_.first)
      for (int r = 0; r < rows; ++r)
        for (int v = 0; v < vectors; ++v) {
          llvm::Value* stored = loadB(at(cRows[r], i64(int64_t(v) * lanes_)), masks[v]);
          start[r * vectors + v] = ir_.CreateSelect(block_.first, llvm::Constant::getNullValue(vec_), stored);
        }

    // A rotated loop: the test is at the bottom, and only a k that is not a
    // constant (the batch) needs a guard in front.
    llvm::Function* fn = ir_.GetInsertBlock()->getParent();
    auto* pre = llvm::BasicBlock::Create(ir_.getContext(), "mm.pre", fn);
    auto* body = llvm::BasicBlock::Create(ir_.getContext(), "mm.fma", fn);
    auto* exit = llvm::BasicBlock::Create(ir_.getContext(), "mm.tile", fn);
    llvm::BasicBlock* guard = ir_.GetInsertBlock();
    bool mayBeEmpty = !llvm::isa<llvm::ConstantInt>(k);
    if (mayBeEmpty) ir_.CreateCondBr(ir_.CreateICmpSGT(k, i64(0)), pre, exit);
    else ir_.CreateBr(pre);
    ir_.SetInsertPoint(pre);
    ir_.CreateBr(body);

    ir_.SetInsertPoint(body);
    auto phi = [&](llvm::Type* t, llvm::Value* start) {
      llvm::PHINode* node = ir_.CreatePHI(t, 2);
      node->addIncoming(start, pre);
      return node;
    };
    llvm::PHINode* p = phi(i64_, i64(0));
    std::vector<llvm::PHINode*> aPtr(rows);
    for (int r = 0; r < rows; ++r) aPtr[r] = phi(aStart[r]->getType(), aStart[r]);
    llvm::PHINode* bPtr = phi(bStart->getType(), bStart);
    std::vector<llvm::PHINode*> acc(rows * vectors);
    for (size_t t = 0; t < acc.size(); ++t) acc[t] = phi(vec_, start[t]);
    std::vector<llvm::Value*> bv(vectors);
    for (int v = 0; v < vectors; ++v) bv[v] = loadB(at(bPtr, i64(int64_t(v) * lanes_)), bMasks[v]);
    std::vector<llvm::Value*> next(rows * vectors);
    for (int r = 0; r < rows; ++r) {
      llvm::Value* a = ir_.CreateAlignedLoad(elem_, aPtr[r], llvm::Align(elemBytes()));
      llvm::Value* splat = ir_.CreateVectorSplat(lanes_, a);
      for (int v = 0; v < vectors; ++v) {
        int t = r * vectors + v;
        // Without FMA instructions llvm.fma would be a libm call per lane: multiply, then add.
        next[t] = fma_ ? ir_.CreateIntrinsic(llvm::Intrinsic::fma, {vec_}, {splat, bv[v], acc[t]})
                       : ir_.CreateFAdd(ir_.CreateFMul(splat, bv[v]), acc[t]);
        acc[t]->addIncoming(next[t], body);
      }
      aPtr[r]->addIncoming(at(aPtr[r], ops_.aColStride), body);
    }
    bPtr->addIncoming(at(bPtr, bRowStride), body);
    llvm::Value* p1 = add(p, i64(1));
    p->addIncoming(p1, body);
    ir_.CreateCondBr(ir_.CreateICmpSLT(p1, k), body, exit);

    ir_.SetInsertPoint(exit);
    std::vector<llvm::Value*> sums = next;
    if (mayBeEmpty)
      for (size_t t = 0; t < sums.size(); ++t) {
        llvm::PHINode* out = ir_.CreatePHI(vec_, 2);
        out->addIncoming(start[t], guard);
        out->addIncoming(sums[t], body);
        sums[t] = out;
      }
    auto store = [&](bool finished) {
      for (int r = 0; r < rows; ++r)
        for (int v = 0; v < vectors; ++v) {
          llvm::Value* sum = sums[r * vectors + v];
          llvm::Value* col = add(j, i64(int64_t(v) * lanes_));
          if (finished && epilogue_) sum = epilogue_(sum, rowIndex[r], col, masks[v]);
          storeC(sum, at(cRows[r], i64(int64_t(v) * lanes_)), masks[v]);
        }
    };
    if (block_.last && epilogue_) ifElse(block_.last, [&] { store(true); }, [&] { store(false); });
    else store(true);
  }

  llvm::IRBuilder<>& ir_;
  llvm::Type* elem_;
  const MatMulOperands& ops_;
  const TileEpilogue& epilogue_;
  const RowEpilogue& rowEpilogue_;
  llvm::Type* i64_;
  Tiling tiling_;
  bool fma_;
  int vectorBits_;
  bool groupsOuter_;  // units numbered row group by row group
  bool clampRows_ = false;  // the last row group may be short
  KBlock block_;            // the block of k being emitted, when k is taken in blocks
  llvm::Value *a_, *b_, *c_;  // the operands of the product being emitted (of a group product, one of them)
  llvm::Value* wholeRowsC_ = nullptr;  // a wholeRows product's C: its scratch, as if at row 0
  int lanes_ = 1;
  llvm::FixedVectorType* vec_ = nullptr;
};

} // namespace

MatMulUnits matmulUnits(llvm::IRBuilder<>& ir, llvm::Type* elem, const VectorTarget& target, const MatMulOperands& ops) {
  Tiling t = tilingFor(elem, target, ops.m, ops.n, ops.k);
  if (ops.wholeRows)  // a unit is a row group's tiles across every product
    return {ceilDiv(ir, ops.m, t.rows), t.rows * likelyExtent(ops.n) * likelyExtent(ops.k) * likelyExtent(ops.groups)};
  llvm::Value* count = ir.CreateMul(ceilDiv(ir, ops.n, t.panel()), ceilDiv(ir, ops.m, t.rows));
  if (ops.groups) count = ir.CreateMul(count, ops.groups);
  // A k of the batch's rows is weighed at a chunk's (a convolution's weight
  // gradient: 784 rows an image, not 64 in all).
  return {count, t.rows * t.panel() * likelyExtent(ops.k)};
}

void emitMatMul(llvm::IRBuilder<>& ir, llvm::Type* elem, const VectorTarget& target, const MatMulOperands& ops,
                llvm::Value* unitBegin, llvm::Value* unitEnd, const TileEpilogue& epilogue, const RowEpilogue& rowEpilogue) {
  if (!unitBegin) {
    unitBegin = ir.getInt64(0);
    unitEnd = matmulUnits(ir, elem, target, ops).count;
  }
  MatMulEmitter(ir, elem, target, ops, epilogue, rowEpilogue).emit(unitBegin, unitEnd);
}

} // namespace nnjit
