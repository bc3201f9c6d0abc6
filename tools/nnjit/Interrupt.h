// Interrupt: Ctrl-C (SIGINT) and SIGTERM during `nnjit train` stop it cleanly.
#pragma once

#include <atomic>

namespace nnjit::cli {

/// While alive, the first SIGINT or SIGTERM only sets `requested()`, which
/// the epoch loop polls between batches, so that the run can stop, save and
/// say where it stopped; a second one ends the process at once (`_exit`,
/// exit status 128 + the signal), without touching a checkpoint: the atomic
/// writer leaves the old file or none. The old handlers come back at its end.
class InterruptGuard {
public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static const std::atomic<bool>& requested();
  /// 128 + the signal that stopped the run: 130 for SIGINT, 143 for SIGTERM.
  static int exitStatus();
};

} // namespace nnjit::cli
