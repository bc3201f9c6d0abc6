// Lexer: `.nn` source text to tokens, each with its source position.
#include "Lexer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>

namespace nnjit {

const char* tokName(Tok t) {
  switch (t) {
  case Tok::Ident: return "a name";
  case Tok::Number: return "a number";
  case Tok::String: return "a string";
  case Tok::Newline: return "end of line";
  case Tok::End: return "end of file";
  case Tok::LParen: return "'('";
  case Tok::RParen: return "')'";
  case Tok::LBracket: return "'['";
  case Tok::RBracket: return "']'";
  case Tok::Comma: return "','";
  case Tok::Assign: return "'='";
  case Tok::Colon: return "':'";
  case Tok::Plus: return "'+'";
  case Tok::Minus: return "'-'";
  case Tok::Star: return "'*'";
  case Tok::Slash: return "'/'";
  case Tok::At: return "'@'";
  case Tok::Caret: return "'^'";
  case Tok::Less: return "'<'";
  case Tok::LessEqual: return "'<='";
  case Tok::Greater: return "'>'";
  case Tok::GreaterEqual: return "'>='";
  case Tok::EqualEqual: return "'=='";
  case Tok::NotEqual: return "'!='";
  }
  return "a token";
}

namespace {

class Lexer {
public:
  Lexer(std::string_view src, DiagnosticEngine& diags) : src_(src), diags_(diags) {
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = lineStart_ = 3; // a BOM is not text
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) step();
    if (!tokens_.empty() && tokens_.back().kind != Tok::Newline) push(Tok::Newline, endOfText());
    push(Tok::End, endOfText());
    return std::move(tokens_);
  }

private:
  /// Just after the last character that is not blank, rather than on the
  /// empty line after a final newline, so that a diagnostic there shows a line.
  SourceLoc endOfText() const {
    size_t first = src_.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    size_t last = src_.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos || last < first) return here();
    size_t lineStart = src_.rfind('\n', last);
    lineStart = lineStart == std::string_view::npos ? first : lineStart + 1;
    int line = 1 + static_cast<int>(std::count(src_.begin(), src_.begin() + static_cast<std::ptrdiff_t>(last), '\n'));
    return {line, static_cast<int>(last - lineStart) + 2};
  }

  SourceLoc here() const { return {line_, static_cast<int>(pos_ - lineStart_) + 1}; }

  void push(Tok kind, SourceLoc loc, std::string text = {}, double number = 0) {
    tokens_.push_back(Token{kind, std::move(text), number, loc});
  }

  void newline() {
    ++pos_;
    // A statement continues after an open bracket; blank lines never make tokens.
    if (depth_ == 0 && !tokens_.empty() && tokens_.back().kind != Tok::Newline)
      push(Tok::Newline, {line_, static_cast<int>(pos_ - lineStart_)});
    ++line_;
    lineStart_ = pos_;
  }

  void step() {
    char c = src_[pos_];
    if (c == '\n') return newline();
    if (c == ' ' || c == '\t' || c == '\r') { ++pos_; return; }
    if (c == '#') {
      while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      return;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return identifier();
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && pos_ + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))))
      return number();
    if (c == '"') return string();
    punctuation(c);
  }

  void identifier() {
    SourceLoc loc = here();
    size_t begin = pos_;
    while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    push(Tok::Ident, loc, std::string(src_.substr(begin, pos_ - begin)));
  }

  void number() {
    SourceLoc loc = here();
    size_t begin = pos_;
    auto digits = [&] { while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_; };
    digits();
    if (pos_ < src_.size() && src_[pos_] == '.') { ++pos_; digits(); }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_++;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) digits();
      else pos_ = save; // `2e` is the number 2 followed by a name
    }
    std::string text(src_.substr(begin, pos_ - begin));
    double value = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(value)) diags_.error(loc, fmt::format("number '{}' is too large", text));
    push(Tok::Number, loc, text, value);
  }

  void string() {
    SourceLoc loc = here();
    size_t begin = ++pos_;
    while (pos_ < src_.size() && src_[pos_] != '"' && src_[pos_] != '\n') ++pos_;
    if (pos_ >= src_.size() || src_[pos_] != '"') {
      diags_.error(loc, "unterminated string");
      push(Tok::String, loc, std::string(src_.substr(begin, pos_ - begin)));
      return;
    }
    push(Tok::String, loc, std::string(src_.substr(begin, pos_ - begin)));
    ++pos_;
  }

  /// Consumes the next character if it is `c`.
  bool followedBy(char c) {
    if (pos_ >= src_.size() || src_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void punctuation(char c) {
    SourceLoc loc = here();
    ++pos_;
    switch (c) {
    case '(': ++depth_; return push(Tok::LParen, loc);
    case '[': ++depth_; return push(Tok::LBracket, loc);
    case ')': if (depth_ > 0) --depth_; return push(Tok::RParen, loc);
    case ']': if (depth_ > 0) --depth_; return push(Tok::RBracket, loc);
    case ',': return push(Tok::Comma, loc);
    // `==` is one token, so `f(a == b)` is never the named argument `a = ...`.
    case '=': return push(followedBy('=') ? Tok::EqualEqual : Tok::Assign, loc);
    case '<': return push(followedBy('=') ? Tok::LessEqual : Tok::Less, loc);
    case '>': return push(followedBy('=') ? Tok::GreaterEqual : Tok::Greater, loc);
    case '!':
      if (followedBy('=')) return push(Tok::NotEqual, loc);
      diags_.error(loc, "unexpected character '!' (not equal is '!=')");
      return;
    case ':': return push(Tok::Colon, loc);
    case '+': return push(Tok::Plus, loc);
    case '-': return push(Tok::Minus, loc);
    case '*':
      if (pos_ < src_.size() && src_[pos_] == '*') {
        diags_.error(loc, "'**' is not an operator here; write '^' for a power");
        ++pos_;
        return push(Tok::Caret, loc);
      }
      return push(Tok::Star, loc);
    case '/': return push(Tok::Slash, loc);
    case '@': return push(Tok::At, loc);
    case '^': return push(Tok::Caret, loc);
    default: break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      // Skip the rest of a multi-byte UTF-8 character so we report it once.
      while (pos_ < src_.size() && (static_cast<unsigned char>(src_[pos_]) & 0xC0) == 0x80) ++pos_;
      diags_.unreadable(loc, "unexpected non-ASCII character");
    } else if (std::isprint(u)) {
      diags_.unreadable(loc, fmt::format("unexpected character '{}'", c));
    } else {
      diags_.unreadable(loc, fmt::format("unexpected byte 0x{:02x}", u));
    }
  }

  std::string_view src_;
  DiagnosticEngine& diags_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  size_t lineStart_ = 0;
  int line_ = 1;
  int depth_ = 0;
};

} // namespace

std::vector<Token> lex(std::string_view source, DiagnosticEngine& diags) {
  return Lexer(source, diags).run();
}

} // namespace nnjit
