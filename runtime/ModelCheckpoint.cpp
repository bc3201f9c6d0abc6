// ModelCheckpoint: a session's params, optimizer state and epoch to and from safetensors.
#include "ModelCheckpoint.h"

#include "Checkpoint.h"

#include <fmt/format.h>

namespace nnjit {
namespace {

const char* const kOptimizers[] = {"sgd", "adagrad", "rmsprop", "adam", "adamw"};

bool usesStepCount(const std::string& kind) { return kind == "adam" || kind == "adamw"; }

/// Names any optimizer could write: `KIND.STATE.PARAM` or `KIND.t`.
bool isOptimizerState(const std::string& name, const Model& m) {
  for (const char* kind : kOptimizers) {
    std::string prefix = std::string(kind) + ".";
    if (name.rfind(prefix, 0) != 0) continue;
    std::string rest = name.substr(prefix.size());
    if (rest == "t") return true;
    size_t dot = rest.find('.');
    if (dot == std::string::npos) continue;
    std::string param = rest.substr(dot + 1);
    for (const ParamInfo& p : m.params)
      if (p.name == param) return true;
  }
  return false;
}

std::vector<int64_t> dimsOf(const Shape& s) { return s.dims; }

} // namespace

Status saveCheckpoint(const Session& session, const std::string& path) {
  const CompiledModel& cm = session.compiled();
  const Model& m = cm.model;
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < m.params.size(); ++i)
    tensors.push_back({m.params[i].name, dimsOf(m.params[i].shape), session.read(cm.paramSlots[i])});
  for (size_t i = 0; i < cm.states.size(); ++i)
    tensors.push_back({cm.states[i].name, dimsOf(cm.states[i].shape), session.read(cm.stateSlots[i])});
  if (m.optimizer && usesStepCount(m.optimizer->kind))
    tensors.push_back({m.optimizer->kind + ".t", {}, {static_cast<double>(session.steps)}});
  tensors.push_back({"epoch", {}, {static_cast<double>(session.epochsDone)}});
  return writeSafetensors(path, tensors, cm.dtype);
}

Status loadCheckpoint(Session& session, const std::string& path, const std::string& displayName) {
  auto file = readSafetensors(path, displayName);
  if (!file) return file.errors();
  const CompiledModel& cm = session.compiled();
  const Model& m = cm.model;
  std::map<std::string, const NamedTensor*> byName;
  for (const NamedTensor& t : *file) byName[t.name] = &t;
  auto refuse = [&](std::string message) { return Status(fileError(displayName, std::move(message))); };

  for (const ParamInfo& p : m.params) {
    auto it = byName.find(p.name);
    if (it == byName.end()) return refuse(fmt::format("the checkpoint has no tensor for param '{}'", p.name));
    if (it->second->shape != p.shape.dims)
      return refuse(fmt::format("param '{}' has shape {} in the model but {} in the checkpoint", p.name, p.shape.str(),
                                Shape(it->second->shape).str()));
  }
  for (const NamedTensor& t : *file) {
    bool known = t.name == "epoch" || isOptimizerState(t.name, m);
    for (const ParamInfo& p : m.params) known = known || p.name == t.name;
    if (!known) return refuse(fmt::format("the checkpoint holds '{}', which is not a param of this model", t.name));
    bool scalar = t.name == "epoch" || (t.name.size() > 2 && t.name.substr(t.name.size() - 2) == ".t");
    if (scalar && t.values.size() != 1)
      return refuse(fmt::format("'{}' should be a scalar, but has shape {}", t.name, Shape(t.shape).str()));
  }
  for (size_t i = 0; i < cm.states.size(); ++i) {
    auto it = byName.find(cm.states[i].name);
    if (it != byName.end() && it->second->shape != cm.states[i].shape.dims)
      return refuse(fmt::format("state '{}' has shape {} in the model but {} in the checkpoint", cm.states[i].name,
                                cm.states[i].shape.str(), Shape(it->second->shape).str()));
  }
  auto epoch = byName.find("epoch");
  if (epoch != byName.end() && !(epoch->second->values[0] >= 0 && epoch->second->values[0] < 1e15))
    return refuse("'epoch' must be a whole number of epochs");

  // Everything checked: now change the session.
  session.resetOptimizer();
  for (size_t i = 0; i < m.params.size(); ++i) session.write(cm.paramSlots[i], byName[m.params[i].name]->values);
  for (size_t i = 0; i < cm.states.size(); ++i) {
    auto it = byName.find(cm.states[i].name);
    if (it != byName.end()) session.write(cm.stateSlots[i], it->second->values);
  }
  if (m.optimizer) {
    auto t = byName.find(m.optimizer->kind + ".t");
    if (t != byName.end()) session.steps = static_cast<int64_t>(t->second->values[0]);
  }
  if (epoch != byName.end()) session.epochsDone = static_cast<int64_t>(epoch->second->values[0]);
  return Ok{};
}

} // namespace nnjit
