// OpTableTest: the tables that must cover every row of Ops.def do (the switches are checked by -Werror=switch).
#include "Autodiff.h"
#include "Graph.h"
#include "LowerToGraph.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

using namespace nnjit;

TEST_CASE("op table: every op of Ops.def is found by its name", "[optable]") {
  for (int i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    INFO(opInfo(op).name);
    REQUIRE(opNamed(opInfo(op).name) == op);
  }
  CHECK_FALSE(opNamed("NoSuchOp").has_value());
}

TEST_CASE("op table: every elementwise op spelled like a function is a builtin, or says why not", "[optable]") {
  // Reached another way: `-x`, where(...), or only made by the compiler itself.
  const std::set<Op> notCallable{Op::Neg, Op::Select, Op::Sign, Op::StopGradient, Op::Mode};
  for (int i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    std::string spelling = opInfo(op).spelling;
    bool identifier = std::all_of(spelling.begin(), spelling.end(), [](unsigned char c) { return std::islower(c) || c == '_'; });
    if (opKind(op) != OpKind::Elementwise || !identifier || notCallable.count(op)) continue;
    INFO(spelling);
    CHECK(isBuiltinName(spelling));
  }
}
