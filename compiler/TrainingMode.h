// TrainingMode: one model graph, specialized for the train step, evaluation or a gradient check.
#pragma once

#include "Graph.h"

#include <map>

namespace nnjit {

/// What a Mode op (attrs.ints[0]) chooses between.
enum class ModeFeature : int64_t {
  BatchStatistics = 0,  // batch norm on the batch's statistics (input 0), or the running ones (input 1)
};

/// How a function computes the ops that differ between training and use.
struct Mode {
  bool dropout = false;          // dropout drops (else it is the identity)
  bool batchStatistics = false;  // batch norm uses the batch's statistics

  static Mode train() { return {true, true}; }
  static Mode eval() { return {false, false}; }
  /// `check` and the gradients entry point: deterministic, but on the batch's
  /// statistics, so that batch norm's whole gradient is what is checked.
  static Mode check() { return {false, true}; }
  bool operator<(const Mode& o) const {
    return std::pair{dropout, batchStatistics} < std::pair{o.dropout, o.batchStatistics};
  }
};

/// Rewrites values for a mode, adding nodes to the graph only below the
/// dropout and mode ops (hash-consing shares everything else). Remembers what
/// it rewrote, so asking for many roots costs one pass per mode.
class ModeSpecializer {
public:
  explicit ModeSpecializer(Graph& g) : g_(g) {}
  NodeId operator()(NodeId root, Mode mode);

private:
  Graph& g_;
  std::map<Mode, std::vector<NodeId>> done_;  // per mode: old node -> its value in that mode
};

} // namespace nnjit
