// OptimizerRules: each optimizer's update as graph nodes (params' and state's new values).
#include "OptimizerRules.h"

#include <cmath>

namespace nnjit {
namespace {

class UpdateBuilder {
public:
  UpdateBuilder(Builder& b, const OptimizerSpec& spec, UpdatePlan& plan) : b_(b), spec_(spec), plan_(plan) {}

  double h(const char* name) const { return spec_.hyper.at(name); }
  NodeId c(double v) { return b_.constant(v); }

  NodeId state(const char* slot, const ParamInfo& p, double initial = 0) {
    StateTensor s;
    s.name = spec_.kind + "." + slot + "." + p.name;
    s.shape = p.shape;
    s.initial = initial;
    Attrs a;
    a.name = s.name;
    s.leaf = b_.make(Op::State, {}, a, p.shape);
    plan_.states.push_back(s);
    return s.leaf;
  }

  void assign(NodeId target, NodeId value) { plan_.updates.push_back(Update{target, value}); }

  /// p − lr·x
  NodeId descend(NodeId p, NodeId x) { return b_.sub(p, b_.mul(spec_.lr, x)); }

  void sgd(const ParamInfo& p, NodeId g) {
    if (h("weight_decay") != 0) g = b_.add(g, b_.mul(c(h("weight_decay")), p.node));
    double momentum = h("momentum");
    if (momentum == 0) return assign(p.node, descend(p.node, g));
    NodeId v = state("v", p);
    NodeId v2 = b_.add(b_.mul(c(momentum), v), g);
    assign(v, v2);
    NodeId step = h("nesterov") != 0 ? b_.add(g, b_.mul(c(momentum), v2)) : v2;
    assign(p.node, descend(p.node, step));
  }

  /// p − lr·g / (√s + eps), the shared tail of adagrad and rmsprop.
  void scaled(const ParamInfo& p, NodeId g, NodeId s2) {
    assign(p.node, descend(p.node, b_.div(g, b_.add(b_.unary(Op::Sqrt, s2), c(h("eps"))))));
  }

  void adagrad(const ParamInfo& p, NodeId g) {
    NodeId s = state("s", p, h("initial"));
    NodeId s2 = b_.add(s, b_.unary(Op::Square, g));
    assign(s, s2);
    scaled(p, g, s2);
  }

  void rmsprop(const ParamInfo& p, NodeId g) {
    double rho = h("rho");
    NodeId s = state("s", p);
    NodeId s2 = b_.add(b_.mul(c(rho), s), b_.mul(c(1 - rho), b_.unary(Op::Square, g)));
    assign(s, s2);
    scaled(p, g, s2);
  }

  /// 1 − beta^t, the bias correction. In float32 the plain form loses five
  /// digits: beta = 0.999 rounds to 0.99900001, so 1 − beta^t is off by
  /// 1.3e-5 relative (200 float32 ulps) at t = 1, and pow's rounding near 1
  /// is amplified as much at every t. With beta^t = e^−x, x = −t·ln(beta),
  /// 1 − e^−x = 2·tanh(x/2) / (1 + tanh(x/2)) exactly, and tanh keeps its
  /// relative precision near 0, so this form is within 1e-7 (ln(beta) is
  /// folded in double). Betas outside (0, 1) keep the plain form.
  NodeId biasCorrection(double beta, NodeId t) {
    if (!(beta > 0 && beta < 1)) return b_.sub(c(1), b_.binary(Op::Pow, c(beta), t));
    NodeId half = b_.unary(Op::Tanh, b_.mul(t, c(-std::log(beta) / 2)));
    return b_.div(b_.mul(c(2), half), b_.add(c(1), half));
  }

  /// adam's update in PyTorch's order of operations, which float32 rounds
  /// least (the contract's formula, rearranged): p ← p·(1 − lr·wd), then
  /// p ← p − (lr / (1 − b1^t))·m / (√v / √(1 − b2^t) + eps).
  void adam(const ParamInfo& p, NodeId g, bool decoupledDecay) {
    double b1 = h("beta1"), b2 = h("beta2");
    NodeId t = b_.make(Op::Step, {});
    NodeId m = state("m", p), v = state("v", p);
    NodeId m2 = b_.add(b_.mul(c(b1), m), b_.mul(c(1 - b1), g));
    NodeId v2 = b_.add(b_.mul(c(b2), v), b_.mul(c(1 - b2), b_.unary(Op::Square, g)));
    assign(m, m2);
    assign(v, v2);
    NodeId p0 = p.node;
    if (decoupledDecay) p0 = b_.mul(p0, b_.sub(c(1), b_.mul(spec_.lr, c(h("weight_decay")))));
    NodeId stepSize = b_.div(spec_.lr, biasCorrection(b1, t));
    NodeId denom = b_.add(b_.div(b_.unary(Op::Sqrt, v2), b_.unary(Op::Sqrt, biasCorrection(b2, t))), c(h("eps")));
    assign(p.node, b_.sub(p0, b_.div(b_.mul(stepSize, m2), denom)));
  }

private:
  Builder& b_;
  const OptimizerSpec& spec_;
  UpdatePlan& plan_;
};

} // namespace

void overrideLearningRate(Model& model, double lr) {
  if (!model.optimizer) return;
  Builder b(model.graph);
  b.setLoc(model.optimizer->loc);
  model.optimizer->lr = b.constant(lr);
}

UpdatePlan buildOptimizerUpdates(Builder& b, const Model& model, const std::vector<NodeId>& grads) {
  UpdatePlan plan;
  const OptimizerSpec& spec = *model.optimizer;
  UpdateBuilder u(b, spec, plan);
  b.setLoc(spec.loc);
  for (size_t i = 0; i < model.params.size(); ++i) {
    const ParamInfo& p = model.params[i];
    if (spec.kind == "sgd") u.sgd(p, grads[i]);
    else if (spec.kind == "adagrad") u.adagrad(p, grads[i]);
    else if (spec.kind == "rmsprop") u.rmsprop(p, grads[i]);
    else if (spec.kind == "adam") u.adam(p, grads[i], false);
    else u.adam(p, grads[i], true);  // adamw
  }
  return plan;
}

} // namespace nnjit
