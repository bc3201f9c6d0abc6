// ModelCheckpoint: a session's params, optimizer state and epoch to and from safetensors.
#include "ModelCheckpoint.h"

#include "Checkpoint.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace nnjit {
namespace {

/// Each optimizer and the state it keeps per param (OptimizerRules).
struct OptimizerStates {
  const char* kind;
  std::vector<const char*> states;
};
const OptimizerStates kOptimizers[] = {
    {"sgd", {"v"}}, {"adagrad", {"s"}}, {"rmsprop", {"s"}}, {"adam", {"m", "v"}}, {"adamw", {"m", "v"}}};

bool usesStepCount(const std::string& kind) { return kind == "adam" || kind == "adamw"; }

/// Names any optimizer could write: `KIND.STATE.PARAM` (a state that kind
/// keeps, of a param of the model) or `KIND.t` (of a kind that counts steps).
bool isOptimizerState(const std::string& name, const Declarations& m) {
  for (const OptimizerStates& o : kOptimizers) {
    std::string prefix = std::string(o.kind) + ".";
    if (name.rfind(prefix, 0) != 0) continue;
    std::string rest = name.substr(prefix.size());
    if (rest == "t") return usesStepCount(o.kind);
    for (const char* state : o.states) {
      std::string statePrefix = std::string(state) + ".";
      if (rest.rfind(statePrefix, 0) != 0) continue;
      std::string param = rest.substr(statePrefix.size());
      for (const ParamDecl& p : m.params)
        if (p.name == param) return true;
    }
  }
  return false;
}

std::vector<int64_t> dimsOf(const Shape& s) { return s.dims; }

} // namespace

Status saveCheckpoint(const Session& session, const std::string& path) {
  const CompiledModel& cm = session.compiled();
  const Declarations& m = cm.declared;
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < m.params.size(); ++i)
    tensors.push_back({m.params[i].name, dimsOf(m.params[i].shape), session.read(cm.paramSlots[i])});
  for (size_t i = 0; i < cm.states.size(); ++i)
    tensors.push_back({cm.states[i].name, dimsOf(cm.states[i].shape), session.read(cm.stateSlots[i])});
  if (usesStepCount(m.optimizer))
    tensors.push_back({m.optimizer + ".t", {}, {static_cast<double>(session.steps)}});
  tensors.push_back({"epoch", {}, {static_cast<double>(session.epochsDone)}});
  return writeSafetensors(path, tensors, cm.dtype);
}

namespace {

/// The most bytes an honest checkpoint of this model can have: a full
/// header, and every param in F64 with the state of every optimizer at once.
uint64_t checkpointBound(const CompiledModel& cm) {
  uint64_t elements = 64;  // the scalars: epoch, the step counts
  for (const ParamDecl& p : cm.declared.params) elements += static_cast<uint64_t>(p.shape.staticElements()) * 8;
  for (const StateDecl& s : cm.states) elements += static_cast<uint64_t>(s.shape.staticElements());
  return (16u << 20) + 8 + elements * 8;
}

/// Step counts and epochs are whole numbers that a float64 holds exactly;
/// anything else (NaN, 1e30, -1, 2.5) would train silently wrong.
bool isCounter(double v) { return v >= 0 && v < 1e15 && v == std::floor(v); }

using ByName = std::map<std::string, const NamedTensor*>;

/// Every check, before anything in the session changes.
Status validate(const CompiledModel& cm, const std::vector<NamedTensor>& file, const ByName& byName,
                const std::string& displayName) {
  const Declarations& m = cm.declared;
  auto refuse = [&](std::string message) { return Status(fileError(displayName, std::move(message))); };
  for (const ParamDecl& p : m.params) {
    auto it = byName.find(p.name);
    if (it == byName.end()) return refuse(fmt::format("the checkpoint has no tensor for param '{}'", p.name));
    if (it->second->shape != p.shape.dims)
      return refuse(fmt::format("param '{}' has shape {} in the model but {} in the checkpoint", p.name, p.shape.str(),
                                Shape(it->second->shape).str()));
  }
  for (const NamedTensor& t : file) {
    bool known = t.name == "epoch" || isOptimizerState(t.name, m);
    for (const StateDecl& s : cm.states) known = known || s.name == t.name;
    for (const ParamDecl& p : m.params) known = known || p.name == t.name;
    if (!known) return refuse(fmt::format("the checkpoint holds '{}', which is not a param of this model", t.name));
    bool counter = t.name == "epoch" || (t.name.size() > 2 && t.name.substr(t.name.size() - 2) == ".t");
    if (counter && t.values.size() != 1)
      return refuse(fmt::format("'{}' should be a scalar, but has shape {}", t.name, Shape(t.shape).str()));
    if (counter && !isCounter(t.values[0]))
      return refuse(fmt::format("'{}' is {}, not a whole number from 0 to 10^15", t.name, t.values[0]));
  }
  for (size_t i = 0; i < cm.states.size(); ++i) {
    auto it = byName.find(cm.states[i].name);
    if (it != byName.end() && it->second->shape != cm.states[i].shape.dims)
      return refuse(fmt::format("state '{}' has shape {} in the model but {} in the checkpoint", cm.states[i].name,
                                cm.states[i].shape.str(), Shape(it->second->shape).str()));
  }
  return Ok{};
}

} // namespace

Status loadCheckpointFrom(Session& session, const std::vector<NamedTensor>& file, const std::string& displayName) {
  const CompiledModel& cm = session.compiled();
  const Declarations& m = cm.declared;
  ByName byName;
  for (const NamedTensor& t : file) byName[t.name] = &t;
  if (Status ok = validate(cm, file, byName, displayName); !ok) return ok;
  // Everything checked: now change the session.
  session.resetOptimizer();
  for (size_t i = 0; i < m.params.size(); ++i) session.write(cm.paramSlots[i], byName[m.params[i].name]->values);
  for (size_t i = 0; i < cm.states.size(); ++i) {
    auto it = byName.find(cm.states[i].name);
    if (it != byName.end()) session.write(cm.stateSlots[i], it->second->values);
  }
  if (!m.optimizer.empty()) {
    auto t = byName.find(m.optimizer + ".t");
    if (t != byName.end()) session.steps = static_cast<int64_t>(t->second->values[0]);
  }
  if (auto epoch = byName.find("epoch"); epoch != byName.end())
    session.epochsDone = static_cast<int64_t>(epoch->second->values[0]);
  return Ok{};
}

Status loadCheckpoint(Session& session, const std::string& path, const std::string& displayName) {
  auto file = readSafetensors(path, displayName, checkpointBound(session.compiled()));
  if (!file) return file.errors();
  return loadCheckpointFrom(session, *file, displayName);
}

} // namespace nnjit
