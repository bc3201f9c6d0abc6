// ThreadPoolTest: every unit of a kernel runs exactly once, whatever the thread count.
#include "ThreadPool.h"

#include <catch2/catch.hpp>

#include <vector>

using namespace nnjit;

namespace {

/// Counts, per unit, how often it ran; args[0] is the counter array.
void countUnits(void* const* args, int64_t batch, int64_t begin, int64_t end) {
  auto* hits = static_cast<std::vector<int>*>(args[0]);
  for (int64_t u = begin; u < end; ++u) (*hits)[u] += static_cast<int>(batch);
}

} // namespace

TEST_CASE("thread pool: each unit runs once, for any threads and counts", "[threads]") {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    CHECK(pool.threads() == threads);
    for (int64_t count : {0, 1, 2, 3, 7, 64, 1000}) {
      for (int repeat = 0; repeat < 3; ++repeat) {
        std::vector<int> hits(count, 0);
        void* args[] = {&hits};
        pool.parallelFor(countUnits, args, 1, count, 1 << 20);  // heavy units: always spread
        INFO(threads << " threads, " << count << " units");
        CHECK(std::count(hits.begin(), hits.end(), 1) == count);
      }
    }
  }
}

TEST_CASE("thread pool: light work stays on the calling thread", "[threads]") {
  ThreadPool pool(4);
  std::vector<int> hits(10, 0);
  void* args[] = {&hits};
  pool.parallelFor(countUnits, args, 1, 10, 1);
  CHECK(std::count(hits.begin(), hits.end(), 1) == 10);
}
