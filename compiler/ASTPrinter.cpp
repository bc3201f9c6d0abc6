// ASTPrinter: the AST back as text, fully parenthesized, for tests and debugging.
#include "AST.h"

#include <fmt/format.h>

namespace nnjit {

std::string printExpr(const Expr& e) {
  switch (e.kind) {
  case Expr::Kind::Number: return fmt::format("{}", e.number);
  case Expr::Kind::String: return "\"" + e.name + "\"";
  case Expr::Kind::Name: return e.name;
  case Expr::Kind::Neg: return "(-" + printExpr(*e.args[0]) + ")";
  case Expr::Kind::Binary: {
    // A loop along the left operands: a chain is as deep as it is long.
    std::vector<const Expr*> spine = leftSpine(e);
    std::string out(spine.size(), '(');
    out += printExpr(*spine.back()->args[0]);
    for (auto link = spine.rbegin(); link != spine.rend(); ++link)
      out += fmt::format(" {} {})", opSpelling((*link)->op), printExpr(*(*link)->args[1]));
    return out;
  }
  case Expr::Kind::Call: {
    std::string out = e.name + "(";
    const char* sep = "";
    for (const auto& a : e.args) { out += sep + printExpr(*a); sep = ", "; }
    for (const auto& k : e.kwargs) { out += sep + k.name + "=" + printExpr(*k.value); sep = ", "; }
    return out + ")";
  }
  case Expr::Kind::List: {
    std::string out = "[";
    const char* sep = "";
    for (const auto& a : e.args) { out += sep + printExpr(*a); sep = ", "; }
    return out + "]";
  }
  }
  return "?";
}

static std::string printDims(const Stmt& s) {
  if (!s.hasDims) return "";
  std::string out = "[";
  const char* sep = "";
  for (const auto& d : s.dims) {
    out += sep + (d.isBatch ? std::string("batch") : std::to_string(d.size));
    sep = ", ";
  }
  return out + "]";
}

static std::string printStmt(const Stmt& s) {
  auto value = [&] { return s.expr ? printExpr(*s.expr) : std::string(); };
  switch (s.kind) {
  case Stmt::Kind::Data: {
    std::string list;
    for (const std::string& p : s.paths) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", p);
    return "data " + list;
  }
  case Stmt::Kind::Input:
    return fmt::format("input {}{}", s.name, printDims(s)) +
           (s.numClasses ? fmt::format(" : class({})", s.numClasses) : "");
  case Stmt::Kind::Param: return fmt::format("param {}{} = {}", s.name, printDims(s), value());
  case Stmt::Kind::Let: return fmt::format("{} = {}", s.name, value());
  case Stmt::Kind::Fn: return fmt::format("fn {}({}) = {}", s.name, fmt::join(s.fnParams, ", "), value());
  case Stmt::Kind::Loss: return "loss = " + value();
  case Stmt::Kind::Metric: return "metric " + s.name + (s.expr ? " = " + value() : "");
  case Stmt::Kind::Output: return "output " + s.name;
  case Stmt::Kind::Optimizer: return "optimizer " + value();
  case Stmt::Kind::Train: return value();
  }
  return "?";
}

std::string printAST(const Module& m) {
  std::string out;
  for (const auto& s : m.stmts) out += fmt::format("{}:{} {}\n", s.loc.line, s.loc.col, printStmt(s));
  return out;
}

} // namespace nnjit
