// LowerToGraph: AST to graph — names, fn inlining, shapes and declarations.
#include "EditDistance.h"
#include "Lowering.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace nnjit {

Model lowerToGraph(const Module& module, const std::string& file, DiagnosticEngine& diags) {
  Model model;
  model.file = file;
  Lowerer(model, diags).run(module);
  return model;
}

NodeId Lowerer::checked(NodeId n, SourceLoc loc, const std::string& what) {
  if (n == kNoNode && !b_.error().empty()) {
    error(loc, what.empty() ? b_.error() : fmt::format("{}: {}", what, b_.error()));
    b_.clearError();
  }
  return n;
}

void Lowerer::run(const Module& module) {
  for (const Stmt& s : module.stmts) {
    statement(s);
    // Past the limit the rest of the file is not lowered: each statement
    // would only fail again, or fail for want of the ones before it.
    if (!withinNodeLimit(s.loc)) return;
  }
  // Test rows are rows of data, which a model without inputs does not read.
  if (model_.train && model_.train->test.kind != TestSplit::Kind::None && model_.inputs.empty())
    error(model_.train->testLoc, "the model has no inputs, so it has no rows to test on: drop 'test = ...'");
}

void Lowerer::statement(const Stmt& s) {
  b_.setLoc(s.loc);
  switch (s.kind) {
  case Stmt::Kind::Data:
    if (!model_.dataPaths.empty()) error(s.loc, "a second 'data' statement; the file has one already");
    model_.dataPaths = s.paths;
    model_.dataLocs = s.pathLocs;
    for (size_t i = 0; i < s.paths.size(); ++i)
      if (s.paths[i].empty()) error(s.pathLocs[i], "an empty path: 'data' names a file");
    return;
  case Stmt::Kind::Input: return declareInput(s);
  case Stmt::Kind::Param: return declareParam(s);
  case Stmt::Kind::Let: {
    NodeId v = lowerExpr(*s.expr);
    if (defineName(s.name, s.nameLoc, "value")) {
      globals_[s.name] = {v, s.nameLoc};
      if (v != kNoNode) model_.values.push_back({s.name, v, s.nameLoc});
    }
    return;
  }
  case Stmt::Kind::Fn: return declareFn(s);
  case Stmt::Kind::Loss: {
    if (model_.loss != kNoNode || model_.lossLoc.line) {
      error(s.loc, fmt::format("a second 'loss'; the first is at line {}", model_.lossLoc.line));
      return;
    }
    model_.lossLoc = s.loc;
    NodeId v = lowerExpr(*s.expr);
    if (v != kNoNode && !b_.shape(v).isScalar()) {
      error(s.expr->loc, fmt::format("the loss must be a scalar, but it has shape {}; take mean(...) or sum(...)",
                                     b_.shape(v).str()));
      return;
    }
    model_.loss = v;
    return;
  }
  case Stmt::Kind::Metric: return declareMetric(s);
  case Stmt::Kind::Output: return declareOutput(s);
  case Stmt::Kind::Optimizer: return declareOptimizer(s);
  case Stmt::Kind::Train: return declareTrain(s);
  }
}

bool Lowerer::defineName(const std::string& name, SourceLoc loc, const char* what) {
  if (isBuiltinName(name) || name == "epoch" || name == "batch") {
    bool vowel = std::string_view("aeiou").find(what[0]) != std::string_view::npos;
    error(loc, fmt::format("'{}' is a builtin name and cannot name {} {}", name, vowel ? "an" : "a", what));
    return false;
  }
  auto it = defined_.find(name);
  if (it != defined_.end()) {
    error(loc, fmt::format("'{}' is already defined at line {}", name, it->second.line));
    return false;
  }
  defined_[name] = loc;
  return true;
}

std::optional<Shape> Lowerer::declaredShape(const Stmt& s, bool allowBatch) {
  if (s.dims.size() > static_cast<size_t>(kMaxRank)) {
    error(s.dims[kMaxRank].loc, fmt::format("a value may have at most {} dims; {} has {}", kMaxRank, s.name, s.dims.size()));
    return std::nullopt;
  }
  Shape shape;
  bool ok = true;
  for (size_t i = 0; i < s.dims.size(); ++i) {
    const DimSpec& d = s.dims[i];
    if (d.isBatch && (!allowBatch || i != 0)) {
      error(d.loc, allowBatch ? "'batch' may only be the first dim" : "a param cannot have a 'batch' dim");
      ok = false;
    } else if (!d.isBatch && d.size <= 0) {
      error(d.loc, fmt::format("a dim must be at least 1, not {}", d.size));
      ok = false;
    } else if (!d.isBatch && d.size > kMaxElements) {
      error(d.loc, fmt::format("dim {} is too large (the limit is {} elements)", d.size, kMaxElements));
      ok = false;
    }
    shape.dims.push_back(d.isBatch ? kBatch : d.size);
  }
  if (ok) {
    // Multiply in double: the product of several large dims overflows int64.
    double total = 1;
    for (int64_t d : shape.dims)
      if (d != kBatch) total *= static_cast<double>(d);
    if (total > static_cast<double>(kMaxElements)) {
      error(s.nameLoc, fmt::format("shape {} has more than {} elements", shape.str(), kMaxElements));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return shape;
}

void Lowerer::declareFn(const Stmt& s) {
  bool ok = defineName(s.name, s.nameLoc, "function");
  for (size_t i = 0; i < s.fnParams.size(); ++i) {
    const std::string& p = s.fnParams[i];
    if (isBuiltinName(p) || p == "epoch" || p == "batch") {
      error(s.fnParamLocs[i], fmt::format("'{}' is a builtin name and cannot name a parameter", p));
      ok = false;
    }
    for (size_t j = 0; j < i; ++j)
      if (s.fnParams[j] == p) {
        error(s.fnParamLocs[i], fmt::format("parameter '{}' appears twice", p));
        ok = false;
      }
  }
  if (ok) fns_[s.name] = &s;
  else brokenFns_.insert(s.name);  // its calls are not errors of their own
}

void Lowerer::declareInput(const Stmt& s) {
  std::optional<Shape> shape = declaredShape(s, true);
  if (!defineName(s.name, s.nameLoc, "input") || !shape) return;
  // Rows of data arrive in batches: an input without the batch dim would
  // have no row to take its values from.
  if (!shape->hasBatch())
    return error(s.dims.front().loc, fmt::format("an input's first dim must be 'batch', e.g. input {}[batch, ...]", s.name));
  if (s.numClasses > 0 && shape->staticElements() != 1)
    return error(s.nameLoc, fmt::format("a class input takes one column, but {} has shape {}", s.name, shape->str()));
  if (s.numClasses > kMaxElements) return error(s.nameLoc, "too many classes");
  Attrs a;
  a.name = s.name;
  NodeId n = b_.make(Op::Input, {}, a, *shape);
  model_.inputs.push_back(InputInfo{{s.name, *shape, s.numClasses, s.nameLoc}, n});
  globals_[s.name] = {n, s.nameLoc};
}

void Lowerer::declareParam(const Stmt& s) {
  std::optional<Shape> shape = s.hasDims ? declaredShape(s, false) : Shape{};
  if (!defineName(s.name, s.nameLoc, "param") || !shape) return;
  std::optional<InitSpec> init = lowerInit(*s.expr, *shape);
  if (!init) return;
  Attrs a;
  a.name = s.name;
  NodeId n = b_.make(Op::Param, {}, a, *shape);
  model_.params.push_back(ParamInfo{{s.name, *shape, *init, s.nameLoc}, n});
  globals_[s.name] = {n, s.nameLoc};
}

std::optional<InitSpec> Lowerer::lowerInit(const Expr& e, const Shape& shape) {
  InitSpec init;
  using K = InitSpec::Kind;
  if (e.kind == Expr::Kind::List) {
    init.kind = K::List;
    if (!flattenList(e, shape, 0, init.values, "the param's shape")) return std::nullopt;
    return init;
  }
  std::string name = e.kind == Expr::Kind::Name || e.kind == Expr::Kind::Call ? e.name : "";
  if (name == "zeros" || name == "ones") {
    init.a = name == "ones" ? 1 : 0;
    return init;
  }
  struct Form { const char* name; K kind; std::vector<const char*> params; };
  static const Form forms[] = {
      {"normal", K::Normal, {"mean", "std"}},
      {"truncated_normal", K::TruncatedNormal, {"mean", "std"}},
      {"uniform", K::Uniform, {"lo", "hi"}},
      {"glorot", K::Glorot, {}},
      {"he", K::He, {}},
  };
  for (const Form& f : forms) {
    if (name != f.name) continue;
    init.kind = f.kind;
    std::vector<const Expr*> args;
    if (e.kind == Expr::Kind::Call && !bindArgs(e, f.params, f.params.size(), args)) return std::nullopt;
    if (e.kind == Expr::Kind::Name && !f.params.empty()) {
      error(e.loc, fmt::format("{} needs arguments: {}({}, {})", f.name, f.name, f.params[0], f.params[1]));
      return std::nullopt;
    }
    if (!f.params.empty()) {
      std::optional<double> a = constant(*args[0], f.params[0]), b = constant(*args[1], f.params[1]);
      if (!a || !b) return std::nullopt;
      init.a = *a;
      init.b = *b;
      if ((f.kind == K::Normal || f.kind == K::TruncatedNormal) && init.b < 0) {
        error(args[1]->loc, "std must not be negative");
        return std::nullopt;
      }
      if (f.kind == K::Uniform && init.b < init.a) {
        error(args[1]->loc, "uniform(lo, hi) needs lo <= hi");
        return std::nullopt;
      }
    }
    return init;
  }
  std::optional<double> v = constant(e, "an initializer (a number, zeros, ones, normal, truncated_normal, uniform, glorot, he or a list)");
  if (!v) return std::nullopt;
  init.a = *v;
  return init;
}

bool Lowerer::flattenList(const Expr& e, const Shape& shape, size_t dim, std::vector<double>& out,
                          const char* whose) {
  if (dim == shape.dims.size()) {
    if (e.kind == Expr::Kind::List) {
      error(e.loc, shape.isScalar() ? "a list initializer needs the param's dims, e.g. param c[2] = [0.5, 1]"
                                    : fmt::format("the list has more levels than {} {}", whose, shape.str()));
      return false;
    }
    std::optional<double> v = constant(e, "a list element");
    if (v) out.push_back(*v);
    return v.has_value();
  }
  if (e.kind != Expr::Kind::List || static_cast<int64_t>(e.args.size()) != shape.dims[dim]) {
    error(e.loc, fmt::format("the list does not match {} {}: dim {} should have {} elements{}", whose, shape.str(),
                             dim, shape.dims[dim],
                             e.kind == Expr::Kind::List ? fmt::format(", found {}", e.args.size()) : ""));
    return false;
  }
  for (const auto& el : e.args)
    if (!flattenList(*el, shape, dim + 1, out, whose)) return false;
  return true;
}

void Lowerer::declareMetric(const Stmt& s) {
  // The logs name the loss `loss`: a metric of that name would read as a second loss.
  if (s.name == "loss") return error(s.nameLoc, "a metric cannot be named 'loss': the log names the loss so");
  NodeId v;
  if (s.expr) {
    v = lowerExpr(*s.expr);
    if (!defineName(s.name, s.nameLoc, "metric")) return;
    globals_[s.name] = {v, s.nameLoc};
  } else {
    Expr ref;
    ref.kind = Expr::Kind::Name;
    ref.name = s.name;
    ref.loc = s.nameLoc;
    v = lowerName(ref);
  }
  if (v == kNoNode) return;
  if (!b_.shape(v).isScalar())
    return error(s.expr ? s.expr->loc : s.nameLoc,
                 fmt::format("a metric must be a scalar, but '{}' has shape {}", s.name, b_.shape(v).str()));
  // A set, not a scan of the metrics so far: 20,000 metrics made that quadratic.
  if (!metricNames_.insert(s.name).second)
    return error(s.nameLoc, fmt::format("metric '{}' is reported already", s.name));
  model_.metrics.push_back(NamedValue{s.name, v, s.nameLoc});
}

void Lowerer::declareOutput(const Stmt& s) {
  if (model_.output) return error(s.loc, fmt::format("a second 'output'; the first is at line {}", model_.output->loc.line));
  Expr ref;
  ref.kind = Expr::Kind::Name;
  ref.name = s.name;
  ref.loc = s.nameLoc;
  NodeId v = lowerName(ref);
  if (v == kNoNode) return;
  model_.output = NamedValue{s.name, v, s.nameLoc};
}

namespace {

bool isArgumentOf(const Expr& e, const Expr& call) {
  for (const ExprPtr& a : call.args)
    if (a.get() == &e) return true;
  for (const KeywordArg& k : call.kwargs)
    if (k.value.get() == &e) return true;
  return false;
}

} // namespace

NodeId Lowerer::lowerExpr(const Expr& e) {
  if (callFrames_.empty() || !isArgumentOf(e, *callFrames_.back().call)) return lowerHere(e);
  CallFrame frame = callFrames_.back();
  callFrames_.pop_back();
  b_.setCall(frame.outer);
  NodeId n = lowerHere(e);
  b_.setCall(frame.site);
  callFrames_.push_back(frame);
  return n;
}

NodeId Lowerer::lowerHere(const Expr& e) {
  b_.setLoc(e.loc);
  switch (e.kind) {
  case Expr::Kind::Number: return b_.constant(e.number);
  case Expr::Kind::String:
    error(e.loc, "a string is not a value here");
    return kNoNode;
  case Expr::Kind::Name: return lowerName(e);
  case Expr::Kind::Neg: {
    NodeId x = lowerExpr(*e.args[0]);
    b_.setLoc(e.loc);
    return b_.neg(x);
  }
  case Expr::Kind::Binary: return lowerBinary(e);
  case Expr::Kind::Call: return lowerCall(e);
  case Expr::Kind::List: return lowerList(e);
  }
  return kNoNode;
}

bool Lowerer::listShape(const Expr& e, Shape& shape) {
  double total = 1;  // in double: 32 levels of 1000 overflow int64
  for (const Expr* at = &e; at->kind == Expr::Kind::List; at = at->args[0].get()) {
    if (at->args.empty()) {
      error(at->loc, "an empty list has no values; a constant needs at least one element");
      return false;
    }
    if (shape.rank() == kMaxRank) {
      error(at->loc, fmt::format("a value may have at most {} dims; this list nests deeper", kMaxRank));
      return false;
    }
    shape.dims.push_back(static_cast<int64_t>(at->args.size()));
    total *= static_cast<double>(at->args.size());
    if (total > static_cast<double>(kMaxElements)) {
      error(e.loc, fmt::format("the list has more than {} elements", kMaxElements));
      return false;
    }
  }
  return true;
}

NodeId Lowerer::lowerList(const Expr& e) {
  // The first element at each level fixes the shape; flattenList then
  // reports the first element that does not fit it (a ragged list).
  Shape shape;
  if (!listShape(e, shape)) return kNoNode;
  Attrs a;
  if (!flattenList(e, shape, 0, a.values, "the shape set by its first elements")) return kNoNode;
  b_.setLoc(e.loc);
  return checked(b_.make(Op::ConstantTensor, {}, std::move(a), shape), e.loc, "a list");
}

NodeId Lowerer::lowerName(const Expr& e) {
  for (auto scope = fnScopes_.rbegin(); scope != fnScopes_.rend(); ++scope) {
    auto it = scope->find(e.name);
    if (it != scope->end()) return it->second;
    break; // a function body sees its own parameters, then the globals
  }
  auto it = globals_.find(e.name);
  if (it != globals_.end() && !fnBodies_.empty() && it->second.loc.line > fnBodies_.back()->loc.line) {
    // A value is visible after its line: a fn body sees what was defined before the fn.
    error(e.loc, fmt::format("'{}' is defined on line {}, after the function '{}' that uses it (line {})", e.name,
                             it->second.loc.line, fnBodies_.back()->name, fnBodies_.back()->loc.line));
    return kNoNode;
  }
  if (it != globals_.end()) return it->second.node;
  if (e.name == "epoch") {
    b_.setLoc(e.loc);
    return b_.make(Op::Epoch, {});
  }
  if (e.name == "batch") error(e.loc, "'batch' is a dim, not a value");
  else if (fns_.count(e.name)) error(e.loc, fmt::format("'{}' is a function; call it with arguments", e.name));
  else if (isBuiltinName(e.name)) error(e.loc, fmt::format("'{}' is a builtin function; call it with arguments", e.name));
  else if (defined_.count(e.name)) return kNoNode; // defined, but its definition failed
  else error(e.loc, fmt::format("unknown name '{}'{}", e.name, didYouMean(e.name, namesInScope())));
  return kNoNode;
}

std::vector<std::string> Lowerer::namesInScope() const {
  std::vector<std::string> names;
  if (!fnScopes_.empty())
    for (const auto& [name, node] : fnScopes_.back()) names.push_back(name);
  for (const auto& [name, loc] : defined_)
    if (!fns_.count(name)) names.push_back(name);  // a value, not a function
  names.push_back("epoch");
  return names;
}

NodeId Lowerer::lowerBinary(const Expr& e) {
  // A loop along the left operands: `w - 1 - 1 - ...` nests as deep as it is
  // long (recursion overflowed the stack at 20,000 terms), while the right
  // operands nest at most kMaxNesting deep.
  std::vector<const Expr*> spine = leftSpine(e);
  NodeId acc = lowerExpr(*spine.back()->args[0]);
  for (auto link = spine.rbegin(); link != spine.rend(); ++link) {
    if (!withinNodeLimit((*link)->loc)) return kNoNode;
    NodeId rhs = lowerExpr(*(*link)->args[1]);
    acc = applyBinary(**link, acc, rhs);
  }
  return acc;
}

bool Lowerer::withinNodeLimit(SourceLoc loc, const std::string& what) {
  if (b_.graph().size() <= kMaxGraphNodes) return true;
  // Reported once: everything lowered after the first excess would repeat it.
  if (!tooLarge_)
    error(loc, what.empty() ? fmt::format("the model grows past {} graph nodes here", kMaxGraphNodes)
                            : fmt::format("{} makes the model larger than {} graph nodes", what, kMaxGraphNodes));
  tooLarge_ = true;
  return false;
}

NodeId Lowerer::applyBinary(const Expr& e, NodeId a, NodeId b) {
  b_.setLoc(e.loc);
  Op op = Op::Add;
  // The graph compares with > >= == only: a < b is b > a, and a != b is 1 - (a == b).
  bool swap = false, negate = false;
  switch (e.op) {
  case '@': return lowerMatMul(a, b, e.loc);
  case '+': op = Op::Add; break;
  case '-': op = Op::Sub; break;
  case '*': op = Op::Mul; break;
  case '/': op = Op::Div; break;
  case '^': op = Op::Pow; break;
  case '>': op = Op::Greater; break;
  case kGreaterEqual: op = Op::GreaterEqual; break;
  case '<': op = Op::Greater; swap = true; break;
  case kLessEqual: op = Op::GreaterEqual; swap = true; break;
  case kEqualEqual: op = Op::Equal; break;
  case kNotEqual: op = Op::Equal; negate = true; break;
  }
  std::string what = fmt::format("'{}'", opSpelling(e.op));
  Shape joined;
  if (swap && a != kNoNode && b != kNoNode && !broadcastShapes(b_.shape(a), b_.shape(b), joined)) {
    // Checked in the order written: the swapped node would name the shapes backwards.
    error(e.loc, fmt::format("{}: shapes {} and {} do not broadcast", what, b_.shape(a).str(), b_.shape(b).str()));
    return kNoNode;
  }
  NodeId out = checked(swap ? b_.binary(op, b, a) : b_.binary(op, a, b), e.loc, what);
  return negate && out != kNoNode ? b_.sub(b_.constant(1), out) : out;
}

NodeId Lowerer::lowerMatMul(NodeId a, NodeId b, SourceLoc loc) {
  if (a == kNoNode || b == kNoNode) return kNoNode;
  Shape sa = b_.shape(a), sb = b_.shape(b);
  auto fail = [&] {
    error(loc, fmt::format("'@': cannot multiply {} @ {}", sa.str(), sb.str()));
    return kNoNode;
  };
  if (sa.rank() >= 3 && sb.rank() >= 1 && sb.rank() <= 2) return lowerStackedMatMul(a, b, loc);
  if (sa.rank() < 1 || sa.rank() > 2 || sb.rank() < 1 || sb.rank() > 2) return fail();
  // k may be batch: transpose(x) @ x sums over the rows (the Gram matrix),
  // the same contraction autodiff makes for every weight gradient.
  int64_t k = sa.dims.back();
  if (k != sb.dims[0]) return fail();
  // Vectors become 1-row or 1-column matrices; the result drops that dim again.
  NodeId a2 = sa.rank() == 1 ? b_.reshape(a, Shape{1, k}) : a;
  NodeId b2 = sb.rank() == 1 ? b_.reshape(b, Shape{k, 1}) : b;
  NodeId c = checked(b_.matmul(a2, b2), loc, "'@'");
  if (c == kNoNode) return c;
  Shape out;
  if (sa.rank() == 2) out.dims.push_back(sa.dims[0]);
  if (sb.rank() == 2) out.dims.push_back(sb.dims[1]);
  return b_.reshape(c, out);
}

/// [d0, ..., m, k] @ [k, n] (or @ [k]), as NumPy broadcasts B over A's
/// leading dims: one product of A's rows, [d0 * ... * m, k], reshaped back.
/// A batch dim may lead; the others are fixed.
NodeId Lowerer::lowerStackedMatMul(NodeId a, NodeId b, SourceLoc loc) {
  const Shape sa = b_.shape(a), sb = b_.shape(b);
  int64_t rows = sa.dims[0];
  for (int d = 1; d + 1 < sa.rank(); ++d) {
    if (isBatchDim(sa.dims[size_t(d)])) {
      error(loc, fmt::format("'@': cannot multiply {} @ {}: only A's first dim may be batch", sa.str(), sb.str()));
      return kNoNode;
    }
    rows = dimTimes(rows, sa.dims[size_t(d)]);
  }
  if (sa.dims.back() != sb.dims[0]) {
    error(loc, fmt::format("'@': cannot multiply {} @ {}", sa.str(), sb.str()));
    return kNoNode;
  }
  NodeId flat = lowerMatMul(b_.reshape(a, Shape{rows, sa.dims.back()}), b, loc);
  if (flat == kNoNode) return flat;
  Shape out(std::vector<int64_t>(sa.dims.begin(), sa.dims.end() - 1));
  if (sb.rank() == 2) out.dims.push_back(sb.dims[1]);
  return b_.reshape(flat, out);
}

NodeId Lowerer::lowerCall(const Expr& e) {
  auto fn = fns_.find(e.name);
  if (fn != fns_.end()) return inlineFn(*fn->second, e);
  if (brokenFns_.count(e.name)) return kNoNode;  // its declaration's error says what is wrong
  NodeId out = kNoNode;
  // Builtins made of several ops check some of them themselves; a shape
  // error in any other (say onehot adding a 33rd dim) is reported here.
  if (lowerBuiltinCall(e, out)) return checked(out, e.loc, fmt::format("'{}'", e.name));
  if (globals_.count(e.name)) error(e.loc, fmt::format("'{}' is a value, not a function", e.name));
  else {
    std::vector<std::string> names = builtinNames();
    for (const auto& [name, fn] : fns_) names.push_back(name);
    error(e.loc, fmt::format("unknown function '{}'{}", e.name, didYouMean(e.name, names)));
  }
  return kNoNode;
}

bool Lowerer::lowerBuiltinCall(const Expr& e, NodeId& out) {
  if (!isBuiltinName(e.name)) return false;
  int32_t outer = b_.call();
  int32_t site = b_.graph().addCall({e.name, e.loc, outer, kNoNode, true});
  callFrames_.push_back({&e, site, outer});
  b_.setCall(site);
  bool found = lowerBuiltin(e, out);
  b_.setCall(outer);
  callFrames_.pop_back();
  b_.graph().call(site).result = out;
  return found;
}

NodeId Lowerer::inlineFn(const Stmt& fn, const Expr& call) {
  if (!call.kwargs.empty()) {
    error(call.kwargs[0].loc, fmt::format("'{}' takes positional arguments only", fn.name));
    return kNoNode;
  }
  if (call.args.size() != fn.fnParams.size()) {
    error(call.loc, fmt::format("'{}' takes {} argument{}, got {}", fn.name, fn.fnParams.size(),
                                fn.fnParams.size() == 1 ? "" : "s", call.args.size()));
    return kNoNode;
  }
  // Statements grow the graph linearly; inlining can grow it exponentially
  // (f(x) = g(x) + g(2 * x), nested), so the limit is checked here too.
  if (!withinNodeLimit(call.loc, fmt::format("inlining '{}'", fn.name))) return kNoNode;
  if (inlineDepth_ >= 64) {
    error(call.loc, fmt::format("calls to '{}' nest too deeply (is it recursive?)", fn.name));
    return kNoNode;
  }
  std::map<std::string, NodeId> scope;
  std::vector<NodeId> args;
  for (size_t i = 0; i < call.args.size(); ++i) args.push_back(scope[fn.fnParams[i]] = lowerExpr(*call.args[i]));
  // The same function of the same values is the same graph: lowering its body
  // again would only rebuild it (and fn calling fn twice would be exponential).
  auto memo = inlined_.find({&fn, args});
  if (memo != inlined_.end()) return memo->second;
  fnScopes_.push_back(std::move(scope));
  fnBodies_.push_back(&fn);
  ++inlineDepth_;
  size_t errorsBefore = diags_.diagnostics().size();
  int32_t outer = b_.call();
  int32_t site = b_.graph().addCall({fn.name, call.loc, outer, kNoNode, false});
  b_.setCall(site);
  NodeId out = lowerExpr(*fn.expr);
  b_.setCall(outer);
  b_.graph().call(site).result = out;
  --inlineDepth_;
  fnBodies_.pop_back();
  fnScopes_.pop_back();
  // Failures are remembered too: their errors are reported once, not once per call.
  inlined_[{&fn, args}] = out;
  if (diags_.diagnostics().size() > errorsBefore) {
    Diagnostic d;
    d.severity = Severity::Note;
    d.file = diags_.file();
    d.line = call.loc.line;
    d.col = call.loc.col;
    d.message = fmt::format("in this call to '{}'", fn.name);
    // A recursive call unwinds through the same call once per level: one note says it.
    const Diagnostic& last = diags_.diagnostics().back();
    bool repeated = last.severity == Severity::Note && last.line == d.line && last.col == d.col && last.message == d.message;
    if (!repeated) diags_.add(std::move(d));
  }
  return out;
}

/// The value of a constant `a OP b`; none for `@`, which has no scalar meaning.
static std::optional<double> arithmetic(char op, double a, double b) {
  switch (op) {
  case '+': return a + b;
  case '-': return a - b;
  case '*': return a * b;
  case '/': return a / b;
  case '^': return std::pow(a, b);
  case '<': return a < b;
  case '>': return a > b;
  case kLessEqual: return a <= b;
  case kGreaterEqual: return a >= b;
  case kEqualEqual: return a == b;
  case kNotEqual: return a != b;
  default: return std::nullopt;
  }
}

std::optional<double> Lowerer::constant(const Expr& e, const char* what) {
  switch (e.kind) {
  case Expr::Kind::Number: return e.number;
  case Expr::Kind::Name:
    if (e.name == "true") return 1.0;
    if (e.name == "false") return 0.0;
    break;
  case Expr::Kind::Neg: {
    auto v = constant(*e.args[0], what);
    if (v) return -*v;
    return std::nullopt;
  }
  case Expr::Kind::Binary: {
    // A loop along the left operands, as in lowerBinary: `epochs = 1+1+...`
    // is a chain as deep as it is long.
    std::vector<const Expr*> spine = leftSpine(e);
    std::optional<double> acc = constant(*spine.back()->args[0], what);
    for (auto link = spine.rbegin(); acc && link != spine.rend(); ++link) {
      std::optional<double> rhs = constant(*(*link)->args[1], what);
      if (!rhs) return std::nullopt;
      acc = arithmetic((*link)->op, *acc, *rhs);
      if (!acc) error((*link)->loc, fmt::format("expected {} as a constant number", what));
    }
    return acc;
  }
  default: break;
  }
  error(e.loc, fmt::format("expected {} as a constant number", what));
  return std::nullopt;
}

std::optional<int64_t> Lowerer::wholeConstant(const Expr& e, const char* what) {
  auto v = constant(e, what);
  if (!v) return std::nullopt;
  if (*v != std::floor(*v) || std::fabs(*v) > 4e18) {
    error(e.loc, fmt::format("{} must be a whole number, not {}", what, *v));
    return std::nullopt;
  }
  return static_cast<int64_t>(*v);
}

std::optional<int64_t> Lowerer::axis(const Expr* e, int64_t fallback, int rank, SourceLoc loc) {
  int64_t a = fallback;
  if (e && e->kind == Expr::Kind::List) {
    error(e->loc, "this axis is one number; only sum, mean and max take a list of axes");
    return std::nullopt;
  }
  if (e) {
    auto v = wholeConstant(*e, "axis");
    if (!v) return std::nullopt;
    a = *v;
  }
  if (a < -rank || a >= rank) {
    error(e ? e->loc : loc, fmt::format("axis {} is out of range for a value with {} dim{}", a, rank, rank == 1 ? "" : "s"));
    return std::nullopt;
  }
  return a < 0 ? a + rank : a;
}

std::optional<std::vector<int64_t>> Lowerer::axes(const Expr& e, int rank) {
  if (e.kind != Expr::Kind::List) {
    std::optional<int64_t> one = axis(&e, 0, rank, e.loc);
    if (!one) return std::nullopt;
    return std::vector<int64_t>{*one};
  }
  if (e.args.empty()) {
    error(e.loc, "axis = [] names no axis; leave axis out to reduce over every axis");
    return std::nullopt;
  }
  std::vector<int64_t> out;
  std::vector<const Expr*> source;  // where each axis was written
  for (const auto& el : e.args) {
    if (el->kind == Expr::Kind::List) {
      error(el->loc, "a list of axes holds numbers, not lists");
      return std::nullopt;
    }
    std::optional<int64_t> a = axis(el.get(), 0, rank, el->loc);
    if (!a) return std::nullopt;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] != *a) continue;
      // As written (both are valid constants by now): -1 and 1 may be the same axis.
      int64_t first = *wholeConstant(*source[i], "axis"), again = *wholeConstant(*el, "axis");
      error(el->loc, first == again ? fmt::format("axis {} is listed twice", first)
                                    : fmt::format("axes {} and {} are both axis {}", first, again, *a));
      return std::nullopt;
    }
    out.push_back(*a);
    source.push_back(el.get());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Lowerer::bindArgs(const Expr& call, const std::vector<const char*>& names, size_t required,
                       std::vector<const Expr*>& out) {
  out.assign(names.size(), nullptr);
  if (call.args.size() > names.size()) {
    error(call.args[names.size()]->loc, fmt::format("'{}' takes at most {} argument{}", call.name, names.size(),
                                                     names.size() == 1 ? "" : "s"));
    return false;
  }
  for (size_t i = 0; i < call.args.size(); ++i) out[i] = call.args[i].get();
  for (const KeywordArg& k : call.kwargs) {
    size_t i = 0;
    while (i < names.size() && k.name != names[i]) ++i;
    if (i == names.size()) {
      std::string known, suggestion = didYouMean(k.name, {names.begin(), names.end()});
      for (const char* n : names) known += (known.empty() ? "" : ", ") + std::string(n);
      if (suggestion.empty() && !known.empty()) suggestion = " (it takes " + known + ")";
      error(k.loc, fmt::format("'{}' has no argument '{}'{}", call.name, k.name, suggestion));
      return false;
    }
    if (out[i]) {
      error(k.loc, fmt::format("argument '{}' is given twice", k.name));
      return false;
    }
    out[i] = k.value.get();
  }
  for (size_t i = 0; i < required; ++i)
    if (!out[i]) {
      error(call.loc, fmt::format("'{}' needs the argument '{}'", call.name, names[i]));
      return false;
    }
  return true;
}

} // namespace nnjit
