// CheckCommand: `nnjit check` — every param's symbolic gradient against central differences in double;
// and `nnjit show`.
#include "Commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace nnjit::cli {
namespace {

struct GradientError {
  double maxAbs = 0, maxRel = 0;
  bool ok = true;
};

/// A gradient element passes within a relative tolerance, or an absolute one
/// for elements so small that central differences only see rounding noise
/// (about 1e-16 * |loss| / h = 1e-10 for a loss near 1).
constexpr double kRelTolerance = 1e-5, kAbsTolerance = 1e-7;

std::string shapeText(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + (dims[i] == api::kBatch ? "batch" : std::to_string(dims[i]));
  return out + "]";
}

/// Central differences of the loss for every element of param `name` against `symbolic`.
GradientError compare(api::Session& session, const api::Batch& batch, const std::string& name,
                      const std::vector<double>& symbolic) {
  std::vector<double> p = session.param(name)->values;
  auto loss = [&](const std::vector<double>& q) {
    (void)session.setParam(name, std::span<const double>(q));
    return session.evaluate(batch)->loss;
  };
  GradientError err;
  for (size_t j = 0; j < p.size(); ++j) {
    double h = 1e-6 * std::max(1.0, std::fabs(p[j]));
    std::vector<double> q = p;
    q[j] = p[j] + h;
    double up = loss(q);
    q[j] = p[j] - h;
    double down = loss(q);
    double numeric = (up - down) / (2 * h);
    double diff = std::fabs(numeric - symbolic[j]);
    double scale = std::max(std::fabs(numeric), std::fabs(symbolic[j]));
    err.maxAbs = std::max(err.maxAbs, diff);
    if (scale > 0) err.maxRel = std::max(err.maxRel, diff / scale);
    err.ok &= diff <= kAbsTolerance + kRelTolerance * scale;
  }
  (void)session.setParam(name, std::span<const double>(p));
  return err;
}

} // namespace

int runCheck(const Options& o) {
  std::optional<api::ParsedModel> parsed = loadModel(o, "check");
  if (!parsed) return kModelError;
  bool failed = false;
  std::optional<api::Table> data = loadData(o, *parsed, failed);
  if (failed) return kModelError;
  if (!o.breakGradient.empty() && !api::isOpName(o.breakGradient)) {
    report({fileError("", "--test-break-gradient: no op named '" + o.breakGradient + "'")});
    return kUsage;
  }
  api::BuildOptions build;
  build.entryPoints = api::EntryPoints{.evaluate = true, .gradients = true};
  build.faultyGradientOp = o.breakGradient;
  // The check itself runs in double, whatever the training dtype.
  std::optional<api::Model> model = compile(*parsed, api::DType::F64, std::nullopt, build);
  if (!model) return kModelError;
  report(model->unusedWarnings());

  // The first batch of the training order, as the first step of training would see it.
  const api::TrainDefaults& train = parsed->trainDefaults();
  if (data) data = data->firstRows(train.batchSize > 0 ? train.batchSize : data->rows(), train.shuffleSeed);
  int64_t n = data ? data->rows() : 1;
  api::Batch batch = data ? data->batch() : api::Batch(1);
  api::Session session(*model, o.seed);
  api::Expected<api::Gradients> grads = session.gradients(batch);
  if (!grads) return report(grads.error());
  bool pass = true;
  fmt::print("gradient check at the initial params on {} row{}, central differences in double\n", n, n == 1 ? "" : "s");
  for (size_t i = 0; i < model->params().size(); ++i) {
    const api::TensorInfo& p = model->params()[i];
    GradientError err = compare(session, batch, p.name, grads->params[i].values);
    pass &= err.ok;
    fmt::print("  {:<16} {:<14} max abs error {:.3g}  max rel error {:.3g}  {}\n", p.name, shapeText(p.shape),
               err.maxAbs, err.maxRel, err.ok ? "ok" : "WRONG");
  }
  fmt::print("{}\n", pass ? "PASS" : "FAIL");
  return pass ? kOk : kModelError;
}

int runShow(const Options& o) {
  std::optional<api::ParsedModel> parsed = loadModel(o, "show");
  if (!parsed) return kModelError;
  if (o.graph || o.grad) {
    api::Expected<std::string> dot = parsed->dot(o.grad);
    if (!dot) return report(dot.error());
    fmt::print("{}", *dot);
    return kOk;
  }
  api::BuildOptions build;
  build.entryPoints = api::EntryPoints{.trainStep = parsed->hasOptimizer(), .evaluate = true, .predict = parsed->hasOutput()};
  build.keepIR = o.ir;
  build.keepAsm = o.assembly;
  std::optional<api::Model> model = compile(*parsed, o.dtype, std::nullopt, build);
  if (!model) return kModelError;
  fmt::print("{}", o.ir ? model->ir() : model->assembly());
  return kOk;
}

} // namespace nnjit::cli
