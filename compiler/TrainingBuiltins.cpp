// TrainingBuiltins: dropout and batch_norm, the builtins that train differently from how they run.
//
// Each lowers to both of its behaviours: a Dropout op (the identity outside
// the train step) and a Mode op choosing batch statistics or running ones.
// ModeSpecializer (TrainingMode.h) keeps one side for each entry point.
#include "Lowering.h"
#include "TrainingMode.h"

#include <fmt/format.h>

namespace nnjit {

NodeId lowerDropout(Lowerer& L, const Expr& call, const std::vector<const Expr*>& a) {
  NodeId x = L.lowerExpr(*a[0]);
  auto rate = L.constant(*a[1], "the dropout rate");
  if (x == kNoNode || !rate) return kNoNode;
  if (!(*rate >= 0 && *rate < 1)) {
    L.error(a[1]->loc, fmt::format("the dropout rate is a fraction from 0 up to (not including) 1, not {}", *rate));
    return kNoNode;
  }
  if (*rate == 0) return x;
  Builder& b = L.builder();
  b.setLoc(call.loc);
  Attrs attrs;
  attrs.value = *rate;
  attrs.ints = {L.newRandomSite()};
  return b.make(Op::Dropout, {x, b.make(Op::RandomKey, {})}, attrs);
}

namespace {

struct BatchNormArgs {
  int64_t axis = -1;
  double momentum = 0.1, eps = 1e-5;
  std::string gammaName;
};

/// gamma and beta are [features] for the feature axis of x, and gamma is a
/// param whose name names the running statistics.
std::optional<BatchNormArgs> checkBatchNorm(Lowerer& L, const Expr& call, const std::vector<const Expr*>& a, NodeId x,
                                            NodeId gamma, NodeId beta) {
  Builder& b = L.builder();
  const Shape sx = b.shape(x);
  if (sx.isScalar()) {
    L.error(call.loc, "batch_norm needs a value with a feature axis, not a scalar");
    return std::nullopt;
  }
  BatchNormArgs out;
  auto axis = L.axis(a[3], -1, sx.rank(), call.loc);
  if (!axis) return std::nullopt;
  out.axis = *axis;
  int64_t features = sx.dims[out.axis];
  if (isBatchDim(features)) {
    L.error(a[3] ? a[3]->loc : call.loc, "batch_norm's feature axis cannot be the batch");
    return std::nullopt;
  }
  for (auto [node, what] : {std::pair{gamma, "gamma"}, {beta, "beta"}})
    if (b.shape(node) != Shape{features}) {
      L.error(call.loc, fmt::format("batch_norm's {} must be [{}], one per feature of {} along axis {}, not {}", what,
                                    features, sx.str(), out.axis, b.shape(node).str()));
      return std::nullopt;
    }
  if (b.graph().op(gamma) != Op::Param) {
    L.error(a[1]->loc, "batch_norm's gamma must be a param: its name names the running statistics");
    return std::nullopt;
  }
  out.gammaName = b.graph().node(gamma).attrs.name;
  for (const ModelState& s : L.model().states)
    if (s.name == "batch_norm.mean." + out.gammaName) {
      L.error(a[1]->loc, fmt::format("gamma '{}' belongs to another batch_norm already; each needs its own",
                                     out.gammaName));
      return std::nullopt;
    }
  if (a[4]) {
    auto m = L.constant(*a[4], "momentum");
    if (!m) return std::nullopt;
    if (!(*m >= 0 && *m <= 1)) {
      L.error(a[4]->loc, fmt::format("momentum is a fraction from 0 to 1, not {}", *m));
      return std::nullopt;
    }
    out.momentum = *m;
  }
  if (a[5]) {
    auto e = L.constant(*a[5], "eps");
    if (!e) return std::nullopt;
    if (!(*e > 0)) {
      L.error(a[5]->loc, fmt::format("eps must be above 0, not {}", *e));
      return std::nullopt;
    }
    out.eps = *e;
  }
  return out;
}

} // namespace

/// y = gamma * (x - mean) / sqrt(var + eps) + beta per feature, as PyTorch's
/// BatchNorm: in training over the batch (and every other axis but the
/// feature axis) with the biased variance, and the running statistics move
/// by `momentum` towards the batch's (the unbiased variance); elsewhere the
/// running statistics, which start at mean 0 and variance 1.
NodeId lowerBatchNorm(Lowerer& L, const Expr& call, const std::vector<const Expr*>& a) {
  NodeId x = L.lowerExpr(*a[0]), gamma = L.lowerExpr(*a[1]), beta = L.lowerExpr(*a[2]);
  if (x == kNoNode || gamma == kNoNode || beta == kNoNode) return kNoNode;
  auto args = checkBatchNorm(L, call, a, x, gamma, beta);
  if (!args) return kNoNode;
  Builder& b = L.builder();
  b.setLoc(call.loc);
  const Shape sx = b.shape(x);
  Shape perFeature(std::vector<int64_t>(sx.rank(), 1));
  perFeature.dims[args->axis] = sx.dims[args->axis];
  auto spread = [&](NodeId v) { return b.broadcastTo(b.reshape(v, perFeature), sx); };
  std::vector<int64_t> over;
  for (int d = 0; d < sx.rank(); ++d)
    if (d != args->axis) over.push_back(d);
  NodeId eps = b.constant(args->eps);
  auto normalize = [&](NodeId centered, NodeId var) {
    NodeId scaled = b.div(b.mul(spread(gamma), centered), spread(b.unary(Op::Sqrt, b.add(var, eps))));
    return b.add(scaled, spread(beta));
  };
  NodeId mean = b.mean(x, over);
  NodeId centered = b.sub(x, spread(mean));
  NodeId var = b.mean(b.unary(Op::Square, centered), over);
  NodeId training = normalize(centered, var);

  Shape features{sx.dims[args->axis]};
  auto state = [&](const char* what) {
    return b.make(Op::State, {}, Attrs{0, {}, fmt::format("batch_norm.{}.{}", what, args->gammaName)}, features);
  };
  NodeId runningMean = state("mean"), runningVar = state("var");
  NodeId running = normalize(b.sub(x, spread(runningMean)), runningVar);

  // The running variance is the unbiased one: var * n / (n - 1) over the n
  // values per feature (n - 1 taken as at least 1).
  NodeId n = b.constant(1);
  for (int64_t d : over) {
    int64_t dim = sx.dims[d];
    n = b.mul(n, isBatchDim(dim) ? b.mul(b.make(Op::BatchSize, {}), b.constant(static_cast<double>(batchFactor(dim))))
                                 : b.constant(static_cast<double>(dim)));
  }
  NodeId unbiased = b.mul(var, b.div(n, b.binary(Op::Maximum, b.sub(n, b.constant(1)), b.constant(1))));
  NodeId keep = b.constant(1 - args->momentum), take = b.constant(args->momentum);
  auto moved = [&](NodeId old, NodeId batch) { return b.add(b.mul(keep, old), b.mul(take, b.unary(Op::StopGradient, batch))); };
  L.model().states.push_back(
      {{fmt::format("batch_norm.mean.{}", args->gammaName), features, 0}, runningMean, moved(runningMean, mean)});
  L.model().states.push_back(
      {{fmt::format("batch_norm.var.{}", args->gammaName), features, 1}, runningVar, moved(runningVar, unbiased)});
  Attrs choice;
  choice.ints = {static_cast<int64_t>(ModeFeature::BatchStatistics)};
  return L.checked(b.make(Op::Mode, {training, running}, choice), call.loc, "batch_norm");
}

} // namespace nnjit
