// EntryPoints: what each generated function computes — its slots, its roots, the loss's gradients and the updates.
#pragma once

#include "Compiler.h"
#include "Program.h"

#include <map>

namespace nnjit {

/// One function to generate, wired to slots by the roots' indices into the
/// Program (indices stay valid while passes rebuild the graph).
struct EntryPoint {
  std::string name;
  EntryFn CompiledModel::*entry;
  std::vector<std::pair<size_t, int>> outputs;  // program root -> slot it is copied to
  std::vector<std::pair<size_t, int>> assigns;  // program root -> param or state slot it updates
  int finiteGuardSlot = -1;  // the assigns run only when this scalar slot is finite (-1: always)
};

/// The functions of one compile, over one Program holding all their roots.
struct EntryPoints {
  Program program;
  std::vector<EntryPoint> functions;
  std::map<std::pair<SlotKind, std::string>, int> slotIndex;  // the first slot of a name

  /// The slot of every leaf of `g` that lives in a slot (params, state,
  /// inputs, counters); constants and the batch size do not.
  std::map<NodeId, int> leafSlots(const Graph& g, const CompiledModel& cm) const;
  int slotOfLeaf(const Graph& g, NodeId leaf, const CompiledModel& cm) const;
};

/// Adds a slot to `cm`'s table.
int addSlot(CompiledModel& cm, EntryPoints& ep, std::string name, SlotKind kind, Shape shape);

/// Lays out `cm`'s slots and builds, in `model`'s graph, the roots of the entry points `options`
/// asks for: the train step (the loss differentiated in training mode, the
/// optimizer's updates, state updates), evaluation, predict, gradients.
/// Nothing when differentiating failed (the reason is in `diags`).
std::optional<EntryPoints> buildEntryPoints(Model& model, CompiledModel& cm, const CompileOptions& options,
                                            DiagnosticEngine& diags);

} // namespace nnjit
