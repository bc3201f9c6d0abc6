// Compiler: the pipeline — every stage from source to native code, in the order they run.
//
//   source -> tokens -> AST -> graph (stable logs)       parseModel
//   graph -> entry points (gradients, updates)           buildEntryPoints
//   -> optimized graph                                   kGraphPasses
//   -> per-step values out of the train step's chunks    hoistStepInvariants
//   -> kernels and memory plans                          planFusion, updateInPlace, mergeUpdates, planMemory
//   -> LLVM IR -> native functions                       generateIR, Jit
//
// Each stage is timed (--time-report), the graph is verified after every
// graph pass when asked (NNJIT_VERIFY=1), and `show --emit STAGE` stops
// after STAGE and prints what it made.
#include "Compiler.h"

#include "Autodiff.h"
#include "CodeGen.h"
#include "CodeKey.h"
#include "EntryPoints.h"
#include "GraphPrinter.h"
#include "InternalError.h"
#include "Lexer.h"
#include "LowerToGraph.h"
#include "ModulePlan.h"
#include "ObjectCache.h"
#include "Parser.h"
#include "Program.h"
#include "SchedulePrinter.h"
#include "TrainingMode.h"
#include "passes/InPlace.h"
#include "passes/MergeUpdates.h"
#include "passes/Passes.h"
#include "passes/StepInvariants.h"
#include "passes/StableLog.h"
#include "passes/Verify.h"

#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>
#include <type_traits>

namespace nnjit {

const std::vector<std::string>& stageNames() {
  static const std::vector<std::string> names{"ast", "graph", "grad", "opt", "schedule", "ir", "asm"};
  return names;
}

std::optional<Stage> stageNamed(const std::string& name) {
  const std::vector<std::string>& names = stageNames();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Stage>(i);
  return std::nullopt;
}

namespace {

using Clock = std::chrono::steady_clock;

/// Times each stage into a StageTimes: its own entry, and the coarse bucket
/// the API reports it under.
class Stages {
public:
  explicit Stages(StageTimes& times) : times_(times) {}

  template <class F>
  auto run(const char* name, double StageTimes::*bucket, F&& stage) {
    auto t0 = Clock::now();
    auto record = [&] {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      times_.*bucket += ms;
      times_.stages.push_back({name, ms});
    };
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      stage();
      record();
    } else {
      auto result = stage();
      record();
      return result;
    }
  }

private:
  StageTimes& times_;
};

struct GraphPass {
  const char* name;
  void (*run)(Program&);
};

/// Simplify exposes constants and constants expose identities: two rounds
/// reach the fixed point on every graph autodiff makes in practice.
constexpr GraphPass kGraphPasses[] = {
    {"constant folding", foldConstants}, {"simplify", simplify},
    {"constant folding", foldConstants}, {"simplify", simplify},
    {"dead node elimination", eliminateDeadNodes},
};

void checkGraph(const Program& p, const char* after) {
  std::string why = verifyGraph(p.graph, p.roots);
  if (!why.empty()) internalError(("the graph is malformed after " + std::string(after) + ": " + why).c_str());
}

/// The graph passes, in order; `stages` times each, `log` gets the graph after each.
void runGraphPasses(Program& p, Stages* stages, bool verify, std::string* log) {
  for (const GraphPass& pass : kGraphPasses) {
    if (stages) stages->run(pass.name, &StageTimes::passesMs, [&] { pass.run(p); });
    else pass.run(p);
    if (verify) checkGraph(p, pass.name);
    if (log) *log += std::string("; after ") + pass.name + "\n" + printGraph(p.graph, p.roots);
  }
}

/// Which of a function's values go to which slot: a value computed straight
/// into its slot needs no copy.
FunctionCode fuse(const EntryPoint& f, const Program& p, const std::map<NodeId, int>& leafSlot) {
  FunctionCode fc;
  fc.name = f.name;
  fc.finiteGuardSlot = f.finiteGuardSlot;
  auto inSlot = [&](NodeId n) { return leafSlot.count(n) > 0; };
  std::vector<NodeId> needed;
  for (const auto& [r, slot] : f.outputs) needed.push_back(p.roots[r]);
  for (const auto& [r, slot] : f.assigns) needed.push_back(p.roots[r]);
  fc.schedule = planFusion(p.graph, needed, inSlot);
  for (const auto& [r, slot] : f.outputs) {
    NodeId n = p.roots[r];
    bool direct = fc.schedule.materialized[n] && !inSlot(n) && !fc.writesToSlot.count(n);
    if (direct) fc.writesToSlot[n] = slot;
    else fc.copies.push_back({n, slot});
  }
  for (const auto& [r, slot] : f.assigns) fc.assigns.push_back({p.roots[r], slot});
  return fc;
}

/// Updates and copies read their values after the last kernel: those buffers live to the end.
MemoryPlan planFunctionMemory(const Graph& g, const FunctionCode& fc) {
  std::vector<NodeId> keep;
  for (const auto& [n, slot] : fc.assigns) keep.push_back(n);
  for (const auto& [n, slot] : fc.copies) keep.push_back(n);
  return planMemory(g, fc.schedule, fc.writesToSlot, keep);
}

/// The forward graph and what the model names in it (show --emit graph).
std::string printModelGraph(const Model& m) {
  std::vector<NodeId> roots;
  std::string names;
  auto name = [&](const std::string& what, NodeId n) {
    roots.push_back(n);
    names += fmt::format("{} = %{}\n", what, n);
  };
  if (m.loss != kNoNode) name("loss", m.loss);
  for (const NamedValue& v : m.metrics) name("metric " + v.name, v.node);
  if (m.output) name("output " + m.output->name, m.output->node);
  return printGraph(m.graph, roots) + names;
}

/// The entry points' graph and each function's wiring (show --emit grad / opt).
std::string printEntryPoints(const EntryPoints& ep, const CompiledModel& cm) {
  std::string out = printGraph(ep.program.graph, ep.program.roots);
  for (const EntryPoint& f : ep.functions) {
    out += f.name + ":";
    for (const auto& [r, slot] : f.outputs) out += fmt::format(" {} = %{}", cm.slots[slot].name, ep.program.roots[r]);
    for (const auto& [r, slot] : f.assigns) out += fmt::format(" {} <- %{}", cm.slots[slot].name, ep.program.roots[r]);
    out += "\n";
  }
  return out;
}

/// One module (and context) per part of the module plan, so that LLVM can
/// compile them on separate threads; `show --ir/--asm/--emit` prints one.
struct Modules {
  std::vector<std::unique_ptr<llvm::LLVMContext>> contexts;
  std::vector<std::unique_ptr<llvm::Module>> owned;
  std::vector<llvm::Module*> list;
};

/// The modules of `in`'s code: as many as LLVM has compile threads, or one
/// to print (`asOne`).
ModulePlan planFor(const CodeGenInput& in, bool asOne) {
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  return planModules(in, asOne ? 1 : threads);
}

/// IR for the parts `which` of `plan`, one module each.
bool generateModules(const CodeGenInput& in, const ModulePlan& plan, const std::vector<size_t>& which, Modules& out,
                     const std::string& file, DiagnosticEngine& diags) {
  for (size_t part : which) {
    out.contexts.push_back(std::make_unique<llvm::LLVMContext>());
    out.owned.push_back(generateIR(*out.contexts.back(), in, plan, part));
    out.list.push_back(out.owned.back().get());
    std::string broken;
    llvm::raw_string_ostream os(broken);
    if (llvm::verifyModule(*out.owned.back(), &os)) {
      diags.add(fileError(file, "internal compiler error: generated IR does not verify:\n" + broken));
      return false;
    }
  }
  return true;
}

/// What keys each module's native code in the object cache before its IR
/// exists (CodeKey.h); none when the cache is off, when this build has no id
/// to key by, or when kernels are compiled for perf (its names come from the IR).
std::vector<std::string> codeDigests(const CodeGenInput& in, const ModulePlan& plan) {
  if (!ObjectCache::wanted() || generatorBuildId().empty() || in.profileKernels) return {};
  std::vector<std::string> out;
  for (size_t i = 0; i < plan.parts.size(); ++i) out.push_back(codeDigest(in, plan.parts.size(), i));
  return out;
}

std::string printModules(const Modules& modules) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (llvm::Module* m : modules.list) m->print(os, nullptr);
  return text;
}

/// For `show --ir` / `--asm`: the optimized modules are printed, so they
/// are always compiled afresh rather than taken from the object cache.
Status compileShown(CompiledModel& cm, const CompileOptions& opt, const Modules& modules, Stages& stages) {
  stages.run("LLVM optimize", &StageTimes::optimizeMs, [&] {
    for (llvm::Module* m : modules.list) cm.jit->optimize(*m);
  });
  if (opt.keepIR) cm.ir = printModules(modules);
  return stages.run("native code", &StageTimes::jitMs, [&]() -> Status {
    for (llvm::Module* m : modules.list) {
      if (opt.keepAsm) cm.assembly += cm.jit->assembly(*m);
      if (Status added = cm.jit->add(*m); !added) return added;
    }
    return Ok{};
  });
}

/// Native code for every module, from the object cache where it can (by
/// the modules' IR when there are no `digests` to store them under). The
/// JIT times its own optimization, which a cache hit skips.
Status compileNative(CompiledModel& cm, const Modules& modules, const std::vector<std::string>& digests) {
  auto t0 = Clock::now();
  Status added = cm.jit->compile(modules.list, digests);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  cm.times.cacheHit = cm.jit->cacheHit;
  double optimizeMs = cm.jit->cacheHit ? 0 : cm.jit->optimizeMs;
  cm.times.optimizeMs += optimizeMs;
  cm.times.jitMs += ms - optimizeMs;
  cm.times.stages.push_back({"LLVM optimize", optimizeMs});
  cm.times.stages.push_back({cm.jit->cacheHit ? "native code (object cache)" : "native code", ms - optimizeMs});
  return added;
}

bool fail(const Status& s, DiagnosticEngine& diags) {
  for (const Diagnostic& d : s.errors()) diags.add(d);
  return false;
}

/// Looks up each entry point and records the arena it needs.
bool link(CompiledModel& cm, const EntryPoints& ep, const std::vector<FunctionCode>& kernels, DiagnosticEngine& diags) {
  for (size_t i = 0; i < ep.functions.size(); ++i) {
    const EntryPoint& f = ep.functions[i];
    cm.*(f.entry) = cm.jit->lookup(f.name);
    if (!(cm.*(f.entry))) {
      diags.add(fileError(cm.declared.file, "internal compiler error: the JIT has no function " + f.name));
      return false;
    }
    cm.arenaNeeds.push_back({cm.*(f.entry), kernels[i].memory.staticSize, kernels[i].memory.rowSize});
  }
  return true;
}

/// -> LLVM IR -> native functions, or native functions from the object cache.
bool nativeCode(CompiledModel& cm, const EntryPoints& ep, const CodeGenInput& in, const CompileOptions& opt,
                Stages& stages, DiagnosticEngine& diags) {
  auto emitting = [&](Stage s) { return opt.emit == s; };
  bool shown = opt.keepIR || opt.keepAsm || emitting(Stage::Ir);
  ModulePlan plan = planFor(in, shown);
  std::vector<size_t> all(plan.parts.size());
  std::iota(all.begin(), all.end(), 0);
  if (!opt.jit || emitting(Stage::Ir)) {
    Modules modules;
    bool generated = stages.run("codegen", &StageTimes::codegenMs,
                                [&] { return generateModules(in, plan, all, modules, cm.declared.file, diags); });
    if (generated && emitting(Stage::Ir)) cm.emitted = printModules(modules);
    return generated;
  }
  auto jit = stages.run("JIT setup", &StageTimes::jitMs, [] { return Jit::create(); });
  if (!jit) {
    for (const Diagnostic& d : jit.errors()) diags.add(d);
    return false;
  }
  cm.jit = std::move(*jit);
  std::vector<size_t> uncached = all;
  std::vector<std::string> digests = shown ? std::vector<std::string>{} : codeDigests(in, plan);
  if (!digests.empty()) {
    auto found = stages.run("native code (object cache)", &StageTimes::jitMs, [&] { return cm.jit->linkCached(digests); });
    if (!found) return fail(found.errors().front(), diags);
    uncached.clear();
    std::vector<std::string> missing;
    for (size_t i = 0; i < found->size(); ++i)
      if (!(*found)[i]) uncached.push_back(i), missing.push_back(digests[i]);
    digests = std::move(missing);
    cm.times.cacheHit = uncached.empty();
  }
  if (!uncached.empty()) {
    Modules modules;
    bool generated = stages.run("codegen", &StageTimes::codegenMs,
                                [&] { return generateModules(in, plan, uncached, modules, cm.declared.file, diags); });
    if (!generated) return false;
    Status added = shown ? compileShown(cm, opt, modules, stages) : compileNative(cm, modules, digests);
    if (!added) return fail(added, diags);
  }
  if (emitting(Stage::Asm)) cm.emitted = cm.assembly;
  return stages.run("link", &StageTimes::jitMs, [&] { return link(cm, ep, in.functions, diags); });
}

/// The first of `values` that is finite as written but not in `dtype`, if any.
std::optional<double> overflowIn(DType dtype, const std::vector<double>& values) {
  if (dtype != DType::F32) return std::nullopt;
  for (double v : values)
    if (std::isfinite(v) && !std::isfinite(static_cast<float>(v))) return v;
  return std::nullopt;
}

/// Every number the source writes (a constant, a list, a param's initial
/// value or its initializer's arguments) that float32 cannot hold is a
/// diagnostic where it is written, for a float32 run: `1e39` would be
/// infinity, and the first loss nan.
bool numbersFit(const Model& m, DType dtype, DiagnosticEngine& diags) {
  bool fit = true;
  auto check = [&](SourceLoc loc, const std::vector<double>& values) {
    if (std::optional<double> v = overflowIn(dtype, values)) {
      diags.error(loc, fmt::format("{:g} overflows float32 (--dtype f64 holds it)", *v));
      fit = false;
    }
  };
  for (NodeId n = 0; n < m.graph.size(); ++n) {
    const Node& node = m.graph.node(n);
    if (node.op == Op::Constant) check(node.loc, {node.attrs.value});
    if (node.op == Op::ConstantTensor) check(node.loc, node.attrs.values);
  }
  for (const ParamInfo& p : m.params)
    check(p.loc, p.init.kind == InitSpec::Kind::List ? p.init.values : std::vector<double>{p.init.a, p.init.b});
  return fit;
}

/// The back half of the pipeline, from the lowered model to native code;
/// stops early (true, with `cm.emitted`) when `opt.emit` asks for a stage.
bool compileStages(Model& m, CompiledModel& cm, const CompileOptions& opt, DiagnosticEngine& diags) {
  Stages stages(cm.times);
  auto emitting = [&](Stage s) { return opt.emit == s; };
  if (!numbersFit(m, opt.dtype, diags)) return false;
  if (opt.lr) overrideLearningRate(m, *opt.lr);  // --lr: before the updates are built from it

  // graph -> the entry points' graph: the loss's gradients, the updates
  std::optional<EntryPoints> ep =
      stages.run("autodiff", &StageTimes::autodiffMs, [&] { return buildEntryPoints(m, cm, opt, diags); });
  if (!ep) return false;
  bool verify = opt.verifyGraphs.value_or(verifyGraphsByDefault());
  if (verify) checkGraph(ep->program, "autodiff");
  if (emitting(Stage::Grad)) return cm.emitted = printEntryPoints(*ep, cm), true;

  // -> the optimized graph
  runGraphPasses(ep->program, &stages, verify, opt.graphLog);
  if (emitting(Stage::Opt)) return cm.emitted = printEntryPoints(*ep, cm), true;
  stages.run("step invariants", &StageTimes::passesMs, [&] { hoistStepInvariants(*ep, cm); });
  if (verify) checkGraph(ep->program, "step invariants");

  // -> kernels: what is fused, what is updated in place, where buffers live
  const Graph& g = ep->program.graph;
  CodeGenInput in;
  in.graph = &g;
  in.dtype = opt.dtype;
  in.target = hostVectorTarget();
  in.profileKernels = Jit::perfMapRequested();
  in.leafSlot = ep->leafSlots(g, cm);
  cm.arenaSlot = in.arenaSlot = addSlot(cm, *ep, "arena", SlotKind::Arena, {});
  cm.workersSlot = in.workersSlot = addSlot(cm, *ep, "workers", SlotKind::Workers, {});
  stages.run("fusion", &StageTimes::passesMs, [&] {
    for (const EntryPoint& f : ep->functions) in.functions.push_back(fuse(f, ep->program, in.leafSlot));
  });
  stages.run("in place updates", &StageTimes::passesMs, [&] {
    for (FunctionCode& fc : in.functions) updateInPlace(g, fc, in.leafSlot);
  });
  stages.run("merged updates", &StageTimes::passesMs, [&] {
    for (FunctionCode& fc : in.functions) mergeUpdates(g, fc, in.leafSlot);
  });
  stages.run("memory plan", &StageTimes::passesMs, [&] {
    for (FunctionCode& fc : in.functions) {
      fc.memory = planFunctionMemory(g, fc);
      cm.arenaStatic = std::max(cm.arenaStatic, fc.memory.staticSize);
      cm.arenaPerRow = std::max(cm.arenaPerRow, fc.memory.rowSize);
    }
  });
  if (emitting(Stage::Schedule)) return cm.emitted = printSchedule(in, cm.slots), true;

  // -> LLVM IR -> native functions
  return nativeCode(cm, *ep, in, opt, stages, diags);
}

} // namespace

std::optional<Model> parseModel(const std::string& source, const std::string& file, DiagnosticEngine& diags,
                                StageTimes* times) {
  StageTimes local;
  Stages stages(times ? *times : local);
  std::vector<Token> tokens = stages.run("lex", &StageTimes::parseMs, [&] { return lex(source, diags); });
  Module module = stages.run("parse", &StageTimes::parseMs, [&] { return parse(tokens, diags); });
  Model model = stages.run("lower", &StageTimes::lowerMs, [&] { return lowerToGraph(module, file, diags); });
  if (diags.hasErrors()) return std::nullopt;
  stages.run("stable logs", &StageTimes::lowerMs, [&] { stabilizeLogs(model); });
  return model;
}

std::unique_ptr<CompiledModel> compileModel(const std::string& source, const std::string& file,
                                            const CompileOptions& options, DiagnosticEngine& diags) {
  StageTimes times;
  std::optional<Model> model = parseModel(source, file, diags, &times);
  if (!model) return nullptr;
  auto cm = compileModel(std::move(*model), options, diags);
  if (cm) {
    times.stages.insert(times.stages.end(), cm->times.stages.begin(), cm->times.stages.end());
    cm->times.stages = std::move(times.stages);
    cm->times.parseMs = times.parseMs;
    cm->times.lowerMs = times.lowerMs;
  }
  return cm;
}

std::unique_ptr<CompiledModel> compileModel(Model model, const CompileOptions& options, DiagnosticEngine& diags) {
  auto cm = std::make_unique<CompiledModel>();
  cm->dtype = options.dtype;
  cm->declared = declarationsOf(model);
  if (!compileStages(model, *cm, options, diags)) return nullptr;
  return cm;
}

std::optional<std::string> emitStage(const std::string& source, const std::string& file, Stage stage,
                                     CompileOptions options, DiagnosticEngine& diags) {
  if (stage == Stage::Ast) {  // the AST of a model whose shapes do not fit is still worth seeing
    Module module = parse(lex(source, diags), diags);
    return diags.hasErrors() ? std::nullopt : std::optional(printAST(module));
  }
  std::optional<Model> model = parseModel(source, file, diags);
  if (!model) return std::nullopt;
  if (stage == Stage::Graph) return printModelGraph(*model);
  options.emit = stage;
  options.keepAsm = stage == Stage::Asm;
  std::unique_ptr<CompiledModel> cm = compileModel(std::move(*model), options, diags);
  if (!cm) return std::nullopt;
  return cm->emitted;
}

void optimizeGraph(Program& p, std::string* log) { runGraphPasses(p, nullptr, verifyGraphsByDefault(), log); }

namespace {

/// The arithmetic of node `n` for a batch of `batch` rows.
double flopsOf(const Graph& g, NodeId n, int64_t batch) {
  const Node& node = g.node(n);
  auto elements = [&](NodeId x) { return static_cast<double>(g.shape(x).elements(batch)); };
  auto extent = [&](int64_t d) { return static_cast<double>(isBatchDim(d) ? batch * batchFactor(d) : d); };
  switch (opKind(node.op)) {
  case OpKind::Leaf: return 0;
  case OpKind::Elementwise: return node.op == Op::StopGradient ? 0 : elements(n);
  case OpKind::Reduction: return elements(node.inputs[0]);
  case OpKind::Layout:
    if (node.op == Op::Tiles || node.op == Op::Untile)  // each tile element meets `size` elements
      return 2 * double(node.attrs.ints[1]) * elements(node.op == Op::Tiles ? n : node.inputs[0]);
    return node.op == Op::Unpatch ? elements(node.inputs[0]) : 0;
  case OpKind::Contraction: {  // [m, k] @ [k, n], or [m, g, k] @ [k, g, n]
    const Shape& a = g.shape(node.inputs[0]);
    if (node.op == Op::GroupMatMul)
      return 2 * extent(a.dims[0]) * extent(a.dims[1]) * extent(a.dims[2]) * extent(node.shape.dims[2]);
    return 2 * extent(a.dims[0]) * extent(a.dims[1]) * extent(node.shape.dims[1]);
  }
  }
  return 0;
}

} // namespace

StepFlops trainStepFlops(const Model& model, DiagnosticEngine& diags) {
  StepFlops out;
  if (model.loss == kNoNode) return out;
  Graph g = model.graph;
  Builder b(g);
  ModeSpecializer training(g);
  NodeId loss = training(model.loss, Mode::train());
  std::vector<NodeId> params, roots{loss};
  for (const ParamInfo& p : model.params) params.push_back(p.node);
  for (NodeId grad : differentiate(b, loss, params, diags)) roots.push_back(grad);
  if (diags.hasErrors()) return out;
  Program p;
  p.graph = std::move(g);
  p.roots = roots;
  optimizeGraph(p);  // what the train step computes: folded, simplified, shared
  std::vector<bool> live = reachableFrom(p.graph, p.roots);
  double one = 0, two = 0;
  for (NodeId n = 0; n < p.graph.size(); ++n)
    if (live[n]) one += flopsOf(p.graph, n, 1), two += flopsOf(p.graph, n, 2);
  out.perRow = two - one;
  out.fixed = one - out.perRow;
  return out;
}

} // namespace nnjit
