// Builtins: the contract's builtin functions, each lowered to graph ops.
#include "Lowering.h"

#include <cmath>
#include <fmt/format.h>

namespace nnjit {
namespace {

using Args = std::vector<const Expr*>;
using LowerFn = NodeId (*)(Lowerer&, const Expr& call, const Args& args);

struct Builtin {
  const char* name;
  std::vector<const char*> params;
  size_t required;
  LowerFn lower;
};

NodeId arg(Lowerer& L, const Args& a, size_t i) { return L.lowerExpr(*a[i]); }

template <Op op>
NodeId unaryOp(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  L.builder().setLoc(call.loc);
  return L.builder().unary(op, x);
}

template <Op op>
NodeId binaryOp(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0), y = arg(L, a, 1);
  L.builder().setLoc(call.loc);
  return L.checked(L.builder().binary(op, x, y), call.loc, fmt::format("'{}'", call.name));
}

NodeId leakyRelu(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  double alpha = 0.01;
  if (a[1]) {
    auto v = L.constant(*a[1], "alpha");
    if (!v) return kNoNode;
    alpha = *v;
  }
  L.builder().setLoc(call.loc);
  Attrs attrs;
  attrs.value = alpha;
  return L.builder().make(Op::LeakyRelu, {x}, attrs);
}

/// sum/mean/max: all axes, one `axis = K` or several, `axis = [K, ...]`.
template <int kind>  // 0 sum, 1 mean, 2 max
NodeId reduction(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  if (x == kNoNode) return kNoNode;
  Builder& b = L.builder();
  std::vector<int64_t> axes = Builder::allAxes(b.shape(x));
  if (a[1]) {
    auto ax = L.axes(*a[1], b.shape(x).rank());
    if (!ax) return kNoNode;
    axes = *ax;
  }
  b.setLoc(call.loc);
  if (kind == 1) return b.mean(x, axes);
  return b.reduce(kind == 0 ? Op::Sum : Op::Max, x, axes);
}

NodeId transposeFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  L.builder().setLoc(call.loc);
  return L.checked(L.builder().transpose(x), call.loc, "transpose");
}

/// The dims of reshape's list: whole numbers, `batch`, and at most one -1,
/// whose position is returned in `inferred` (else -1). `written` is the list
/// as the user wrote it, for messages.
bool reshapeDims(Lowerer& L, const Expr& dims, Shape& to, int& inferred, std::string& written) {
  inferred = -1;
  for (const auto& d : dims.args) {
    written += written.empty() ? "" : ", ";
    if (d->kind == Expr::Kind::Name && d->name == "batch") {
      to.dims.push_back(kBatch);
      written += "batch";
      continue;
    }
    auto v = L.wholeConstant(*d, "a dim");
    if (!v) return false;
    if (*v == -1 && inferred >= 0) {
      L.error(d->loc, "only one dim may be -1 (inferred)");
      return false;
    }
    if (*v == -1) inferred = to.rank();
    else if (*v < 1) {
      L.error(d->loc, fmt::format("a dim must be at least 1 (or -1, inferred), not {}", *v));
      return false;
    }
    to.dims.push_back(*v == -1 ? 1 : *v);
    written += std::to_string(*v);
  }
  written = "[" + written + "]";
  return true;
}

/// Replaces the -1 at `inferred` by what keeps x's element count, or says why none does.
bool inferDim(Lowerer& L, const Expr& at, const Shape& from, Shape& to, int inferred, const std::string& written) {
  if (from.hasBatch() && !to.hasBatch()) {
    L.error(at.loc, fmt::format("reshape {} to {}: write `batch` for the batch dim; -1 infers a fixed dim",
                                from.str(), written));
    return false;
  }
  if (!from.hasBatch() && to.hasBatch()) {
    L.error(at.loc, fmt::format("cannot reshape {} to {}: it has no batch dim", from.str(), written));
    return false;
  }
  // In double: the other dims' product may pass int64 before the check.
  double others = 1;
  for (int64_t d : to.dims)
    if (d != kBatch) others *= static_cast<double>(d);
  double count = static_cast<double>(from.staticElements());
  if (std::fmod(count, others) != 0) {
    L.error(at.loc, fmt::format("cannot reshape {} to {}: {} elements{} are not a multiple of {}", from.str(), written,
                                from.staticElements(), from.hasBatch() ? " per batch row" : "", others));
    return false;
  }
  to.dims[inferred] = static_cast<int64_t>(count / others);
  return true;
}

NodeId reshapeFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  const Expr& dims = *a[1];
  if (dims.kind != Expr::Kind::List) {
    L.error(dims.loc, "reshape needs its dims as a list, e.g. reshape(x, [batch, 4]), or [] for a scalar");
    return kNoNode;
  }
  if (dims.args.size() > static_cast<size_t>(kMaxRank)) {
    L.error(dims.args[kMaxRank]->loc, fmt::format("a value may have at most {} dims; this reshape gives {}", kMaxRank,
                                                  dims.args.size()));
    return kNoNode;
  }
  Shape to;
  int inferred = -1;
  std::string written;
  if (!reshapeDims(L, dims, to, inferred, written) || x == kNoNode) return kNoNode;
  const Shape from = L.builder().shape(x);
  if (inferred >= 0 && !inferDim(L, *dims.args[inferred], from, to, inferred, written)) return kNoNode;
  L.builder().setLoc(call.loc);
  return L.checked(L.builder().make(Op::Reshape, {x}, {}, to), call.loc, "reshape");
}

/// where(cond, a, b): a where cond is not 0, else b; all three broadcast.
NodeId whereFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId c = arg(L, a, 0), x = arg(L, a, 1), y = arg(L, a, 2);
  L.builder().setLoc(call.loc);
  return L.checked(L.builder().select(c, x, y), call.loc, "'where'");
}

NodeId concatFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0), y = arg(L, a, 1);
  if (x == kNoNode || y == kNoNode) return kNoNode;
  auto ax = L.axis(a[2], 0, L.builder().shape(x).rank(), call.loc);
  if (!ax) return kNoNode;
  Attrs attrs;
  attrs.ints = {*ax};
  L.builder().setLoc(call.loc);
  return L.checked(L.builder().make(Op::Concat, {x, y}, attrs), call.loc, "concat");
}

/// softmax(x) = e / sum(e) with e = exp(x - max(x)): the max keeps exp finite.
NodeId stableShift(Builder& b, NodeId x, int64_t axis) {
  NodeId m = b.unary(Op::StopGradient, b.reduceKeep(Op::Max, x, {axis}));
  return b.sub(x, m);
}

NodeId softmaxOf(Builder& b, NodeId x, int64_t axis) {
  NodeId e = b.unary(Op::Exp, stableShift(b, x, axis));
  return b.div(e, b.reduceKeep(Op::Sum, e, {axis}));
}

NodeId logSoftmaxOf(Builder& b, NodeId x, int64_t axis) {
  NodeId z = stableShift(b, x, axis);
  return b.sub(z, b.unary(Op::Log, b.reduceKeep(Op::Sum, b.unary(Op::Exp, z), {axis})));
}

template <bool isLog>
NodeId softmaxFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  if (x == kNoNode) return kNoNode;
  if (L.builder().shape(x).isScalar()) {
    L.error(call.loc, fmt::format("{} needs at least one dim", call.name));
    return kNoNode;
  }
  auto ax = L.axis(a[1], -1, L.builder().shape(x).rank(), call.loc);
  if (!ax) return kNoNode;
  L.builder().setLoc(call.loc);
  return isLog ? logSoftmaxOf(L.builder(), x, *ax) : softmaxOf(L.builder(), x, *ax);
}

NodeId onehotOf(Lowerer& L, NodeId label, int64_t classes, SourceLoc loc) {
  Attrs attrs;
  attrs.ints = {classes};
  L.builder().setLoc(loc);
  return L.builder().make(Op::OneHot, {label}, attrs);
}

NodeId onehotFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId label = arg(L, a, 0);
  auto n = L.wholeConstant(*a[1], "the class count");
  if (!n || label == kNoNode) return kNoNode;
  if (*n < 1 || *n > kMaxElements) {
    L.error(a[1]->loc, fmt::format("the class count must be at least 1, not {}", *n));
    return kNoNode;
  }
  return onehotOf(L, label, *n, call.loc);
}

/// mean over rows of -log_softmax(logits)[label].
NodeId crossEntropyFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId logits = arg(L, a, 0), label = arg(L, a, 1);
  if (logits == kNoNode || label == kNoNode) return kNoNode;
  Builder& b = L.builder();
  const Shape sl = b.shape(logits), sy = b.shape(label);  // copies: the graph grows below
  Shape rows = sl;
  if (!rows.dims.empty()) rows.dims.pop_back();
  if (sl.rank() < 1 || sy != rows) {
    L.error(call.loc, fmt::format("cross_entropy(logits, label) needs logits [rows..., classes] and label [rows...]; "
                                  "got {} and {}", sl.str(), sy.str()));
    return kNoNode;
  }
  int64_t last = sl.rank() - 1;
  NodeId picked = b.sum(b.mul(onehotOf(L, label, sl.dims[last], call.loc), logSoftmaxOf(b, logits, last)), {last});
  return b.neg(b.mean(picked, Builder::allAxes(b.shape(picked))));
}

NodeId mseFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId d = binaryOp<Op::Sub>(L, call, a);
  Builder& b = L.builder();
  if (d == kNoNode) return d;
  return b.mean(b.unary(Op::Square, d), Builder::allAxes(b.shape(d)));
}

NodeId l2Fn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  Builder& b = L.builder();
  b.setLoc(call.loc);
  if (x == kNoNode) return x;
  return b.sum(b.unary(Op::Square, x), Builder::allAxes(b.shape(x)));
}

NodeId argmaxFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId x = arg(L, a, 0);
  if (x == kNoNode) return kNoNode;
  if (L.builder().shape(x).isScalar()) {
    L.error(call.loc, "argmax needs at least one dim");
    return kNoNode;
  }
  auto ax = L.axis(a[1], -1, L.builder().shape(x).rank(), call.loc);
  if (!ax) return kNoNode;
  L.builder().setLoc(call.loc);
  return L.builder().reduce(Op::ArgMax, x, {*ax});
}

NodeId accuracyFn(Lowerer& L, const Expr& call, const Args& a) {
  NodeId scores = arg(L, a, 0), label = arg(L, a, 1);
  if (scores == kNoNode || label == kNoNode) return kNoNode;
  Builder& b = L.builder();
  const Shape ss = b.shape(scores), sy = b.shape(label);  // copies: the graph grows below
  if (ss.rank() < 1 || Shape(std::vector<int64_t>(ss.dims.begin(), ss.dims.end() - 1)) != sy) {
    L.error(call.loc, fmt::format("accuracy(scores, label) needs scores [rows..., classes] and label [rows...]; "
                                  "got {} and {}", ss.str(), sy.str()));
    return kNoNode;
  }
  b.setLoc(call.loc);
  NodeId hits = b.binary(Op::Equal, b.reduce(Op::ArgMax, scores, {ss.rank() - 1}), label);
  return b.mean(hits, Builder::allAxes(b.shape(hits)));
}

const std::vector<Builtin>& builtins() {
  static const std::vector<Builtin> table = {
      {"exp", {"x"}, 1, unaryOp<Op::Exp>},
      {"log", {"x"}, 1, unaryOp<Op::Log>},  // of a softmax or sigmoid: made stable by passes/StableLog
      {"sqrt", {"x"}, 1, unaryOp<Op::Sqrt>},
      {"abs", {"x"}, 1, unaryOp<Op::Abs>},
      {"square", {"x"}, 1, unaryOp<Op::Square>},
      {"tanh", {"x"}, 1, unaryOp<Op::Tanh>},
      {"sigmoid", {"x"}, 1, unaryOp<Op::Sigmoid>},
      {"relu", {"x"}, 1, unaryOp<Op::Relu>},
      {"softplus", {"x"}, 1, unaryOp<Op::Softplus>},
      {"sin", {"x"}, 1, unaryOp<Op::Sin>},
      {"cos", {"x"}, 1, unaryOp<Op::Cos>},
      {"leaky_relu", {"x", "alpha"}, 1, leakyRelu},
      {"pow", {"x", "y"}, 2, binaryOp<Op::Pow>},
      {"maximum", {"a", "b"}, 2, binaryOp<Op::Maximum>},
      {"minimum", {"a", "b"}, 2, binaryOp<Op::Minimum>},
      {"where", {"cond", "a", "b"}, 3, whereFn},
      {"sum", {"x", "axis"}, 1, reduction<0>},
      {"mean", {"x", "axis"}, 1, reduction<1>},
      {"max", {"x", "axis"}, 1, reduction<2>},
      {"transpose", {"x"}, 1, transposeFn},
      {"reshape", {"x", "dims"}, 2, reshapeFn},
      {"concat", {"a", "b", "axis"}, 2, concatFn},
      {"softmax", {"x", "axis"}, 1, softmaxFn<false>},
      {"log_softmax", {"x", "axis"}, 1, softmaxFn<true>},
      {"onehot", {"label", "n"}, 2, onehotFn},
      {"cross_entropy", {"logits", "label"}, 2, crossEntropyFn},
      {"mse", {"a", "b"}, 2, mseFn},
      {"l2", {"x"}, 1, l2Fn},
      {"accuracy", {"scores", "label"}, 2, accuracyFn},
      {"argmax", {"x", "axis"}, 1, argmaxFn},
      {"conv2d", {"x", "w", "stride", "padding"}, 2, lowerConv2d},
      {"max_pool", {"x", "size", "stride"}, 1, lowerPool<Op::Max>},
      {"avg_pool", {"x", "size", "stride"}, 1, lowerPool<Op::Sum>},
      {"dropout", {"x", "rate"}, 2, lowerDropout},
      {"batch_norm", {"x", "gamma", "beta", "axis", "momentum", "eps"}, 3, lowerBatchNorm},
  };
  return table;
}

} // namespace

bool isBuiltinName(const std::string& name) {
  for (const Builtin& b : builtins())
    if (name == b.name) return true;
  return false;
}

std::vector<std::string> builtinNames() {
  std::vector<std::string> names;
  for (const Builtin& b : builtins()) names.push_back(b.name);
  return names;
}

bool Lowerer::lowerBuiltin(const Expr& call, NodeId& out) {
  for (const Builtin& b : builtins()) {
    if (call.name != b.name) continue;
    std::vector<const Expr*> args;
    out = bindArgs(call, b.params, b.required, args) ? b.lower(*this, call, args) : kNoNode;
    return true;
  }
  return false;
}

} // namespace nnjit
