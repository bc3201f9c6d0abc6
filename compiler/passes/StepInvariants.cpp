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

/// Below this many elements a value costs its chunks less than a slot of its own.
constexpr int64_t kMinElements = 256;

/// Whether computing `n` takes a pass over memory a chunk would repeat: some
/// op between it and the leaves moves or computes elements (a reshape is a view).
bool doesWork(const Graph& g, NodeId n) {
  Op op = g.op(n);
  if (opKind(op) == OpKind::Leaf) return false;
  if (op != Op::Reshape) return true;
  return std::any_of(g.node(n).inputs.begin(), g.node(n).inputs.end(), [&](NodeId in) { return doesWork(g, in); });
}

/// A value read by a chunk worth computing once: it reads no rows, it is a
/// tensor of some size, and it is not a broadcast (which a chunk's kernel
/// reads in place, where a slot would hold every copy).
bool worthOnce(const Graph& g, const std::vector<Dep>& dep, NodeId n) {
  const Shape& s = g.shape(n);
  return dep[n] == Dep::None && g.op(n) != Op::Broadcast && !s.hasBatch() && s.staticElements() >= kMinElements &&
         doesWork(g, n);
}

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
  for (NodeId n = 0; n < p.graph.size(); ++n) {
    if (!live[n] || dep[n] == Dep::None) continue;
    for (NodeId in : p.graph.node(n).inputs)
      if (worthOnce(p.graph, dep, in) && std::find(once.begin(), once.end(), in) == once.end()) once.push_back(in);
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
