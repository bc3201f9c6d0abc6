// Peak: one core's FP32 FMA throughput, measured, so MLP workloads can be printed as a percent of it.
#include "Peak.h"

#include "BenchUtil.h"

#include <algorithm>
#include <immintrin.h>
#include <time.h>

namespace nnjit::bench {

namespace {

// The widest FMA this build targets (-march=native): _mm512_* or _mm256_* intrinsics.
#if defined(__AVX512F__)
#define VEC(op) _mm512_##op
using Vec = __m512;
#elif defined(__FMA__)
#define VEC(op) _mm256_##op
using Vec = __m256;
#else
#error "the FMA peak loop needs -march=native on a CPU with FMA"
#endif
constexpr int kLanes = sizeof(Vec) / sizeof(float);
constexpr const char *kIsa = kLanes == 16 ? "AVX-512" : "AVX2";

/// Independent chains: more than FMA latency x FMA pipes on current x86
/// cores (4 x 2), so the loop is bound by throughput, not latency, and few
/// enough that the chains, the multiplier and the addend stay in registers:
/// with AVX2's 16, 16 chains spilled one of them and measured 52 GFLOP/s on
/// a Zen 3 core that does 86-91 with 12.
constexpr int kChains = kLanes == 16 ? 16 : 12;

/// `iters` rounds of kChains FMAs; returns a value so nothing is optimized away.
float fmaLoop(long iters, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c)
    acc[c] = VEC(set1_ps)(seed + c);
  Vec mul = VEC(set1_ps)(0.999999f), add = VEC(set1_ps)(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c)
      acc[c] = VEC(fmadd_ps)(acc[c], mul, add);
  }
  float sum = 0;
  for (int c = 0; c < kChains; ++c)
    sum += VEC(cvtss_f32)(acc[c]);
  return sum;
}

/// This thread's CPU time: a core's peak is what it does while it runs, even
/// when the machine is shared and the thread waits now and then.
double threadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

} // namespace

PeakResult measureFmaPeak() {
  constexpr long kIters = 20'000'000; // ~0.1 s on a 3 GHz core
  volatile float sink = 0;
  double cpuMs = 1e30, wallMs = 1e30;
  for (int r = 0; r < 5; ++r) {
    double c0 = threadCpuMs();
    auto w0 = Clock::now();
    sink = sink + fmaLoop(kIters, static_cast<float>(r));
    wallMs = std::min(wallMs, msSince(w0));
    cpuMs = std::min(cpuMs, threadCpuMs() - c0);
  }
  double flops = 2.0 * kLanes * kChains * static_cast<double>(kIters);
  return {flops / (cpuMs * 1e6), flops / (wallMs * 1e6),
          std::string(kIsa) + " FMA, " + std::to_string(kChains) + " accumulators"};
}

} // namespace nnjit::bench
