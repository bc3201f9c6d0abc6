// CheckCommand: `nnjit check` — every param's symbolic gradient against central differences in double;
// and `nnjit show`.
#include "Commands.h"
#include "Report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

namespace nnjit::cli {
namespace {

struct GradientError {
  double maxAbs = 0, maxRel = 0;
  bool ok = true;
};

/// Rounding noise of a double, relative to the values rounded.
constexpr double kEpsilon = 0x1p-52;
/// Relative tolerance between the symbolic and the numeric derivative.
constexpr double kRelTolerance = 1e-5;
/// The loss's rounding noise taken as this many roundings of its largest
/// value: a sum of many terms rounds at each one.
constexpr double kNoiseRoundings = 32;

/// The worse of two errors; NaN, an error that cannot be measured, is the worst.
double worse(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

/// A numeric derivative and a bound on its error.
struct Estimate {
  double numeric = 0, bound = 0, noise = 0, h = 0;
  bool finite = true;
};

/// Richardson's extrapolation of the central differences at steps h and h/2.
/// Its error bound is (a) their disagreement, which bounds the truncation
/// error where the step is too coarse for the loss (cos(x) at x = 1e6 with
/// a step of 1), plus (b) the loss's rounding noise over the step: it grows
/// with the loss, and a loss of 1e10 rounds at 1e-6, which a step of 1e-6
/// turns into an error of 1.
Estimate estimate(const std::function<double(double)>& lossAt, double x, double h) {
  Estimate e;
  e.h = h;
  double largestLoss = 0;
  auto central = [&](double step) {
    double up = x + step, down = x - step;  // the steps as rounded, not as asked
    double lu = lossAt(up), ld = lossAt(down);
    e.finite = e.finite && std::isfinite(lu) && std::isfinite(ld);
    largestLoss = std::max({largestLoss, std::fabs(lu), std::fabs(ld)});
    return (lu - ld) / (up - down);
  };
  double wide = central(h), narrow = central(h / 2);
  e.numeric = (4 * narrow - wide) / 3;
  e.noise = kNoiseRoundings * kEpsilon * largestLoss / h;
  e.bound = std::fabs(wide - narrow) + e.noise;
  return e;
}

/// One element's verdict: |symbolic - numeric|, the larger of the two in magnitude, and whether it passes.
struct ElementCheck {
  double diff = 0, scale = 0;
  bool ok = false;
};

/// The step starts at 1e-6 of the element (or of 1, below it); one that
/// leaves the loss's domain (log near 0) is shrunk until it does not, and
/// where rounding noise dominates the bound (a huge loss, a small element)
/// it widens, up to 1% of the element, while that makes the bound smaller.
/// The step is chosen by the bound alone, never by the symbolic value.
ElementCheck checkElement(const std::function<double(double)>& lossAt, double x, double symbolic) {
  double scale = std::max(std::fabs(x), 1.0);
  Estimate best = estimate(lossAt, x, 1e-6 * scale);
  for (int tries = 0; !best.finite && tries < 8; ++tries) best = estimate(lossAt, x, best.h / 10);
  auto noisy = [&](const Estimate& e) {
    return e.noise > e.bound - e.noise && e.noise > kRelTolerance * std::fabs(e.numeric);
  };
  while (best.finite && noisy(best) && best.h < 1e-2 * scale) {
    Estimate wider = estimate(lossAt, x, best.h * 10);
    if (!wider.finite || !(wider.bound < best.bound)) break;
    best = wider;
  }
  ElementCheck c;
  c.diff = std::fabs(best.numeric - symbolic);
  c.scale = std::max(std::fabs(best.numeric), std::fabs(symbolic));
  c.ok = c.diff <= best.bound + kRelTolerance * c.scale;  // false for NaN
  return c;
}

std::string shapeText(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + (dims[i] == api::kBatch ? "batch" : std::to_string(dims[i]));
  return out + "]";
}

/// Central differences of the loss for every element of param `name` against `symbolic`.
GradientError compare(api::Session& session, const api::Batch& batch, const std::string& name,
                      const std::vector<double>& symbolic) {
  std::vector<double> p = session.param(name)->values;
  std::vector<double> q = p;
  size_t j = 0;
  auto lossAt = [&](double v) {
    q[j] = v;
    (void)session.setParam(name, std::span<const double>(q));
    return session.evaluate(batch)->loss;
  };
  GradientError err;
  for (j = 0; j < p.size(); ++j) {
    ElementCheck c = checkElement(lossAt, p[j], symbolic[j]);
    q[j] = p[j];
    err.ok = err.ok && c.ok;
    err.maxAbs = worse(err.maxAbs, c.diff);
    if (c.scale > 0 || std::isnan(c.diff)) err.maxRel = worse(err.maxRel, c.diff / c.scale);
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

  // The first batch of the training order, as the first step of training would see it
  // (its values as the table holds them for --dtype: rounded to float32 by default).
  const api::TrainDefaults& train = parsed->trainDefaults();
  if (data) data = data->firstRows(train.batchSize > 0 ? train.batchSize : data->rows(), train.shuffleSeed);
  int64_t n = data ? data->rows() : 1;
  api::Batch batch = data ? data->batch() : api::Batch(1);
  api::Session session(*model, o.seed);
  api::Expected<api::Gradients> grads = session.gradients(batch);
  if (!grads) return report(grads.error());
  if (!std::isfinite(grads->loss)) {  // every difference would be nan too: say why instead
    report({fileError(o.model, fmt::format("the loss is {} at the initial params, so no gradient can be checked",
                                           formatNumber(grads->loss, api::DType::F64)))});
    fmt::print("FAIL\n");
    return kModelError;
  }
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

namespace {

std::string dimsText(const api::TensorInfo& t) {
  std::string out = "[";
  for (size_t i = 0; i < t.shape.size(); ++i)
    out += (i ? ", " : "") + (t.shape[i] == api::kBatch ? std::string("batch") : std::to_string(t.shape[i]));
  return out + "]";
}

/// 1234567 as 1,234,567.
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string flopsText(double f) {
  const char* units[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (f >= 1000 && u < 4) f /= 1000, ++u;
  return fmt::format("{:.3g} {}FLOP", f, units[u]);
}

std::string bytesText(uint64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u ? fmt::format("{:.3g} {}", v, units[u]) : fmt::format("{} bytes", n);
}

/// `show --summary`: what Keras' model.summary() tells, and what a step costs.
void printSummary(const api::Model& model) {
  fmt::print("model {}\n", model.name());
  std::vector<api::TensorInfo> values = model.values();
  size_t width = 8;
  for (const std::vector<api::TensorInfo>* list : {&model.inputs(), &model.params(), &std::as_const(values)})
    for (const api::TensorInfo& t : *list) width = std::max(width, t.name.size() + 2);
  fmt::print("\ninputs\n");
  for (const api::TensorInfo& t : model.inputs())
    fmt::print("  {:<{}}{}{}\n", t.name, width, dimsText(t), t.classes ? fmt::format(" : class({})", t.classes) : "");
  fmt::print("\nparams\n");
  int64_t total = 0;
  for (const api::TensorInfo& t : model.params()) {
    fmt::print("  {:<{}}{:<20}{:>12}\n", t.name, width, dimsText(t), grouped(t.rowElements));
    total += t.rowElements;
  }
  fmt::print("  {:<{}}{:<20}{:>12}\n", "total", width, "", grouped(total));
  if (!values.empty()) {
    fmt::print("\nvalues\n");
    for (const api::TensorInfo& t : values) fmt::print("  {:<{}}{}\n", t.name, width, dimsText(t));
  }
  fmt::print("\n");
  if (model.hasLoss()) {
    api::Model::StepFlops f = model.trainStepFlops();
    fmt::print("train step: {} per row + {} per step (forward and backward; a multiply-add is 2)\n",
               flopsText(f.perRow), flopsText(f.fixed));
    if (model.canTrain())
      fmt::print("{}\n", model.trainsByChunks()
                             ? fmt::format("train step by chunks of {} rows: threads and mpirun processes share them out",
                                           model.trainChunkRows())
                             : std::string("train step on whole batches: threads split its kernels; mpirun processes "
                                           "each compute every step"));
  }
  int64_t batch = model.trainDefaults().batchSize;
  uint64_t one = model.sessionBytes(1), two = model.sessionBytes(2);
  if (batch > 0)
    fmt::print("memory: {} for batches of {} rows ({} a row)\n", bytesText(model.sessionBytes(batch)), batch,
               bytesText(two - one));
  else
    fmt::print("memory: {} plus {} a row of the batch (all rows)\n", bytesText(2 * one - two), bytesText(two - one));
}

} // namespace

int runShow(const Options& o) {
  std::optional<api::ParsedModel> parsed = loadModel(o, "show");
  if (!parsed) return kModelError;
  if (o.summary) {
    api::BuildOptions build;
    build.entryPoints = api::EntryPoints{.trainStep = parsed->hasOptimizer() && parsed->hasLoss(),
                                         .evaluate = parsed->hasLoss(), .predict = parsed->hasOutput()};
    std::optional<api::Model> model = compile(*parsed, o.dtype, std::nullopt, build);
    if (!model) return kModelError;
    printSummary(*model);
    return kOk;
  }
  if (o.emit >= 0) {
    api::Expected<std::string> text = parsed->emit(api::emitStages()[o.emit], {o.dtype});
    if (!text) return report(text.error());
    fmt::print("{}", *text);
    return kOk;
  }
  if (o.graph || o.grad) {
    api::Expected<std::string> dot = parsed->dot(o.grad, o.expand);
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
