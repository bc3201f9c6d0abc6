// Verify: the graph's invariants, checked between passes so that a broken pass is caught where it broke.
#include "Verify.h"

#include "../ShapeRules.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace nnjit {
namespace {

/// How many attrs.ints the op reads by index (ShapeRules and CodeGen index them).
size_t intsRead(Op op) {
  switch (op) {
  case Op::Concat:
  case Op::OneHot:
  case Op::Dropout:
  case Op::Mode: return 1;
  case Op::Slice: return 2;
  case Op::Patches:
  case Op::Unpatch: return 6;
  case Op::Tiles:
  case Op::Untile: return 5;
  default: return 0;
  }
}

bool isNamedLeaf(Op op) { return op == Op::Input || op == Op::Param || op == Op::State; }

std::string describe(const Graph& g, NodeId n) {
  const Node& node = g.node(n);
  return fmt::format("%{} ({} {})", n, opInfo(node.op).spelling, node.shape.str());
}

std::string verifyNode(const Graph& g, NodeId n) {
  const Node& node = g.node(n);
  const OpInfo& info = opInfo(node.op);
  if (static_cast<int>(node.inputs.size()) != info.arity)
    return fmt::format("{} has {} inputs; {} takes {}", describe(g, n), node.inputs.size(), info.spelling, info.arity);
  for (NodeId in : node.inputs)
    if (in < 0 || in >= n) return fmt::format("{} reads %{}, which is not an earlier node", describe(g, n), in);
  if (node.attrs.ints.size() < intsRead(node.op))
    return fmt::format("{} has {} integer attributes; it needs {}", describe(g, n), node.attrs.ints.size(),
                       intsRead(node.op));
  if (isNamedLeaf(node.op) && node.attrs.name.empty()) return fmt::format("{} has no name", describe(g, n));
  std::vector<const Shape*> shapes;
  for (NodeId in : node.inputs) shapes.push_back(&g.shape(in));
  Shape inferred = node.shape;  // leaves, broadcasts and reshapes check the shape they hold
  std::string why = inferShape(node.op, shapes, node.attrs, inferred);
  if (!why.empty()) return fmt::format("{}: {}", describe(g, n), why);
  if (inferred != node.shape)
    return fmt::format("{} holds shape {}, but its inputs give {}", describe(g, n), node.shape.str(), inferred.str());
  return "";
}

} // namespace

std::string verifyGraph(const Graph& g, const std::vector<NodeId>& roots) {
  for (NodeId n = 0; n < g.size(); ++n)
    if (std::string why = verifyNode(g, n); !why.empty()) return why;
  for (size_t i = 0; i < roots.size(); ++i)
    if (roots[i] < 0 || roots[i] >= g.size())
      return fmt::format("root {} is %{}, not a node of the graph's {}", i, roots[i], g.size());
  return "";
}

bool verifyGraphsByDefault() {
#ifndef NDEBUG
  return true;
#else
  const char* flag = std::getenv("NNJIT_VERIFY");
  return flag && std::strcmp(flag, "1") == 0;
#endif
}

} // namespace nnjit
