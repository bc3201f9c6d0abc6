// Peak: one core's FP32 FMA throughput, measured, so MLP workloads can be printed as a percent of it.
#pragma once

#include <string>

namespace nnjit::bench {

struct PeakResult {
  double gflops = 0;     // in the thread's CPU time: what the core does while it runs
  double wallGflops = 0; // by the wall clock: lower when the machine is shared
  std::string how;       // e.g. "AVX-512, 16 accumulators"
};

/// The best of several runs of a loop of independent vector FMAs.
PeakResult measureFmaPeak();

} // namespace nnjit::bench
