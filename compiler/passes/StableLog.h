// StableLog: log(softmax(x)) and log(sigmoid(x)) as forms that stay finite, before autodiff differentiates them.
#pragma once

#include "../Model.h"

namespace nnjit {

/// log(softmax(x)) as written is log(0) = -inf once a probability underflows
/// (logits of ±1000), and its gradient divides by that zero. Each log of
/// e / sum(e) with e = exp(z) becomes z - log(sum(e)), which is what
/// log_softmax computes, and log(sigmoid(x)) becomes -softplus(-x). Runs on
/// the lowered model, before anything differentiates it: the new nodes are
/// appended to its graph and every value the model names that reads a
/// rewritten log is rebuilt on them.
void stabilizeLogs(Model& model);

} // namespace nnjit
