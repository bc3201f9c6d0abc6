// ThreadPoolTest: every unit of a kernel runs exactly once, whatever the thread count.
#include "ThreadPool.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
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

namespace {

/// Records which thread ran each unit, each share taking `callerMs` on the
/// calling thread and `workerMs` on a worker (one that lost its core to
/// another process is slow).
struct Recorder {
  std::thread::id caller = std::this_thread::get_id();
  std::vector<std::thread::id> ranOn;
  int callerMs = 0, workerMs = 0;
};

void recordUnits(void* const* args, int64_t, int64_t begin, int64_t end) {
  auto* r = static_cast<Recorder*>(args[0]);
  bool onCaller = std::this_thread::get_id() == r->caller;
  std::this_thread::sleep_for(std::chrono::milliseconds(onCaller ? r->callerMs : r->workerMs));
  for (int64_t u = begin; u < end; ++u) r->ranOn[u] = std::this_thread::get_id();
}

/// Runs 8 heavy units; whether the caller ran every one.
bool allOnCaller(ThreadPool& pool, Recorder& r) {
  r.ranOn.assign(8, std::thread::id());
  void* args[] = {&r};
  pool.parallelFor(recordUnits, args, 1, 8, 1 << 20);
  return std::all_of(r.ranOn.begin(), r.ranOn.end(), [&](std::thread::id t) { return t == r.caller; });
}

} // namespace

TEST_CASE("thread pool: a worker that keeps the caller waiting leaves the next kernels to the caller", "[threads]") {
  ThreadPool pool(2);
  Recorder r;
  // A kernel with nothing to do wakes the worker, which then polls for the
  // next: only a polling worker's lateness counts (a sleeping one's is its
  // wake-up). A loaded machine may put it back to sleep first: try again.
  bool alone = false;
  for (int attempt = 0; attempt < 20 && !alone; ++attempt) {
    r.callerMs = r.workerMs = 0;
    allOnCaller(pool, r);
    r.callerMs = 5;  // long enough for the worker to take its share first
    r.workerMs = 60;
    allOnCaller(pool, r);
    // The worker cost the caller 11 of its shares: the next kernels, and more, run on the caller alone.
    r.callerMs = r.workerMs = 2;
    alone = allOnCaller(pool, r);
  }
  REQUIRE(alone);
  for (int k = 0; k < 15; ++k) CHECK(allOnCaller(pool, r));
  // Then the worker is tried again, and keeps its share while it is on time:
  // two kernels in a row shared (a loaded machine may make the worker late
  // again now and then, and the caller alone for a while: that is the rule too).
  bool spreadTwice = false;
  for (int k = 0; k < 256 && !spreadTwice; ++k) spreadTwice = !allOnCaller(pool, r) && !allOnCaller(pool, r);
  CHECK(spreadTwice);
}
