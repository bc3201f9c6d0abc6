// SchedulePrinter: each function's kernels, their buffers and the memory plan as text (show --emit schedule).
#include "SchedulePrinter.h"

#include "GraphPrinter.h"
#include "UpdateGroup.h"

#include <fmt/format.h>

namespace nnjit {
namespace {

std::string reads(const std::vector<NodeId>& buffers) {
  std::vector<std::string> names;
  for (NodeId n : buffers) names.push_back(fmt::format("%{}", n));
  return names.empty() ? "nothing" : fmt::format("{}", fmt::join(names, " "));
}

/// Where kernel `n`'s value lives once computed.
std::string home(const FunctionCode& fc, NodeId n, const std::vector<Slot>& slots) {
  if (auto it = fc.writesToSlot.find(n); it != fc.writesToSlot.end())
    return "slot " + slots[it->second].name + (fc.inPlace.count(n) ? " (updated in place)" : "");
  auto it = fc.memory.buffers.find(n);
  if (it == fc.memory.buffers.end()) return "no buffer";
  return it->second.perRow ? fmt::format("arena at {} + {}*batch", fc.memory.staticSize, it->second.offset)
                           : fmt::format("arena at {}", it->second.offset);
}

std::string printFunction(const CodeGenInput& in, const FunctionCode& fc, const std::vector<Slot>& slots) {
  const Graph& g = *in.graph;
  std::string out = fmt::format("function {}\n", fc.name);
  const Schedule& s = fc.schedule;
  std::vector<bool> together = updateGroup(in, fc, kernelCalls(in, fc));  // the kernels' calls come first
  bool toldTogether = false;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    if (static_cast<int>(k) == fc.guardBeforeKernel) out += "  guard: the rest runs only when the loss is finite\n";
    if (together[k] && !toldTogether) {
      out += "  the updates marked 'together' run as one job: each thread takes a share of every one's rows\n";
      toldTogether = true;
    }
    NodeId n = s.kernels[k];
    out += fmt::format("  kernel {}\n    reads {}; result in {}", printNode(g, n), reads(s.reads[k]), home(fc, n, slots));
    if (NodeId rows = s.rowsScratch[n]; rows != kNoNode)
      out += fmt::format("; in the rows of %{}, with %{} kept row group by row group", s.epilogueOf[n], rows);
    else if (NodeId mm = s.epilogueOf[n]; mm != kNoNode) out += fmt::format("; in the tile of %{}", mm);
    if (auto also = fc.alsoStores.find(n); also != fc.alsoStores.end())
      for (NodeId a : also->second) out += fmt::format("; also stores %{} in {}", a, home(fc, a, slots));
    if (together[k]) out += "; together";
    out += "\n";
  }
  for (const auto& [n, slot] : fc.copies) out += fmt::format("  copy %{} -> slot {}\n", n, slots[slot].name);
  for (const auto& [n, slot] : fc.assigns)
    out += fmt::format("  update slot {} <- %{}\n", slots[slot].name, n);
  if (fc.finiteGuardSlot >= 0 && !fc.assigns.empty() && fc.guardBeforeKernel < 0)
    out += fmt::format("  (updates run only when slot {} is finite)\n", slots[fc.finiteGuardSlot].name);
  out += fmt::format("  arena: {} + {}*batch elements\n", fc.memory.staticSize, fc.memory.rowSize);
  return out;
}

} // namespace

std::string printSchedule(const CodeGenInput& in, const std::vector<Slot>& slots) {
  std::string out;
  for (const FunctionCode& fc : in.functions) out += (out.empty() ? "" : "\n") + printFunction(in, fc, slots);
  return out;
}

} // namespace nnjit
