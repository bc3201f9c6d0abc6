// PassPipeline: the order the graph passes run in.
#include "Passes.h"

#include "../GraphPrinter.h"

namespace nnjit {

void optimizeGraph(Program& p, std::string* log) {
  auto after = [&](const char* pass) {
    if (log) *log += std::string("; after ") + pass + "\n" + printGraph(p.graph, p.roots);
  };
  // Simplify exposes constants and constants expose identities: two rounds
  // reach the fixed point on every graph autodiff makes in practice.
  for (int round = 0; round < 2; ++round) {
    foldConstants(p);
    after("constant folding");
    simplify(p);
    after("simplify");
  }
  eliminateDeadNodes(p);
  after("dead node elimination");
}

} // namespace nnjit
