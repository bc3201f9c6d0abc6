// Interrupt: Ctrl-C (SIGINT) and SIGTERM during `nnjit train` stop it cleanly.
#include "Interrupt.h"

#include <csignal>
#include <unistd.h>

namespace nnjit::cli {
namespace {

// A handler may touch only lock-free atomics and sig_atomic_t.
static_assert(std::atomic<bool>::is_always_lock_free);
std::atomic<bool> gRequested{false};
volatile std::sig_atomic_t gSignal = 0;

struct sigaction gOldInt, gOldTerm;

extern "C" void onSignal(int sig) {
  if (gRequested.load()) _exit(128 + sig);  // the second: the user does not want to wait for the save
  gSignal = sig;
  gRequested.store(true);
}

} // namespace

InterruptGuard::InterruptGuard() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a log line being written is not cut short
  sigaction(SIGINT, &sa, &gOldInt);
  sigaction(SIGTERM, &sa, &gOldTerm);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &gOldInt, nullptr);
  sigaction(SIGTERM, &gOldTerm, nullptr);
}

const std::atomic<bool>& InterruptGuard::requested() { return gRequested; }

int InterruptGuard::exitStatus() { return 128 + (gSignal ? gSignal : SIGINT); }

} // namespace nnjit::cli
