// Model: compiling a `.nn` source through the compiler and describing what it declares.
#include "Internal.h"

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

/// Fills the public description from the compiled model.
void describeModel(Model::Impl& m) {
  const nnjit::CompiledModel& cm = *m.cm;
  const nnjit::Model& src = cm.model;
  for (size_t i = 0; i < src.inputs.size(); ++i) {
    TensorInfo t = describe(src.inputs[i].name, src.inputs[i].shape);
    t.classes = src.inputs[i].numClasses;
    t.readByOutput = i < cm.outputReadsInput.size() && cm.outputReadsInput[i];
    m.inputs.push_back(std::move(t));
  }
  for (const nnjit::ParamInfo& p : src.params) m.params.push_back(describe(p.name, p.shape));
  if (src.output && cm.outputSlot >= 0) m.output = describe(src.output->name, cm.slots[cm.outputSlot].shape);
  for (const nnjit::NamedValue& v : src.metrics) m.metrics.push_back(v.name);
  if (src.train) {
    m.defaults.epochs = src.train->epochs;
    m.defaults.batchSize = src.train->batch;
    m.defaults.shuffleSeed = src.train->shuffleSeed;
  }
  m.hasLoss = src.loss != kNoNode;
  m.canTrain = cm.trainStep != nullptr;
}

Expected<std::shared_ptr<const Model::Impl>> compileSource(const std::string& source, const std::string& name, const CompileSettings& settings) {
  nnjit::DiagnosticEngine diags(name, source);
  std::optional<nnjit::Model> parsed = parseModel(source, name, diags);
  if (!parsed || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  nnjit::CompileOptions options;
  options.dtype = settings.dtype == DType::F64 ? nnjit::DType::F64 : nnjit::DType::F32;
  options.lr = settings.learningRate;
  bool hasLoss = parsed->loss != kNoNode;
  options.trainStep = hasLoss && parsed->optimizer.has_value();
  options.evaluate = hasLoss || !parsed->metrics.empty();
  options.predict = parsed->output.has_value();
  auto impl = std::make_shared<Model::Impl>();
  impl->cm = compileModel(std::move(*parsed), options, diags);
  if (!impl->cm || diags.hasErrors()) return Error(ErrorKind::Compile, publicDiagnostics(diags.diagnostics()));
  impl->name = name;
  impl->dtype = settings.dtype;
  impl->warnings = publicDiagnostics(diags.diagnostics());
  describeModel(*impl);
  return std::shared_ptr<const Model::Impl>(std::move(impl));
}

} // namespace

Expected<Model> Model::fromString(std::string_view source, const std::string& name, const CompileSettings& settings) {
  if (settings.learningRate && !(*settings.learningRate > 0))
    return errorIn(ErrorKind::InvalidArgument, name, "the learning rate must be a positive number");
  try {
    Expected<std::shared_ptr<const Impl>> impl = compileSource(std::string(source), name, settings);
    if (!impl) return impl.error();
    return Model(std::move(*impl));
  } catch (const std::exception& e) {
    return errorIn(ErrorKind::Compile, name, std::string("compilation failed: ") + e.what());
  }
}

Expected<Model> Model::fromFile(const std::string& path, const CompileSettings& settings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errorIn(ErrorKind::Io, path, std::string("cannot read file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return errorIn(ErrorKind::Io, path, "cannot read file");
  return fromString(text.str(), path, settings);
}

const std::string& Model::name() const { return impl_->name; }
DType Model::dtype() const { return impl_->dtype; }
const std::vector<TensorInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Model::params() const { return impl_->params; }
const std::optional<TensorInfo>& Model::output() const { return impl_->output; }
const std::vector<std::string>& Model::metrics() const { return impl_->metrics; }
bool Model::hasLoss() const { return impl_->hasLoss; }
bool Model::canTrain() const { return impl_->canTrain; }
const TrainDefaults& Model::trainDefaults() const { return impl_->defaults; }
const std::vector<Diagnostic>& Model::warnings() const { return impl_->warnings; }

} // namespace nnjit::api
