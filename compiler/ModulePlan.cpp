// ModulePlan: which LLVM module each entry point and each kernel is generated in.
#include "ModulePlan.h"

#include "InternalError.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace nnjit {

namespace {

/// Appends values to a key, each by its bytes.
struct KeyWriter {
  std::string out;
  template <class T>
  void add(T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void add(const std::string& s) {
    add(s.size());
    out += s;
  }
  template <class T>
  void add(const std::vector<T>& items) {
    add(items.size());
    for (const T& item : items) add(item);
  }
};

} // namespace

std::string KernelCall::key(const Graph& g, const Schedule& s) const {
  // The nodes the kernel computes, in post-order (inputs first), found with
  // an explicit stack: a fused chain can be tens of thousands deep.
  std::map<NodeId, int64_t> local;  // node -> its place in the order, or -1 - argument for a read
  for (size_t i = 0; i < reads.size(); ++i)
    NNJIT_CHECK(local.emplace(reads[i], -1 - static_cast<int64_t>(i)).second, "a kernel reads one buffer twice");
  bool compute = kind == Kind::Compute;
  if (compute) local.erase(node);  // computed into the first argument, never read
  std::vector<NodeId> order;
  std::vector<std::pair<NodeId, size_t>> stack;
  if (!local.count(node)) stack.push_back({node, 0});
  while (!stack.empty()) {
    auto& [n, next] = stack.back();
    const std::vector<NodeId>& inputs = g.node(n).inputs;
    if (next < inputs.size()) {
      NodeId in = inputs[next++];
      if (!local.count(in)) {
        local.emplace(in, -2 - static_cast<int64_t>(reads.size()));  // on the stack: a placeholder
        stack.push_back({in, 0});
      }
      continue;
    }
    local[n] = static_cast<int64_t>(order.size());
    order.push_back(n);
    stack.pop_back();
  }
  KeyWriter w;
  w.add(kind), w.add(inPlace), w.add(reads.size()), w.add(local.at(node));
  w.add(compute && s.epilogueOf[node] != kNoNode ? local.at(s.epilogueOf[node]) : INT64_MIN);
  w.add(compute && s.epilogueTile[node] != kNoNode ? local.at(s.epilogueTile[node]) : INT64_MIN);
  w.add(compute && s.rowsScratch[node] != kNoNode ? local.at(s.rowsScratch[node]) : INT64_MIN);
  w.add(alsoStores.size());
  for (NodeId a : alsoStores) w.add(local.at(a));
  for (NodeId r : reads) w.add(g.shape(r).dims);  // what each argument holds
  for (NodeId n : order) {
    const Node& x = g.node(n);
    w.add(x.op), w.add(x.shape.dims), w.add(x.inputs.size());
    for (NodeId in : x.inputs) w.add(local.at(in));
    w.add(x.attrs.value), w.add(x.attrs.ints), w.add(x.attrs.name), w.add(x.attrs.values);
  }
  return w.out;
}

std::vector<KernelCall> kernelCalls(const CodeGenInput& in, const FunctionCode& fc) {
  const Schedule& s = fc.schedule;
  std::vector<KernelCall> calls;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    NodeId n = s.kernels[k];
    bool guarded = fc.guardBeforeKernel >= 0 && k >= static_cast<size_t>(fc.guardBeforeKernel);
    auto also = fc.alsoStores.find(n);
    calls.push_back({KernelCall::Kind::Compute, n, s.reads[k], fc.inPlace.count(n) > 0, -1, guarded,
                     also == fc.alsoStores.end() ? std::vector<NodeId>{} : also->second});
  }
  auto inSlot = [&](NodeId x) { return in.leafSlot.count(x) > 0; };
  ReadCollector collect(*in.graph, s.materialized, inSlot);
  auto copyAll = [&](const std::vector<std::pair<NodeId, int>>& list, bool guarded) {
    for (const auto& [node, slot] : list) {
      std::vector<NodeId> reads;
      if (s.materialized[node] || inSlot(node)) reads.push_back(node);
      else reads = collect.reads(node);
      calls.push_back({KernelCall::Kind::Copy, node, std::move(reads), false, slot, guarded, {}});
    }
  };
  copyAll(fc.copies, false);
  copyAll(fc.assigns, true);
  return calls;
}

namespace {

/// A rough guess at what LLVM's backend spends on a kernel's function, in
/// units of a small elementwise loop (about 35 lines of IR): a matmul's
/// register tile, with its edges and epilogue, is about eight of them.
double compileCost(const Graph& g, const Schedule& s, const KernelCall& c) {
  bool tile = c.kind == KernelCall::Kind::Compute &&
              (opKind(g.op(c.node)) == OpKind::Contraction || s.epilogueOf[c.node] != kNoNode);
  return (tile ? 8.0 : 1.0) + 0.1 * static_cast<double>(c.reads.size());
}

std::string symbolFor(const Graph& g, const KernelCall& c, size_t index) {
  std::string what = c.kind == KernelCall::Kind::Compute ? opInfo(g.op(c.node)).name : "copy";
  return "nnjit.k" + std::to_string(index) + "." + std::to_string(c.node) + "." + what;
}

struct Unit {
  double cost;
  bool isFunction;
  size_t index;
};

/// Longest first, each to the part with the least so far (LPT scheduling).
std::vector<ModulePlan::Part> deal(std::vector<Unit> units, size_t parts) {
  std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.cost > b.cost; });
  std::vector<ModulePlan::Part> out(std::max<size_t>(1, std::min(parts, units.size())));
  std::vector<double> load(out.size(), 0);
  for (const Unit& u : units) {
    size_t p = std::min_element(load.begin(), load.end()) - load.begin();
    load[p] += u.cost;
    (u.isFunction ? out[p].functions : out[p].kernels).push_back(u.index);
  }
  for (ModulePlan::Part& p : out) {
    std::sort(p.functions.begin(), p.functions.end());
    std::sort(p.kernels.begin(), p.kernels.end());
  }
  return out;
}

} // namespace

ModulePlan planModules(const CodeGenInput& in, size_t parts) {
  const Graph& g = *in.graph;
  ModulePlan plan;
  std::map<std::string, int> known;
  std::vector<Unit> units;
  for (size_t f = 0; f < in.functions.size(); ++f) {
    const Schedule& s = in.functions[f].schedule;
    double entryCost = 0.5;  // and per call its arguments, per inlined scalar kernel its few instructions
    std::vector<int>& of = plan.kernelOf.emplace_back();
    for (KernelCall& c : kernelCalls(in, in.functions[f])) {
      entryCost += 0.2;
      if (g.shape(c.node).isScalar()) {
        of.push_back(-1);
        entryCost += 0.3;
        continue;
      }
      auto [it, added] = known.emplace(c.key(g, s), static_cast<int>(plan.kernels.size()));
      if (added) {
        units.push_back({compileCost(g, s, c), false, plan.kernels.size()});
        plan.kernels.push_back({symbolFor(g, c, plan.kernels.size()), f, std::move(c)});
      }
      of.push_back(it->second);
    }
    units.push_back({entryCost, true, f});
  }
  plan.parts = deal(std::move(units), parts);
  return plan;
}

namespace {

constexpr size_t kMaxRunPeriod = 8;
constexpr size_t kMinRunRepeats = 8;

/// How many times the block of `period` calls at `first` repeats.
size_t repeatsAt(const std::vector<std::string>& keys, size_t first, size_t period) {
  for (size_t k = 0; k < period; ++k)
    if (first + k >= keys.size() || keys[first + k].empty()) return 0;
  size_t count = 1;
  for (;; ++count) {
    size_t at = first + count * period;
    if (at + period > keys.size()) break;
    bool same = true;
    for (size_t k = 0; k < period && same; ++k) same = keys[at + k] == keys[first + k];
    if (!same) break;
  }
  return count;
}

} // namespace

std::vector<CallRun> repeatedRuns(const std::vector<std::string>& keys) {
  std::vector<CallRun> runs;
  for (size_t i = 0; i < keys.size();) {
    CallRun best{i, 1, 0};
    for (size_t period = 1; period <= kMaxRunPeriod; ++period) {
      size_t count = repeatsAt(keys, i, period);
      if (count >= kMinRunRepeats && period * count > best.period * best.count) best = {i, period, count};
    }
    if (best.count == 0) {
      ++i;
      continue;
    }
    runs.push_back(best);
    i += best.period * best.count;
  }
  return runs;
}

} // namespace nnjit
