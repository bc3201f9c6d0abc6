// MemoryPlanTest: the arena's first-fit pool places every range where a plain scan of the ranges in use would.
#include "passes/MemoryPlan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

using namespace nnjit;

namespace {

/// First fit by scanning the sorted ranges in use: the definition the pool must match.
struct ScanPool {
  std::vector<std::pair<int64_t, int64_t>> used;
  int64_t high = 0;
  int64_t allocate(int64_t size) {
    int64_t at = 0;
    for (const auto& [begin, end] : used) {
      if (begin - at >= size) break;
      at = std::max(at, end);
    }
    used.insert(std::upper_bound(used.begin(), used.end(), std::make_pair(at, at + size)), {at, at + size});
    high = std::max(high, at + size);
    return at;
  }
  void release(int64_t offset) {
    used.erase(std::find_if(used.begin(), used.end(), [&](const auto& r) { return r.first == offset; }));
  }
};

} // namespace

TEST_CASE("memory plan: the first-fit pool matches a scan of the ranges in use, allocation for allocation",
          "[memoryplan]") {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    FirstFitPool pool;
    ScanPool scan;
    std::vector<int64_t> live;
    for (int step = 0; step < 2000; ++step) {
      bool release = !live.empty() && rng() % 100 < 45;
      if (release) {
        size_t i = rng() % live.size();
        pool.release(live[i]);
        scan.release(live[i]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      int64_t size = 16 * (1 + rng() % (rng() % 4 == 0 ? 64 : 2));  // mostly scalars, some larger buffers
      int64_t at = pool.allocate(size);
      INFO("seed " << seed << ", step " << step);
      REQUIRE(at == scan.allocate(size));
      live.push_back(at);
    }
    CHECK(pool.high() == scan.high);
  }
}
