// DeepInputTest: inputs that are long rather than wrong — chains of 100,000 operators, 100,000-term
// constants, ranks and graphs past the limits, many errors — lowered without recursion or quadratic work.
#include "Autodiff.h"
#include "Compiler.h"
#include "Lexer.h"
#include "LowerToGraph.h"
#include "Parser.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>

using namespace nnjit;

namespace {

/// `head` followed by `count` copies of `link`, e.g. chain("w", " - 1", 3) = "w - 1 - 1 - 1".
std::string chain(const std::string& head, const std::string& link, int count) {
  std::string out = head;
  out.reserve(head.size() + link.size() * count);
  for (int i = 0; i < count; ++i) out += link;
  return out;
}

struct Lowered {
  std::string errors;
  Model model;
};

Lowered lower(const std::string& src) {
  DiagnosticEngine diags("t.nn", src);
  Module m = parse(lex(src, diags), diags);
  Lowered out{"", diags.hasErrors() ? Model{} : lowerToGraph(m, "t.nn", diags)};
  for (const auto& d : diags.diagnostics()) out.errors += formatDiagnostic(d);
  return out;
}

/// How many nodes of `op` the loss depends on.
int countOps(const Model& m, Op op) {
  std::vector<bool> live = reachableFrom(m.graph, {m.loss});
  int n = 0;
  for (NodeId i = 0; i < m.graph.size(); ++i) n += live[i] && m.graph.op(i) == op;
  return n;
}

} // namespace

TEST_CASE("deep chains: a 100,000-term '-' chain parses, prints, lowers and differentiates", "[deep]") {
  // Recursion in lowering (and in printing and freeing the AST) overflowed
  // the stack: at 20,000 terms in some builds, at 40,000 in this one.
  std::string src = "param w = 1\nloss = square(" + chain("w", " - 1", 100000) + ")\n";
  DiagnosticEngine diags("t.nn", src);
  Module module = parse(lex(src, diags), diags);
  REQUIRE(!diags.hasErrors());
  std::string printed = printAST(module);
  CHECK(printed.find("2:1 loss = square(" + std::string(100000, '(') + "w - 1) - 1)") != std::string::npos);
  CHECK(printed.substr(printed.size() - 7) == " - 1))\n");
  Model m = lowerToGraph(module, "t.nn", diags);
  REQUIRE(!diags.hasErrors());
  CHECK(countOps(m, Op::Sub) == 100000);
  Builder b(m.graph);
  std::vector<NodeId> grads = differentiate(b, m.loss, {m.params[0].node}, diags);
  REQUIRE(grads.size() == 1);
  CHECK(grads[0] != kNoNode);
}

TEST_CASE("deep chains: 40,000 '+' terms over continuation lines, and mixed operators", "[deep]") {
  std::string terms;
  for (int i = 0; i < 40000; ++i) terms += i % 10 == 9 ? " + 1\n" : " + 1";
  Lowered plus = lower("param w = 1\nloss = square(w" + terms + ")\n");
  REQUIRE(plus.errors.empty());
  CHECK(countOps(plus.model, Op::Add) == 40000);
  // The spine runs through every binary operator, not only '+'.
  Lowered mixed = lower("param w = 1\nloss = " + chain(chain("w", " * 2 / 3", 5000), " + 1 - 1", 5000) + "\n");
  REQUIRE(mixed.errors.empty());
  CHECK(countOps(mixed.model, Op::Div) == 5000);
  CHECK(countOps(mixed.model, Op::Sub) == 5000);
}

TEST_CASE("deep chains: 100,000-term constants in train, optimizer, lr and list elements", "[deep]") {
  std::string ones = chain("1", "+1", 99999);  // 100,000
  std::string zeros = chain("0.5", " + 0", 99999);
  Lowered m = lower("param w[2] = [" + ones + ", 2]\nloss = sum(square(w))\noptimizer sgd(lr = " +
                    chain("0.1", " + 0", 40000) + ", momentum = " + zeros + ")\ntrain(epochs = " + ones + ")\n");
  REQUIRE(m.errors.empty());
  CHECK(m.model.train->epochs == 100000);
  CHECK(m.model.optimizer->hyper.at("momentum") == 0.5);
  CHECK(m.model.params[0].init.values == std::vector<double>{100000, 2});
  // A matrix product has no constant value; the error points at the '@'.
  CHECK(lower("train(epochs = 1 + 2 @ 3 + 4)\n").errors.find("t.nn:1:22: error: expected epochs as a constant number") !=
        std::string::npos);
}

TEST_CASE("deep chains: the AST of a 300,000-term chain is freed without recursion", "[deep]") {
  std::string src = "a = " + chain("1", "+1", 300000) + "\n";
  DiagnosticEngine diags("t.nn", src);
  { Module m = parse(lex(src, diags), diags); }
  CHECK(!diags.hasErrors());
}

TEST_CASE("limits: a graph past 200,000 nodes is one diagnostic at the statement that crosses it", "[limits]") {
  Lowered big = lower("param w = 1\nv = w * 2\nloss = square(" + chain("v", " - w", 250000) + ")\nm = w\n");
  CHECK(big.errors.find("error: the model grows past 200000 graph nodes here") != std::string::npos);
  CHECK(big.errors.find("t.nn:3:") == 0);
  size_t first = big.errors.find("graph nodes");
  CHECK(big.errors.find("graph nodes", first + 1) == std::string::npos);
  // Statements each adding a node cross it too.
  std::string many = "param w = 1\nv0 = w\n";
  for (int i = 1; i <= 200001; ++i) many += fmt::format("v{} = v{} + 1\n", i, i - 1);
  Lowered stmts = lower(many);
  CHECK(stmts.errors.find("t.nn:200001:1:") == 0);
  CHECK(stmts.errors.find("error: the model grows past 200000 graph nodes here") != std::string::npos);
}

TEST_CASE("limits: a value has at most 32 dims, refused where its shape is made", "[limits][shape]") {
  auto dims = [](int n, const char* d) {
    std::string out = d;
    for (int i = 1; i < n; ++i) out += std::string(", ") + d;
    return out;
  };
  CHECK(lower("param w[" + dims(32, "1") + "] = 1\nloss = sum(w)\n").errors.empty());
  // The caret is at the 33rd dim: "param w[" is 8 columns, each dim "1, " 3 more.
  CHECK(lower("param w[" + dims(33, "1") + "] = 1\n").errors.find("t.nn:1:105: error: a value may have at most 32 dims; w has 33") !=
        std::string::npos);
  CHECK(lower("input x[batch, " + dims(40, "1") + "]\n").errors.find("a value may have at most 32 dims; x has 41") !=
        std::string::npos);
  std::string huge = lower("param w[" + dims(100000, "1") + "] = 1\nloss = sum(w)\n").errors;
  CHECK(huge.find("t.nn:1:105: error: a value may have at most 32 dims; w has 100000") != std::string::npos);
  CHECK(lower("param w[2] = 1\nloss = sum(reshape(w, [" + dims(32, "1") + ", 2]))\n").errors.find(
            "a value may have at most 32 dims; this reshape gives 33") != std::string::npos);
  // An op that adds a dim is refused too, at the call.
  CHECK(lower("param w[" + dims(32, "1") + "] = 0\nloss = sum(onehot(w, 2))\n").errors.find(
            "t.nn:2:12: error: 'onehot': the result would have 33 dims, more than 32") != std::string::npos);
}

TEST_CASE("lowering: 20,000 metrics, each name checked against the others", "[lower][limits]") {
  std::string src = "param w = 1\nloss = square(w)\n";
  for (int i = 0; i < 20000; ++i) src += fmt::format("metric m{} = w * {}\n", i, i);
  src += "metric m7\n";
  Lowered m = lower(src);
  CHECK(m.errors.find("t.nn:20003:8: error: metric 'm7' is reported already") != std::string::npos);
  CHECK(m.model.metrics.size() == 20000);
}

TEST_CASE("autodiff: a chain of 20,000 statements", "[deep][autodiff]") {
  std::string src = "param w = 1\nv0 = w\n";
  for (int i = 1; i <= 20000; ++i) src += fmt::format("v{} = v{} * 0.5 + w\n", i, i - 1);
  src += "loss = square(v20000)\n";
  Lowered m = lower(src);
  REQUIRE(m.errors.empty());
  DiagnosticEngine diags("t.nn", src);
  Builder b(m.model.graph);
  NodeId before = m.model.graph.size();
  std::vector<NodeId> grads = differentiate(b, m.model.loss, {m.model.params[0].node}, diags);
  REQUIRE(grads[0] != kNoNode);
  CHECK(m.model.graph.size() < 5 * before);  // linear: a few gradient nodes per forward node
}

TEST_CASE("diagnostics: each error's source line, found through the line index", "[diagnostics]") {
  DiagnosticEngine diags("t.nn", "first\r\nsecond\n\nlast without newline");
  diags.error({1, 2}, "a");
  diags.error({4, 1}, "b");
  diags.error({3, 1}, "c");
  diags.error({9, 1}, "past the end");
  diags.warning({2, 3}, "w");
  const auto& d = diags.diagnostics();
  CHECK(d[0].sourceLine == "first");
  CHECK(d[1].sourceLine == "last without newline");
  CHECK(d[2].sourceLine.empty());
  CHECK(d[3].sourceLine.empty());
  CHECK(d[4].sourceLine == "second");
  CHECK(diags.hasErrors());
  DiagnosticEngine warned("t.nn", "x\n");
  warned.warning({1, 1}, "w");
  CHECK(!warned.hasErrors());
  warned.add(fileError("t.nn", "added"));
  CHECK(warned.hasErrors());
}

TEST_CASE("diagnostics: 40,000 errors, each with its line", "[diagnostics]") {
  // Every error rescanned the source from the start: 40,000 took 14 s.
  std::string src;
  for (int i = 0; i < 40000; ++i) src += fmt::format("x{} = ${}\n", i, i);
  DiagnosticEngine diags("t.nn", src);
  parse(lex(src, diags), diags);
  REQUIRE(diags.diagnostics().size() >= 40000);
  const Diagnostic& last = diags.diagnostics()[diags.diagnostics().size() - 1];
  CHECK(last.line == 40000);
  CHECK(last.sourceLine == "x39999 = $39999");
}

TEST_CASE("diagnostics: a long line is cut, and a column past the cut shows no line", "[diagnostics]") {
  // Each diagnostic holds its own copy: 40,000 errors on one 40 KB line took 3 GB.
  std::string line = "x = " + std::string(40000, '$');
  DiagnosticEngine diags("t.nn", line + "\n");
  lex(line, diags);
  REQUIRE(diags.diagnostics().size() == 40000);
  const Diagnostic& early = diags.diagnostics()[0];
  CHECK(early.sourceLine.size() == kMaxSourceLine);
  CHECK(formatDiagnostic(early) == "t.nn:1:5: error: unexpected character '$'\n" + line.substr(0, kMaxSourceLine) +
                                       "\n    ^\n");
  CHECK(formatDiagnostic(diags.diagnostics()[30000]) == "t.nn:1:30005: error: unexpected character '$'\n");
  // The end of a line (one past it, two with "\r\n") still has its caret.
  Diagnostic eol = early;
  eol.sourceLine = "ab";
  eol.col = 4;
  CHECK(formatDiagnostic(eol) == "t.nn:1:4: error: unexpected character '$'\nab\n  ^\n");
}

TEST_CASE("driver: which metrics read inputs, and every param's and state's slot, found in one sweep", "[lower][limits]") {
  // Both were a walk of the graph (or of the slots) per metric or per leaf:
  // quadratic in 20,000 metrics or 50,000 params.
  std::string src = "input x[batch, 2]\nparam w[2] = 1\nloss = mean(x @ w)\n";
  for (int i = 0; i < 300; ++i) src += fmt::format("param p{} = {}\nmetric m{} = p{} * 2\n", i, i, i, i);
  src += "metric rows = sum(x) / mean(x)\nmetric byBatch = mean(w) + sum(mean(x, axis = 0))\n";
  src += "metric onlyW = sum(w)\noptimizer adam(lr = 0.1)\ntrain(epochs = 1)\n";
  DiagnosticEngine diags("t.nn", src);
  CompileOptions o;
  o.trainStep = o.evaluate = true;
  o.jit = false;
  std::unique_ptr<CompiledModel> cm = compileModel(src, "t.nn", o, diags);
  REQUIRE(cm);
  const std::vector<bool>& reads = cm->metricReadsInputs;
  REQUIRE(reads.size() == 303);
  CHECK(std::count(reads.begin(), reads.begin() + 300, true) == 0);
  CHECK(reads[300]);
  CHECK(reads[301]);
  CHECK(!reads[302]);
  // adam's two states per param, each in the slot of its own name.
  REQUIRE(cm->stateSlots.size() == 2 * 301);
  for (size_t i = 0; i < cm->states.size(); ++i) CHECK(cm->slots[cm->stateSlots[i]].name == cm->states[i].name);
  for (size_t i = 0; i < cm->declared.params.size(); ++i)
    CHECK(cm->slots[cm->paramSlots[i]].name == cm->declared.params[i].name);
}
