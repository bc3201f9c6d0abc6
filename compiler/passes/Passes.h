// Passes: the graph optimizations, each a free function in its own file.
#pragma once

#include "../Program.h"

#include <string>

namespace nnjit {

/// Evaluates an elementwise op on scalars, in double (constant folding).
double evaluateScalar(Op op, const std::vector<double>& args, double attr);

void foldConstants(Program& p);       // ConstantFold.cpp
void simplify(Program& p);            // Simplify.cpp: algebraic identities
void eliminateDeadNodes(Program& p);  // DCE.cpp (also merges duplicates)

/// The graph passes in the pipeline's order (kGraphPasses in Compiler.cpp).
/// When `log` is set, the graph after each pass is appended to it.
void optimizeGraph(Program& p, std::string* log = nullptr);

} // namespace nnjit
