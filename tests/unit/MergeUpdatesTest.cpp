// MergeUpdatesTest: an update only another update reads is computed in that one's loop, and only then.
#include "Builder.h"
#include "passes/Fusion.h"
#include "passes/InPlace.h"
#include "passes/MergeUpdates.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace nnjit;

namespace {

/// After the finite guard: m' = 0.9 m + g into m's slot, then the updates
/// `wrote` (node -> slot), all in place, as updateInPlace leaves them.
struct Finish {
  Graph g;
  Builder b{g};
  NodeId w, m, grad, mNew;
  std::map<NodeId, int> leafSlot;
  FunctionCode fc;
  /// With `gradientOfW`, the gradient m' adds is computed inline from W
  /// transposed (as sum(W * transpose(W)) has it), not read from a buffer.
  explicit Finish(bool gradientOfW = false) {
    w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{4, 4});
    m = b.make(Op::State, {}, Attrs{0, {}, "m"}, Shape{4, 4});
    grad = b.make(Op::Input, {}, Attrs{0, {}, "g"}, Shape{4, 4});
    mNew = b.add(b.mul(m, b.constant(0.9)), gradientOfW ? b.add(w, b.transpose(w)) : grad);
    leafSlot = {{w, 0}, {m, 1}, {grad, 2}};
  }
  void merge(std::map<NodeId, int> wrote) {
    wrote.emplace(mNew, 1);
    std::vector<NodeId> needed;
    for (const auto& [n, slot] : wrote) needed.push_back(n);
    fc.schedule = planFusion(g, needed, [this](NodeId n) { return leafSlot.count(n) > 0; });
    fc.writesToSlot = wrote;
    for (const auto& [n, slot] : wrote) fc.inPlace.insert(n);
    fc.guardBeforeKernel = 0;
    mergeUpdates(g, fc, leafSlot);
  }
  bool kernel(NodeId n) const {
    return std::find(fc.schedule.kernels.begin(), fc.schedule.kernels.end(), n) != fc.schedule.kernels.end();
  }
};

} // namespace

TEST_CASE("merge updates: momentum's velocity is stored by the weight's kernel, which reads what it read", "[mergeupdates]") {
  Finish f;
  NodeId wNew = f.b.sub(f.w, f.b.mul(f.mNew, f.b.constant(0.1)));
  f.merge({{wNew, 0}});
  REQUIRE(f.fc.schedule.kernels == std::vector<NodeId>{wNew});
  CHECK(f.fc.alsoStores.at(wNew) == std::vector<NodeId>{f.mNew});
  std::vector<NodeId> reads = f.fc.schedule.reads[0];
  std::sort(reads.begin(), reads.end());
  CHECK(reads == std::vector<NodeId>{f.w, f.m, f.grad});
  CHECK_FALSE(f.fc.schedule.materialized[f.mNew]);
  CHECK(f.fc.guardBeforeKernel == 0);
}

TEST_CASE("merge updates: a value two updates read, or one reads at other indices, keeps its kernel", "[mergeupdates]") {
  Finish two;
  NodeId q = two.b.make(Op::State, {}, Attrs{0, {}, "q"}, Shape{4, 4});
  two.leafSlot.emplace(q, 3);
  NodeId wNew = two.b.sub(two.w, two.mNew), qNew = two.b.add(q, two.mNew);
  two.merge({{wNew, 0}, {qNew, 3}});
  CHECK(two.kernel(two.mNew));
  CHECK(two.fc.alsoStores.empty());

  Finish moved;
  NodeId transposed = moved.b.sub(moved.w, moved.b.transpose(moved.mNew));
  moved.merge({{transposed, 0}});
  CHECK(moved.kernel(moved.mNew));
  CHECK(moved.fc.alsoStores.empty());
}

TEST_CASE("merge updates: an update that reads the weight at other indices keeps its kernel", "[mergeupdates]") {
  // Inside the weight's loop, m' would read elements of W already updated
  // (and on several threads, another thread's rows): momentum on a param
  // whose gradient reads it transposed trained to a wrong loss.
  Finish f(true);
  NodeId wNew = f.b.sub(f.w, f.b.mul(f.mNew, f.b.constant(0.1)));
  f.merge({{wNew, 0}});
  CHECK(f.kernel(f.mNew));
  CHECK(f.fc.alsoStores.empty());
}

TEST_CASE("reads at own index: a layout op above an elementwise one still moves the index", "[mergeupdates][inplace]") {
  // W - transpose(W * 2) reads W at [j, i] to write [i, j]: the op that
  // consumes W is elementwise of W's shape, the one above it is not.
  Graph g;
  Builder b(g);
  NodeId w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{4, 4});
  NodeId moved = b.sub(w, b.transpose(b.mul(w, b.constant(2))));
  NodeId kept = b.sub(w, b.mul(b.add(w, b.constant(1)), b.constant(2)));
  std::map<NodeId, int> leafSlot{{w, 0}};
  Schedule s = planFusion(g, {moved, kept}, [&](NodeId n) { return leafSlot.count(n) > 0; });
  CHECK_FALSE(readsOnlyAtOwnIndex(g, moved, w, s, leafSlot));
  CHECK(readsOnlyAtOwnIndex(g, kept, w, s, leafSlot));
}
