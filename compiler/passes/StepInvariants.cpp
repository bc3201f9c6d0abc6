// StepInvariants: what every chunk of a train step would compute from the params alone
// (a weight's transpose for the backward product), computed once a step instead.
#include "StepInvariants.h"

#include "../Builder.h"
#include "../RowSplit.h"

#include <algorithm>
#include <string>

namespace nnjit {
namespace {

using Dep = RowDependence;

/// Below this much work (elements computed or moved) a value costs its
/// chunks less than a slot of its own.
constexpr int64_t kMinElements = 256;

/// Ops that only look at their input's elements in another shape: a chunk's
/// kernel reads through them in place, where a slot would hold a copy.
bool isView(Op op) { return op == Op::Reshape || op == Op::Slice || op == Op::Broadcast; }

/// The row-independent values that a value computed from the rows reads, found
/// from its input `n`: under views, the values they look at; a value worth
/// computing once when the work of the largest op beneath it (the value
/// itself, or an exp inside a sum) reaches kMinElements.
class Frontier {
public:
  /// One forward sweep (creation order is topological): no recursion down a
  /// chain as long as the model.
  explicit Frontier(const Graph& g) : g_(g), workBelow_(g.size(), 0), taken_(g.size(), false) {
    for (NodeId n = 0; n < g.size(); ++n) {
      Op op = g.op(n);
      int64_t& w = workBelow_[n];
      if (opKind(op) != OpKind::Leaf && !isView(op) && !g.shape(n).hasBatch()) w = g.shape(n).staticElements();
      for (NodeId in : g.node(n).inputs) w = std::max(w, workBelow_[in]);
    }
  }

  void add(NodeId n, std::vector<NodeId>& once) {
    std::vector<NodeId> stack{n};
    while (!stack.empty()) {
      NodeId v = stack.back();
      stack.pop_back();
      Op op = g_.op(v);
      if (opKind(op) == OpKind::Leaf || workBelow_[v] < kMinElements) continue;
      if (isView(op) || g_.shape(v).hasBatch()) {
        stack.insert(stack.end(), g_.node(v).inputs.begin(), g_.node(v).inputs.end());
        continue;
      }
      if (!taken_[v]) once.push_back(v);
      taken_[v] = true;
    }
  }

private:
  const Graph& g_;
  std::vector<int64_t> workBelow_;  // by node: the elements of the largest op at or beneath it
  std::vector<bool> taken_;         // by node: already among the values computed once
};

} // namespace

void hoistStepInvariants(EntryPoints& ep, CompiledModel& cm) {
  auto rows = std::find_if(ep.functions.begin(), ep.functions.end(),
                           [](const EntryPoint& f) { return f.entry == &CompiledModel::trainRows; });
  if (rows == ep.functions.end()) return;
  Program& p = ep.program;
  std::vector<size_t> rootIndices;
  for (const auto& [root, slot] : rows->outputs) rootIndices.push_back(root);
  for (const auto& [root, slot] : rows->assigns) rootIndices.push_back(root);
  std::vector<NodeId> roots;
  for (size_t r : rootIndices) roots.push_back(p.roots[r]);

  // The frontier: the invariant values that a value computed from the rows reads.
  std::vector<Dep> dep = rowDependence(p.graph, BatchSizeIs::Fixed);
  std::vector<bool> live = reachableFrom(p.graph, roots);
  std::vector<NodeId> once;
  Frontier frontier(p.graph);
  for (NodeId n = 0; n < p.graph.size(); ++n) {
    if (!live[n] || dep[n] == Dep::None) continue;
    for (NodeId in : p.graph.node(n).inputs)
      if (dep[in] == Dep::None) frontier.add(in, once);
  }
  if (once.empty()) return;

  EntryPoint prepare{"nnjit_train_prepare", &CompiledModel::trainPrepare, {}, {}};
  Builder b(p.graph);
  std::map<NodeId, NodeId> slotLeaf;
  for (NodeId n : once) {
    std::string name = "train.once." + std::to_string(prepare.outputs.size());
    Shape shape = p.graph.shape(n);
    int slot = addSlot(cm, ep, name, SlotKind::PerStep, shape);
    ep.slotIndex.emplace(std::pair{SlotKind::State, name}, slot);  // the chunks read it as a State leaf
    prepare.outputs.push_back({p.addRoot(n), slot});
    Attrs attrs;
    attrs.name = name;
    slotLeaf[n] = b.make(Op::State, {}, attrs, std::move(shape));
  }
  std::vector<NodeId> read = b.substitute(roots, slotLeaf);
  for (size_t i = 0; i < rootIndices.size(); ++i) p.roots[rootIndices[i]] = read[i];
  ep.functions.insert(rows, std::move(prepare));  // before the chunks, as it runs
}

} // namespace nnjit
