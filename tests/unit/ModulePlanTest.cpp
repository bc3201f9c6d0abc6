// ModulePlanTest: kernels that entry points run alike are generated once; the modules share out the work.
#include "Builder.h"
#include "ModulePlan.h"
#include "passes/Fusion.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace nnjit;

namespace {

/// Two entry points with the same forward pass, relu(x @ W + b), and a third that also sums it.
struct TwoEntryPoints {
  Graph g;
  Builder b{g};
  NodeId x, w, bias, y, total;
  CodeGenInput in;
  TwoEntryPoints() {
    x = b.make(Op::Input, {}, Attrs{0, {}, "x"}, Shape{kBatch, 37});
    w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{37, 19});
    bias = b.make(Op::Param, {}, Attrs{0, {}, "b"}, Shape{19});
    y = b.unary(Op::Relu, b.add(b.matmul(x, w), b.broadcastTo(bias, Shape{kBatch, 19})));
    total = b.sum(b.unary(Op::Exp, y), {0, 1});
    in.graph = &g;
    in.leafSlot = {{x, 0}, {w, 1}, {bias, 2}};
    auto inSlot = [this](NodeId n) { return in.leafSlot.count(n) > 0; };
    for (const char* name : {"train", "eval"}) {
      FunctionCode f;
      f.name = name;
      f.schedule = planFusion(g, {y}, inSlot);
      f.copies = {{y, 3}};
      in.functions.push_back(f);
    }
    FunctionCode sums;
    sums.name = "sums";
    sums.schedule = planFusion(g, {y, total}, inSlot);
    sums.copies = {{total, 4}};
    in.functions.push_back(sums);
  }
};

/// Each entry point and each kernel is defined by exactly one module.
void checkDealtOnce(const ModulePlan& plan, size_t functions) {
  std::vector<int> definedF(functions, 0), definedK(plan.kernels.size(), 0);
  for (const ModulePlan::Part& p : plan.parts) {
    for (size_t f : p.functions) ++definedF.at(f);
    for (size_t k : p.kernels) ++definedK.at(k);
  }
  CHECK(std::all_of(definedF.begin(), definedF.end(), [](int n) { return n == 1; }));
  CHECK(std::all_of(definedK.begin(), definedK.end(), [](int n) { return n == 1; }));
}

} // namespace

TEST_CASE("module plan: a kernel two entry points run alike is generated once", "[moduleplan]") {
  TwoEntryPoints m;
  ModulePlan plan = planModules(m.in, 2);
  REQUIRE(plan.kernelOf.size() == 3);
  // train and eval: the tile kernel relu(x @ W + b), then the copy of y to its slot.
  REQUIRE(plan.kernelOf[0].size() == 2);
  CHECK(plan.kernelOf[0] == plan.kernelOf[1]);
  CHECK(plan.kernelOf[0][0] >= 0);
  CHECK(plan.kernels[plan.kernelOf[0][0]].call.node == m.y);
  // sums reads y as a buffer too: the same kernel; its sum is a scalar, emitted inline (-1).
  REQUIRE(plan.kernelOf[2].size() == 3);
  CHECK(plan.kernelOf[2][0] == plan.kernelOf[0][0]);
  CHECK(plan.kernelOf[2][1] == -1);
  CHECK(plan.kernels.size() == 2);  // the tile kernel and the copy of y
  REQUIRE(plan.parts.size() == 2);
  checkDealtOnce(plan, 3);
}

TEST_CASE("module plan: one part holds everything, never more parts than units", "[moduleplan]") {
  TwoEntryPoints m;
  ModulePlan one = planModules(m.in, 1);
  REQUIRE(one.parts.size() == 1);
  CHECK(one.parts[0].functions.size() == 3);
  CHECK(one.parts[0].kernels.size() == one.kernels.size());
  ModulePlan many = planModules(m.in, 64);
  CHECK(many.parts.size() == 3 + many.kernels.size());
  checkDealtOnce(many, 3);
}

TEST_CASE("module plan: different reads make different kernels", "[moduleplan]") {
  TwoEntryPoints m;
  // In `eval`, y is read from a buffer of its own: its kernel reads differently.
  m.in.functions[1].schedule.reads[0].push_back(m.y);
  ModulePlan plan = planModules(m.in, 2);
  CHECK(plan.kernelOf[0][0] != plan.kernelOf[1][0]);
}

TEST_CASE("module plan: two layers of the same shapes share their kernels, other shapes do not", "[moduleplan]") {
  Graph g;
  Builder b(g);
  NodeId x = b.make(Op::Input, {}, Attrs{0, {}, "x"}, Shape{kBatch, 16});
  auto layer = [&](NodeId in, const std::string& name, int64_t width) {
    NodeId w = b.make(Op::Param, {}, Attrs{0, {}, "W" + name}, Shape{g.shape(in).dims[1], width});
    NodeId bias = b.make(Op::Param, {}, Attrs{0, {}, "b" + name}, Shape{width});
    return b.unary(Op::Relu, b.add(b.matmul(in, w), b.broadcastTo(bias, Shape{kBatch, width})));
  };
  NodeId h1 = layer(x, "1", 16), h2 = layer(h1, "2", 16), h3 = layer(h2, "3", 8);
  CodeGenInput in;
  in.graph = &g;
  for (NodeId n = 0; n < g.size(); ++n)
    if (opKind(g.op(n)) == OpKind::Leaf) in.leafSlot[n] = static_cast<int>(in.leafSlot.size());
  FunctionCode f;
  f.name = "forward";
  f.schedule = planFusion(g, {h3}, [&](NodeId n) { return in.leafSlot.count(n) > 0; });
  in.functions.push_back(f);
  ModulePlan plan = planModules(in, 2);
  const std::vector<int>& of = plan.kernelOf[0];
  REQUIRE(of.size() == 3);  // one tile kernel per layer
  CHECK(of[0] == of[1]);    // [batch, 16] @ [16, 16] twice: one function
  CHECK(of[2] != of[0]);    // [batch, 16] @ [16, 8]
  CHECK(plan.kernels.size() == 2);
}

TEST_CASE("module plan: runs are blocks of calls repeated at least 8 times, an empty key breaks them", "[moduleplan]") {
  auto keys = [](const std::string& pattern) {
    std::vector<std::string> out;
    for (char c : pattern) out.push_back(c == '.' ? "" : std::string(1, c));
    return out;
  };
  // x, then (m v p) ten times, then y.
  std::vector<CallRun> runs = repeatedRuns(keys("x" + std::string("mvpmvpmvpmvpmvpmvpmvpmvpmvpmvp") + "y"));
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].first == 1);
  CHECK(runs[0].period == 3);
  CHECK(runs[0].count == 10);
  CHECK(repeatedRuns(keys("aaaaaaa")).empty());  // 7 repeats: not worth a loop
  CHECK(repeatedRuns(keys("aaaa.aaaa")).empty());  // a call that may not join splits the run
  runs = repeatedRuns(keys("aaaaaaaaaabbbbbbbb"));
  REQUIRE(runs.size() == 2);
  CHECK((runs[0].first == 0 && runs[0].count == 10 && runs[1].first == 10 && runs[1].count == 8));
}
