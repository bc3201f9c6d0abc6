// Parser: tokens to AST by recursive descent, recovering at line ends.
#pragma once

#include "AST.h"
#include "Lexer.h"

namespace nnjit {

/// Parses a whole `.nn` file. Errors go to `diags`; parsing resumes at the
/// next line so one run reports every broken statement.
Module parse(const std::vector<Token>& tokens, DiagnosticEngine& diags);

/// Deeper nesting than this is refused rather than risking the stack.
constexpr int kMaxNesting = 256;

} // namespace nnjit
