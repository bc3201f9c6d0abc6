// Parser: tokens to AST by recursive descent, recovering at line ends.
#include "Parser.h"

#include <cmath>
#include <fmt/format.h>

namespace nnjit {
namespace {

/// Thrown only inside the parser to unwind one broken statement; it never
/// leaves `parse`.
struct SyntaxError {};

class Parser {
public:
  Parser(const std::vector<Token>& toks, DiagnosticEngine& diags) : toks_(toks), diags_(diags) {}

  Module run() {
    Module m;
    while (peek().kind != Tok::End) {
      if (accept(Tok::Newline)) continue;
      try {
        m.stmts.push_back(statement());
        if (peek().kind != Tok::Newline && peek().kind != Tok::End)
          fail(peek(), fmt::format("expected end of line, found {}", describe(peek())));
      } catch (SyntaxError&) {
        skipLine();
      }
      depth_ = 0;
    }
    return m;
  }

private:
  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, toks_.size() - 1);
    return toks_[i];
  }
  const Token& next() { const Token& t = peek(); if (pos_ < toks_.size() - 1) ++pos_; return t; }
  bool accept(Tok k) { if (peek().kind != k) return false; next(); return true; }
  bool isIdent(const char* word, size_t ahead = 0) const {
    return peek(ahead).kind == Tok::Ident && peek(ahead).text == word;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
    case Tok::Ident: return fmt::format("'{}'", t.text);
    case Tok::Number: return fmt::format("number {}", t.text);
    case Tok::String: return fmt::format("string \"{}\"", t.text);
    default: return tokName(t.kind);
    }
  }

  [[noreturn]] void fail(const Token& at, std::string message) {
    diags_.error(at.loc, std::move(message));
    throw SyntaxError{};
  }

  const Token& expect(Tok k, const char* what) {
    if (peek().kind != k) fail(peek(), fmt::format("expected {}, found {}", what, describe(peek())));
    return next();
  }

  void skipLine() {
    while (peek().kind != Tok::Newline && peek().kind != Tok::End) next();
  }

  /// stmt := data | input | param | fn | loss | metric | output | optimizer | train | NAME '=' expr
  Stmt statement() {
    const Token& head = peek();
    if (head.kind != Tok::Ident) fail(head, fmt::format("expected a statement, found {}", describe(head)));
    // Statement keywords are reserved: `param = 3` is a param missing its name.
    const std::string& w = head.text;
    if (w == "loss") return lossStmt();
    if (w == "train") return callStmt(Stmt::Kind::Train);
    if (w == "data") return dataStmt();
    if (w == "input") return inputStmt();
    if (w == "param") return paramStmt();
    if (w == "fn") return fnStmt();
    if (w == "metric") return metricStmt();
    if (w == "output") return outputStmt();
    if (w == "optimizer") return optimizerStmt();
    return letStmt();
  }

  Stmt begin(Stmt::Kind kind) {
    Stmt s;
    s.kind = kind;
    s.loc = next().loc;
    return s;
  }

  void nameOf(Stmt& s, const char* what) {
    const Token& t = expect(Tok::Ident, what);
    s.name = t.text;
    s.nameLoc = t.loc;
  }

  /// data := 'data' STRING {',' STRING}
  Stmt dataStmt() {
    Stmt s = begin(Stmt::Kind::Data);
    do {
      const Token& t = expect(Tok::String, "a quoted path");
      s.paths.push_back(t.text);
      s.pathLocs.push_back(t.loc);
    } while (accept(Tok::Comma));
    return s;
  }

  /// input := 'input' NAME dims [':' 'class' '(' NUMBER ')']
  Stmt inputStmt() {
    Stmt s = begin(Stmt::Kind::Input);
    nameOf(s, "the input's name");
    s.dims = dims();
    s.hasDims = true;
    if (accept(Tok::Colon)) {
      if (!isIdent("class")) fail(peek(), fmt::format("expected 'class(N)', found {}", describe(peek())));
      next();
      expect(Tok::LParen, "'('");
      Token count = peek();
      s.numClasses = wholeNumber("the class count");
      if (s.numClasses == 0) fail(count, "class(0) has no labels: the class count must be at least 1");
      expect(Tok::RParen, "')'");
    }
    return s;
  }

  /// param := 'param' NAME [dims] '=' expr
  Stmt paramStmt() {
    Stmt s = begin(Stmt::Kind::Param);
    nameOf(s, "the param's name");
    if (peek().kind == Tok::LBracket) {
      s.dims = dims();
      s.hasDims = true;
    }
    expect(Tok::Assign, "'=' and an initializer");
    s.expr = expr();
    return s;
  }

  /// fn := 'fn' NAME '(' [NAME {',' NAME}] ')' '=' expr
  Stmt fnStmt() {
    Stmt s = begin(Stmt::Kind::Fn);
    nameOf(s, "the function's name");
    expect(Tok::LParen, "'('");
    if (peek().kind != Tok::RParen) {
      do {
        const Token& p = expect(Tok::Ident, "a parameter name");
        s.fnParams.push_back(p.text);
        s.fnParamLocs.push_back(p.loc);
      } while (accept(Tok::Comma));
    }
    expect(Tok::RParen, "')'");
    expect(Tok::Assign, "'='");
    s.expr = expr();
    return s;
  }

  /// loss := 'loss' '=' expr
  Stmt lossStmt() {
    Stmt s = begin(Stmt::Kind::Loss);
    expect(Tok::Assign, "'=' after 'loss'");
    s.expr = expr();
    return s;
  }

  /// metric := 'metric' NAME ['=' expr]
  Stmt metricStmt() {
    Stmt s = begin(Stmt::Kind::Metric);
    nameOf(s, "the metric's name");
    if (accept(Tok::Assign)) s.expr = expr();
    return s;
  }

  /// output := 'output' NAME
  Stmt outputStmt() {
    Stmt s = begin(Stmt::Kind::Output);
    nameOf(s, "the name of the value to output");
    return s;
  }

  /// optimizer := 'optimizer' NAME '(' args ')'
  Stmt optimizerStmt() {
    Stmt s = begin(Stmt::Kind::Optimizer);
    if (peek().kind != Tok::Ident) fail(peek(), fmt::format("expected an optimizer such as sgd(lr = 0.1), found {}", describe(peek())));
    s.expr = primary();
    if (s.expr->kind == Expr::Kind::Name) {
      // `optimizer adam` alone means all defaults.
      s.expr->kind = Expr::Kind::Call;
    }
    return s;
  }

  /// train := 'train' '(' args ')'
  Stmt callStmt(Stmt::Kind kind) {
    Stmt s;
    s.kind = kind;
    s.loc = peek().loc;
    if (peek(1).kind != Tok::LParen) fail(peek(1), fmt::format("expected '(' after 'train', found {}", describe(peek(1))));
    s.expr = primary();
    return s;
  }

  /// let := NAME '=' expr
  Stmt letStmt() {
    Stmt s;
    s.kind = Stmt::Kind::Let;
    s.loc = peek().loc;
    nameOf(s, "a name");
    if (peek().kind != Tok::Assign)
      fail(peek(), fmt::format("expected '=' after '{}', found {}", s.name, describe(peek())));
    next();
    s.expr = expr();
    return s;
  }

  /// dims := '[' dim {',' dim} ']' ; dim := NUMBER | 'batch'
  std::vector<DimSpec> dims() {
    expect(Tok::LBracket, "'[' and the dimensions");
    std::vector<DimSpec> out;
    if (peek().kind == Tok::RBracket) fail(peek(), "expected at least one dimension");
    do {
      DimSpec d;
      d.loc = peek().loc;
      if (isIdent("batch")) {
        next();
        d.isBatch = true;
      } else {
        d.size = wholeNumber("a dimension");
      }
      out.push_back(d);
    } while (accept(Tok::Comma));
    expect(Tok::RBracket, "']'");
    return out;
  }

  int64_t wholeNumber(const char* what) {
    bool negative = false;
    const Token& at = peek();
    if (accept(Tok::Minus)) negative = true;
    const Token& t = peek();
    if (t.kind != Tok::Number) fail(t, fmt::format("expected {} (a whole number), found {}", what, describe(t)));
    next();
    double v = negative ? -t.number : t.number;
    if (v != std::floor(v)) fail(t, fmt::format("{} must be a whole number, not {}", what, t.text));
    if (v < 0) fail(at, fmt::format("{} must not be negative", what));
    if (v > 4e18) fail(t, fmt::format("{} {} is too large", what, t.text));
    return static_cast<int64_t>(v);
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail(at, fmt::format("expression nested more than {} levels deep", kMaxNesting));
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr make(Expr::Kind kind, SourceLoc loc) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->loc = loc;
    return e;
  }

  ExprPtr binary(char op, SourceLoc loc, ExprPtr lhs, ExprPtr rhs) {
    ExprPtr e = make(Expr::Kind::Binary, loc);
    e->op = op;
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return e;
  }

  /// The code of a comparison token (see AST.h), or 0.
  static char comparisonOp(Tok k) {
    switch (k) {
    case Tok::Less: return '<';
    case Tok::Greater: return '>';
    case Tok::LessEqual: return kLessEqual;
    case Tok::GreaterEqual: return kGreaterEqual;
    case Tok::EqualEqual: return kEqualEqual;
    case Tok::NotEqual: return kNotEqual;
    default: return 0;
    }
  }

  /// expr := additive [('<' | '<=' | '>' | '>=' | '==' | '!=') additive]   (no chains: `a < b < c` is an error)
  ExprPtr expr() {
    DepthGuard guard(*this, peek());
    ExprPtr lhs = additive();
    char op = comparisonOp(peek().kind);
    if (!op) return lhs;
    const Token& at = next();
    lhs = binary(op, at.loc, std::move(lhs), additive());
    if (comparisonOp(peek().kind))
      fail(peek(), "comparisons do not chain: parenthesize one of them, or write (a < b) * (b < c) for both");
    return lhs;
  }

  /// additive := term {('+' | '-') term}
  ExprPtr additive() {
    ExprPtr lhs = term();
    while (peek().kind == Tok::Plus || peek().kind == Tok::Minus) {
      const Token& op = next();
      lhs = binary(op.kind == Tok::Plus ? '+' : '-', op.loc, std::move(lhs), term());
    }
    return lhs;
  }

  /// term := unary {('*' | '/' | '@') unary}
  ExprPtr term() {
    ExprPtr lhs = unary();
    while (peek().kind == Tok::Star || peek().kind == Tok::Slash || peek().kind == Tok::At) {
      const Token& op = next();
      char c = op.kind == Tok::Star ? '*' : op.kind == Tok::Slash ? '/' : '@';
      lhs = binary(c, op.loc, std::move(lhs), unary());
    }
    return lhs;
  }

  /// unary := '-' unary | power
  ExprPtr unary() {
    DepthGuard guard(*this, peek());
    if (peek().kind == Tok::Minus) {
      SourceLoc loc = next().loc;
      ExprPtr e = make(Expr::Kind::Neg, loc);
      e->args.push_back(unary());
      return e;
    }
    if (peek().kind == Tok::Plus) fail(peek(), "unary '+' is not supported; drop it");
    return power();
  }

  /// power := primary ['^' unary]   (right associative, binds tighter than unary minus)
  ExprPtr power() {
    ExprPtr base = primary();
    if (peek().kind != Tok::Caret) return base;
    const Token& op = next();
    return binary('^', op.loc, std::move(base), unary());
  }

  /// primary := NUMBER | STRING | NAME | NAME '(' args ')' | '(' expr ')' | '[' [expr {',' expr}] ']'
  ExprPtr primary() {
    DepthGuard guard(*this, peek());
    const Token& t = peek();
    switch (t.kind) {
    case Tok::Number: {
      next();
      ExprPtr e = make(Expr::Kind::Number, t.loc);
      e->number = t.number;
      return e;
    }
    case Tok::Ident: {
      next();
      ExprPtr e = make(peek().kind == Tok::LParen ? Expr::Kind::Call : Expr::Kind::Name, t.loc);
      e->name = t.text;
      if (e->kind == Expr::Kind::Call) callArgs(*e);
      return e;
    }
    case Tok::String: {
      next();
      ExprPtr e = make(Expr::Kind::String, t.loc);
      e->name = t.text;
      return e;
    }
    case Tok::LParen: {
      next();
      ExprPtr e = expr();
      expect(Tok::RParen, "')'");
      return e;
    }
    case Tok::LBracket: {
      next();
      ExprPtr e = make(Expr::Kind::List, t.loc);
      if (peek().kind != Tok::RBracket) {
        do e->args.push_back(expr());
        while (accept(Tok::Comma) && peek().kind != Tok::RBracket);
      }
      expect(Tok::RBracket, "']'");
      return e;
    }
    default:
      fail(t, fmt::format("expected an expression, found {}", describe(t)));
    }
  }

  /// args := [arg {',' arg}] ; arg := NAME '=' expr | expr
  void callArgs(Expr& call) {
    expect(Tok::LParen, "'('");
    if (peek().kind != Tok::RParen) {
      do {
        if (peek().kind == Tok::RParen) break; // a trailing comma
        if (peek().kind == Tok::Ident && peek(1).kind == Tok::Assign) {
          const Token& name = next();
          next();
          call.kwargs.push_back(KeywordArg{name.text, expr(), name.loc});
        } else {
          if (!call.kwargs.empty()) fail(peek(), "a positional argument cannot follow a keyword argument");
          call.args.push_back(expr());
        }
      } while (accept(Tok::Comma));
    }
    expect(Tok::RParen, "')'");
  }

  const std::vector<Token>& toks_;
  DiagnosticEngine& diags_;
  size_t pos_ = 0;
  int depth_ = 0;
};

} // namespace

Module parse(const std::vector<Token>& tokens, DiagnosticEngine& diags) {
  return Parser(tokens, diags).run();
}

} // namespace nnjit
