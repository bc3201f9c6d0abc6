// TrainingMode: one model graph, specialized for the train step, evaluation or a gradient check.
#include "TrainingMode.h"

#include "Builder.h"
#include "InternalError.h"

namespace nnjit {

NodeId ModeSpecializer::operator()(NodeId root, Mode mode) {
  if (root == kNoNode) return root;
  std::vector<NodeId>& map = done_[mode];
  Builder b(g_);
  // Nodes made here are appended; they already read rewritten values and map
  // to themselves when a later call reaches them.
  for (NodeId n = static_cast<NodeId>(map.size()), end = g_.size(); n < end; ++n) {
    const Node node = g_.node(n);  // a copy: the graph grows below
    std::vector<NodeId> inputs;
    for (NodeId in : node.inputs) inputs.push_back(map[in]);
    if (node.op == Op::Dropout && !mode.dropout) {
      map.push_back(inputs[0]);
    } else if (node.op == Op::Mode) {
      NNJIT_CHECK(node.attrs.ints[0] == static_cast<int64_t>(ModeFeature::BatchStatistics), "an unknown mode feature");
      map.push_back(inputs[mode.batchStatistics ? 0 : 1]);
    } else if (inputs == node.inputs) {
      map.push_back(n);
    } else {
      b.setLoc(node.loc);
      b.setCall(node.call);  // a copy stays in its call's cluster of a picture
      NodeId copy = b.make(node.op, inputs, node.attrs, node.shape);
      NNJIT_CHECK(copy != kNoNode, "specializing a mode broke a shape");
      map.push_back(copy);
    }
  }
  return map[root];
}

} // namespace nnjit
