// CheckCommand: `nnjit check` — every param's symbolic gradient against central differences in double.
#include "Commands.h"
#include "Autodiff.h"
#include "Trainer.h"

#include <fmt/format.h>

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

void warnUnused(const Options& o, const CompiledModel& cm) {
  const Model& m = cm.model;
  std::vector<NodeId> used;
  if (m.loss != kNoNode) used.push_back(m.loss);
  for (const NamedValue& v : m.metrics) used.push_back(v.node);
  if (m.output) used.push_back(m.output->node);
  std::vector<bool> live = reachableFrom(m.graph, used);
  std::vector<Diagnostic> warnings;
  auto warn = [&](SourceLoc loc, std::string message) {
    Diagnostic d;
    d.severity = Severity::Warning;
    d.file = o.model;
    d.line = loc.line;
    d.col = loc.col;
    d.message = std::move(message);
    warnings.push_back(d);
  };
  for (size_t i = 0; i < m.params.size(); ++i)
    if (!cm.lossReadsParam[i]) warn(m.params[i].loc, fmt::format("param '{}' does not affect the loss", m.params[i].name));
  for (const InputInfo& in : m.inputs)
    if (!live[in.node]) warn(in.loc, fmt::format("input '{}' is never used", in.name));
  report(warnings);
}

} // namespace

int runCheck(const Options& o) {
  std::optional<Model> model = loadModel(o, "check");
  if (!model) return kModelError;
  bool failed = false;
  std::optional<Dataset> data = loadData(o, *model, failed);
  if (failed) return kModelError;
  int64_t batch = model->train && model->train->batch > 0 ? model->train->batch : 0;
  CompileOptions copt;
  copt.dtype = DType::F64;  // the check itself runs in double, whatever the training dtype
  copt.gradients = true;
  copt.evaluate = true;
  if (!o.breakGradient.empty()) {
    copt.faultyGradient = opNamed(o.breakGradient);
    if (!copt.faultyGradient) {
      report({fileError("", "--test-break-gradient: no op named '" + o.breakGradient + "'")});
      return kUsage;
    }
  }
  DiagnosticEngine diags(o.model, "");
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), copt, diags);
  if (report(diags.diagnostics()) != kOk || !cm) return kModelError;
  warnUnused(o, *cm);
  const Model& m = cm->model;

  TrainPlan plan;
  plan.shuffleSeed = m.train ? m.train->shuffleSeed : std::nullopt;
  std::vector<int64_t> rows;
  if (data) {
    splitRows(plan, data->rows, 0);
    int64_t n = batch > 0 ? std::min<int64_t>(batch, data->rows) : data->rows;
    rows.assign(plan.trainRows.begin(), plan.trainRows.begin() + n);
  }
  int64_t n = data ? static_cast<int64_t>(rows.size()) : 1;
  Session session(*cm);
  session.initParams(o.seed);
  session.reserveRows(n);
  if (data) session.feed(*data, rows, 0, rows.size(), allColumns(m));
  auto loss = [&] {
    session.run(cm->evaluate, n);
    return session.scalar(cm->lossSlot);
  };
  session.run(cm->gradients, n);
  bool pass = true;
  fmt::print("gradient check at the initial params on {} row{}, central differences in double\n", n, n == 1 ? "" : "s");
  for (size_t i = 0; i < m.params.size(); ++i) {
    int slot = cm->paramSlots[i];
    std::vector<double> symbolic = session.read(cm->gradientSlots[i]);
    std::vector<double> p = session.read(slot);
    GradientError err;
    for (size_t j = 0; j < p.size(); ++j) {
      double h = 1e-6 * std::max(1.0, std::fabs(p[j]));
      std::vector<double> q = p;
      q[j] = p[j] + h;
      session.write(slot, q);
      double up = loss();
      q[j] = p[j] - h;
      session.write(slot, q);
      double down = loss();
      double numeric = (up - down) / (2 * h);
      double diff = std::fabs(numeric - symbolic[j]);
      double scale = std::max(std::fabs(numeric), std::fabs(symbolic[j]));
      err.maxAbs = std::max(err.maxAbs, diff);
      if (scale > 0) err.maxRel = std::max(err.maxRel, diff / scale);
      err.ok &= diff <= kAbsTolerance + kRelTolerance * scale;
    }
    session.write(slot, p);
    bool ok = err.ok;
    pass &= ok;
    fmt::print("  {:<16} {:<14} max abs error {:.3g}  max rel error {:.3g}  {}\n", m.params[i].name,
               m.params[i].shape.str(), err.maxAbs, err.maxRel, ok ? "ok" : "WRONG");
  }
  fmt::print("{}\n", pass ? "PASS" : "FAIL");
  return pass ? kOk : kModelError;
}

int runShow(const Options& o) {
  std::optional<Model> model = loadModel(o, "show");
  if (!model) return kModelError;
  DiagnosticEngine diags(o.model, "");
  if (o.graph || o.grad) {
    std::string dot = modelDot(*model, o.grad, diags);
    if (report(diags.diagnostics()) != kOk) return kModelError;
    fmt::print("{}", dot);
    return kOk;
  }
  CompileOptions copt;
  copt.dtype = o.dtype;
  copt.trainStep = model->optimizer.has_value();
  copt.evaluate = true;
  copt.predict = model->output.has_value();
  copt.keepIR = o.ir;
  copt.keepAsm = o.assembly;
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), copt, diags);
  if (report(diags.diagnostics()) != kOk || !cm) return kModelError;
  fmt::print("{}", o.ir ? cm->ir : cm->assembly);
  return kOk;
}

} // namespace nnjit::cli
