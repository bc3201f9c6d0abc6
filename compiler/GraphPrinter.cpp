// GraphPrinter: the graph as stable text (for golden tests) and as Graphviz dot.
#include "GraphPrinter.h"

#include <fmt/format.h>

namespace nnjit {

/// A constant tensor's values, flattened; the first 8 of a longer one.
static std::string tensorValues(const Node& n) {
  const std::vector<double>& v = n.attrs.values;
  if (v.size() <= 8) return fmt::format("[{}]", fmt::join(v, ", "));
  return fmt::format("[{}, ... {} values]", fmt::join(v.begin(), v.begin() + 8, ", "), v.size());
}

static std::string operands(const Node& n) {
  std::string out;
  const OpInfo& info = opInfo(n.op);
  if (n.op == Op::Constant) out = fmt::format(" {}", n.attrs.value);
  if (n.op == Op::ConstantTensor) out = " " + tensorValues(n);
  if (!n.attrs.name.empty()) out += fmt::format(" \"{}\"", n.attrs.name);
  for (size_t i = 0; i < n.inputs.size(); ++i) out += fmt::format("{}%{}", i ? ", " : " ", n.inputs[i]);
  if (!n.attrs.ints.empty() && info.kind != OpKind::Leaf) out += fmt::format(" {{{}}}", fmt::join(n.attrs.ints, ", "));
  if (n.op == Op::LeakyRelu) out += fmt::format(" alpha={}", n.attrs.value);
  return out;
}

std::string printNode(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  return fmt::format("%{} = {}{} : {}", id, opInfo(n.op).spelling, operands(n), n.shape.str());
}

std::string printGraph(const Graph& g, const std::vector<NodeId>& roots) {
  std::vector<bool> live = reachableFrom(g, roots);
  std::string out;
  for (NodeId i = 0; i < g.size(); ++i)
    if (live[i]) out += printNode(g, i) + "\n";
  out += "roots:";
  for (NodeId r : roots) out += fmt::format(" %{}", r);
  return out + "\n";
}

static std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

namespace {

/// What the picture draws in place of each node: layout noise is folded away
/// (print-only; the compiled graph keeps it). A reshape or broadcast to its
/// input's shape is its input, and a chain of reshapes is one reshape from
/// the chain's start (none when it ends in the start's shape).
struct Simplified {
  std::vector<NodeId> shownAs;  // the node drawn for each node
  std::vector<NodeId> source;   // a reshape's drawn input: its chain's start

  NodeId input(const Graph& g, NodeId n, NodeId in) const {
    return g.op(n) == Op::Reshape ? source[n] : shownAs[in];
  }
};

Simplified simplify(const Graph& g) {
  Simplified s{std::vector<NodeId>(g.size()), std::vector<NodeId>(g.size(), kNoNode)};
  for (NodeId i = 0; i < g.size(); ++i) {
    s.shownAs[i] = i;
    Op op = g.op(i);
    if (op != Op::Reshape && op != Op::Broadcast) continue;
    NodeId from = s.shownAs[g.node(i).inputs[0]];
    if (op == Op::Reshape && g.op(from) == Op::Reshape) from = s.source[from];
    s.source[i] = from;
    if (g.shape(from) == g.shape(i)) s.shownAs[i] = from;
  }
  return s;
}

/// The drawn nodes the drawn roots depend on, in one backward sweep.
std::vector<bool> drawnLive(const Graph& g, const Simplified& s, const std::vector<NodeId>& roots) {
  std::vector<bool> live(g.size(), false);
  for (NodeId r : roots) live[s.shownAs[r]] = true;
  for (NodeId i = g.size() - 1; i >= 0; --i)
    if (live[i])
      for (NodeId in : g.node(i).inputs) live[s.input(g, i, in)] = true;
  return live;
}

} // namespace

std::string printDot(const Graph& g, const std::vector<NodeId>& roots, const std::vector<std::string>& names,
                     const std::string& title, const DotLabels& labels) {
  Simplified simple = simplify(g);
  std::vector<bool> live = drawnLive(g, simple, roots);
  std::map<NodeId, std::string> values;
  for (const auto& [node, name] : labels.values) values.emplace(simple.shownAs[node], name);
  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
                                escape(title));
  for (NodeId i = 0; i < g.size(); ++i) {
    if (!live[i] || simple.shownAs[i] != i) continue;
    const Node& n = g.node(i);
    std::string label = opInfo(n.op).spelling;
    if (n.op == Op::Constant) label = fmt::format("{}", n.attrs.value);
    if (n.op == Op::ConstantTensor) label = tensorValues(n);
    if (!n.attrs.name.empty()) label += " " + n.attrs.name;
    if (auto name = values.find(i); name != values.end()) label = name->second + " = " + label;
    label = escape(label) + "\\n" + n.shape.str();
    if (n.loc.line) label += fmt::format("\\nline {}", n.loc.line);
    std::string style = opKind(n.op) == OpKind::Leaf ? ", style=rounded" : "";
    if (labels.firstGradient >= 0 && i >= labels.firstGradient)
      style = opKind(n.op) == OpKind::Leaf ? ", style=\"rounded,dashed\", color=blue" : ", style=dashed, color=blue";
    out += fmt::format("  n{} [label=\"{}\"{}];\n", i, label, style);
    for (NodeId in : n.inputs) out += fmt::format("  n{} -> n{};\n", simple.input(g, i, in), i);
  }
  for (size_t r = 0; r < roots.size() && r < names.size(); ++r)
    out += fmt::format("  r{} [label=\"{}\", shape=ellipse];\n  n{} -> r{};\n", r, escape(names[r]),
                       simple.shownAs[roots[r]], r);
  return out + "}\n";
}

} // namespace nnjit
