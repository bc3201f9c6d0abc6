// GraphGoldenTest: the printed graph of a lowered model and before/after each graph pass, expected text inline.
#include "Builder.h"
#include "Compiler.h"
#include "GraphPrinter.h"
#include "passes/Passes.h"

#include <catch2/catch.hpp>

#include <string>

using namespace nnjit;

namespace {

/// Compares printed text with its golden copy (one leading newline of which is
/// dropped, so the text can start on its own line); on a mismatch shows both whole.
void checkGolden(const std::string& actual, std::string expected) {
  if (!expected.empty() && expected.front() == '\n') expected.erase(0, 1);
  INFO("actual:\n" << actual << "expected:\n" << expected);
  CHECK(actual == expected);
}

/// A hand-built program: a Builder over its graph and a few leaves.
struct Hand {
  Program p;
  Builder b{p.graph};

  NodeId leaf(Op op, const std::string& name, Shape shape) {
    Attrs a;
    a.name = name;
    NodeId n = b.make(op, {}, a, std::move(shape));
    REQUIRE(n != kNoNode);
    return n;
  }
  NodeId param(const std::string& name, Shape shape) { return leaf(Op::Param, name, std::move(shape)); }
  NodeId input(const std::string& name, Shape shape) { return leaf(Op::Input, name, std::move(shape)); }
  std::string print() const {
    for (NodeId r : p.roots) REQUIRE(r != kNoNode);
    return printGraph(p.graph, p.roots);
  }
};

} // namespace

TEST_CASE("golden: a lowered model", "[golden]") {
  const std::string src = "input x[batch, 2]\n"
                          "param w[2] = 1\n"
                          "param c = 0.5\n"
                          "y = x @ w + c\n"
                          "loss = mean(square(y))\n";
  DiagnosticEngine diags("golden.nn", src);
  std::optional<Model> model = parseModel(src, "golden.nn", diags);
  REQUIRE_FALSE(diags.hasErrors());
  REQUIRE(model);
  checkGolden(printGraph(model->graph, {model->loss}), R"(
%0 = input "x" : [batch, 2]
%1 = param "w" : [2]
%2 = param "c" : []
%3 = reshape %1 : [2, 1]
%4 = @ %0, %3 : [batch, 1]
%5 = reshape %4 : [batch]
%6 = + %5, %2 : [batch]
%7 = square %6 : [batch]
%8 = sum %7 {0} : []
%9 = batch_size : []
%10 = / %8, %9 : []
roots: %10
)");
}

TEST_CASE("golden: a lowered softmax regression", "[golden]") {
  const std::string src = "input x[batch, 4]\n"
                          "input label[batch] : class(3)\n"
                          "param W[4, 3] = 0\n"
                          "param b[3] = 0\n"
                          "y = softmax(x @ W + b)\n"
                          "loss = mean(square(onehot(label, 3) - y))\n";
  DiagnosticEngine diags("golden.nn", src);
  std::optional<Model> model = parseModel(src, "golden.nn", diags);
  REQUIRE_FALSE(diags.hasErrors());
  REQUIRE(model);
  checkGolden(printGraph(model->graph, {model->loss}), R"(
%0 = input "x" : [batch, 4]
%1 = input "label" : [batch]
%2 = param "W" : [4, 3]
%3 = param "b" : [3]
%4 = @ %0, %2 : [batch, 3]
%5 = + %4, %3 : [batch, 3]
%6 = max %5 {1} : [batch]
%7 = reshape %6 : [batch, 1]
%8 = stop_gradient %7 : [batch, 1]
%9 = - %5, %8 : [batch, 3]
%10 = exp %9 : [batch, 3]
%11 = sum %10 {1} : [batch]
%12 = reshape %11 : [batch, 1]
%13 = / %10, %12 : [batch, 3]
%14 = onehot %1 {3} : [batch, 3]
%15 = - %14, %13 : [batch, 3]
%16 = square %15 : [batch, 3]
%17 = sum %16 {0, 1} : []
%18 = const 3 : []
%19 = / %17, %18 : []
%20 = batch_size : []
%21 = / %19, %20 : []
roots: %21
)");
}

TEST_CASE("golden: simplify removes additive and multiplicative identities", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {2, 3});
  NodeId zero = h.b.constant(0), one = h.b.constant(1);
  NodeId a = h.b.add(x, zero);            // x + 0
  NodeId m = h.b.mul(one, a);             // 1 * (x + 0)
  NodeId d = h.b.div(h.b.sub(m, zero), one);  // (.. - 0) / 1
  h.p.addRoot(h.b.unary(Op::Exp, d));
  checkGolden(h.print(), R"(
%0 = param "x" : [2, 3]
%1 = const 0 : []
%2 = const 1 : []
%3 = + %0, %1 : [2, 3]
%4 = * %2, %3 : [2, 3]
%5 = - %4, %1 : [2, 3]
%6 = / %5, %2 : [2, 3]
%7 = exp %6 : [2, 3]
roots: %7
)");
  simplify(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [2, 3]
%3 = exp %0 : [2, 3]
roots: %3
)");
}

TEST_CASE("golden: simplify rewrites negations and powers", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {3});
  h.p.addRoot(h.b.neg(h.b.neg(x)));                                  // neg(neg(x)) -> x
  h.p.addRoot(h.b.mul(x, h.b.constant(-1)));                         // x * -1 -> neg x
  NodeId zero = h.b.constant(0);
  h.p.addRoot(h.b.sub(zero, h.b.unary(Op::Exp, x)));                 // 0 - exp(x) -> neg exp(x)
  NodeId sinx = h.b.unary(Op::Sin, x);
  h.p.addRoot(h.b.binary(Op::Pow, sinx, h.b.constant(2)));           // pow(sin x, 2) -> square
  NodeId cosx = h.b.unary(Op::Cos, x);
  h.p.addRoot(h.b.binary(Op::Pow, cosx, h.b.constant(1)));           // pow(cos x, 1) -> cos x
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = neg %0 : [3]
%2 = neg %1 : [3]
%3 = const -1 : []
%4 = * %0, %3 : [3]
%5 = const 0 : []
%6 = exp %0 : [3]
%7 = - %5, %6 : [3]
%8 = sin %0 : [3]
%9 = const 2 : []
%10 = pow %8, %9 : [3]
%11 = cos %0 : [3]
%12 = const 1 : []
%13 = pow %11, %12 : [3]
roots: %2 %4 %7 %10 %13
)");
  simplify(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = neg %0 : [3]
%4 = exp %0 : [3]
%5 = neg %4 : [3]
%6 = sin %0 : [3]
%8 = square %6 : [3]
%9 = cos %0 : [3]
roots: %0 %1 %5 %8 %9
)");
}

TEST_CASE("golden: simplify cancels a double transpose", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {2, 3});
  NodeId t = h.b.transpose(h.b.transpose(x));
  h.p.addRoot(h.b.matmul(t, h.b.transpose(x)));  // x @ transpose(x): the single transpose stays
  checkGolden(h.print(), R"(
%0 = param "x" : [2, 3]
%1 = transpose %0 : [3, 2]
%2 = transpose %1 : [2, 3]
%3 = @ %2, %1 : [2, 2]
roots: %3
)");
  simplify(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [2, 3]
%1 = transpose %0 : [3, 2]
%2 = @ %0, %1 : [2, 2]
roots: %2
)");
}

TEST_CASE("golden: x * 0 is not folded (it is NaN for x = inf or NaN)", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {3});
  NodeId zero = h.b.constant(0);
  h.p.addRoot(h.b.mul(x, zero));
  h.p.addRoot(h.b.mul(zero, h.b.unary(Op::Exp, x)));
  const std::string before = h.print();
  checkGolden(before, R"(
%0 = param "x" : [3]
%1 = const 0 : []
%2 = * %0, %1 : [3]
%3 = exp %0 : [3]
%4 = * %1, %3 : [3]
roots: %2 %4
)");
  foldConstants(h.p);
  checkGolden(h.print(), before);
  simplify(h.p);
  checkGolden(h.print(), before);
  optimizeGraph(h.p);
  checkGolden(h.print(), before);
}

TEST_CASE("golden: constant folding", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {2});
  // One node per statement: argument evaluation order would make the numbering compiler-dependent.
  NodeId two = h.b.constant(2);
  NodeId three = h.b.constant(3);
  NodeId six = h.b.mul(two, three);                       // 2 * 3
  NodeId seven = h.b.add(six, h.b.constant(1));           // (2 * 3) + 1: folds in the same pass
  NodeId e = h.b.unary(Op::Exp, h.b.constant(0));         // exp(0)
  h.p.addRoot(h.b.mul(x, seven));
  NodeId root4 = h.b.unary(Op::Sqrt, h.b.constant(16));
  h.p.addRoot(h.b.add(root4, e));                         // sqrt(16) + exp(0) = 5
  h.p.addRoot(h.b.sum(h.b.broadcastTo(two, {3}), {0}));   // a reduction is not folded
  checkGolden(h.print(), R"(
%0 = param "x" : [2]
%1 = const 2 : []
%2 = const 3 : []
%3 = * %1, %2 : []
%4 = const 1 : []
%5 = + %3, %4 : []
%6 = const 0 : []
%7 = exp %6 : []
%8 = * %0, %5 : [2]
%9 = const 16 : []
%10 = sqrt %9 : []
%11 = + %10, %7 : []
%12 = broadcast %1 : [3]
%13 = sum %12 {0} : []
roots: %8 %11 %13
)");
  foldConstants(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [2]
%1 = const 2 : []
%5 = const 7 : []
%7 = * %0, %5 : [2]
%10 = const 5 : []
%11 = broadcast %1 : [3]
%12 = sum %11 {0} : []
roots: %7 %10 %12
)");
}

TEST_CASE("golden: folding then simplifying reaches x", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {2});
  // x * (3 - 2) + (1 - 1): needs the fold to expose the identities.
  NodeId three = h.b.constant(3);
  NodeId one = h.b.sub(three, h.b.constant(2));
  NodeId c1 = h.b.constant(1);
  NodeId zero = h.b.sub(c1, c1);
  h.p.addRoot(h.b.add(h.b.mul(x, one), zero));
  checkGolden(h.print(), R"(
%0 = param "x" : [2]
%1 = const 3 : []
%2 = const 2 : []
%3 = - %1, %2 : []
%4 = const 1 : []
%5 = - %4, %4 : []
%6 = * %0, %3 : [2]
%7 = + %6, %5 : [2]
roots: %7
)");
  foldConstants(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [2]
%3 = const 1 : []
%4 = const 0 : []
%5 = * %0, %3 : [2]
%6 = + %5, %4 : [2]
roots: %6
)");
  simplify(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [2]
roots: %0
)");
}

TEST_CASE("golden: a subexpression that becomes a duplicate merges", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {3});
  NodeId y = h.param("y", {3});
  NodeId a = h.b.unary(Op::Tanh, h.b.mul(h.b.add(x, h.b.constant(0)), y));  // tanh((x + 0) * y)
  NodeId b = h.b.unary(Op::Tanh, h.b.mul(x, y));                           // tanh(x * y)
  h.p.addRoot(h.b.add(a, b));
  h.p.addRoot(b);
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = param "y" : [3]
%2 = const 0 : []
%3 = + %0, %2 : [3]
%4 = * %3, %1 : [3]
%5 = tanh %4 : [3]
%6 = * %0, %1 : [3]
%7 = tanh %6 : [3]
%8 = + %5, %7 : [3]
roots: %8 %7
)");
  simplify(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = param "y" : [3]
%3 = * %0, %1 : [3]
%4 = tanh %3 : [3]
%5 = + %4, %4 : [3]
roots: %5 %4
)");
}

TEST_CASE("golden: building the same node twice gives the same node", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {3});
  NodeId a = h.b.unary(Op::Exp, x);
  NodeId b = h.b.unary(Op::Exp, x);
  CHECK(a == b);
  h.p.addRoot(h.b.add(a, b));
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = exp %0 : [3]
%2 = + %1, %1 : [3]
roots: %2
)");
}

TEST_CASE("golden: dead nodes are removed and the rest renumbered", "[golden]") {
  Hand h;
  NodeId x = h.param("x", {3});
  NodeId unused = h.param("unused", {3});
  NodeId dead = h.b.unary(Op::Log, h.b.mul(x, unused));  // nothing reads it
  (void)dead;
  NodeId live = h.b.unary(Op::Exp, x);
  h.b.add(live, h.b.constant(5));                          // dead too
  h.p.addRoot(h.b.sum(live, {0}));
  h.p.addRoot(live);
  // The printer shows only live nodes, so before and after differ only in numbering.
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%4 = exp %0 : [3]
%7 = sum %4 {0} : []
roots: %7 %4
)");
  CHECK(h.p.graph.size() == 8);
  eliminateDeadNodes(h.p);
  checkGolden(h.print(), R"(
%0 = param "x" : [3]
%1 = exp %0 : [3]
%2 = sum %1 {0} : []
roots: %2 %1
)");
  CHECK(h.p.graph.size() == 3);
}

TEST_CASE("golden: the whole pipeline log", "[golden]") {
  Hand h;
  NodeId x = h.input("x", {kBatch, 2});
  NodeId w = h.param("w", {2, 1});
  NodeId four = h.b.constant(4);
  NodeId scaled = h.b.mul(x, h.b.sub(four, h.b.constant(3)));  // x * (4 - 3)
  NodeId y = h.b.matmul(scaled, w);
  NodeId sum = h.b.sum(h.b.add(y, h.b.constant(0)), {0, 1});   // sum(x * (4 - 3) @ w + 0)
  REQUIRE(sum != kNoNode);
  h.p.addRoot(sum);
  std::string log;
  optimizeGraph(h.p, &log);
  checkGolden(log, R"(
; after constant folding
%0 = input "x" : [batch, 2]
%1 = param "w" : [2, 1]
%4 = const 1 : []
%5 = * %0, %4 : [batch, 2]
%6 = @ %5, %1 : [batch, 1]
%7 = const 0 : []
%8 = + %6, %7 : [batch, 1]
%9 = sum %8 {0, 1} : []
roots: %9
; after simplify
%0 = input "x" : [batch, 2]
%1 = param "w" : [2, 1]
%3 = @ %0, %1 : [batch, 1]
%5 = sum %3 {0, 1} : []
roots: %5
; after constant folding
%0 = input "x" : [batch, 2]
%1 = param "w" : [2, 1]
%2 = @ %0, %1 : [batch, 1]
%3 = sum %2 {0, 1} : []
roots: %3
; after simplify
%0 = input "x" : [batch, 2]
%1 = param "w" : [2, 1]
%2 = @ %0, %1 : [batch, 1]
%3 = sum %2 {0, 1} : []
roots: %3
; after dead node elimination
%0 = input "x" : [batch, 2]
%1 = param "w" : [2, 1]
%2 = @ %0, %1 : [batch, 1]
%3 = sum %2 {0, 1} : []
roots: %3
)");
}

TEST_CASE("golden: simplify turns a sum of a broadcast into a product", "[golden]") {
  Hand h;
  NodeId b = h.param("b", Shape{3});
  NodeId wide = h.b.broadcastTo(b, Shape{kBatch, 4, 3});
  h.p.addRoot(h.b.sum(wide, {0, 1}));  // the batch and the 4 were made by the broadcast
  h.p.addRoot(h.b.sum(wide, {2}));     // the 3 was not: a real sum stays
  simplify(h.p);
  foldConstants(h.p);
  eliminateDeadNodes(h.p);
  checkGolden(h.print(), R"(
%0 = param "b" : [3]
%1 = broadcast %0 : [batch, 4, 3]
%2 = batch_size : []
%3 = const 4 : []
%4 = * %2, %3 : []
%5 = * %0, %4 : [3]
%6 = sum %1 {2} : [batch, 4]
roots: %5 %6
)");
}
