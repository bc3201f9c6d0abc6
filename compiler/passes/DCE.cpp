// DCE: drops nodes no root needs; rebuilding also merges identical nodes (CSE).
#include "Passes.h"
#include "Rewrite.h"

namespace nnjit {

void eliminateDeadNodes(Program& p) { rebuild(p, nullptr); }

} // namespace nnjit
