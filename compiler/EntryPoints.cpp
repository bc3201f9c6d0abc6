// EntryPoints: what each generated function computes — its slots, its roots, the loss's gradients and the updates.
#include "EntryPoints.h"

#include "Autodiff.h"
#include "Builder.h"
#include "OptimizerRules.h"
#include "TrainingMode.h"

namespace nnjit {

int addSlot(CompiledModel& cm, EntryPoints& ep, std::string name, SlotKind kind, Shape shape) {
  int slot = static_cast<int>(cm.slots.size());
  ep.slotIndex.emplace(std::pair{kind, name}, slot);  // the first slot of a name wins
  cm.slots.push_back(Slot{std::move(name), kind, std::move(shape)});
  return slot;
}

/// A lookup, not a scan of the slots: called per leaf and per update, a
/// scan was quadratic in the number of params.
int EntryPoints::slotOfLeaf(const Graph& g, NodeId leaf, const CompiledModel& cm) const {
  const Node& n = g.node(leaf);
  auto named = [&](SlotKind kind) {
    auto it = slotIndex.find({kind, n.attrs.name});
    return it == slotIndex.end() ? -1 : it->second;
  };
  switch (n.op) {
  case Op::Param: return named(SlotKind::Param);
  case Op::State: return named(SlotKind::State);
  case Op::Input: return named(SlotKind::Input);
  case Op::Epoch: return cm.epochSlot;
  case Op::Step: return cm.stepSlot;
  case Op::RandomKey: return cm.randomKeySlot;
  default: return -1;
  }
}

std::map<NodeId, int> EntryPoints::leafSlots(const Graph& g, const CompiledModel& cm) const {
  std::map<NodeId, int> slots;
  for (NodeId n = 0; n < g.size(); ++n)
    if (opKind(g.op(n)) == OpKind::Leaf && g.op(n) != Op::Constant && g.op(n) != Op::BatchSize &&
        g.op(n) != Op::ConstantTensor)
      slots[n] = slotOfLeaf(g, n, cm);
  return slots;
}

namespace {

class EntryPointBuilder {
public:
  EntryPointBuilder(CompiledModel& cm, const CompileOptions& opt, DiagnosticEngine& diags)
      : cm_(cm), opt_(opt), diags_(diags), b_(cm.model.graph), inMode_(cm.model.graph) {}

  std::optional<EntryPoints> build() {
    Model& m = cm_.model;
    makeSlots();
    std::vector<NodeId> params;
    for (const ParamInfo& p : m.params) params.push_back(p.node);
    // The train step differentiates the loss as it trains (dropout on), a
    // gradient check as evaluate computes it with gradients (see Mode::check).
    if (m.loss != kNoNode && opt_.trainStep) {
      std::vector<NodeId> grads = differentiate(b_, inMode_(m.loss, Mode::train()), params, diags_, opt_.faultyGradient);
      if (diags_.hasErrors()) return std::nullopt;
      addTrainStep(grads);
    }
    if (opt_.evaluate) addEvaluate();
    if (opt_.predict && m.output)
      ep_.functions.push_back(
          {"nnjit_predict", &CompiledModel::predict, {{root(m.output->node, Mode::eval()), cm_.outputSlot}}, {}});
    if (m.loss != kNoNode && opt_.gradients) {
      std::vector<NodeId> grads = differentiate(b_, inMode_(m.loss, Mode::check()), params, diags_, opt_.faultyGradient);
      if (diags_.hasErrors()) return std::nullopt;
      addGradients(grads);
    }
    ep_.program.graph = m.graph;  // passes rebuild this copy; the model keeps its own
    return std::move(ep_);
  }

private:
  int slot(std::string name, SlotKind kind, Shape shape) { return addSlot(cm_, ep_, std::move(name), kind, std::move(shape)); }

  void makeSlots() {
    Model& m = cm_.model;
    for (const ParamInfo& p : m.params) cm_.paramSlots.push_back(slot(p.name, SlotKind::Param, p.shape));
    for (const ModelState& s : m.states) {
      cm_.states.push_back(StateTensor{s.name, s.leaf, s.shape, s.initial});
      cm_.stateSlots.push_back(slot(s.name, SlotKind::State, s.shape));
    }
    for (const InputInfo& in : m.inputs) cm_.inputSlots.push_back(slot(in.name, SlotKind::Input, in.shape));
    cm_.epochSlot = slot("epoch", SlotKind::Epoch, {});
    cm_.stepSlot = slot("step", SlotKind::Step, {});
    cm_.randomKeySlot = slot("random_key", SlotKind::RandomKey, {});
    cm_.lossSlot = slot("loss", SlotKind::Loss, {});
    // One sweep for all metrics: a walk per metric was quadratic in their number.
    std::vector<bool> readsInputs(m.graph.size(), false);
    for (NodeId n = 0; n < m.graph.size(); ++n) readsInputs[n] = m.graph.op(n) == Op::Input || m.graph.op(n) == Op::BatchSize;
    readsInputs = dependentsOf(m.graph, std::move(readsInputs));
    for (const NamedValue& mv : m.metrics) {
      cm_.metricSlots.push_back(slot(mv.name, SlotKind::Metric, {}));
      cm_.metricReadsInputs.push_back(readsInputs[mv.node]);
    }
    if (m.output) {
      cm_.outputSlot = slot(m.output->name, SlotKind::Output, m.graph.shape(m.output->node));
      std::vector<bool> live = reachableFrom(m.graph, {m.output->node});
      for (const InputInfo& in : m.inputs) cm_.outputReadsInput.push_back(live[in.node]);
    }
    if (m.loss != kNoNode) {
      std::vector<bool> live = reachableFrom(m.graph, {m.loss});
      for (const ParamInfo& p : m.params) cm_.lossReadsParam.push_back(live[p.node]);
    }
  }

  /// `n` as the function computes it: for training, evaluation or a check.
  size_t root(NodeId n, Mode mode) { return ep_.program.addRoot(inMode_(n, mode)); }
  /// Evaluation computes what a gradient check differentiates when the
  /// gradients are compiled with it (the differences of `check`).
  Mode evalMode() const { return opt_.gradients ? Mode::check() : Mode::eval(); }

  void addTrainStep(const std::vector<NodeId>& grads) {
    Model& m = cm_.model;
    UpdatePlan plan = buildOptimizerUpdates(b_, m, grads);
    cm_.states.insert(cm_.states.end(), plan.states.begin(), plan.states.end());
    for (const StateTensor& s : plan.states) cm_.stateSlots.push_back(slot(s.name, SlotKind::State, s.shape));
    EntryPoint f{"nnjit_train_step", &CompiledModel::trainStep, {{root(m.loss, Mode::train()), cm_.lossSlot}}, {}};
    EntryPoint after{"nnjit_param_metrics", &CompiledModel::paramMetrics, {}, {}};
    for (size_t i = 0; i < m.metrics.size(); ++i) {
      bool perBatch = cm_.metricReadsInputs[i];
      (perBatch ? f : after).outputs.push_back({root(m.metrics[i].node, perBatch ? Mode::train() : Mode::eval()),
                                               cm_.metricSlots[i]});
    }
    for (const Update& u : plan.updates)
      f.assigns.push_back({root(u.value, Mode::train()), ep_.slotOfLeaf(m.graph, u.target, cm_)});
    for (const ModelState& s : m.states)
      f.assigns.push_back({root(s.update, Mode::train()), ep_.slotOfLeaf(m.graph, s.leaf, cm_)});
    ep_.functions.push_back(std::move(f));
    if (!after.outputs.empty()) ep_.functions.push_back(std::move(after));
  }

  void addEvaluate() {
    Model& m = cm_.model;
    EntryPoint f{"nnjit_eval", &CompiledModel::evaluate, {}, {}};
    if (m.loss != kNoNode) f.outputs.push_back({root(m.loss, evalMode()), cm_.lossSlot});
    for (size_t i = 0; i < m.metrics.size(); ++i)
      f.outputs.push_back({root(m.metrics[i].node, evalMode()), cm_.metricSlots[i]});
    ep_.functions.push_back(std::move(f));
  }

  void addGradients(const std::vector<NodeId>& grads) {
    Model& m = cm_.model;
    EntryPoint f{"nnjit_gradients", &CompiledModel::gradients, {{root(m.loss, Mode::check()), cm_.lossSlot}}, {}};
    for (size_t i = 0; i < grads.size(); ++i) {
      cm_.gradientSlots.push_back(slot("grad." + m.params[i].name, SlotKind::Gradient, m.params[i].shape));
      f.outputs.push_back({root(grads[i], Mode::check()), cm_.gradientSlots.back()});
    }
    ep_.functions.push_back(std::move(f));
  }

  CompiledModel& cm_;
  const CompileOptions& opt_;
  DiagnosticEngine& diags_;
  Builder b_;
  ModeSpecializer inMode_;
  EntryPoints ep_;
};

} // namespace

std::optional<EntryPoints> buildEntryPoints(CompiledModel& cm, const CompileOptions& options, DiagnosticEngine& diags) {
  return EntryPointBuilder(cm, options, diags).build();
}

} // namespace nnjit
