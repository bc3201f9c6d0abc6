// ConstantFold: elementwise ops whose inputs are all constants become constants.
#include "Passes.h"
#include "Rewrite.h"

#include <cmath>

namespace nnjit {

double evaluateScalar(Op op, const std::vector<double>& a, double attr) {
  auto x = [&] { return a[0]; };
  switch (op) {
  case Op::Neg: return -x();
  case Op::Exp: return std::exp(x());
  case Op::Log: return std::log(x());
  case Op::Sqrt: return std::sqrt(x());
  case Op::Abs: return std::fabs(x());
  case Op::Square: return x() * x();
  case Op::Tanh: return std::tanh(x());
  case Op::Sigmoid: return 1 / (1 + std::exp(-x()));
  case Op::Relu: return x() > 0 ? x() : 0;
  case Op::Softplus: return std::max(x(), 0.0) + std::log1p(std::exp(-std::fabs(x())));
  case Op::Sin: return std::sin(x());
  case Op::Cos: return std::cos(x());
  case Op::Sign: return (x() > 0) - (x() < 0);
  case Op::LeakyRelu: return x() > 0 ? x() : attr * x();
  case Op::StopGradient: return x();
  case Op::Add: return a[0] + a[1];
  case Op::Sub: return a[0] - a[1];
  case Op::Mul: return a[0] * a[1];
  case Op::Div: return a[0] / a[1];
  case Op::Pow: return std::pow(a[0], a[1]);
  case Op::Maximum: return std::isnan(a[0]) || a[0] >= a[1] ? a[0] : a[1];
  case Op::Minimum: return std::isnan(a[0]) || a[0] <= a[1] ? a[0] : a[1];
  case Op::Greater: return a[0] > a[1];
  case Op::GreaterEqual: return a[0] >= a[1];
  case Op::Equal: return a[0] == a[1];
  case Op::Select: return a[0] != 0 ? a[1] : a[2];
  // Not elementwise: never folded here.
  case Op::Constant: case Op::Input: case Op::Param: case Op::State: case Op::Epoch:
  case Op::Step: case Op::BatchSize: case Op::ConstantTensor: case Op::RandomKey: case Op::Dropout: case Op::Mode:
  case Op::Broadcast: case Op::Transpose: case Op::Reshape: case Op::Concat: case Op::Slice: case Op::OneHot:
  case Op::Patches: case Op::Unpatch: case Op::Tiles: case Op::Untile: case Op::Permute: case Op::Sum:
  case Op::Max: case Op::ArgMax: case Op::MatMul: case Op::GroupMatMul:
    break;
  }
  return NAN;
}

void foldConstants(Program& p) {
  rebuild(p, [](Builder& nb, const Node& old, const std::vector<NodeId>& in) -> NodeId {
    if (opKind(old.op) != OpKind::Elementwise || in.empty()) return kNoNode;
    std::vector<double> values;
    for (NodeId i : in) {
      if (nb.graph().op(i) != Op::Constant) return kNoNode;
      values.push_back(nb.graph().node(i).attrs.value);
    }
    return nb.constant(evaluateScalar(old.op, values, old.attrs.value));
  });
}

} // namespace nnjit
