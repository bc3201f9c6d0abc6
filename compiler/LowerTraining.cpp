// LowerTraining: the `optimizer` and `train` statements, checked and defaulted.
#include "EditDistance.h"
#include "Lowering.h"

#include <cmath>
#include <fmt/format.h>

namespace nnjit {
namespace {

struct OptimizerForm {
  const char* kind;
  std::vector<const char*> params;   // lr first
  std::vector<double> defaults;      // NaN: required
};

const std::vector<OptimizerForm>& optimizerForms() {
  const double req = NAN;
  static const std::vector<OptimizerForm> forms = {
      {"sgd", {"lr", "momentum", "nesterov", "weight_decay"}, {req, 0, 0, 0}},
      {"adagrad", {"lr", "eps", "initial"}, {req, 1e-10, 0}},
      {"rmsprop", {"lr", "rho", "eps"}, {req, 0.9, 1e-7}},
      {"adam", {"lr", "beta1", "beta2", "eps"}, {0.001, 0.9, 0.999, 1e-7}},
      {"adamw", {"lr", "beta1", "beta2", "eps", "weight_decay"}, {0.001, 0.9, 0.999, 1e-7, 0.01}},
  };
  return forms;
}

/// Why `v` cannot be hyperparameter `param` (the values PyTorch refuses, and
/// a nesterov that is neither true nor false), or "" when it can.
std::string refusal(const std::string& param, double v) {
  if (param == "beta1" || param == "beta2") return v >= 0 && v < 1 ? "" : "must be at least 0 and below 1";
  if (param == "rho") return v >= 0 && v <= 1 ? "" : "must be from 0 to 1";
  if (param == "nesterov") return v == 0 || v == 1 ? "" : "is true or false";
  return v >= 0 ? "" : "must not be negative";  // lr, momentum, weight_decay, eps, initial
}

/// Whether `e` is numbers and arithmetic alone (a constant lr, not one of
/// `epoch`). An explicit stack: a 100,000-term sum is as deep as it is long.
bool isArithmetic(const Expr& e) {
  std::vector<const Expr*> stack{&e};
  while (!stack.empty()) {
    const Expr* x = stack.back();
    stack.pop_back();
    if (x->kind == Expr::Kind::Number) continue;
    if (x->kind != Expr::Kind::Neg && x->kind != Expr::Kind::Binary) return false;
    for (const ExprPtr& a : x->args) stack.push_back(a.get());
  }
  return true;
}

} // namespace

void Lowerer::declareOptimizer(const Stmt& s) {
  if (model_.optimizer) return error(s.loc, "a second 'optimizer'; a model has one");
  const Expr& call = *s.expr;
  const OptimizerForm* form = nullptr;
  for (const auto& f : optimizerForms())
    if (call.name == f.kind) form = &f;
  if (!form) {
    std::vector<std::string> kinds;
    for (const auto& f : optimizerForms()) kinds.push_back(f.kind);
    std::string suggestion = didYouMean(call.name, kinds);
    return error(call.loc, fmt::format("unknown optimizer '{}'{}", call.name,
                                       suggestion.empty() ? " (expected sgd, adagrad, rmsprop, adam or adamw)" : suggestion));
  }
  std::vector<const Expr*> args;
  if (!bindArgs(call, form->params, std::isnan(form->defaults[0]) ? 1 : 0, args)) return;

  OptimizerSpec spec;
  spec.kind = form->kind;
  spec.loc = call.loc;
  if (args[0]) {
    NodeId lr = lowerExpr(*args[0]);
    if (lr == kNoNode) return;
    if (!b_.shape(lr).isScalar()) return error(args[0]->loc, "lr must be a scalar");
    if (isArithmetic(*args[0]))
      if (std::optional<double> v = constant(*args[0], "lr"); v && !refusal("lr", *v).empty())
        return error(args[0]->loc, fmt::format("lr = {} {}", *v, refusal("lr", *v)));
    std::vector<bool> deps = reachableFrom(b_.graph(), {lr});
    for (NodeId n = 0; n < b_.graph().size(); ++n) {
      Op op = b_.graph().op(n);
      if (deps[n] && (op == Op::Input || op == Op::Param || op == Op::BatchSize))
        return error(args[0]->loc, "lr may depend on 'epoch' only, not on inputs or params");
    }
    spec.lr = lr;
  } else {
    b_.setLoc(call.loc);
    spec.lr = b_.constant(form->defaults[0]);
  }
  for (size_t i = 1; i < form->params.size(); ++i) {
    double v = form->defaults[i];
    if (args[i]) {
      auto c = constant(*args[i], form->params[i]);
      if (!c) return;
      v = *c;
      if (std::string why = refusal(form->params[i], v); !why.empty())
        return error(args[i]->loc, fmt::format("{} = {} {}", form->params[i], v, why));
    }
    spec.hyper[form->params[i]] = v;
  }
  model_.optimizer = spec;
}

/// `test = "x.csv"` or `test = ["images.gz", "labels.gz"]`: the files to test on.
bool Lowerer::testFiles(const Expr& t, TestSplit& test) {
  test.kind = TestSplit::Kind::File;
  auto named = [&](const Expr& path) {
    if (path.name.empty()) error(path.loc, "an empty path: 'test' names a file");
    return !path.name.empty();
  };
  if (t.kind == Expr::Kind::String) {
    test.paths = {t.name};
    return named(t);
  }
  if (t.args.empty()) {
    error(t.loc, "test = [] lists no files; give the test data's paths");
    return false;
  }
  for (const ExprPtr& e : t.args) {
    if (e->kind != Expr::Kind::String) {
      error(e->loc, "test = [...] lists data files: each must be a quoted path");
      return false;
    }
    if (!named(*e)) return false;
    test.paths.push_back(e->name);
  }
  return true;
}

void Lowerer::declareTrain(const Stmt& s) {
  if (model_.train) return error(s.loc, "a second 'train(...)'; a model has one");
  const Expr& call = *s.expr;
  std::vector<const Expr*> args;
  if (!bindArgs(call, {"epochs", "batch", "shuffle", "test", "patience"}, 0, args)) return;
  TrainSpec spec;
  spec.loc = s.loc;
  bool ok = true;
  if (args[0]) {
    auto v = wholeConstant(*args[0], "epochs");
    if (v && *v < 0) error(args[0]->loc, "epochs must not be negative");
    if (v && *v > kMostEpochs) error(args[0]->loc, fmt::format("epochs must be at most {}", kMostEpochs));
    ok &= v && *v >= 0 && *v <= kMostEpochs;
    if (v) spec.epochs = *v;
  }
  if (args[1]) {
    auto v = wholeConstant(*args[1], "batch");
    if (v && *v < 1) error(args[1]->loc, "batch must be at least 1");
    ok &= v && *v >= 1;
    if (v) spec.batch = *v;
  }
  bool named = args[2] && args[2]->kind == Expr::Kind::Name;
  if (named && args[2]->name == "true") {
    // `true` would pass as the seed 1: say what shuffle takes instead.
    error(args[2]->loc, "shuffle takes a seed (a whole number such as 42) or false, not true");
    ok = false;
  } else if (args[2] && !(named && args[2]->name == "false")) {
    auto v = wholeConstant(*args[2], "shuffle (a seed, or false)");
    if (v && *v < 0) error(args[2]->loc, "the shuffle seed must not be negative");
    ok &= v && *v >= 0;
    if (v) spec.shuffleSeed = static_cast<uint64_t>(*v);
  }
  if (const Expr* t = args[3]) {
    spec.testLoc = t->loc;
    if (t->kind == Expr::Kind::String || t->kind == Expr::Kind::List) {
      ok &= testFiles(*t, spec.test);
    } else if (auto v = constant(*t, "test (a row count, a fraction, a CSV path or a list of IDX paths)")) {
      if (*v < 0 || std::isnan(*v)) {
        error(t->loc, "test must not be negative");
        ok = false;
      } else if (*v > 0 && *v < 1) {
        spec.test.kind = TestSplit::Kind::Fraction;
        spec.test.fraction = *v;
      } else if (*v != std::floor(*v) || *v > 1e15) {
        error(t->loc, fmt::format("test must be a whole row count or a fraction between 0 and 1, not {}", *v));
        ok = false;
      } else if (*v > 0) {
        spec.test.kind = TestSplit::Kind::Count;
        spec.test.count = static_cast<int64_t>(*v);
      }
    } else {
      ok = false;
    }
  }
  if (const Expr* p = args[4]) {
    auto v = wholeConstant(*p, "patience");
    if (v && *v < 1) error(p->loc, "patience must be at least 1 (epochs without a lower test loss)");
    ok &= v && *v >= 1;
    if (v) spec.patience = *v;
    spec.patienceLoc = p->loc;
  }
  if (ok) model_.train = spec;
}

} // namespace nnjit
