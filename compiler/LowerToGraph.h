// LowerToGraph: AST to graph — names, fn inlining, shapes and declarations.
#pragma once

#include "AST.h"
#include "Model.h"

#include <optional>

namespace nnjit {

/// Resolves names, inlines `fn` calls, infers every shape and collects the
/// declarations. Reports all errors it finds to `diags`; returns the model
/// even when there were errors (with kNoNode where a value failed).
Model lowerToGraph(const Module& module, const std::string& file, DiagnosticEngine& diags);

/// A model whose graph would exceed this is refused (inlining can grow it
/// exponentially); real models have a few thousand nodes.
constexpr int32_t kMaxGraphNodes = 200000;

/// True for every builtin function name (they cannot be used as value names).
bool isBuiltinName(const std::string& name);
/// Every builtin function name, for "did you mean".
std::vector<std::string> builtinNames();

} // namespace nnjit
