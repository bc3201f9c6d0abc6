// EntryPoints: what each generated function computes — its slots, its roots, the loss's gradients and the updates.
#include "EntryPoints.h"

#include "Autodiff.h"
#include "Builder.h"
#include "InternalError.h"
#include "OptimizerRules.h"
#include "RowSplit.h"
#include "TrainingMode.h"

#include <algorithm>

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

/// Rows per chunk of the train step: a property of the model, never of the
/// threads or processes. Each chunk writes its own copy of the sums (about
/// the params, for the gradients) and the tree reads them all back, so sums
/// that outgrow the caches (over 65,536 elements, 256 KB in float32) take
/// longer chunks: half the copies to write and add.
int64_t trainChunkRows(int64_t sumElements) {
  return sumElements > (1 << 16) ? 64 : 32;
}

class EntryPointBuilder {
public:
  EntryPointBuilder(Model& model, CompiledModel& cm, const CompileOptions& opt, DiagnosticEngine& diags)
      : m_(model), cm_(cm), opt_(opt), diags_(diags), b_(model.graph), inMode_(model.graph) {}

  std::optional<EntryPoints> build() {
    const Model& m = m_;
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
    if (opt_.predict && m.output) {
      NodeId output = inMode_(m.output->node, Mode::eval());
      cm_.predictPerRow = computedPerRow(b_.graph(), output);
      ep_.functions.push_back({"nnjit_predict", &CompiledModel::predict, {{ep_.program.addRoot(output), cm_.outputSlot}}, {}});
    }
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
    const Model& m = m_;
    for (const ParamInfo& p : m.params) cm_.paramSlots.push_back(slot(p.name, SlotKind::Param, p.shape));
    for (const ModelState& s : m.states) {
      cm_.states.push_back(s);
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
    const Model& m = m_;
    UpdatePlan plan = buildOptimizerUpdates(b_, m, grads);
    cm_.states.insert(cm_.states.end(), plan.states.begin(), plan.states.end());
    for (const StateTensor& s : plan.states) cm_.stateSlots.push_back(slot(s.name, SlotKind::State, s.shape));
    StepValues step;
    step.outputs.push_back({inMode_(m.loss, Mode::train()), cm_.lossSlot});
    std::vector<std::pair<NodeId, int>> paramMetrics;  // computed once an epoch, from the params alone
    for (size_t i = 0; i < m.metrics.size(); ++i) {
      if (cm_.metricReadsInputs[i]) step.outputs.push_back({inMode_(m.metrics[i].node, Mode::train()), cm_.metricSlots[i]});
      else paramMetrics.push_back({inMode_(m.metrics[i].node, Mode::eval()), cm_.metricSlots[i]});
    }
    for (const Update& u : plan.updates)
      step.assigns.push_back({inMode_(u.value, Mode::train()), ep_.slotOfLeaf(m.graph, u.target, cm_)});
    for (const ModelState& s : m.states)
      step.assigns.push_back({inMode_(s.update, Mode::train()), ep_.slotOfLeaf(m.graph, s.leaf, cm_)});
    if (!addTrainStepByChunks(step)) {
      EntryPoint f{"nnjit_train_step", &CompiledModel::trainStep, {}, {}};
      f.finiteGuardSlot = cm_.lossSlot;  // a step whose loss is not finite leaves params and state as they were
      for (const auto& [n, s] : step.outputs) f.outputs.push_back({ep_.program.addRoot(n), s});
      for (const auto& [n, s] : step.assigns) f.assigns.push_back({ep_.program.addRoot(n), s});
      ep_.functions.push_back(std::move(f));
    }
    if (paramMetrics.empty()) return;
    EntryPoint after{"nnjit_param_metrics", &CompiledModel::paramMetrics, {}, {}};
    for (const auto& [n, s] : paramMetrics) after.outputs.push_back({ep_.program.addRoot(n), s});
    ep_.functions.push_back(std::move(after));
  }

  /// What a train step computes: values copied out (the loss first, then
  /// per-batch metrics) and values assigned to params and state.
  struct StepValues {
    std::vector<std::pair<NodeId, int>> outputs, assigns;
  };

  /// The train step in chunks of rows (docs/language.md, "Threads and
  /// processes: the same bits"), when everything it
  /// computes reads the rows only through sums over the batch: `nnjit_train_rows`
  /// computes one chunk's sums (a weight's gradient is a sum over the rows),
  /// the runtime adds the chunks' sums in a fixed tree, and
  /// `nnjit_train_finish` computes the loss, the metrics and the update from
  /// them. The batch's size is a slot, so that every chunk divides by all the rows.
  bool addTrainStepByChunks(const StepValues& step) {
    std::vector<NodeId> roots;
    for (const auto& [n, s] : step.outputs) roots.push_back(n);
    for (const auto& [n, s] : step.assigns) roots.push_back(n);
    std::optional<std::vector<NodeId>> sums = batchSums(b_.graph(), roots, BatchSizeIs::Fixed);
    if (!sums) return false;
    // Every chunk reads the whole batch's size from a slot, not its own rows.
    cm_.batchSizeSlot = slot("train.batch_size", SlotKind::BatchSize, {});
    ep_.slotIndex.emplace(std::pair{SlotKind::State, "train.batch_size"}, cm_.batchSizeSlot);
    NodeId size = leaf("train.batch_size", {});
    std::map<NodeId, NodeId> replaced;
    const Graph& g = b_.graph();
    for (NodeId n = 0; n < g.size(); ++n)
      if (g.op(n) == Op::BatchSize) replaced[n] = size;
    size_t count = sums->size();
    roots.insert(roots.begin(), sums->begin(), sums->end());
    roots = b_.substitute(roots, replaced);
    sums->assign(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(count));
    roots.erase(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(count));
    int64_t sumElements = 0;
    for (NodeId sum : *sums) sumElements += b_.shape(sum).staticElements();
    cm_.trainChunkRows = trainChunkRows(sumElements);
    EntryPoint rows{"nnjit_train_rows", &CompiledModel::trainRows, {}, {}};
    EntryPoint finish{"nnjit_train_finish", &CompiledModel::trainFinish, {}, {}};
    finish.finiteGuardSlot = cm_.lossSlot;
    std::map<NodeId, NodeId> sumOf;
    for (NodeId sum : *sums) {
      std::string name = "train.sum." + std::to_string(cm_.trainSumSlots.size());
      int s = slot(name, SlotKind::Accumulator, b_.shape(sum));
      cm_.trainSumSlots.push_back(s);
      rows.outputs.push_back({ep_.program.addRoot(sum), s});
      ep_.slotIndex.emplace(std::pair{SlotKind::State, name}, s);
      sumOf[sum] = leaf(name, b_.shape(sum));
    }
    std::vector<NodeId> read = b_.substitute(roots, sumOf);
    size_t i = 0;
    for (const auto& [n, s] : step.outputs) finish.outputs.push_back({ep_.program.addRoot(read[i++]), s});
    for (const auto& [n, s] : step.assigns) finish.assigns.push_back({ep_.program.addRoot(read[i++]), s});
    ep_.functions.push_back(std::move(rows));
    ep_.functions.push_back(std::move(finish));
    return true;
  }

  /// A value the functions read from a slot named `name`, as they read state
  /// (the slot is registered under that name as a State).
  NodeId leaf(const std::string& name, Shape shape) {
    Attrs attrs;
    attrs.name = name;
    return b_.make(Op::State, {}, attrs, std::move(shape));
  }

  void addEvaluate() {
    const Model& m = m_;
    std::vector<std::pair<NodeId, int>> values;  // in evaluation's mode -> the slot it goes to
    if (m.loss != kNoNode) values.push_back({inMode_(m.loss, evalMode()), cm_.lossSlot});
    for (size_t i = 0; i < m.metrics.size(); ++i) values.push_back({inMode_(m.metrics[i].node, evalMode()), cm_.metricSlots[i]});
    if (addEvaluateByChunks(values)) return;
    EntryPoint f{"nnjit_eval", &CompiledModel::evaluate, {}, {}};
    for (const auto& [n, slot] : values) f.outputs.push_back({ep_.program.addRoot(n), slot});
    ep_.functions.push_back(std::move(f));
  }

  /// Evaluation in chunks of rows, for values that read the rows only through
  /// sums over the batch (RowSplit.h): `nnjit_eval_rows` adds a chunk's sums
  /// into accumulator slots, `nnjit_eval_finish` computes the values from them.
  bool addEvaluateByChunks(const std::vector<std::pair<NodeId, int>>& values) {
    std::vector<NodeId> roots;
    for (const auto& [n, slot] : values) roots.push_back(n);
    std::optional<std::vector<NodeId>> sums = batchSums(b_.graph(), roots);
    if (!sums) return false;
    EntryPoint rows{"nnjit_eval_rows", &CompiledModel::evalRows, {}, {}};
    EntryPoint finish{"nnjit_eval_finish", &CompiledModel::evalFinish, {}, {}};
    std::map<NodeId, NodeId> accumulatorOf;
    for (NodeId sum : *sums) {
      std::string name = "eval.sum." + std::to_string(cm_.accumulatorSlots.size());
      int s = slot(name, SlotKind::Accumulator, b_.shape(sum));
      cm_.accumulatorSlots.push_back(s);
      ep_.slotIndex.emplace(std::pair{SlotKind::State, name}, s);  // the functions read it as a State leaf
      NodeId acc = leaf(name, b_.shape(sum));
      rows.assigns.push_back({ep_.program.addRoot(b_.add(acc, sum)), s});
      accumulatorOf[sum] = acc;
    }
    std::vector<NodeId> read = b_.substitute(roots, accumulatorOf);
    for (size_t i = 0; i < values.size(); ++i) finish.outputs.push_back({ep_.program.addRoot(read[i]), values[i].second});
    ep_.functions.push_back(std::move(rows));
    ep_.functions.push_back(std::move(finish));
    return true;
  }

  void addGradients(const std::vector<NodeId>& grads) {
    const Model& m = m_;
    EntryPoint f{"nnjit_gradients", &CompiledModel::gradients, {{root(m.loss, Mode::check()), cm_.lossSlot}}, {}};
    for (size_t i = 0; i < grads.size(); ++i) {
      cm_.gradientSlots.push_back(slot("grad." + m.params[i].name, SlotKind::Gradient, m.params[i].shape));
      f.outputs.push_back({root(grads[i], Mode::check()), cm_.gradientSlots.back()});
    }
    ep_.functions.push_back(std::move(f));
  }

  Model& m_;  // its graph grows by the gradients and the entry points' roots
  CompiledModel& cm_;
  const CompileOptions& opt_;
  DiagnosticEngine& diags_;
  Builder b_;
  ModeSpecializer inMode_;
  EntryPoints ep_;
};

} // namespace

std::optional<EntryPoints> buildEntryPoints(Model& model, CompiledModel& cm, const CompileOptions& options,
                                            DiagnosticEngine& diags) {
  return EntryPointBuilder(model, cm, options, diags).build();
}

} // namespace nnjit
