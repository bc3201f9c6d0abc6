// GraphPrinter: the graph as stable text (for golden tests) and as Graphviz dot.
#include "GraphPrinter.h"

#include <fmt/format.h>

#include <set>

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

namespace {

/// How a picture draws the builtin and fn calls: only calls that made more
/// than one drawn node (a call of one op, like relu, is that op's box
/// already); collapsed, each outermost such call is one box in place of all
/// its nodes; expanded, each is a cluster, nested as the calls are.
class CallLayout {
public:
  /// `inputOf(n, in)` is the drawn node an arrow from input `in` of `n` starts at.
  template <typename InputOf>
  CallLayout(const Graph& g, const std::vector<bool>& drawn, bool expand, InputOf inputOf)
      : g_(g), expand_(expand), call_(g.size(), -1) {
    for (NodeId i = 0; i < g.size(); ++i) call_[i] = g.node(i).call;
    // A leaf a call made (the batch size of `mean`) that hash-consing shares
    // with what is outside the call is drawn outside: as the call's, it would
    // draw an arrow out of the call that its result does not take.
    for (NodeId i = 0; i < g.size(); ++i)
      if (drawn[i])
        for (NodeId in : g.node(i).inputs) {
          NodeId from = inputOf(i, in);
          if (opKind(g.op(from)) == OpKind::Leaf && !within(g.node(i).call, call_[from])) call_[from] = -1;
        }
    std::vector<int> nodes(g.calls().size(), 0);
    for (NodeId i = 0; i < g.size(); ++i)
      if (drawn[i])
        for (int32_t c = call_[i]; c >= 0; c = g.calls()[c].parent) ++nodes[c];
    shown_.resize(nodes.size());
    for (size_t c = 0; c < nodes.size(); ++c) shown_[c] = nodes[c] > 1;
  }
  /// The call node `n` is drawn in (before calls of one node are left out).
  int32_t callOf(NodeId n) const { return call_[n]; }

  /// The innermost shown call around `call` (itself included), or -1.
  int32_t shownAround(int32_t call) const {
    while (call >= 0 && !shown_[call]) call = g_.calls()[call].parent;
    return call;
  }
  /// What an edge to or from node `n` attaches to: its box, or its collapsed call's.
  std::string id(NodeId n) const {
    int32_t box = collapsedInto(n);
    return box >= 0 ? fmt::format("c{}", box) : fmt::format("n{}", n);
  }
  /// The outermost shown call holding `n` when calls are collapsed (-1: none).
  int32_t collapsedInto(NodeId n) const {
    if (expand_) return -1;
    int32_t outermost = -1;
    for (int32_t c = shownAround(call_[n]); c >= 0; c = shownAround(g_.calls()[c].parent)) outermost = c;
    return outermost;
  }
  bool expand() const { return expand_; }

private:
  /// Whether call `inner` is `outer` or inside it (everything is inside -1).
  bool within(int32_t inner, int32_t outer) const {
    for (; inner >= 0; inner = g_.calls()[inner].parent)
      if (inner == outer) return true;
    return outer < 0;
  }

  const Graph& g_;
  bool expand_;
  std::vector<int32_t> call_;
  std::vector<bool> shown_;
};

std::string callTitle(const CallSite& c) { return c.loc.line ? fmt::format("{}, line {}", c.name, c.loc.line) : c.name; }

/// One picture being written: the labels of nodes and collapsed calls, and
/// the clusters of an expanded one.
class Picture {
public:
  Picture(const Graph& g, const std::vector<NodeId>& roots, const DotLabels& labels)
      : g_(g), labels_(labels), simple_(simplify(g)), live_(drawnLive(g, simple_, roots)),
        calls_(g, shownOnly(), labels.expandCalls, [this](NodeId n, NodeId in) { return simple_.input(g_, n, in); }) {
    for (const auto& [node, name] : labels.values) values_.emplace(simple_.shownAs[node], name);
  }

  /// Every drawn node (or its call's box) with the arrows into it; expanded,
  /// the clusters, then the arrows.
  std::string body() {
    std::string out, edges;
    std::vector<bool> boxed(g_.calls().size(), false);
    std::vector<std::string> clusterNodes(g_.calls().size());
    for (NodeId i = 0; i < g_.size(); ++i) {
      if (!live_[i]) continue;
      int32_t box = calls_.collapsedInto(i);
      if (box >= 0 && !boxed[box]) out += boxLine(box), boxed[box] = true;
      int32_t cluster = calls_.expand() ? calls_.shownAround(calls_.callOf(i)) : -1;
      if (box < 0) (cluster >= 0 ? clusterNodes[cluster] : out) += nodeLine(i);
      arrowsInto(i, calls_.expand() ? edges : out);
    }
    if (calls_.expand()) out += clusters(clusterNodes) + edges;
    return out;
  }

  /// What an arrow from root `root` starts at.
  std::string rootId(NodeId root) const { return calls_.id(simple_.shownAs[root]); }

private:
  const std::vector<bool>& shownOnly() {
    for (NodeId i = 0; i < g_.size(); ++i) live_[i] = live_[i] && simple_.shownAs[i] == i;
    return live_;
  }

  std::string nodeLine(NodeId i) const {
    const Node& n = g_.node(i);
    std::string label = opInfo(n.op).spelling;
    if (n.op == Op::Constant) label = fmt::format("{}", n.attrs.value);
    if (n.op == Op::ConstantTensor) label = tensorValues(n);
    if (!n.attrs.name.empty()) label += " " + n.attrs.name;
    if (auto name = values_.find(i); name != values_.end()) label = name->second + " = " + label;
    label = escape(label) + "\\n" + n.shape.str();
    if (n.loc.line) label += fmt::format("\\nline {}", n.loc.line);
    std::string style = opKind(n.op) == OpKind::Leaf ? ", style=rounded" : "";
    if (labels_.firstGradient >= 0 && i >= labels_.firstGradient)
      style = opKind(n.op) == OpKind::Leaf ? ", style=\"rounded,dashed\", color=blue" : ", style=dashed, color=blue";
    return fmt::format("  n{} [label=\"{}\"{}];\n", i, label, style);
  }

  /// A collapsed call: its name, its result's value name and shape, the call's line.
  std::string boxLine(int32_t c) const {
    const CallSite& call = g_.calls()[c];
    std::string label = call.name;
    NodeId result = call.result == kNoNode ? kNoNode : simple_.shownAs[call.result];
    if (auto name = values_.find(result); result != kNoNode && name != values_.end()) label = name->second + " = " + label;
    label = escape(label);
    if (result != kNoNode) label += "\\n" + g_.shape(result).str();
    if (call.loc.line) label += fmt::format("\\nline {}", call.loc.line);
    return fmt::format("  c{} [label=\"{}\", shape=box3d];\n", c, label);
  }

  /// The arrows into node `i` (or into its call's box, once from each source).
  void arrowsInto(NodeId i, std::string& out) {
    for (NodeId in : g_.node(i).inputs) {
      NodeId from = simple_.input(g_, i, in);
      std::pair<std::string, std::string> e{calls_.id(from), calls_.id(i)};
      // An operand read twice (x * x) is two arrows.
      bool boxes = calls_.collapsedInto(from) >= 0 || calls_.collapsedInto(i) >= 0;
      if (e.first != e.second && (!boxes || boxArrows_.insert(e).second)) out += fmt::format("  {} -> {};\n", e.first, e.second);
    }
  }

  /// Inner clusters first (a call's index is above its parent's), so that
  /// each is written into its parent's text; then the outermost in order.
  std::string clusters(std::vector<std::string>& nodes) const {
    std::vector<std::string> outermost(g_.calls().size());
    for (int32_t c = static_cast<int32_t>(g_.calls().size()) - 1; c >= 0; --c) {
      if (nodes[c].empty()) continue;
      std::string text = fmt::format("  subgraph cluster_{} {{\n  label=\"{}\";\n  style=rounded;\n  color=gray50;\n{}  }}\n", c,
                                     escape(callTitle(g_.calls()[c])), nodes[c]);
      int32_t parent = calls_.shownAround(g_.calls()[c].parent);
      (parent >= 0 ? nodes[parent] : outermost[c]) += text;
    }
    std::string out;
    for (const std::string& text : outermost) out += text;
    return out;
  }

  const Graph& g_;
  const DotLabels& labels_;
  Simplified simple_;
  std::vector<bool> live_;  // drawn: live and shown as itself
  CallLayout calls_;
  std::map<NodeId, std::string> values_;
  std::set<std::pair<std::string, std::string>> boxArrows_;
};

} // namespace

std::string printDot(const Graph& g, const std::vector<NodeId>& roots, const std::vector<std::string>& names,
                     const std::string& title, const DotLabels& labels) {
  Picture picture(g, roots, labels);
  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
                                escape(title));
  out += picture.body();
  for (size_t r = 0; r < roots.size() && r < names.size(); ++r)
    out += fmt::format("  r{} [label=\"{}\", shape=ellipse];\n  {} -> r{};\n", r, escape(names[r]),
                       picture.rootId(roots[r]), r);
  return out + "}\n";
}

} // namespace nnjit
