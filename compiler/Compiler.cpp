// Compiler: the stage driver — source to native functions, one stage after another.
#include "Compiler.h"

#include "Autodiff.h"
#include "CodeGen.h"
#include "Lexer.h"
#include "LowerToGraph.h"
#include "Parser.h"
#include "Program.h"
#include "TrainingMode.h"
#include "passes/InPlace.h"
#include "passes/Passes.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <chrono>

namespace nnjit {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point& t0) {
  auto now = Clock::now();
  double ms = std::chrono::duration<double, std::milli>(now - t0).count();
  t0 = now;
  return ms;
}

/// The wiring of one entry point before passes: root indices into the Program.
struct FunctionRoots {
  std::string name;
  EntryFn CompiledModel::*entry;
  std::vector<std::pair<size_t, int>> outputs;  // program root -> slot
  std::vector<std::pair<size_t, int>> assigns;
};

class Driver {
public:
  Driver(CompiledModel& cm, const CompileOptions& opt, DiagnosticEngine& diags)
      : cm_(cm), opt_(opt), diags_(diags), b_(cm.model.graph), inMode_(cm.model.graph) {}

  bool run() {
    auto t0 = Clock::now();
    Model& m = cm_.model;
    if (opt_.lr && m.optimizer) {
      b_.setLoc(m.optimizer->loc);
      m.optimizer->lr = b_.constant(*opt_.lr);
    }
    makeSlots();
    std::vector<NodeId> params;
    for (const ParamInfo& p : m.params) params.push_back(p.node);
    // The train step differentiates the loss as it trains (dropout on), a
    // gradient check as evaluate computes it with gradients (see Mode::check).
    if (m.loss != kNoNode && opt_.trainStep) {
      std::vector<NodeId> grads = differentiate(b_, inMode_(m.loss, Mode::train()), params, diags_, opt_.faultyGradient);
      if (diags_.hasErrors()) return false;
      addTrainStep(grads);
    }
    if (opt_.evaluate) addEvaluate();
    if (opt_.predict && m.output)
      add({"nnjit_predict", &CompiledModel::predict, {{root(m.output->node, Mode::eval()), cm_.outputSlot}}, {}});
    if (m.loss != kNoNode && opt_.gradients) {
      std::vector<NodeId> grads = differentiate(b_, inMode_(m.loss, Mode::check()), params, diags_, opt_.faultyGradient);
      if (diags_.hasErrors()) return false;
      addGradients(grads);
    }
    cm_.times.autodiffMs = msSince(t0);

    program_.graph = m.graph;  // passes rebuild this copy; the model keeps its own
    optimizeGraph(program_, opt_.graphLog);
    cm_.times.passesMs = msSince(t0);
    return generate(t0);
  }

private:
  int addSlot(std::string name, SlotKind kind, Shape shape) {
    int slot = static_cast<int>(cm_.slots.size());
    slotIndex_.emplace(std::pair{kind, name}, slot);  // the first slot of a name wins
    cm_.slots.push_back(Slot{std::move(name), kind, std::move(shape)});
    return slot;
  }

  void makeSlots() {
    Model& m = cm_.model;
    for (const ParamInfo& p : m.params) cm_.paramSlots.push_back(addSlot(p.name, SlotKind::Param, p.shape));
    for (const ModelState& s : m.states) {
      cm_.states.push_back(StateTensor{s.name, s.leaf, s.shape, s.initial});
      cm_.stateSlots.push_back(addSlot(s.name, SlotKind::State, s.shape));
    }
    for (const InputInfo& in : m.inputs) cm_.inputSlots.push_back(addSlot(in.name, SlotKind::Input, in.shape));
    cm_.epochSlot = addSlot("epoch", SlotKind::Epoch, {});
    cm_.stepSlot = addSlot("step", SlotKind::Step, {});
    cm_.randomKeySlot = addSlot("random_key", SlotKind::RandomKey, {});
    cm_.lossSlot = addSlot("loss", SlotKind::Loss, {});
    // One sweep for all metrics: a walk per metric was quadratic in their number.
    std::vector<bool> readsInputs(m.graph.size(), false);
    for (NodeId n = 0; n < m.graph.size(); ++n) readsInputs[n] = m.graph.op(n) == Op::Input || m.graph.op(n) == Op::BatchSize;
    readsInputs = dependentsOf(m.graph, std::move(readsInputs));
    for (const NamedValue& mv : m.metrics) {
      cm_.metricSlots.push_back(addSlot(mv.name, SlotKind::Metric, {}));
      cm_.metricReadsInputs.push_back(readsInputs[mv.node]);
    }
    if (m.output) {
      cm_.outputSlot = addSlot(m.output->name, SlotKind::Output, m.graph.shape(m.output->node));
      std::vector<bool> live = reachableFrom(m.graph, {m.output->node});
      for (const InputInfo& in : m.inputs) cm_.outputReadsInput.push_back(live[in.node]);
    }
    if (m.loss != kNoNode) {
      std::vector<bool> live = reachableFrom(m.graph, {m.loss});
      for (const ParamInfo& p : m.params) cm_.lossReadsParam.push_back(live[p.node]);
    }
  }

  /// `n` as the function computes it: for training, evaluation or a check.
  size_t root(NodeId n, Mode mode) { return program_.addRoot(inMode_(n, mode)); }
  /// Evaluation computes what a gradient check differentiates when the
  /// gradients are compiled with it (the differences of `check`).
  Mode evalMode() const { return opt_.gradients ? Mode::check() : Mode::eval(); }
  void add(FunctionRoots f) { functions_.push_back(std::move(f)); }

  void addTrainStep(const std::vector<NodeId>& grads) {
    Model& m = cm_.model;
    UpdatePlan plan = buildOptimizerUpdates(b_, m, grads);
    cm_.states.insert(cm_.states.end(), plan.states.begin(), plan.states.end());
    for (const StateTensor& s : plan.states) cm_.stateSlots.push_back(addSlot(s.name, SlotKind::State, s.shape));
    FunctionRoots f{"nnjit_train_step", &CompiledModel::trainStep, {{root(m.loss, Mode::train()), cm_.lossSlot}}, {}};
    FunctionRoots after{"nnjit_param_metrics", &CompiledModel::paramMetrics, {}, {}};
    for (size_t i = 0; i < m.metrics.size(); ++i) {
      bool perBatch = cm_.metricReadsInputs[i];
      (perBatch ? f : after).outputs.push_back({root(m.metrics[i].node, perBatch ? Mode::train() : Mode::eval()),
                                               cm_.metricSlots[i]});
    }
    for (const Update& u : plan.updates)
      f.assigns.push_back({root(u.value, Mode::train()), slotOfLeaf(cm_.model.graph, u.target)});
    for (const ModelState& s : m.states) f.assigns.push_back({root(s.update, Mode::train()), slotOfLeaf(m.graph, s.leaf)});
    add(std::move(f));
    if (!after.outputs.empty()) add(std::move(after));
  }

  void addEvaluate() {
    Model& m = cm_.model;
    FunctionRoots f{"nnjit_eval", &CompiledModel::evaluate, {}, {}};
    if (m.loss != kNoNode) f.outputs.push_back({root(m.loss, evalMode()), cm_.lossSlot});
    for (size_t i = 0; i < m.metrics.size(); ++i)
      f.outputs.push_back({root(m.metrics[i].node, evalMode()), cm_.metricSlots[i]});
    add(std::move(f));
  }

  void addGradients(const std::vector<NodeId>& grads) {
    Model& m = cm_.model;
    FunctionRoots f{"nnjit_gradients", &CompiledModel::gradients, {{root(m.loss, Mode::check()), cm_.lossSlot}}, {}};
    for (size_t i = 0; i < grads.size(); ++i) {
      cm_.gradientSlots.push_back(addSlot("grad." + m.params[i].name, SlotKind::Gradient, m.params[i].shape));
      f.outputs.push_back({root(grads[i], Mode::check()), cm_.gradientSlots.back()});
    }
    add(std::move(f));
  }

  /// A lookup, not a scan of the slots: called per leaf and per update, a
  /// scan was quadratic in the number of params.
  int slotOfLeaf(const Graph& g, NodeId leaf) const {
    const Node& n = g.node(leaf);
    auto named = [&](SlotKind kind) {
      auto it = slotIndex_.find({kind, n.attrs.name});
      return it == slotIndex_.end() ? -1 : it->second;
    };
    if (n.op == Op::Param) return named(SlotKind::Param);
    if (n.op == Op::State) return named(SlotKind::State);
    if (n.op == Op::Input) return named(SlotKind::Input);
    if (n.op == Op::Epoch) return cm_.epochSlot;
    if (n.op == Op::Step) return cm_.stepSlot;
    if (n.op == Op::RandomKey) return cm_.randomKeySlot;
    return -1;
  }

  FunctionCode schedule(const FunctionRoots& f, const Graph& g, const std::map<NodeId, int>& leafSlot) {
    FunctionCode fc;
    fc.name = f.name;
    // A step whose loss is not finite leaves params and state as they were.
    if (!f.assigns.empty()) fc.finiteGuardSlot = cm_.lossSlot;
    auto inSlot = [&](NodeId n) { return leafSlot.count(n) > 0; };
    std::vector<NodeId> needed;
    for (const auto& [r, slot] : f.outputs) needed.push_back(program_.roots[r]);
    for (const auto& [r, slot] : f.assigns) needed.push_back(program_.roots[r]);
    fc.schedule = planFusion(g, needed, inSlot);
    for (const auto& [r, slot] : f.outputs) {
      NodeId n = program_.roots[r];
      bool direct = fc.schedule.materialized[n] && !inSlot(n) && !fc.writesToSlot.count(n);
      if (direct) fc.writesToSlot[n] = slot;
      else fc.copies.push_back({n, slot});
    }
    std::vector<NodeId> keep;
    for (const auto& [r, slot] : f.assigns) {
      fc.assigns.push_back({program_.roots[r], slot});
      keep.push_back(program_.roots[r]);
    }
    updateInPlace(g, fc, leafSlot);
    for (const auto& [n, slot] : fc.copies) keep.push_back(n);
    fc.memory = planMemory(g, fc.schedule, fc.writesToSlot, keep);
    return fc;
  }

  /// For `show --ir` / `--asm`: the optimized module is printed, so it is
  /// always compiled afresh rather than taken from the object cache.
  /// For `show --ir` / `--asm`: the optimized modules are printed, so they
  /// are always compiled afresh rather than taken from the object cache.
  Status compileShown(const std::vector<llvm::Module*>& modules, Clock::time_point& t0) {
    for (llvm::Module* m : modules) cm_.jit->optimize(*m);
    cm_.times.optimizeMs = msSince(t0);
    for (llvm::Module* m : modules) {
      if (opt_.keepIR) {
        llvm::raw_string_ostream irOut(cm_.ir);
        m->print(irOut, nullptr);
      }
      if (opt_.keepAsm) cm_.assembly += cm_.jit->assembly(*m);
      if (Status added = cm_.jit->add(*m); !added) return added;
    }
    return Ok{};
  }

  bool generate(Clock::time_point& t0) {
    const Graph& g = program_.graph;
    CodeGenInput in;
    in.graph = &g;
    in.dtype = opt_.dtype;
    in.target = hostVectorTarget();
    in.profileKernels = Jit::perfMapRequested();
    for (NodeId n = 0; n < g.size(); ++n)
      if (opKind(g.op(n)) == OpKind::Leaf && g.op(n) != Op::Constant && g.op(n) != Op::BatchSize &&
          g.op(n) != Op::ConstantTensor)
        in.leafSlot[n] = slotOfLeaf(g, n);
    cm_.arenaSlot = in.arenaSlot = addSlot("arena", SlotKind::Arena, {});
    cm_.workersSlot = in.workersSlot = addSlot("workers", SlotKind::Workers, {});
    for (const FunctionRoots& f : functions_) {
      in.functions.push_back(schedule(f, g, in.leafSlot));
      const MemoryPlan& mp = in.functions.back().memory;
      cm_.arenaStatic = std::max(cm_.arenaStatic, mp.staticSize);
      cm_.arenaPerRow = std::max(cm_.arenaPerRow, mp.rowSize);
    }
    // One module (and context) per entry point, so that LLVM can compile
    // them on separate threads; `show` prints them as one.
    std::vector<std::unique_ptr<llvm::LLVMContext>> contexts;
    std::vector<std::unique_ptr<llvm::Module>> owned;
    std::vector<llvm::Module*> modules;
    bool shown = opt_.keepIR || opt_.keepAsm;
    std::vector<FunctionCode> functions = std::move(in.functions);
    for (size_t i = 0; i < (shown ? 1 : functions.size()); ++i) {
      CodeGenInput part = in;  // everything but the functions, which are moved out
      part.functions = shown ? functions : std::vector<FunctionCode>{functions[i]};
      contexts.push_back(std::make_unique<llvm::LLVMContext>());
      owned.push_back(generateIR(*contexts.back(), part));
      modules.push_back(owned.back().get());
      std::string broken;
      llvm::raw_string_ostream os(broken);
      if (llvm::verifyModule(*owned.back(), &os)) {
        diags_.add(fileError(cm_.model.file, "internal compiler error: generated IR does not verify:\n" + broken));
        return false;
      }
    }
    cm_.times.codegenMs = msSince(t0);
    if (!opt_.jit) return true;
    auto jit = Jit::create();
    if (!jit) {
      for (const Diagnostic& d : jit.errors()) diags_.add(d);
      return false;
    }
    cm_.jit = std::move(*jit);
    Status added = opt_.keepIR || opt_.keepAsm ? compileShown(modules, t0) : cm_.jit->compile(modules);
    if (added && !opt_.keepIR && !opt_.keepAsm) {
      cm_.times.optimizeMs = cm_.jit->optimizeMs * !cm_.jit->cacheHit;
      cm_.times.cacheHit = cm_.jit->cacheHit;
    }
    if (!added) {
      for (const Diagnostic& d : added.errors()) diags_.add(d);
      return false;
    }
    for (size_t i = 0; i < functions_.size(); ++i) {
      const FunctionRoots& f = functions_[i];
      cm_.*(f.entry) = cm_.jit->lookup(f.name);
      if (!(cm_.*(f.entry))) {
        diags_.add(fileError(cm_.model.file, "internal compiler error: the JIT has no function " + f.name));
        return false;
      }
      cm_.arenaNeeds.push_back({cm_.*(f.entry), functions[i].memory.staticSize, functions[i].memory.rowSize});
    }
    cm_.times.jitMs = msSince(t0) - cm_.times.optimizeMs;
    return true;
  }

  CompiledModel& cm_;
  const CompileOptions& opt_;
  DiagnosticEngine& diags_;
  Builder b_;
  ModeSpecializer inMode_;
  Program program_;
  std::vector<FunctionRoots> functions_;
  std::map<std::pair<SlotKind, std::string>, int> slotIndex_;
};

} // namespace

std::optional<Model> parseModel(const std::string& source, const std::string& file, DiagnosticEngine& diags,
                                StageTimes* times) {
  auto t0 = Clock::now();
  std::vector<Token> tokens = lex(source, diags);
  Module module = parse(tokens, diags);
  if (times) times->parseMs = msSince(t0);
  Model model = lowerToGraph(module, file, diags);
  if (times) times->lowerMs = msSince(t0);
  if (diags.hasErrors()) return std::nullopt;
  return model;
}

std::unique_ptr<CompiledModel> compileModel(const std::string& source, const std::string& file,
                                            const CompileOptions& options, DiagnosticEngine& diags) {
  StageTimes times;
  std::optional<Model> model = parseModel(source, file, diags, &times);
  if (!model) return nullptr;
  auto cm = compileModel(std::move(*model), options, diags);
  if (cm) {
    cm->times.parseMs = times.parseMs;
    cm->times.lowerMs = times.lowerMs;
  }
  return cm;
}

std::unique_ptr<CompiledModel> compileModel(Model model, const CompileOptions& options, DiagnosticEngine& diags) {
  auto cm = std::make_unique<CompiledModel>();
  cm->dtype = options.dtype;
  cm->model = std::move(model);
  if (!Driver(*cm, options, diags).run()) return nullptr;
  return cm;
}

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
  case OpKind::Layout: return node.op == Op::Unpatch ? elements(node.inputs[0]) : 0;
  case OpKind::Contraction: {  // [m, k] @ [k, n]
    const Shape& a = g.shape(node.inputs[0]);
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
