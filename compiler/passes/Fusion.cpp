// Fusion: decides which nodes get a buffer; everything else is fused into its consumer's loop.
#include "Fusion.h"

#include <algorithm>

namespace nnjit {

namespace {

/// Whether consumer `c` may recompute its unmaterialized input `in` inline
/// without doing more work than computing it once.
bool mayInline(const Graph& g, NodeId c, NodeId in) {
  const Node& node = g.node(c);
  switch (node.op) {
  case Op::Reshape:  // unless it only adds or drops unit dims, a div/mod per element finds the source
    return sameUnitFree(g.shape(in), node.shape);
  // Unpatch evaluates every window position, of which 1 in stride_h * stride_w
  // holds the pixel; of disjoint windows it finds the one position directly.
  case Op::Unpatch:
    return node.attrs.ints[2] * node.attrs.ints[3] == 1 || disjointWindows(node.attrs.ints);
  case Op::MatMul:   // read k or n times per element
  case Op::GroupMatMul:
  case Op::Concat:   // both sides are evaluated for every element
  case Op::Broadcast:
  case Op::Patches:  // reads each pixel once per window over it
  case Op::Tiles:    // each element takes a window of its input, for every point
  case Op::Untile:
    return false;
  default:
    // An elementwise consumer that broadcasts `in` would recompute it.
    return opKind(node.op) != OpKind::Elementwise || g.shape(in).elements(2) == node.shape.elements(2);
  }
}

} // namespace

namespace {

/// Depth-first through the inline nodes below `n`, inputs in order, with an
/// explicit stack: a fused chain can be as long as the model.
void collectReadsFrom(const Graph& g, NodeId n, const std::vector<bool>& mat, const std::function<bool(NodeId)>& inSlot,
                      std::vector<bool>& seen, std::vector<NodeId>& out) {
  std::vector<std::pair<NodeId, size_t>> stack{{n, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    const std::vector<NodeId>& inputs = g.node(node).inputs;
    if (next == inputs.size()) {
      stack.pop_back();
      continue;
    }
    NodeId in = inputs[next++];
    if (seen[in]) continue;
    seen[in] = true;
    if (mat[in] || inSlot(in)) out.push_back(in);
    else stack.push_back({in, 0});
  }
}

/// Undoes collectReadsFrom's marks below `n` (the same walk).
void clearSeen(const Graph& g, NodeId n, const std::vector<bool>& mat, const std::function<bool(NodeId)>& inSlot,
               std::vector<bool>& seen) {
  std::vector<NodeId> stack{n};
  while (!stack.empty()) {
    NodeId node = stack.back();
    stack.pop_back();
    for (NodeId in : g.node(node).inputs) {
      if (!seen[in]) continue;
      seen[in] = false;
      if (!mat[in] && !inSlot(in)) stack.push_back(in);
    }
  }
}

/// How many nodes one kernel may compute inline besides its own: more get a
/// buffer of their own. That bounds the emitter's recursion and the size of
/// one loop body, which LLVM's instruction scheduling pays for more than
/// linearly (a 20,000-node chain becomes 156 kernels, not one).
constexpr int kMaxInlineNodes = 128;

void boundInlineSize(const Graph& g, const std::vector<bool>& live, std::vector<bool>& mat,
                     const std::function<bool(NodeId)>& inSlot) {
  std::vector<int> size(g.size(), 0);
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || mat[n] || inSlot(n) || opKind(g.op(n)) == OpKind::Leaf) continue;
    int total = 1;
    for (NodeId in : g.node(n).inputs) total += size[in];
    size[n] = total;
    if (total > kMaxInlineNodes) {
      mat[n] = true;
      size[n] = 0;
    }
  }
}

/// Whether `n` is a reshape that regroups the elements (not only unit dims)
/// of `in`, a value computed inline, cheap as it may be (a transpose): it
/// would find each element by its flat index, one lane at a time, and keep
/// the whole kernel reading it scalar, where from a buffer it reads the flat
/// offset a vector at a time. The buffer costs one pass over `in`.
bool regroupsView(const Graph& g, NodeId n, NodeId in) {
  return g.op(n) == Op::Reshape && opKind(g.op(in)) != OpKind::Leaf && !sameUnitFree(g.shape(in), g.shape(n));
}

bool isComparison(Op op) { return op == Op::Greater || op == Op::GreaterEqual || op == Op::Equal; }

/// Whether `n` costs only index arithmetic (or one scalar op) to recompute
/// where it is used, given which of its inputs already count as cheap. Shared
/// values must be views: a scalar op read twice would be emitted twice, and
/// a chain of them (`a1 = a0 + a0`, `a2 = a1 + a1`, ...) would grow
/// exponentially. One exception: a comparison of views (a max pooling's mask,
/// `window == max`, read by its count and by the gradient) is one compare
/// per read, cheaper than a buffer's store and loads; its inputs compute
/// nothing (`view`: buffers, leaves and layouts of them), so no chain grows.
bool cheapGiven(const Graph& g, NodeId n, const std::vector<bool>& cheap, const std::vector<bool>& view, bool shared) {
  const Node& node = g.node(n);
  auto all = [&](const std::vector<bool>& of) {
    for (NodeId in : node.inputs)
      if (!of[in]) return false;
    return true;
  };
  auto inputsCheap = [&] { return all(cheap); };
  auto inputsViews = [&] { return all(view); };
  switch (opKind(node.op)) {
  case OpKind::Leaf: return true;
  // Unpatch sums a window of its input (unless the windows are disjoint), tiles and untile a weighted
  // window: recomputed per read, not an index move.
  case OpKind::Layout:
    return node.op != Op::Concat && node.op != Op::Tiles && node.op != Op::Untile &&
           (node.op != Op::Unpatch || disjointWindows(node.attrs.ints)) && inputsCheap();
  case OpKind::Elementwise:
    if (shared && isComparison(node.op)) return inputsViews();
    return !shared && node.shape.isScalar() && inputsCheap();
  case OpKind::Reduction:
  case OpKind::Contraction: return false;
  }
  return false;
}

bool keepsLastDim(const Node& permute) {
  return permute.attrs.ints.back() == int64_t(permute.attrs.ints.size()) - 1;
}

/// Whether the matmul micro-kernel can read `n` as a strided view of a
/// buffer: the buffer itself (or a constant tensor's array), a reshape of it
/// (contiguous rows) or, when `transposed` is allowed, the transpose of either.
/// A group product's operands may be a permutation of such a view too (B's
/// keeping its last dim last).
bool isMatMulView(const Graph& g, NodeId n, bool transposed, const std::vector<bool>& mat,
                  const std::function<bool(NodeId)>& inSlot) {
  auto buffer = [&](NodeId x) { return mat[x] || inSlot(x) || g.op(x) == Op::ConstantTensor; };
  if (buffer(n)) return true;
  const Node& node = g.node(n);
  if (node.op == Op::Reshape) return buffer(node.inputs[0]);
  if ((node.op == Op::Transpose && transposed) || (node.op == Op::Permute && (transposed || keepsLastDim(node))))
    return isMatMulView(g, node.inputs[0], false, mat, inSlot);
  return false;
}

/// What to materialize for a matmul operand that is not a view: under a
/// reshape (and, for A, a transpose or permutation), the value itself, in its
/// own shape, so that its kernel runs vector loops (a convolution's patches);
/// the reshape is then a view of its buffer.
NodeId reshaped(const Graph& g, NodeId operand, bool transposed) {
  NodeId x = operand;
  if (g.op(x) == Op::Permute && (transposed || keepsLastDim(g.node(x)))) {
    // A group product's operand: the value permuted gets the buffer, and the permute is a view of it.
    x = g.node(x).inputs[0];
    if (g.op(x) != Op::Reshape) return opKind(g.op(x)) == OpKind::Leaf ? operand : x;
  } else if (transposed && g.op(x) == Op::Transpose) {
    x = g.node(x).inputs[0];
  }
  if (g.op(x) != Op::Reshape) return operand;
  NodeId value = g.node(x).inputs[0];
  return opKind(g.op(value)) == OpKind::Leaf ? operand : value;  // a leaf has no kernel to run
}

/// A weight's gradient `transpose(x) @ dz` reads A across x's rows: with
/// rows this long each step of k is a cache line of its own (often a page),
/// which no prefetcher follows...
constexpr int64_t kLongRows = 64;
/// ...and with a product this wide every panel of columns reads all of A
/// again (16 panels of 256-bit vectors, 4 of 512-bit ones).
constexpr int64_t kWideProduct = 256;

/// Whether product `n` reads A from a transposed copy of x, made by a
/// transpose kernel (8 x 8 blocks in registers), along its rows: the
/// fashion CNN's dense weight gradient [3136, 32] @ [32, 1024] took 15% less
/// time (Zen 3), the 784 MLP's first one 8% (about what its copy costs). The
/// same sums in the same order.
bool copiesTransposedA(const Graph& g, const Node& n) {
  if (n.op != Op::MatMul || g.op(n.inputs[0]) != Op::Transpose) return false;
  const Shape& x = g.shape(g.node(n.inputs[0]).inputs[0]);
  int64_t width = n.shape.dims[1];
  return x.rank() == 2 && !isBatchDim(x.dims[1]) && x.dims[1] >= kLongRows && !isBatchDim(width) &&
         width >= kWideProduct;
}

/// A's elements are broadcast one at a time, so any strides do; B is read a
/// vector at a time along its rows, which must be contiguous.
void materializeMatMulOperands(const Graph& g, const std::vector<bool>& live, std::vector<bool>& mat,
                               const std::function<bool(NodeId)>& inSlot) {
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || opKind(g.op(n)) != OpKind::Contraction) continue;
    const Node& node = g.node(n);
    if (!isMatMulView(g, node.inputs[0], true, mat, inSlot)) mat[reshaped(g, node.inputs[0], true)] = true;
    if (copiesTransposedA(g, node)) mat[node.inputs[0]] = true;
    if (!isMatMulView(g, node.inputs[1], false, mat, inSlot)) mat[reshaped(g, node.inputs[1], false)] = true;
  }
}

/// For each live node, a node that reads it (the only one, where it has one
/// use), and whether the function must produce it.
struct Readers {
  std::vector<NodeId> consumer;
  std::vector<bool> isRoot;
};

Readers readersOf(const Graph& g, const std::vector<bool>& live, const std::vector<NodeId>& needed) {
  Readers r{std::vector<NodeId>(g.size(), kNoNode), std::vector<bool>(g.size(), false)};
  for (NodeId n = 0; n < g.size(); ++n)
    if (live[n])
      for (NodeId in : g.node(n).inputs) r.consumer[in] = n;
  for (NodeId n : needed) r.isRoot[n] = true;
  return r;
}

/// Moves each matmul whose value only one elementwise chain of its own shape
/// reads into the kernel at the end of that chain: the chain is then applied
/// to C's tile while it is still in registers, instead of a pass over memory.
void fuseEpilogues(const Graph& g, const std::vector<bool>& live, const std::vector<int>& uses, const Readers& readers,
                   const std::function<bool(NodeId)>& inSlot, Schedule& s) {
  const auto& [consumer, isRoot] = readers;
  for (NodeId c = 0; c < g.size(); ++c) {
    if (!live[c] || g.op(c) != Op::MatMul || isRoot[c]) continue;
    // A reshape that only regroups C's rows (a convolution's [batch*oh*ow, f]
    // as [batch, oh, ow, f]) is the tile too, seen in the image's shape.
    NodeId tile = c;
    if (uses[c] == 1 && g.op(consumer[c]) == Op::Reshape && !s.materialized[consumer[c]] &&
        g.shape(consumer[c]).rank() >= 2 && g.shape(consumer[c]).dims.back() == g.shape(c).dims.back())
      tile = consumer[c];
    NodeId x = tile;
    while (uses[x] == 1 && !isRoot[x]) {
      NodeId p = consumer[x];
      if (opKind(g.op(p)) != OpKind::Elementwise || g.shape(p) != g.shape(tile) || s.epilogueOf[p] != kNoNode) break;
      if (s.materialized[p]) {
        auto isBuffer = [&](NodeId n) { return n == c || n == tile || s.materialized[n] || inSlot(n); };
        if (!isLaneWise(g, p, isBuffer)) break;
        s.materialized[c] = false;
        s.epilogueOf[p] = c;
        s.epilogueTile[p] = tile;
        break;
      }
      x = p;
    }
  }
}

/// Whether untile `n` takes the tiles' points at dim `at` back to places
/// along dim `axis`, each tile to its own `size` places (a Winograd output
/// transform's axis: no overlap, no padding, no place past the last tile).
bool disjointUntile(const Graph& g, NodeId n, int64_t axis, int64_t at) {
  const Node& node = g.node(n);
  if (node.op != Op::Untile) return false;
  const std::vector<int64_t>& a = node.attrs.ints;  // axis, size, stride, pad, at
  const Shape& tiled = g.shape(node.inputs[0]);
  int64_t tileDim = axis < at ? axis : axis + 1;
  return a[0] == axis && a[4] == at && a[1] == a[2] && a[3] == 0 &&
         node.shape.dims[size_t(axis)] == tiled.dims[size_t(tileDim)] * a[1];
}

/// The most stack a fused output transform's scratches take: up to 8 rows of
/// tiles, in float64, each its points of every filter (groups x n) and its
/// first untile's (places x points x n). The fashion CNN's, in float32 with
/// 6-row tiles: 72 KB.
constexpr int64_t kMostRowsScratchBytes = 256 << 10;
/// ... and the longest k: the products of a row group take it whole.
constexpr int64_t kMostRowsK = 512;

/// Fuses each group product that only a Winograd output transform reads —
/// reshape(c) as [n, th, tw, ph, pw, f], its untile along the width, then
/// along the height, then an elementwise chain of that shape (a bias) — into
/// the kernel at the end of the chain: each row group of C (tiles) is
/// computed into a scratch and transformed while it is in cache, so neither C
/// nor the first untile goes to memory.
void fuseOutputTransforms(const Graph& g, const std::vector<bool>& live, const std::vector<int>& uses,
                          const Readers& readers, const std::function<bool(NodeId)>& inSlot, Schedule& s) {
  const auto& [consumer, isRoot] = readers;
  auto onlyUse = [&](NodeId n) { return uses[n] == 1 && !isRoot[n] ? consumer[n] : kNoNode; };
  for (NodeId c = 0; c < g.size(); ++c) {
    if (!live[c] || g.op(c) != Op::GroupMatMul) continue;
    const Shape& cs = g.shape(c);
    int64_t k = g.shape(g.node(c).inputs[0]).dims.back();
    if (isBatchDim(k) || k > kMostRowsK || isBatchDim(cs.dims[2])) continue;
    NodeId tiles = onlyUse(c);
    if (tiles == kNoNode || g.op(tiles) != Op::Reshape || s.materialized[tiles] || g.shape(tiles).rank() != 6) continue;
    NodeId across = onlyUse(tiles), down = across == kNoNode ? kNoNode : onlyUse(across);
    if (down == kNoNode || !disjointUntile(g, across, 2, 4) || !disjointUntile(g, down, 1, 3)) continue;
    int64_t places = g.node(across).attrs.ints[1] * g.shape(tiles).dims[3];  // the first untile's, per filter
    if ((cs.dims[1] + places) * cs.dims[2] * 8 * 8 > kMostRowsScratchBytes) continue;
    // The chain from the second untile to the first materialized node of its shape.
    NodeId p = down;
    while (!s.materialized[p] && onlyUse(p) != kNoNode && opKind(g.op(onlyUse(p))) == OpKind::Elementwise &&
           g.shape(onlyUse(p)) == g.shape(down))
      p = onlyUse(p);
    if (!s.materialized[p] || s.epilogueOf[p] != kNoNode) continue;
    auto isBuffer = [&](NodeId n) { return n == across || s.materialized[n] || inSlot(n); };
    if (!isLaneWise(g, p, isBuffer)) continue;
    s.materialized[c] = s.materialized[across] = false;
    s.epilogueOf[p] = c;
    s.epilogueTile[p] = c;
    s.rowsScratch[p] = across;
  }
}

} // namespace

bool isLaneWise(const Graph& g, NodeId root, const std::function<bool(NodeId)>& isBuffer) {
  std::vector<NodeId> stack{root};
  std::vector<bool> seen(g.size(), false);
  while (!stack.empty()) {
    NodeId n = stack.back();
    stack.pop_back();
    if ((n != root && isBuffer(n)) || seen[n]) continue;
    seen[n] = true;
    const Node& node = g.node(n);
    if (node.op == Op::Concat || node.op == Op::ArgMax) return false;
    if (node.op == Op::Reshape && !isBuffer(node.inputs[0]) && !sameUnitFree(g.shape(node.inputs[0]), node.shape))
      return false;
    for (NodeId in : node.inputs) stack.push_back(in);
  }
  return true;
}

ReadCollector::ReadCollector(const Graph& g, const std::vector<bool>& materialized, std::function<bool(NodeId)> inSlot)
    : g_(g), materialized_(materialized), inSlot_(std::move(inSlot)), seen_(g.size(), false) {}

std::vector<NodeId> ReadCollector::reads(NodeId n) {
  std::vector<NodeId> out;
  collectReadsFrom(g_, n, materialized_, inSlot_, seen_, out);
  clearSeen(g_, n, materialized_, inSlot_, seen_);
  return out;
}

Schedule planFusion(const Graph& g, const std::vector<NodeId>& needed, const std::function<bool(NodeId)>& inSlot) {
  std::vector<bool> live = reachableFrom(g, needed);
  std::vector<int> uses = useCounts(g, live);
  Schedule s;
  s.materialized.assign(g.size(), false);
  std::vector<bool>& mat = s.materialized;
  for (NodeId r : needed)
    if (opKind(g.op(r)) != OpKind::Leaf) mat[r] = true;
  // One sweep in topological order; `cheap` only ever turns true (a node
  // that becomes materialized is cheap to read), so a stale false merely
  // materializes a little more.
  std::vector<bool> cheap(g.size(), false), view(g.size(), false);
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n]) continue;
    OpKind kind = opKind(g.op(n));
    if (kind == OpKind::Reduction || kind == OpKind::Contraction) mat[n] = true;
    for (NodeId in : g.node(n).inputs)
      if ((!cheap[in] || regroupsView(g, n, in)) && !mayInline(g, n, in)) mat[in] = cheap[in] = view[in] = true;
    // A value read by several loops is computed once, unless it is a view.
    if (uses[n] > 1 && !inSlot(n) && !cheapGiven(g, n, cheap, view, true)) mat[n] = true;
    cheap[n] = mat[n] || inSlot(n) || cheapGiven(g, n, cheap, view, uses[n] > 1);
    view[n] = mat[n] || inSlot(n) || kind == OpKind::Leaf ||
              (kind == OpKind::Layout && cheap[n] &&
               std::all_of(g.node(n).inputs.begin(), g.node(n).inputs.end(), [&](NodeId in) { return view[in]; }));
  }
  materializeMatMulOperands(g, live, mat, inSlot);
  boundInlineSize(g, live, mat, inSlot);
  s.epilogueOf.assign(g.size(), kNoNode);
  s.epilogueTile.assign(g.size(), kNoNode);
  s.rowsScratch.assign(g.size(), kNoNode);
  Readers readers = readersOf(g, live, needed);
  fuseEpilogues(g, live, uses, readers, inSlot, s);
  fuseOutputTransforms(g, live, uses, readers, inSlot, s);
  ReadCollector collect(g, mat, inSlot);
  for (NodeId n = 0; n < g.size(); ++n) {
    if (!live[n] || !mat[n] || opKind(g.op(n)) == OpKind::Leaf) continue;
    s.kernels.push_back(n);
    s.reads.push_back(collect.reads(n));
  }
  return s;
}

} // namespace nnjit
