// ShapeRules: the output shape of every op, or why its inputs do not fit.
#include "ShapeRules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace nnjit {
namespace {

std::string elementwise(const std::vector<const Shape*>& in, Shape& out) {
  out = *in[0];
  for (size_t i = 1; i < in.size(); ++i) {
    Shape next;
    if (!broadcastShapes(out, *in[i], next))
      return fmt::format("shapes {} and {} do not broadcast", out.str(), in[i]->str());
    out = next;
  }
  return "";
}

std::string broadcastTo(const Shape& from, Shape& to) {
  Shape joined;
  if (!broadcastShapes(from, to, joined) || joined != to)
    return fmt::format("cannot broadcast {} to {}", from.str(), to.str());
  return "";
}

std::string reshape(const Shape& from, const Shape& to) {
  if (from.batchDims() != to.batchDims() || from.staticElements() != to.staticElements())
    return fmt::format("cannot reshape {} ({} elements) to {}", from.str(),
                       from.hasBatch() ? fmt::format("batch x {}", from.staticElements())
                                       : std::to_string(from.staticElements()),
                       to.str());
  return "";
}

std::string transpose(const Shape& x, Shape& out) {
  if (x.rank() < 2) return fmt::format("transpose needs at least 2 dims, got {}", x.str());
  out = x;
  std::swap(out.dims[x.rank() - 1], out.dims[x.rank() - 2]);
  return "";
}

std::string concat(const Shape& a, const Shape& b, const Attrs& attrs, Shape& out) {
  int64_t axis = attrs.ints[0];
  if (a.rank() != b.rank() || axis < 0 || axis >= a.rank())
    return fmt::format("cannot concat {} and {} along axis {}", a.str(), b.str(), axis);
  for (int i = 0; i < a.rank(); ++i)
    if (i != axis && a.dims[i] != b.dims[i])
      return fmt::format("cannot concat {} and {} along axis {}: dim {} differs", a.str(), b.str(), axis, i);
  if (isBatchDim(a.dims[axis]) || isBatchDim(b.dims[axis])) return "cannot join along batch";
  out = a;
  out.dims[axis] = a.dims[axis] + b.dims[axis];
  return "";
}

std::string reduce(const Shape& x, const Attrs& attrs, Shape& out) {
  std::vector<int64_t> dims;
  for (int i = 0; i < x.rank(); ++i) {
    bool reduced = false;
    for (int64_t a : attrs.ints) reduced |= a == i;
    if (!reduced) dims.push_back(x.dims[i]);
  }
  for (int64_t a : attrs.ints)
    if (a < 0 || a >= x.rank()) return fmt::format("axis {} is out of range for {}", a, x.str());
  out = Shape(dims);
  return "";
}

/// The window geometry of patches/unpatch: `image` is [n, h, w, c] and
/// `windows` [n, oh, ow, kh, kw, c]. A window may lie wholly in the padding
/// (a 1-wide kernel with padding 1 has a last column of zeros, as in PyTorch).
std::string windows(const Shape& image, const Shape& windows, const Attrs& attrs) {
  auto fail = [&] { return fmt::format("{} is not a window layout of {}", windows.str(), image.str()); };
  if (image.rank() != 4 || windows.rank() != 6 || attrs.ints.size() != 6) return fail();
  int64_t kh = attrs.ints[0], kw = attrs.ints[1], sh = attrs.ints[2], sw = attrs.ints[3];
  int64_t top = attrs.ints[4], left = attrs.ints[5];
  bool fits = windows.dims[0] == image.dims[0] && windows.dims[5] == image.dims[3] && windows.dims[3] == kh &&
              windows.dims[4] == kw && sh >= 1 && sw >= 1 && top >= 0 && left >= 0 && windows.dims[1] >= 1 &&
              windows.dims[2] >= 1;
  return fits ? "" : fail();
}

/// The geometry of tiles/untile: `tiles` is `x` with dim `axis` as the tile
/// index and a dim of T's points inserted at `at`, before the last (a tile
/// may lie wholly in the zeros past the edge: a last tile of outputs past
/// the image).
std::string tileLayout(const Shape& x, const Shape& tiles, const Attrs& attrs) {
  auto fail = [&] { return fmt::format("{} is not a tile layout of {}", tiles.str(), x.str()); };
  if (attrs.ints.size() != 5 || x.rank() < 2 || tiles.rank() != x.rank() + 1) return fail();
  int64_t axis = attrs.ints[0], size = attrs.ints[1], stride = attrs.ints[2], pad = attrs.ints[3], at = attrs.ints[4];
  int last = x.rank() - 1;
  if (axis < 0 || axis >= last || at < 0 || at > last || size < 1 || stride < 1 || pad < 0 || attrs.values.empty() ||
      attrs.values.size() % size_t(size) != 0 || isBatchDim(x.dims[axis]))
    return fail();
  Shape rest = tiles;
  if (rest.dims[size_t(at)] != int64_t(attrs.values.size()) / size) return fail();
  rest.dims.erase(rest.dims.begin() + at);
  if (rest.dims[size_t(axis)] < 1) return fail();
  rest.dims[size_t(axis)] = x.dims[axis];
  return rest == x ? "" : fail();
}

std::string permute(const Shape& x, const Attrs& attrs, Shape& out) {
  std::vector<bool> used(size_t(x.rank()), false);
  bool ok = attrs.ints.size() == size_t(x.rank());
  std::vector<int64_t> dims;
  for (size_t d = 0; ok && d < attrs.ints.size(); ++d) {
    int64_t from = attrs.ints[d];
    ok = from >= 0 && from < x.rank() && !used[size_t(from)];
    if (ok) used[size_t(from)] = true, dims.push_back(x.dims[size_t(from)]);
  }
  if (!ok) return fmt::format("{} is not a permutation of the dims of {}", fmt::join(attrs.ints, ","), x.str());
  out = Shape(dims);
  return "";
}

std::string groupMatmul(const Shape& a, const Shape& b, Shape& out) {
  if (a.rank() != 3 || b.rank() != 3 || a.dims[2] != b.dims[0] || a.dims[1] != b.dims[1] || isBatchDim(a.dims[1]))
    return fmt::format("cannot multiply {} @ {} group by group", a.str(), b.str());
  out = Shape{a.dims[0], a.dims[1], b.dims[2]};
  return "";
}

std::string matmul(const Shape& a, const Shape& b, Shape& out) {
  if (a.rank() != 2 || b.rank() != 2 || a.dims[1] != b.dims[0])
    return fmt::format("cannot multiply {} @ {}", a.str(), b.str());
  out = Shape{a.dims[0], b.dims[1]};
  return "";
}

} // namespace

std::string inferShape(Op op, const std::vector<const Shape*>& in, const Attrs& attrs, Shape& out) {
  switch (op) {
  case Op::Constant:
  case Op::Epoch:
  case Op::Step:
  case Op::BatchSize:
  case Op::RandomKey:
    out = Shape{};
    return "";
  case Op::Input:
  case Op::Param:
  case Op::State:
    return "";
  case Op::ConstantTensor:
    if (static_cast<size_t>(out.staticElements()) != attrs.values.size() || out.hasBatch())
      return fmt::format("{} values cannot fill shape {}", attrs.values.size(), out.str());
    return "";
  case Op::Neg: case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Abs:
  case Op::Square: case Op::Tanh: case Op::Sigmoid: case Op::Relu:
  case Op::Softplus: case Op::Sin: case Op::Cos: case Op::Sign:
  case Op::LeakyRelu: case Op::StopGradient:
  case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow:
  case Op::Maximum: case Op::Minimum: case Op::Greater: case Op::GreaterEqual:
  case Op::Equal: case Op::Select: case Op::Dropout: case Op::Mode:
    return elementwise(in, out);
  case Op::Broadcast: return broadcastTo(*in[0], out);
  case Op::Transpose: return transpose(*in[0], out);
  case Op::Reshape: return reshape(*in[0], out);
  case Op::Concat: return concat(*in[0], *in[1], attrs, out);
  case Op::Slice: {
    const Shape& x = *in[0];
    int64_t axis = attrs.ints[0], start = attrs.ints[1];
    bool fits = out.rank() == x.rank() && axis >= 0 && axis < x.rank() && !isBatchDim(x.dims[axis]) &&
                start >= 0 && start + out.dims[axis] <= x.dims[axis];
    for (int i = 0; fits && i < x.rank(); ++i) fits = i == axis || out.dims[i] == x.dims[i];
    return fits ? "" : fmt::format("cannot slice {} from {}", out.str(), x.str());
  }
  case Op::OneHot:
    out = *in[0];
    out.dims.push_back(attrs.ints[0]);
    return "";
  case Op::Patches: return windows(*in[0], out, attrs);
  case Op::Unpatch: return windows(out, *in[0], attrs);
  case Op::Tiles: return tileLayout(*in[0], out, attrs);
  case Op::Untile: return tileLayout(out, *in[0], attrs);
  case Op::Permute: return permute(*in[0], attrs, out);
  case Op::Sum:
  case Op::Max:
  case Op::ArgMax:
    return reduce(*in[0], attrs, out);
  case Op::MatMul: return matmul(*in[0], *in[1], out);
  case Op::GroupMatMul: return groupMatmul(*in[0], *in[1], out);
  }
  return "unknown op";
}

} // namespace nnjit
