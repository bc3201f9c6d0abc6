// OptimizerTest: every optimizer's compiled update against a plain C++ implementation of the contract's table.
#include "TestSupport.h"

#include <algorithm>
#include <functional>
#include <map>

using namespace nnjit;
using namespace nnjit::test;

namespace {

/// The optimizer's arguments, with the contract's defaults.
struct Hyper {
  std::string kind;
  double lr = 0.001, momentum = 0, weightDecay = 0, eps = 1e-7, initial = 0, rho = 0.9, beta1 = 0.9,
         beta2 = 0.999;
  bool nesterov = false;
};

/// p[3] = [0.5, -1, 2]: loss term sum(square(p * 1.5 - 0.3)) + sum(sin(p)),
///   gradient 3 (1.5 p - 0.3) + cos(p).
/// q[2, 2] = [[1, -2], [0.5, 3]]: loss term mean(exp(q * 0.3)), gradient 0.3 exp(0.3 q) / 4.
/// z = 2 does not affect the loss: its gradient is zero.
const char* kParams = "param p[3] = [0.5, -1, 2]\n"
                      "param q[2, 2] = [[1, -2], [0.5, 3]]\n"
                      "param z = 2\n"
                      "loss = sum(square(p * 1.5 - 0.3)) + sum(sin(p)) + mean(exp(q * 0.3))\n";

/// One param of the reference, in the run's precision T.
template <class T>
struct Param {
  std::string name;
  std::vector<T> value;
  std::function<double(double)> grad;  // elementwise: each gradient depends on its own element
};

template <class T>
std::vector<Param<T>> initialParams() {
  return {
      {"p", {T(0.5), T(-1), T(2)}, [](double x) { return 3 * (1.5 * x - 0.3) + std::cos(x); }},
      {"q", {T(1), T(-2), T(0.5), T(3)}, [](double x) { return 0.3 * std::exp(0.3 * x) / 4; }},
      {"z", {T(2)}, [](double) { return 0.0; }},
  };
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// The contract's update table, one step for every param, computed in T
/// (float for an F32 run: its literals are float32 too).
template <class T>
class ReferenceOptimizer {
public:
  explicit ReferenceOptimizer(Hyper h) : h_(std::move(h)) {}

  std::map<std::string, std::vector<T>> states;

  void step(std::vector<Param<T>>& params, int t, double lr) {
    for (Param<T>& p : params) {
      std::vector<T> g(p.value.size());
      for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<T>(p.grad(p.value[i]));
      update(p, g, t, static_cast<T>(lr));
    }
  }

  /// The names of the state tensors the optimizer keeps, as the contract names them.
  std::vector<std::string> stateNames(const std::vector<Param<T>>& params) const {
    std::vector<std::string> out;
    for (const Param<T>& p : params)
      for (const char* s : slots()) out.push_back(h_.kind + "." + s + "." + p.name);
    return out;
  }

private:
  std::vector<const char*> slots() const {
    if (h_.kind == "sgd") return h_.momentum != 0 ? std::vector<const char*>{"v"} : std::vector<const char*>{};
    if (h_.kind == "adagrad" || h_.kind == "rmsprop") return {"s"};
    return {"m", "v"};
  }

  std::vector<T>& state(const std::string& slot, const Param<T>& p, double initial = 0) {
    std::string name = h_.kind + "." + slot + "." + p.name;
    auto it = states.find(name);
    if (it == states.end()) it = states.emplace(name, std::vector<T>(p.value.size(), static_cast<T>(initial))).first;
    return it->second;
  }

  void update(Param<T>& p, std::vector<T> g, int t, T lr) {
    std::vector<T>& x = p.value;
    const size_t n = x.size();
    const T wd = static_cast<T>(h_.weightDecay), mom = static_cast<T>(h_.momentum), eps = static_cast<T>(h_.eps);
    if (h_.kind == "sgd") {
      for (size_t i = 0; i < n; ++i) g[i] += wd * x[i];
      if (h_.momentum == 0) {
        for (size_t i = 0; i < n; ++i) x[i] -= lr * g[i];
        return;
      }
      std::vector<T>& v = state("v", p);
      for (size_t i = 0; i < n; ++i) {
        v[i] = mom * v[i] + g[i];
        x[i] -= lr * (h_.nesterov ? g[i] + mom * v[i] : v[i]);
      }
    } else if (h_.kind == "adagrad") {
      std::vector<T>& s = state("s", p, h_.initial);
      for (size_t i = 0; i < n; ++i) {
        s[i] += g[i] * g[i];
        x[i] -= lr * g[i] / (std::sqrt(s[i]) + eps);
      }
    } else if (h_.kind == "rmsprop") {
      const T rho = static_cast<T>(h_.rho), rest = static_cast<T>(1 - h_.rho);
      std::vector<T>& s = state("s", p);
      for (size_t i = 0; i < n; ++i) {
        s[i] = rho * s[i] + rest * g[i] * g[i];
        x[i] -= lr * g[i] / (std::sqrt(s[i]) + eps);
      }
    } else {  // adam, adamw
      const T b1 = static_cast<T>(h_.beta1), b2 = static_cast<T>(h_.beta2);
      const T rest1 = static_cast<T>(1 - h_.beta1), rest2 = static_cast<T>(1 - h_.beta2);
      // 1 - beta^t to the last bit of T: nnjit keeps them within 1e-7 in float32.
      const T correct1 = static_cast<T>(-std::expm1(t * std::log(h_.beta1)));
      const T correct2 = static_cast<T>(-std::expm1(t * std::log(h_.beta2)));
      const T stepSize = lr / correct1, root2 = std::sqrt(correct2);
      std::vector<T>& m = state("m", p);
      std::vector<T>& v = state("v", p);
      for (size_t i = 0; i < n; ++i) {
        if (h_.kind == "adamw") x[i] *= T(1) - lr * wd;
        m[i] = b1 * m[i] + rest1 * g[i];
        v[i] = b2 * v[i] + rest2 * g[i] * g[i];
        x[i] -= stepSize * m[i] / (std::sqrt(v[i]) / root2 + eps);  // the table's formula, in PyTorch's order
      }
    }
  }

  Hyper h_;
};

CompileOptions trainStepOnly(DType dtype) {
  CompileOptions o;
  o.trainStep = true;
  o.dtype = dtype;
  return o;
}

void compareValues(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what << "[" << i << "]");
    CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-6));
  }
}

template <class T>
void checkOptimizerIn(const std::string& optimizer, const Hyper& h, int steps, const std::function<int(int)>& epochOf,
                      const std::function<double(int)>& lrOf, DType dtype) {
  std::string src = std::string(kParams) + "optimizer " + optimizer + "\ntrain(epochs = 1)\n";
  Compiled c(src, trainStepOnly(dtype));
  INFO(optimizer << "\n" << c.errors);
  REQUIRE(c.ok());
  const CompiledModel& cm = *c.cm;
  Session& s = *c.session;
  s.initParams(0);
  s.resetOptimizer();

  std::vector<Param<T>> params = initialParams<T>();
  ReferenceOptimizer<T> ref(h);
  REQUIRE(cm.paramSlots.size() == params.size());
  for (size_t i = 0; i < params.size(); ++i)
    compareValues(s.read(cm.paramSlots[i]), widen(params[i].value), "initial");

  // The state tensors are the contract's, by name, and start at their initial values.
  std::vector<std::string> names;
  for (const StateDecl& st : cm.states) names.push_back(st.name);
  std::vector<std::string> expectedNames = ref.stateNames(params);
  std::sort(names.begin(), names.end());
  std::sort(expectedNames.begin(), expectedNames.end());
  CHECK(names == expectedNames);
  REQUIRE(cm.stateSlots.size() == cm.states.size());

  for (int t = 1; t <= steps; ++t) {
    int epoch = epochOf(t);
    double lr = lrOf ? lrOf(epoch) : h.lr;
    INFO("step t = " << t << ", epoch = " << epoch << ", lr = " << lr);
    s.setScalar(cm.stepSlot, t);
    s.setScalar(cm.epochSlot, epoch);
    s.trainStep(1);
    ref.step(params, t, lr);
    for (size_t i = 0; i < params.size(); ++i)
      compareValues(s.read(cm.paramSlots[i]), widen(params[i].value), params[i].name);
    for (size_t i = 0; i < cm.states.size(); ++i) {
      auto it = ref.states.find(cm.states[i].name);
      if (it == ref.states.end()) continue;  // reported by the name check above
      compareValues(s.read(cm.stateSlots[i]), widen(it->second), cm.states[i].name);
    }
  }
}

/// Compiles `optimizer` over kParams, runs `steps` train steps with t = 1..steps
/// and epoch = epochOf(t), and compares every param and state tensor after each
/// with the reference in the run's precision.
void checkOptimizer(const std::string& optimizer, const Hyper& h, int steps = 5,
                    const std::function<int(int)>& epochOf = [](int) { return 0; },
                    const std::function<double(int)>& lrOf = nullptr, DType dtype = DType::F32) {
  if (dtype == DType::F32) checkOptimizerIn<float>(optimizer, h, steps, epochOf, lrOf, dtype);
  else checkOptimizerIn<double>(optimizer, h, steps, epochOf, lrOf, dtype);
}

} // namespace

TEST_CASE("optimizer: sgd", "[optimizer]") {
  Hyper h;
  h.kind = "sgd";
  h.lr = 0.1;
  checkOptimizer("sgd(lr = 0.1)", h);
}

TEST_CASE("optimizer: sgd with momentum", "[optimizer]") {
  Hyper h;
  h.kind = "sgd";
  h.lr = 0.1;
  h.momentum = 0.9;
  checkOptimizer("sgd(lr = 0.1, momentum = 0.9)", h);
}

TEST_CASE("optimizer: sgd with nesterov momentum", "[optimizer]") {
  Hyper h;
  h.kind = "sgd";
  h.lr = 0.05;
  h.momentum = 0.8;
  h.nesterov = true;
  checkOptimizer("sgd(lr = 0.05, momentum = 0.8, nesterov = true)", h);
}

TEST_CASE("optimizer: sgd with weight decay", "[optimizer]") {
  Hyper h;
  h.kind = "sgd";
  h.lr = 0.1;
  h.weightDecay = 0.05;
  checkOptimizer("sgd(lr = 0.1, weight_decay = 0.05)", h);
  // With momentum: the decayed gradient feeds the velocity.
  h.momentum = 0.5;
  checkOptimizer("sgd(lr = 0.1, momentum = 0.5, weight_decay = 0.05)", h);
  // And nesterov.
  h.nesterov = true;
  checkOptimizer("sgd(lr = 0.1, momentum = 0.5, nesterov = true, weight_decay = 0.05)", h);
}

TEST_CASE("optimizer: adagrad with an initial accumulator", "[optimizer]") {
  Hyper h;
  h.kind = "adagrad";
  h.lr = 0.1;
  h.initial = 0.1;
  h.eps = 1e-10;
  checkOptimizer("adagrad(lr = 0.1, initial = 0.1)", h);
  h.lr = 0.2;
  h.initial = 0;
  h.eps = 1e-3;
  checkOptimizer("adagrad(lr = 0.2, eps = 1e-3)", h);
}

TEST_CASE("optimizer: rmsprop", "[optimizer]") {
  Hyper h;
  h.kind = "rmsprop";
  h.lr = 0.01;
  checkOptimizer("rmsprop(lr = 0.01)", h);
  h.rho = 0.8;
  h.eps = 1e-4;
  checkOptimizer("rmsprop(lr = 0.01, rho = 0.8, eps = 1e-4)", h);
}

TEST_CASE("optimizer: adam", "[optimizer]") {
  Hyper h;
  h.kind = "adam";
  h.lr = 0.001;
  checkOptimizer("adam()", h);  // every default
  h.lr = 0.1;
  checkOptimizer("adam(lr = 0.1)", h);
  h.lr = 0.05;
  h.beta1 = 0.8;
  h.beta2 = 0.99;
  h.eps = 1e-3;
  checkOptimizer("adam(lr = 0.05, beta1 = 0.8, beta2 = 0.99, eps = 1e-3)", h);
}

TEST_CASE("optimizer: adamw", "[optimizer]") {
  Hyper h;
  h.kind = "adamw";
  h.lr = 0.1;
  h.weightDecay = 0.01;
  checkOptimizer("adamw(lr = 0.1)", h);
  h.weightDecay = 0.2;
  h.beta1 = 0.7;
  checkOptimizer("adamw(lr = 0.1, beta1 = 0.7, weight_decay = 0.2)", h);
}

TEST_CASE("optimizer: the step count t is read from the step slot", "[optimizer]") {
  // Starting at t = 3 (a resumed run) gives adam's bias correction for t = 3..7.
  Hyper h;
  h.kind = "adam";
  h.lr = 0.1;
  std::string src = std::string(kParams) + "optimizer adam(lr = 0.1)\ntrain(epochs = 1)\n";
  Compiled c(src, trainStepOnly(DType::F32));
  INFO(c.errors);
  REQUIRE(c.ok());
  const CompiledModel& cm = *c.cm;
  Session& s = *c.session;
  s.initParams(0);
  std::vector<Param<float>> params = initialParams<float>();
  ReferenceOptimizer<float> ref(h);
  for (int t = 3; t <= 7; ++t) {
    s.setScalar(cm.stepSlot, t);
    s.setScalar(cm.epochSlot, 0);
    s.trainStep(1);
    ref.step(params, t, h.lr);
  }
  for (size_t i = 0; i < params.size(); ++i)
    compareValues(s.read(cm.paramSlots[i]), widen(params[i].value), params[i].name);
}

TEST_CASE("optimizer: lr as an expression of epoch", "[optimizer]") {
  auto lrOf = [](int epoch) { return 0.2 * std::pow(0.5, epoch); };
  auto epochOf = [](int t) { return t - 1; };  // steps 1, 2, 3 in epochs 0, 1, 2
  Hyper h;
  h.kind = "sgd";
  checkOptimizer("sgd(lr = 0.2 * 0.5 ^ epoch)", h, 3, epochOf, lrOf);
  h.momentum = 0.9;
  checkOptimizer("sgd(lr = 0.2 * 0.5 ^ epoch, momentum = 0.9)", h, 3, epochOf, lrOf);
  // adamw decays with the same (scheduled) lr it steps with.
  Hyper w;
  w.kind = "adamw";
  w.weightDecay = 0.1;
  checkOptimizer("adamw(lr = 0.2 * 0.5 ^ epoch, weight_decay = 0.1)", w, 3, epochOf, lrOf);
  // Epochs that go back and forth: lr follows the slot, not a count of calls.
  auto zigzag = [](int t) { return t % 2 == 0 ? 2 : 0; };
  h.momentum = 0;
  checkOptimizer("sgd(lr = 0.2 * 0.5 ^ epoch)", h, 5, zigzag, lrOf);
}

TEST_CASE("optimizer: F64 matches the double reference closely", "[optimizer]") {
  Hyper h;
  h.kind = "adam";
  h.lr = 0.1;
  checkOptimizer("adam(lr = 0.1)", h, 5, [](int) { return 0; }, nullptr, DType::F64);
  Hyper r;
  r.kind = "rmsprop";
  r.lr = 0.01;
  checkOptimizer("rmsprop(lr = 0.01)", r, 5, [](int) { return 0; }, nullptr, DType::F64);
}
