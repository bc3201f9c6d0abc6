// ThreadPool: the threads one session runs its kernels on, created once.
#pragma once

#include "Workers.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nnjit {

/// `threads` - 1 worker threads plus the calling thread. A kernel's units are
/// cut into one contiguous share per thread; workers spin briefly for the
/// next kernel (a train step hands over many in a row), then sleep. A share
/// whose worker has not claimed it by the time the caller is done with its
/// own (the worker lost its core to another process) the caller runs itself.
/// A worker that was polling for the kernel and is late (it missed its
/// share, or it kept the caller waiting longer than the caller's own share
/// took: it was descheduled, the machine has no core to spare; a worker woken
/// from sleep is late by its wake-up, which is not counted) makes the pool run the
/// next kernels on the caller alone, as many as the wait would have paid
/// for: on a busy machine the threads then cost about what one thread does,
/// not a time slice per kernel. Who runs which units never changes a result.
class ThreadPool {
public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  void parallelFor(KernelRange range, void* const* args, int64_t batch, int64_t count, int64_t cost);

  /// The generated code's view of this pool (or of plain serial execution).
  Workers abi();

private:
  struct Job {
    KernelRange range = nullptr;
    void* const* args = nullptr;
    int64_t batch = 0, count = 0;
  };
  /// Who runs share t of a kernel: the kernel's generation once claimed, and
  /// again once finished.
  struct alignas(64) Share {
    std::atomic<uint64_t> claimed{0}, finished{0};
  };
  void work(int index);
  void runShare(const Job& job, int index) const;
  bool claim(int index, uint64_t generation);
  /// After a kernel: whether a worker was late, keeping the caller `waited`
  /// past its own share's `own`, or (`missed`) not taking its share at all.
  void noteLateness(std::chrono::steady_clock::duration own, std::chrono::steady_clock::duration waited, bool missed);

  std::vector<std::thread> workers_;
  std::vector<Share> shares_;
  Job job_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  int64_t aloneLeft_ = 0;  // kernels still to run on the calling thread alone
  std::mutex mutex_;
  std::condition_variable wake_;
};

} // namespace nnjit
