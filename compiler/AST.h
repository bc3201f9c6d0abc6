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
  char op = 0;                 // Binary: + - * / @ ^
  std::vector<ExprPtr> args;   // Neg (1), Binary (2), Call, List
  std::vector<KeywordArg> kwargs;  // Call
};

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
  std::string name;              // Input/Param/Let/Fn/Metric/Output name; Data path
  SourceLoc nameLoc;
  std::vector<DimSpec> dims;     // Input/Param
  bool hasDims = false;
  int64_t numClasses = 0;        // Input `: class(N)`
  std::vector<std::string> fnParams;  // Fn
  std::vector<SourceLoc> fnParamLocs;
  ExprPtr expr;                  // Param init, Let/Fn/Loss/Metric value, Optimizer/Train call
};

struct Module {
  std::vector<Stmt> stmts;
};

/// Prints the AST back as an indented tree (for tests and `--emit ast`).
std::string printAST(const Module& m);
std::string printExpr(const Expr& e);

} // namespace nnjit
