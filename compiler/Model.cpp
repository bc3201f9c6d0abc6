// Model: the lowered model's declarations without its graph.
#include "Model.h"

namespace nnjit {

Declarations declarationsOf(const Model& model) {
  Declarations d;
  d.file = model.file;
  d.inputs.assign(model.inputs.begin(), model.inputs.end());
  d.params.assign(model.params.begin(), model.params.end());
  for (const NamedValue& m : model.metrics) d.metrics.push_back(m.name);
  if (model.output) d.output = model.output->name;
  d.hasLoss = model.loss != kNoNode;
  if (model.optimizer) d.optimizer = model.optimizer->kind;
  return d;
}

} // namespace nnjit
