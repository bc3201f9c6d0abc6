// Lexer: `.nn` source text to tokens, each with its source position.
#pragma once

#include "Diagnostics.h"

#include <string>
#include <string_view>
#include <vector>

namespace nnjit {

enum class Tok {
  Ident, Number, String, Newline, End,
  LParen, RParen, LBracket, RBracket, Comma, Assign, Colon,
  Plus, Minus, Star, Slash, At, Caret,
  Less, LessEqual, Greater, GreaterEqual, EqualEqual, NotEqual,
};

struct Token {
  Tok kind = Tok::End;
  std::string text;   // identifier or string contents, or the number's spelling
  double number = 0;
  SourceLoc loc;
};

const char* tokName(Tok t);

/// Splits `source` into tokens. Newlines inside `(` or `[` are dropped so a
/// statement may continue there; comments and blank lines vanish.
std::vector<Token> lex(std::string_view source, DiagnosticEngine& diags);

} // namespace nnjit
