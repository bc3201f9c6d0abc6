// ThreadPool: the threads one session runs its kernels on, created once.
#include "ThreadPool.h"

#include <algorithm>
#include <chrono>

namespace nnjit {
namespace {

/// Below this much work (multiply-adds or elements: a few microseconds) a kernel
/// runs on the calling thread; handing it over and waiting for the slowest
/// share costs microseconds, which small kernels do not win back.
constexpr int64_t kMinParallelWork = 1 << 18;

/// How long a worker polls for the next kernel before it sleeps.
constexpr int kSpins = 1 << 14;

using Clock = std::chrono::steady_clock;

/// A caller's share shorter than this (a few microseconds) is too short to
/// tell a late worker from a wake-up or a cache miss.
constexpr Clock::duration kShortestTold = std::chrono::microseconds(20);

/// After a late worker the caller runs alone for this many kernels per share
/// time the worker cost it, up to the most (a second or so of small steps).
constexpr int64_t kAlonePerShareLost = 4, kMostAlone = 1 << 14;

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void parallelForEntry(void* pool, KernelRange range, void* const* args, int64_t batch, int64_t count, int64_t cost) {
  static_cast<ThreadPool*>(pool)->parallelFor(range, args, batch, count, cost);
}

} // namespace

ThreadPool::ThreadPool(int threads) : shares_(std::max(threads, 1)) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

Workers ThreadPool::abi() {
  Workers w;
  w.parallelFor = parallelForEntry;
  w.pool = this;
  return w;
}

void ThreadPool::runShare(const Job& job, int index) const {
  int64_t n = threads();
  int64_t begin = job.count * index / n, end = job.count * (index + 1) / n;
  if (begin < end) job.range(job.args, job.batch, begin, end);
}

bool ThreadPool::claim(int index, uint64_t generation) {
  uint64_t last = shares_[index].claimed.load(std::memory_order_acquire);
  return last < generation && shares_[index].claimed.compare_exchange_strong(last, generation);
}

void ThreadPool::parallelFor(KernelRange range, void* const* args, int64_t batch, int64_t count, int64_t cost) {
  bool light = count < 2 || count * std::max<int64_t>(cost, 1) < kMinParallelWork;
  if (workers_.empty() || light || aloneLeft_ > 0) {
    if (!light && aloneLeft_ > 0) --aloneLeft_;
    if (count > 0) range(args, batch, 0, count);
    return;
  }
  job_ = Job{range, args, batch, count};
  uint64_t generation = generation_.fetch_add(1, std::memory_order_seq_cst) + 1;
  bool allPolling = sleeping_.load(std::memory_order_seq_cst) == 0;
  if (!allPolling) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  Clock::time_point start = Clock::now();
  runShare(job_, 0);
  Clock::duration own = Clock::now() - start, waited{};
  bool missed = false;
  for (int t = 1; t < threads(); ++t) {
    if (claim(t, generation)) {
      missed = true;
      runShare(job_, t);
      continue;
    }
    // A worker has it: after a short spin, give the core away rather than
    // spin through a time slice that worker may need.
    Clock::time_point waitStart = Clock::now();
    for (int spin = 0; shares_[t].finished.load(std::memory_order_acquire) != generation; ++spin) {
      if (spin < kSpins) relax();
      else std::this_thread::yield();
    }
    waited += Clock::now() - waitStart;
  }
  // A worker woken from sleep is late by its wake-up (milliseconds for an idle
  // virtual CPU), which says nothing about the next kernels.
  if (allPolling) noteLateness(own, waited, missed);
}

void ThreadPool::noteLateness(Clock::duration own, Clock::duration waited, bool missed) {
  if (own < kShortestTold || !(missed || waited > own)) return;
  // A worker that lost its core for a time slice (milliseconds) leaves the
  // work to the caller for a while; a hiccup of tens of microseconds, for a
  // few kernels. A missed share (the worker had all of the caller's share to
  // take it, polling) says its core is gone for longer: it counts as four.
  int64_t sharesLost = missed ? 4 : waited / own;
  aloneLeft_ = std::min(kAlonePerShareLost * sharesLost, kMostAlone);
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen && spin < kSpins && !stop_; ++spin) {
      relax();
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_seq_cst) != seen; });
      sleeping_.fetch_sub(1, std::memory_order_seq_cst);
      if (stop_) return;
      now = generation_.load(std::memory_order_acquire);
    }
    if (stop_) return;
    seen = now;
    // A share the caller has taken over (we woke late) is left alone; the
    // job's fields are only read once the share is ours.
    if (!claim(index, now)) continue;
    runShare(job_, index);
    shares_[index].finished.store(now, std::memory_order_release);
  }
}

} // namespace nnjit
