// WindowBuiltins: conv2d, max_pool and avg_pool, lowered to window patches and the ops around them.
//
// Images are NHWC ([batch, height, width, channels], as TensorFlow and Keras)
// and kernels HWIO ([kh, kw, channels, filters]). A convolution is one matmul:
// the patches of the image as rows ([batch*oh*ow, kh*kw*c]) times the kernel
// as a matrix ([kh*kw*c, filters]), so it runs on the matmul micro-kernel and
// its gradients are the matmul's and the patches' adjoint (unpatch). At stride
// 1 on enough channels it goes by Winograd's tiles instead (Winograd.cpp).
#include "Lowering.h"
#include "Winograd.h"

#include <fmt/format.h>

#include <array>

namespace nnjit {
namespace {

/// One spatial dim of a window: size, stride, the padding before it, and
/// the count of windows.
struct Span {
  int64_t size = 1, stride = 1, before = 0, count = 1;
};

/// `e` as two whole numbers (a number is both): a size or a stride.
std::optional<std::array<int64_t, 2>> pairOf(Lowerer& L, const Expr* e, int64_t fallback, int64_t least,
                                             const char* what) {
  if (!e) return std::array<int64_t, 2>{fallback, fallback};
  std::array<int64_t, 2> out{};
  if (e->kind == Expr::Kind::List) {
    if (e->args.size() != 2) {
      L.error(e->loc, fmt::format("{} is one number or a list of two (height, width), not {} numbers", what,
                                  e->args.size()));
      return std::nullopt;
    }
    for (int i = 0; i < 2; ++i) {
      auto v = L.wholeConstant(*e->args[i], what);
      if (!v) return std::nullopt;
      out[i] = *v;
    }
  } else {
    auto v = L.wholeConstant(*e, what);
    if (!v) return std::nullopt;
    out = {*v, *v};
  }
  for (int64_t v : out)
    if (v < least) {
      L.error(e->loc, fmt::format("{} must be at least {}, not {}", what, least, v));
      return std::nullopt;
    }
  return out;
}

enum class Padding { Valid, Same, Explicit };

/// The windows of size k and stride s over n pixels, as TensorFlow places
/// them: "valid" only inside, "same" ceil(n / s) windows with the padding
/// split evenly (the odd pixel after), or `pad` zeros on both sides.
std::optional<Span> spanOf(int64_t n, int64_t k, int64_t s, Padding padding, int64_t pad) {
  Span span{k, s, 0, 0};
  if (padding == Padding::Same) {
    span.count = (n + s - 1) / s;
    span.before = std::max<int64_t>((span.count - 1) * s + k - n, 0) / 2;
    return span;
  }
  int64_t padded = n + (padding == Padding::Explicit ? 2 * pad : 0);
  if (padded < k) return std::nullopt;
  span.before = padding == Padding::Explicit ? pad : 0;
  span.count = (padded - k) / s + 1;
  return span;
}

/// The windows along the image's height and width, or none after reporting why they do not fit.
std::optional<std::array<Span, 2>> spansOf(Lowerer& L, const Shape& image, const std::array<int64_t, 2>& size,
                                           const std::array<int64_t, 2>& stride, Padding padding,
                                           const std::array<int64_t, 2>& pad, const Expr& call) {
  std::array<Span, 2> spans;
  for (int d = 0; d < 2; ++d) {
    auto span = spanOf(image.dims[1 + d], size[d], stride[d], padding, pad[d]);
    if (!span) {
      L.error(call.loc, fmt::format("{}: a {}x{} window does not fit in an image of {}x{} pixels{}", call.name, size[0],
                                    size[1], image.dims[1], image.dims[2],
                                    padding == Padding::Valid ? " (padding = \"same\" pads it)" : ""));
      return std::nullopt;
    }
    spans[d] = *span;
  }
  return spans;
}

/// The image's windows as laid out by `spans`.
NodeId patchesOf(Lowerer& L, NodeId x, const std::array<Span, 2>& spans, const Expr& call) {
  Builder& b = L.builder();
  const Shape image = b.shape(x);
  std::array<int64_t, 2> size{spans[0].size, spans[1].size}, stride{spans[0].stride, spans[1].stride};
  Attrs attrs;
  attrs.ints = {size[0], size[1], stride[0], stride[1], spans[0].before, spans[1].before};
  Shape windows{image.dims[0], spans[0].count, spans[1].count, size[0], size[1], image.dims[3]};
  b.setLoc(call.loc);
  return L.checked(b.make(Op::Patches, {x}, attrs, windows), call.loc, call.name);
}

/// x as an image, [batch, height, width, channels].
bool isImage(Lowerer& L, NodeId x, const Expr& call) {
  if (x == kNoNode) return false;
  const Shape& s = L.builder().shape(x);
  if (s.rank() == 4 && !isBatchDim(s.dims[1]) && !isBatchDim(s.dims[2]) && !isBatchDim(s.dims[3])) return true;
  L.error(call.loc, fmt::format("{} needs images as [batch, height, width, channels] (NHWC), not {}", call.name, s.str()));
  return false;
}

/// `padding = "same" | "valid" | N | [NH, NW]`.
std::optional<Padding> paddingOf(Lowerer& L, const Expr* e, std::array<int64_t, 2>& pad) {
  pad = {0, 0};
  if (!e) return Padding::Valid;
  if (e->kind == Expr::Kind::String) {
    if (e->name == "same") return Padding::Same;
    if (e->name == "valid") return Padding::Valid;
    L.error(e->loc, fmt::format("padding is \"same\", \"valid\" or a number of pixels, not \"{}\"", e->name));
    return std::nullopt;
  }
  auto p = pairOf(L, e, 0, 0, "padding");
  if (!p) return std::nullopt;
  pad = *p;
  return Padding::Explicit;
}

} // namespace

NodeId lowerConv2d(Lowerer& L, const Expr& call, const std::vector<const Expr*>& a) {
  NodeId x = L.lowerExpr(*a[0]), w = L.lowerExpr(*a[1]);
  if (!isImage(L, x, call) || w == kNoNode) return kNoNode;
  Builder& b = L.builder();
  const Shape image = b.shape(x), kernel = b.shape(w);
  if (kernel.rank() != 4 || kernel.hasBatch() || kernel.dims[2] != image.dims[3]) {
    L.error(call.loc, fmt::format("conv2d needs a kernel [kh, kw, {}, filters] for images {}, not {}", image.dims[3],
                                  image.str(), kernel.str()));
    return kNoNode;
  }
  auto stride = pairOf(L, a[2], 1, 1, "stride");
  std::array<int64_t, 2> pad;
  auto padding = paddingOf(L, a[3], pad);
  if (!stride || !padding) return kNoNode;
  std::array<int64_t, 2> size{kernel.dims[0], kernel.dims[1]};
  auto spans = spansOf(L, image, size, *stride, *padding, pad, call);
  if (!spans) return kNoNode;
  if (winogradPays(size, *stride, image.dims[3], kernel.dims[3])) {
    b.setLoc(call.loc);
    NodeId y = winogradConv2d(b, x, w, {(*spans)[0].before, (*spans)[1].before}, {(*spans)[0].count, (*spans)[1].count});
    return L.checked(y, call.loc, "conv2d");
  }
  NodeId patches = patchesOf(L, x, *spans, call);
  if (patches == kNoNode) return kNoNode;
  const Shape windows = b.shape(patches);
  int64_t depth = kernel.dims[0] * kernel.dims[1] * kernel.dims[2], filters = kernel.dims[3];
  int64_t rows = dimTimes(windows.dims[0], windows.dims[1] * windows.dims[2]);  // every window of every image
  NodeId product = b.matmul(b.reshape(patches, Shape{rows, depth}), b.reshape(w, Shape{depth, filters}));
  return L.checked(b.reshape(product, Shape{windows.dims[0], windows.dims[1], windows.dims[2], filters}), call.loc,
                   "conv2d");
}

/// max_pool (Op::Max) or avg_pool (Op::Sum, then the mean) over windows
/// that lie inside the image ("valid", as Keras' default).
template <Op op>
NodeId lowerPool(Lowerer& L, const Expr& call, const std::vector<const Expr*>& a) {
  NodeId x = L.lowerExpr(*a[0]);
  if (!isImage(L, x, call)) return kNoNode;
  auto size = pairOf(L, a[1], 2, 1, "the pool size");
  if (!size) return kNoNode;
  auto stride = pairOf(L, a[2], 0, 1, "stride");
  if (!stride) return kNoNode;
  if (!a[2]) stride = size;
  Builder& b = L.builder();
  auto spans = spansOf(L, b.shape(x), *size, *stride, Padding::Valid, {0, 0}, call);
  if (!spans) return kNoNode;
  NodeId patches = patchesOf(L, x, *spans, call);
  if (patches == kNoNode) return kNoNode;
  b.setLoc(call.loc);
  return op == Op::Max ? b.reduce(Op::Max, patches, {3, 4}) : b.mean(patches, {3, 4});
}

template NodeId lowerPool<Op::Max>(Lowerer&, const Expr&, const std::vector<const Expr*>&);
template NodeId lowerPool<Op::Sum>(Lowerer&, const Expr&, const std::vector<const Expr*>&);

} // namespace nnjit
