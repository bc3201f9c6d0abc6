// OptimizerRules: each optimizer's update as graph nodes (params' and state's new values).
#pragma once

#include "Builder.h"
#include "Model.h"

namespace nnjit {

/// An optimizer state tensor, a leaf of the graph kept between steps.
struct StateTensor : StateDecl {  // OPTIMIZER.STATE.PARAM, e.g. adam.m.W
  NodeId leaf = kNoNode;
};

/// `target` (a Param or State leaf) takes `value` at the end of a step.
struct Update {
  NodeId target = kNoNode;
  NodeId value = kNoNode;
};

struct UpdatePlan {
  std::vector<StateTensor> states;
  std::vector<Update> updates;
};

/// Replaces the optimizer's learning rate (its schedule too) by `lr` (--lr).
void overrideLearningRate(Model& model, double lr);

/// Builds the update of every param from its gradient, exactly as the
/// contract's table says. `grads[i]` belongs to `model.params[i]`.
UpdatePlan buildOptimizerUpdates(Builder& b, const Model& model, const std::vector<NodeId>& grads);

} // namespace nnjit
