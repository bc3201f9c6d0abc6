// AST: the parsed `.nn` file, every node carrying its source position.
#pragma once

#include "Diagnostics.h"

#include <memory>
#include <string>
#include <vector>

namespace nnjit {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct KeywordArg {
  std::string name;
  ExprPtr value;
  SourceLoc loc;
};

/// One expression node. `kind` says which fields are meaningful.
struct Expr {
  enum class Kind { Number, String, Name, Neg, Binary, Call, List };
  Kind kind = Kind::Number;
  SourceLoc loc;
  double number = 0;           // Number
  std::string name;            // Name, Call (callee), String (contents)
  char op = 0;                 // Binary: + - * / @ ^, or a comparison (see opSpelling)
  std::vector<ExprPtr> args;   // Neg (1), Binary (2), Call, List
  std::vector<KeywordArg> kwargs;  // Call

  Expr() = default;
  Expr(Expr&&) = default;
  Expr& operator=(Expr&&) = default;
  ~Expr();
};

/// Binary ops that are spelled with two characters have one-character codes.
constexpr char kLessEqual = 'l', kGreaterEqual = 'g', kEqualEqual = 'e', kNotEqual = 'n';

/// How a Binary node's `op` is written in source: "+", "<=", ...
inline std::string opSpelling(char op) {
  switch (op) {
  case kLessEqual: return "<=";
  case kGreaterEqual: return ">=";
  case kEqualEqual: return "==";
  case kNotEqual: return "!=";
  default: return std::string(1, op);
  }
}

inline bool isComparison(char op) {
  return op == '<' || op == '>' || op == kLessEqual || op == kGreaterEqual || op == kEqualEqual || op == kNotEqual;
}

/// The Binary nodes down the left operands of `e`, outermost first (empty if
/// `e` is not Binary). `a - b - c - ...` parses as ((a - b) - c) - ...: a left
/// spine as long as the chain, which no nesting limit bounds. Every walk of
/// the AST follows it with a loop; every other edge passes the parser's
/// kMaxNesting guard, so recursing there is safe.
inline std::vector<const Expr*> leftSpine(const Expr& e) {
  std::vector<const Expr*> spine;
  for (const Expr* at = &e; at->kind == Expr::Kind::Binary; at = at->args[0].get()) spine.push_back(at);
  return spine;
}

/// Frees the subtree with a worklist rather than by recursion: a 100,000-term
/// chain is a tree that deep, and recursive destruction overflowed the stack.
/// Each node is detached from its children before it dies, so the nested
/// destructor calls find nothing to free.
inline Expr::~Expr() {
  std::vector<ExprPtr> pending;
  auto detach = [&pending](Expr& e) {
    for (ExprPtr& a : e.args)
      if (a) pending.push_back(std::move(a));
    for (KeywordArg& k : e.kwargs)
      if (k.value) pending.push_back(std::move(k.value));
  };
  detach(*this);
  while (!pending.empty()) {
    ExprPtr e = std::move(pending.back());
    pending.pop_back();
    detach(*e);
  }
}

/// A declared dimension: a whole number or the symbolic `batch`.
struct DimSpec {
  bool isBatch = false;
  int64_t size = 0;
  SourceLoc loc;
};

struct Stmt {
  enum class Kind { Data, Input, Param, Let, Fn, Loss, Metric, Output, Optimizer, Train };
  Kind kind = Kind::Let;
  SourceLoc loc;                 // the statement keyword
  std::string name;              // Input/Param/Let/Fn/Metric/Output name
  SourceLoc nameLoc;
  std::vector<DimSpec> dims;     // Input/Param
  bool hasDims = false;
  int64_t numClasses = 0;        // Input `: class(N)`
  std::vector<std::string> fnParams;  // Fn
  std::vector<SourceLoc> fnParamLocs;
  std::vector<std::string> paths;  // Data: the quoted files, in order
  std::vector<SourceLoc> pathLocs;
  ExprPtr expr;                  // Param init, Let/Fn/Loss/Metric value, Optimizer/Train call
};

struct Module {
  std::vector<Stmt> stmts;
};

/// Prints the AST back as an indented tree (for tests and `--emit ast`).
std::string printAST(const Module& m);
std::string printExpr(const Expr& e);

} // namespace nnjit
