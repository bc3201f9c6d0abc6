// MatMulKernel: C = A @ B as a register-blocked FMA micro-kernel in LLVM IR.
#pragma once

#include "HostInfo.h"

#include <llvm/IR/IRBuilder.h>

#include <functional>

namespace nnjit {

/// The operands of one product (or of `groups` products side by side), as
/// strided views of memory. Strides and extents are in elements and may be
/// run-time values (the batch dim). B's rows and C's rows are contiguous.
struct MatMulOperands {
  llvm::Value* a = nullptr;
  llvm::Value* aRowStride = nullptr;
  llvm::Value* aColStride = nullptr;
  llvm::Value* b = nullptr;
  llvm::Value* bRowStride = nullptr;
  llvm::Value* c = nullptr;
  llvm::Value* cRowStride = nullptr;  // null: n
  llvm::Value* m = nullptr;
  llvm::Value* k = nullptr;
  llvm::Value* n = nullptr;
  /// A group product's count and where each product's operands begin,
  /// group g at g times these (null: one product).
  llvm::Value* groups = nullptr;
  llvm::Value* aGroupStride = nullptr;
  llvm::Value* bGroupStride = nullptr;
  llvm::Value* cGroupStride = nullptr;
  /// Whether C may hold partial sums between blocks of k: not when C is a
  /// buffer the product or its epilogue reads (an update in place).
  bool partialSumsInC = true;
  /// A group product taken row group by row group, each group's rows of
  /// every product into a scratch on the stack, which a RowEpilogue then
  /// turns into the kernel's output: C is never stored (a Winograd output
  /// transform, CodeGen). One unit per row group; k is taken whole. `c`,
  /// `cRowStride` and `cGroupStride` are unused: the scratch is C's rows of
  /// the group, laid out as C.
  bool wholeRows = false;
};

/// A product splits into independent units, one tile of C each (a panel of
/// columns by a group of rows; a group product's, group by group): how many,
/// and the multiply-adds of one.
struct MatMulUnits {
  llvm::Value* count;
  int64_t cost;
};
MatMulUnits matmulUnits(llvm::IRBuilder<>& ir, llvm::Type* elem, const VectorTarget& target, const MatMulOperands& ops);

/// Applied to each finished vector of C's tile before it is stored: the
/// vector, its row, its first column and its lane mask (null: all lanes).
using TileEpilogue = std::function<llvm::Value*(llvm::Value* tile, llvm::Value* row, llvm::Value* col, llvm::Value* mask)>;

/// Run on each row group of a wholeRows product once all of its products
/// are in the scratch: rows [first, first + count) of C, the first at
/// `scratch`, each of up to `tileRows` rows.
using RowEpilogue = std::function<void(llvm::Value* first, llvm::Value* count, llvm::Value* scratch, int tileRows)>;

/// The most bytes of scratch a wholeRows product puts on the stack: rows
/// (up to 8) by groups by n elements.
constexpr int64_t kMostWholeRowsBytes = 256 << 10;

/// Emits, at `ir`'s insertion point, loops that overwrite the tiles of C of
/// units [unitBegin, unitEnd) (all of C when null) with A @ B. Each element
/// of C sums its k products in order p = 0, 1, ..., so the result does not
/// depend on how the units are shared out, nor on whether a long k is
/// taken in blocks (each block's tiles go on from the sums the last one
/// left in C, the same additions in the same order).
void emitMatMul(llvm::IRBuilder<>& ir, llvm::Type* elem, const VectorTarget& target, const MatMulOperands& ops,
                llvm::Value* unitBegin = nullptr, llvm::Value* unitEnd = nullptr, const TileEpilogue& epilogue = {},
                const RowEpilogue& rowEpilogue = {});

} // namespace nnjit
