// VerifyTest: the graph verifier that runs between passes catches each kind of malformed graph.
#include "Builder.h"
#include "Compiler.h"
#include "passes/Passes.h"
#include "passes/Verify.h"

#include <catch2/catch.hpp>

using namespace nnjit;

namespace {

Attrs named(const char* name) {
  Attrs a;
  a.name = name;
  return a;
}

} // namespace

TEST_CASE("verifier: the graphs the compiler builds pass, before and after the graph passes", "[verify]") {
  Graph g;
  Builder b(g);
  NodeId x = b.make(Op::Input, {}, named("x"), Shape{kBatch, 4});
  NodeId w = b.make(Op::Param, {}, named("W"), Shape{4, 3});
  NodeId z = b.unary(Op::Relu, b.matmul(x, w));
  Program p;
  p.graph = g;
  p.roots = {z};
  CHECK(verifyGraph(p.graph, p.roots) == "");
  optimizeGraph(p);
  CHECK(verifyGraph(p.graph, p.roots) == "");
}

TEST_CASE("verifier: a stored shape its inputs do not give", "[verify]") {
  Graph g;
  NodeId a = g.add(Op::Param, {}, Shape{2}, named("a"));
  NodeId sum = g.add(Op::Add, {a, a}, Shape{3});
  CHECK(verifyGraph(g, {sum}) == "%1 (+ [3]) holds shape [3], but its inputs give [2]");
}

TEST_CASE("verifier: inputs that shapes cannot combine", "[verify]") {
  Graph g;
  NodeId a = g.add(Op::Param, {}, Shape{2, 3}, named("a"));
  NodeId product = g.add(Op::MatMul, {a, a}, Shape{2, 3});
  CHECK(verifyGraph(g, {product}) == "%1 (@ [2, 3]): cannot multiply [2, 3] @ [2, 3]");
}

TEST_CASE("verifier: an input that is not an earlier node", "[verify]") {
  Graph g;
  g.add(Op::Param, {}, Shape{}, named("a"));
  NodeId bad = g.add(Op::Neg, {7}, Shape{});
  CHECK(verifyGraph(g, {bad}) == "%1 (neg []) reads %7, which is not an earlier node");
  Graph loop;
  NodeId self = loop.add(Op::Neg, {0}, Shape{});
  CHECK(verifyGraph(loop, {self}) == "%0 (neg []) reads %0, which is not an earlier node");
}

TEST_CASE("verifier: the arity Ops.def gives each op", "[verify]") {
  Graph g;
  NodeId a = g.add(Op::Param, {}, Shape{}, named("a"));
  NodeId add = g.add(Op::Add, {a}, Shape{});
  CHECK(verifyGraph(g, {add}) == "%1 (+ []) has 1 inputs; + takes 2");
}

TEST_CASE("verifier: the attributes an op reads, and leaves' names", "[verify]") {
  Graph g;
  NodeId a = g.add(Op::Param, {}, Shape{4}, named("a"));
  NodeId slice = g.add(Op::Slice, {a}, Shape{2});
  CHECK(verifyGraph(g, {slice}) == "%1 (slice [2]) has 0 integer attributes; it needs 2");
  Graph anonymous;
  NodeId p = anonymous.add(Op::Param, {}, Shape{});
  CHECK(verifyGraph(anonymous, {p}) == "%0 (param []) has no name");
}

TEST_CASE("verifier: roots that are not nodes", "[verify]") {
  Graph g;
  g.add(Op::Param, {}, Shape{}, named("a"));
  CHECK(verifyGraph(g, {0, 3}) == "root 1 is %3, not a node of the graph's 1");
}
