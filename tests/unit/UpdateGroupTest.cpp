// UpdateGroupTest: which updates run as one job on the threads, and which may not.
#include "Builder.h"
#include "Compiler.h"
#include "TestSupport.h"
#include "UpdateGroup.h"
#include "passes/Fusion.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace nnjit;

namespace {

/// The finish of a step with momentum on a square weight: m' = 0.9 m + g
/// into m's slot, W' = W - step(m') into W's slot, both in place, behind
/// the guard; `extra` adds more updates after them.
struct MomentumFinish {
  Graph g;
  Builder b{g};
  NodeId w, m, grad, mNew, wNew;
  CodeGenInput in;
  FunctionCode fc;
  MomentumFinish() {
    w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{4, 4});
    m = b.make(Op::State, {}, Attrs{0, {}, "m"}, Shape{4, 4});
    grad = b.make(Op::Input, {}, Attrs{0, {}, "g"}, Shape{4, 4});
    mNew = b.add(b.mul(m, b.constant(0.9)), grad);
    in.graph = &g;
    in.leafSlot = {{w, 0}, {m, 1}, {grad, 2}};
    in.arenaSlot = 5;
  }
  /// Plans the finish: the updates `wrote` (node -> slot) in place, and any
  /// other kernels (arena buffers, one after another) guarded too.
  std::vector<bool> group(NodeId weightUpdate, std::map<NodeId, int> wrote = {},
                          std::vector<std::pair<NodeId, int>> copies = {}) {
    wNew = weightUpdate;
    wrote.emplace(mNew, 1);
    wrote.emplace(wNew, 0);
    std::vector<NodeId> needed;
    for (const auto& [n, slot] : wrote) needed.push_back(n);
    auto inSlot = [this](NodeId n) { return in.leafSlot.count(n) > 0; };
    fc.name = "finish";
    fc.schedule = planFusion(g, needed, inSlot);
    fc.writesToSlot = wrote;
    for (const auto& [n, slot] : wrote) fc.inPlace.insert(n);
    fc.guardBeforeKernel = 0;
    fc.copies = std::move(copies);
    int64_t offset = 0;
    for (NodeId k : fc.schedule.kernels)
      if (!wrote.count(k)) fc.memory.buffers[k] = ArenaBuffer{false, offset}, offset += g.shape(k).staticElements();
    in.functions = {fc};
    calls = kernelCalls(in, fc);
    return updateGroup(in, fc, calls);
  }
  size_t callOf(NodeId n) const {
    for (size_t c = 0; c < calls.size(); ++c)
      if (calls[c].node == n) return c;
    FAIL("no call computes %" << n);
    return 0;
  }
  std::vector<KernelCall> calls;
};

} // namespace

TEST_CASE("update group: updates that read each other at their own index run together", "[updategroup]") {
  MomentumFinish f;
  std::vector<bool> together = f.group(f.b.sub(f.w, f.b.mul(f.mNew, f.b.constant(0.1))));
  REQUIRE(together.size() == 2);
  CHECK(together[f.callOf(f.mNew)]);
  CHECK(together[f.callOf(f.wNew)]);
}

TEST_CASE("update group: an update that reads another's result at other indices runs alone", "[updategroup]") {
  // W' reads m' transposed: a thread's rows of W' need another's rows of m'.
  MomentumFinish f;
  std::vector<bool> together = f.group(f.b.sub(f.w, f.b.transpose(f.mNew)));
  CHECK(std::count(together.begin(), together.end(), true) == 0);
}

TEST_CASE("update group: a later update that reads what the group writes keeps everyone in order", "[updategroup]") {
  // q' = q - sum(m') over rows: the sum is its own kernel after m', reading
  // it whole; running the group ahead of it is fine, but not behind, and a
  // group cannot be split around it, so there is none.
  MomentumFinish f;
  NodeId q = f.b.make(Op::Param, {}, Attrs{0, {}, "q"}, Shape{4});
  f.in.leafSlot.emplace(q, 3);
  NodeId qNew = f.b.sub(q, f.b.sum(f.mNew, {0}));
  std::vector<bool> together = f.group(f.b.sub(f.w, f.mNew), {{qNew, 3}});
  CHECK(std::count(together.begin(), together.end(), true) == 0);
}

TEST_CASE("update group: updates of other slots after the group's first stay outside it and run after it",
          "[updategroup]") {
  // A vector's update (rank 1: not split into rows) that touches nothing of the group's.
  MomentumFinish f;
  NodeId q = f.b.make(Op::Param, {}, Attrs{0, {}, "q"}, Shape{4});
  NodeId dq = f.b.make(Op::Input, {}, Attrs{0, {}, "dq"}, Shape{4});
  f.in.leafSlot.emplace(q, 3);
  f.in.leafSlot.emplace(dq, 4);
  NodeId qNew = f.b.sub(q, f.b.mul(dq, f.b.constant(0.1)));
  std::vector<bool> together = f.group(f.b.sub(f.w, f.mNew), {{qNew, 3}});
  CHECK(together[f.callOf(f.mNew)]);
  CHECK(together[f.callOf(f.wNew)]);
  CHECK_FALSE(together[f.callOf(qNew)]);
}

TEST_CASE("update group: adam's weights run together, its biases alone, a square root and a division weigh more",
          "[updategroup]") {
  std::string src = "input x[batch, 8]\ninput y[batch, 4]\nparam W1[8, 16] = 0.1\nparam b1[16] = 0\n"
                    "param W2[16, 4] = 0.1\nloss = mean(square(relu(x @ W1 + b1) @ W2 - y))\noptimizer adam(lr = 0.01)\n";
  std::optional<std::string> schedule = test::trainStepStage(src, Stage::Schedule);
  REQUIRE(schedule);
  std::string finish = schedule->substr(schedule->find("function nnjit_train_finish"));
  finish = finish.substr(0, finish.find("\n\n"));
  size_t together = 0;
  for (size_t at = finish.find("; together"); at != std::string::npos; at = finish.find("; together", at + 1)) ++together;
  // One kernel for each weight, storing its m and v along (passes/MergeUpdates.h).
  CHECK(together == 2);
  CHECK(finish.find("slot adam.v.b1 (updated in place); together") == std::string::npos);
  CHECK(finish.find("slot W1 (updated in place); also stores") != std::string::npos);
  CHECK(finish.find("in slot adam.v.W1 (updated in place); together") != std::string::npos);

  MomentumFinish f;
  f.group(f.b.sub(f.w, f.b.div(f.mNew, f.b.unary(Op::Sqrt, f.m))));
  CHECK(elementCost(f.g, f.calls[f.callOf(f.wNew)]) > 2 * elementCost(f.g, f.calls[f.callOf(f.mNew)]));
}

TEST_CASE("update group: calls after its last member, unguarded copies included, do not stop it", "[updategroup]") {
  // A copy to a slot runs after every kernel, outside the guard: after the
  // group's job either way, even one that reads what the group wrote.
  MomentumFinish f;
  std::vector<bool> together = f.group(f.b.sub(f.w, f.mNew), {}, {{f.w, 3}});
  REQUIRE(together.size() == 3);
  CHECK(together[f.callOf(f.mNew)]);
  CHECK(together[f.callOf(f.wNew)]);
  CHECK_FALSE(together[2]);
}
