// Parsed: the front end alone behind the public API — what a model declares before it is compiled.
#include "Internal.h"

#include "FileIO.h"
#include "Graph.h"

namespace nnjit::api {

std::string besideModel(const std::string& modelPath, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  size_t slash = modelPath.rfind('/');
  return slash == std::string::npos ? path : modelPath.substr(0, slash + 1) + path;
}

static_assert(kMaxEpochs == nnjit::kMostEpochs, "the compiler refuses the epoch counts the API does");

TrainDefaults trainDefaults(const nnjit::Model& model, const std::string& modelPath) {
  TrainDefaults d;
  if (!model.train) return d;
  const nnjit::TrainSpec& spec = *model.train;
  d.epochs = spec.epochs;
  d.batchSize = spec.batch;
  d.shuffleSeed = spec.shuffleSeed;
  d.test.kind = static_cast<TestSplit::Kind>(spec.test.kind);
  d.test.count = spec.test.count;
  d.test.fraction = spec.test.fraction;
  for (const std::string& path : spec.test.paths) d.test.paths.push_back(besideModel(modelPath, path));
  d.test.names = spec.test.paths;
  d.patience = spec.patience;
  d.patienceAt = {Severity::Error, modelPath, spec.patienceLoc.line, spec.patienceLoc.col, "", ""};
  d.testAt = {Severity::Error, modelPath, spec.testLoc.line, spec.testLoc.col, "", ""};
  if (!d.test.paths.empty()) {
    d.test.path = d.test.paths[0];
    d.test.name = d.test.names[0];
  }
  return d;
}

namespace {

/// The line of `source` that `at` points into, as a diagnostic there shows it.
std::string sourceLineOf(const Diagnostic& at, const std::string& source) {
  nnjit::DiagnosticEngine engine(at.file, source);
  engine.error({at.line, at.column}, "");
  return engine.diagnostics()[0].sourceLine;
}

} // namespace

bool isOpName(const std::string& name) { return nnjit::opNamed(name).has_value(); }

Result<std::string> readModelFile(const std::string& path) {
  ReadLimits limits;
  limits.maxBytes = 64u << 20;  // list literals of large params are the largest models; see docs/language.md
  limits.what = "a model file";
  return readFile(path, path, limits);
}

Expected<ParsedModel> ParsedModel::fromFile(const std::string& path) {
  Result<std::string> source = readModelFile(path);
  if (!source) return Error(ErrorKind::Io, publicDiagnostics(source.errors()));
  nnjit::DiagnosticEngine diags(path, *source);
  auto impl = std::make_shared<Impl>();
  std::optional<nnjit::Model> model = parseModel(*source, path, diags, &impl->times);
  if (!model || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  impl->model = std::make_shared<const nnjit::Model>(std::move(*model));
  impl->source = std::move(*source);
  impl->name = path;
  for (const std::string& data : impl->model->dataPaths) impl->dataPaths.push_back(besideModel(path, data));
  impl->defaults = nnjit::api::trainDefaults(*impl->model, path);
  Diagnostic& patience = impl->defaults.patienceAt;
  if (patience.line > 0) patience.sourceLine = sourceLineOf(patience, impl->source);
  Diagnostic& test = impl->defaults.testAt;
  if (test.line > 0) test.sourceLine = sourceLineOf(test, impl->source);
  impl->warnings = publicDiagnostics(diags.diagnostics());
  return ParsedModel(std::move(impl));
}

const std::string& ParsedModel::name() const { return impl_->name; }
const std::vector<Diagnostic>& ParsedModel::warnings() const { return impl_->warnings; }
bool ParsedModel::hasInputs() const { return !impl_->model->inputs.empty(); }
bool ParsedModel::hasLoss() const { return impl_->model->loss != kNoNode; }
bool ParsedModel::hasOptimizer() const { return impl_->model->optimizer.has_value(); }
bool ParsedModel::hasTrain() const { return impl_->model->train.has_value(); }
bool ParsedModel::hasOutput() const { return impl_->model->output.has_value(); }
namespace {
const std::string& firstOf(const std::vector<std::string>& list) {
  static const std::string none;
  return list.empty() ? none : list[0];
}
} // namespace

const std::string& ParsedModel::dataPath() const { return firstOf(impl_->dataPaths); }
const std::string& ParsedModel::dataName() const { return firstOf(impl_->model->dataPaths); }
const std::vector<std::string>& ParsedModel::dataPaths() const { return impl_->dataPaths; }
const std::vector<std::string>& ParsedModel::dataNames() const { return impl_->model->dataPaths; }
const TrainDefaults& ParsedModel::trainDefaults() const { return impl_->defaults; }

Expected<std::string> ParsedModel::dot(bool withGradients, bool expandCalls) const {
  nnjit::DiagnosticEngine diags(impl_->name, "");
  std::string dot = modelDot(*impl_->model, withGradients, diags, expandCalls);
  if (diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  return dot;
}

namespace {

Diagnostic warningAt(const std::string& file, nnjit::SourceLoc loc, std::string message) {
  Diagnostic d;
  d.severity = Severity::Warning;
  d.file = file;
  d.line = loc.line;
  d.column = loc.col;
  d.message = std::move(message);
  return d;
}

} // namespace

std::vector<Diagnostic> Model::unusedWarnings() const {
  const nnjit::CompiledModel& cm = *impl_->cm;
  const nnjit::Model& m = *impl_->lowered;
  std::vector<NodeId> used;
  if (m.loss != kNoNode) used.push_back(m.loss);
  for (const NamedValue& v : m.metrics) used.push_back(v.node);
  if (m.output) used.push_back(m.output->node);
  std::vector<bool> live = reachableFrom(m.graph, used);
  std::vector<Diagnostic> warnings;
  for (size_t i = 0; i < m.params.size(); ++i)
    if (i < cm.lossReadsParam.size() && !cm.lossReadsParam[i])
      warnings.push_back(warningAt(impl_->name, m.params[i].loc, "param '" + m.params[i].name + "' does not affect the loss"));
  for (const InputInfo& in : m.inputs)
    if (!live[in.node]) warnings.push_back(warningAt(impl_->name, in.loc, "input '" + in.name + "' is never used"));
  return warnings;
}

} // namespace nnjit::api
