// Model: compiling a `.nn` source through the compiler and describing what it declares.
#include "Internal.h"

#include "ObjectCache.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nnjit::api {
namespace {

TensorInfo describe(const std::string& name, const Shape& shape) {
  TensorInfo t;
  t.name = name;
  t.shape = shape.dims;
  t.batched = shape.hasBatch();
  t.rowElements = shape.staticElements();
  return t;
}

/// Every entry point the model supports: what `fromString` builds.
EntryPoints supported(const nnjit::Model& model) {
  EntryPoints e;
  bool hasLoss = model.loss != kNoNode;
  e.trainStep = hasLoss && model.optimizer.has_value();
  e.evaluate = hasLoss || !model.metrics.empty();
  e.predict = model.output.has_value();
  return e;
}

Expected<nnjit::CompileOptions> compileOptions(const nnjit::Model& model, const CompileSettings& settings,
                                               const BuildOptions& build) {
  nnjit::CompileOptions options;
  options.dtype = internalDType(settings.dtype);
  options.lr = settings.learningRate;
  EntryPoints e = build.entryPoints.value_or(supported(model));
  options.trainStep = e.trainStep;
  options.evaluate = e.evaluate;
  options.predict = e.predict;
  options.gradients = e.gradients;
  options.keepIR = build.keepIR;
  options.keepAsm = build.keepAsm;
  if (!build.faultyGradientOp.empty()) {
    options.faultyGradient = nnjit::opNamed(build.faultyGradientOp);
    if (!options.faultyGradient)
      return Error(ErrorKind::InvalidArgument, "no op named '" + build.faultyGradientOp + "'");
  }
  return options;
}

/// compileModel, with the object cache's warning (a folder or entry it would not trust) among the diagnostics.
std::unique_ptr<nnjit::CompiledModel> compileWithCache(nnjit::Model model, const nnjit::CompileOptions& options,
                                                       nnjit::DiagnosticEngine& diags) {
  (void)nnjit::takeObjectCacheWarning();  // one left by a compile outside the API is not this one's
  std::unique_ptr<nnjit::CompiledModel> cm = compileModel(std::move(model), options, diags);
  if (std::string warning = nnjit::takeObjectCacheWarning(); !warning.empty()) {
    nnjit::Diagnostic d = nnjit::fileError("", std::move(warning));
    d.severity = nnjit::Severity::Warning;
    diags.add(std::move(d));
  }
  return cm;
}

Expected<std::shared_ptr<const Model::Impl>> compileSource(const std::string& source, const std::string& name, const CompileSettings& settings) {
  nnjit::DiagnosticEngine diags(name, source);
  nnjit::StageTimes front;
  std::optional<nnjit::Model> parsed = parseModel(source, name, diags, &front);
  if (!parsed || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  Expected<nnjit::CompileOptions> options = compileOptions(*parsed, settings, {});
  if (!options) return options.error();
  auto impl = std::make_shared<Model::Impl>();
  impl->lowered = std::make_shared<const nnjit::Model>(std::move(*parsed));
  impl->cm = compileWithCache(*impl->lowered, *options, diags);
  if (!impl->cm || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  nnjit::StageTimes& times = impl->cm->times;
  times.parseMs = front.parseMs;
  times.lowerMs = front.lowerMs;
  times.stages.insert(times.stages.begin(), front.stages.begin(), front.stages.end());
  impl->name = name;
  impl->dtype = settings.dtype;
  impl->warnings = publicDiagnostics(diags.diagnostics());
  impl->times = publicTimes(impl->cm->times);
  describeModel(*impl);
  return std::shared_ptr<const Model::Impl>(std::move(impl));
}

} // namespace

CompileTimes publicTimes(const nnjit::StageTimes& t) {
  CompileTimes out{t.parseMs, t.lowerMs, t.autodiffMs, t.passesMs, t.codegenMs, t.optimizeMs, t.jitMs, t.cacheHit, {}};
  for (const nnjit::StageTime& s : t.stages) out.stages.push_back({s.name, s.ms});
  return out;
}

const std::vector<std::string>& emitStages() { return nnjit::stageNames(); }

Expected<std::string> ParsedModel::emit(const std::string& stage, const CompileSettings& settings) const {
  std::optional<nnjit::Stage> which = nnjit::stageNamed(stage);
  if (!which)
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("no stage named '{}' (stages: {})", stage, fmt::join(emitStages(), ", ")));
  // What `show --ir` compiles: every entry point a user of the model can call.
  BuildOptions build;
  build.entryPoints = EntryPoints{.trainStep = hasOptimizer() && hasLoss(), .evaluate = true, .predict = hasOutput()};
  Expected<nnjit::CompileOptions> options = compileOptions(*impl_->model, settings, build);
  if (!options) return options.error();
  nnjit::DiagnosticEngine diags(impl_->name, impl_->source);
  try {
    std::optional<std::string> text = nnjit::emitStage(impl_->source, impl_->name, *which, *options, diags);
    if (!text || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
    return *text;
  } catch (const std::bad_alloc&) {
    return errorIn(ErrorKind::OutOfMemory, impl_->name, "out of memory while compiling");
  }
}

nnjit::DType internalDType(DType d) { return d == DType::F64 ? nnjit::DType::F64 : nnjit::DType::F32; }

Expected<Model> Model::compile(const ParsedModel& parsed, const CompileSettings& settings, const BuildOptions& build) {
  try {
    return compileParsed(parsed, settings, build);
  } catch (const std::bad_alloc&) {
    return errorIn(ErrorKind::OutOfMemory, Access::of(parsed).name, "out of memory while compiling");
  }
}

Expected<Model> Model::compileParsed(const ParsedModel& parsed, const CompileSettings& settings,
                                     const BuildOptions& build) {
  const ParsedModel::Impl& p = Access::of(parsed);
  Expected<nnjit::CompileOptions> options = compileOptions(*p.model, settings, build);
  if (!options) return options.error();
  // With the source text: a back-end diagnostic at a `.nn` position shows its line and a caret.
  nnjit::DiagnosticEngine diags(p.name, p.source);
  auto impl = std::make_shared<Model::Impl>();
  impl->lowered = p.model;
  impl->cm = compileWithCache(*p.model, *options, diags);
  if (!impl->cm || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  impl->cm->times.parseMs = p.times.parseMs;
  impl->cm->times.lowerMs = p.times.lowerMs;
  std::vector<nnjit::StageTime>& stages = impl->cm->times.stages;
  stages.insert(stages.begin(), p.times.stages.begin(), p.times.stages.end());
  impl->name = p.name;
  impl->dtype = settings.dtype;
  impl->warnings = publicDiagnostics(diags.diagnostics());
  impl->times = publicTimes(impl->cm->times);
  describeModel(*impl);
  return Model(std::shared_ptr<const Impl>(std::move(impl)));
}

void describeModel(Model::Impl& m) {
  const nnjit::CompiledModel& cm = *m.cm;
  const nnjit::Declarations& declared = cm.declared;
  for (size_t i = 0; i < declared.inputs.size(); ++i) {
    TensorInfo t = describe(declared.inputs[i].name, declared.inputs[i].shape);
    t.classes = declared.inputs[i].numClasses;
    t.readByOutput = i < cm.outputReadsInput.size() && cm.outputReadsInput[i];
    m.inputs.push_back(std::move(t));
  }
  for (const nnjit::ParamDecl& p : declared.params) m.params.push_back(describe(p.name, p.shape));
  if (declared.output && cm.outputSlot >= 0) m.output = describe(*declared.output, cm.slots[cm.outputSlot].shape);
  m.metrics = declared.metrics;
  m.defaults = trainDefaults(*m.lowered, m.name);
  m.hasLoss = declared.hasLoss;
  m.canTrain = cm.canTrain();
  m.trainsByChunks = cm.trainFinish != nullptr;
  m.trainChunkRows = m.trainsByChunks ? cm.trainChunkRows : 0;
}


Expected<Model> Model::fromString(std::string_view source, const std::string& name, const CompileSettings& settings) {
  if (settings.learningRate && !(*settings.learningRate > 0))
    return errorIn(ErrorKind::InvalidArgument, name, "the learning rate must be a positive number");
  try {
    Expected<std::shared_ptr<const Impl>> impl = compileSource(std::string(source), name, settings);
    if (!impl) return impl.error();
    return Model(std::move(*impl));
  } catch (const std::bad_alloc&) {
    return errorIn(ErrorKind::OutOfMemory, name, "out of memory while compiling");
  } catch (const std::exception& e) {
    return errorIn(ErrorKind::Compile, name, std::string("compilation failed: ") + e.what());
  }
}

Expected<Model> Model::fromFile(const std::string& path, const CompileSettings& settings) {
  Result<std::string> source = readModelFile(path);
  if (!source) return Error(ErrorKind::Io, publicDiagnostics(source.errors()));
  return fromString(*source, path, settings);
}

const std::string& Model::name() const { return impl_->name; }
DType Model::dtype() const { return impl_->dtype; }
const std::vector<TensorInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Model::params() const { return impl_->params; }
const std::optional<TensorInfo>& Model::output() const { return impl_->output; }
const std::vector<std::string>& Model::metrics() const { return impl_->metrics; }

std::vector<TensorInfo> Model::values() const {
  std::vector<TensorInfo> out;
  const nnjit::Model& m = *impl_->lowered;
  for (const nnjit::NamedValue& v : m.values) out.push_back(describe(v.name, m.graph.shape(v.node)));
  return out;
}

Model::StepFlops Model::trainStepFlops() const {
  nnjit::DiagnosticEngine diags(impl_->name, "");
  nnjit::StepFlops f = nnjit::trainStepFlops(*impl_->lowered, diags);
  return {f.perRow, f.fixed};
}

uint64_t Model::sessionBytes(int64_t rows) const { return nnjit::Session::bytesFor(*impl_->cm, rows, rows); }
bool Model::hasLoss() const { return impl_->hasLoss; }
bool Model::canTrain() const { return impl_->canTrain; }
bool Model::trainsByChunks() const { return impl_->trainsByChunks; }
int64_t Model::trainChunkRows() const { return impl_->trainChunkRows; }
const TrainDefaults& Model::trainDefaults() const { return impl_->defaults; }
const std::vector<Diagnostic>& Model::warnings() const { return impl_->warnings; }
const CompileTimes& Model::compileTimes() const { return impl_->times; }
const std::string& Model::ir() const { return impl_->cm->ir; }
const std::string& Model::assembly() const { return impl_->cm->assembly; }

} // namespace nnjit::api
