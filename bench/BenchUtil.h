// BenchUtil: timing, medians and a copy of the trainer's shuffle, shared by the benchmark harness.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

namespace nnjit::bench {

using Clock = std::chrono::steady_clock;

inline double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// xoshiro256** seeded by SplitMix64, bit for bit the generator runtime/Random.cpp
/// uses, so a hand loop can visit iris.nn's shuffled rows in nnjit's order
/// without linking the runtime. If the runtime's shuffle changes, the loss
/// check of the shuffled workload reports the mismatch.
class Rng {
public:
  explicit Rng(uint64_t seed) {
    for (uint64_t &s : s_)
      s = splitmix(seed);
  }

  static uint64_t splitmix(uint64_t &x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform integer in [0, n), by rejection like the runtime's.
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
      x = next();
    while (x >= limit);
    return x % n;
  }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

/// The seed of stream `stream` (0: the test split, e + 1: epoch e's shuffle).
inline uint64_t mixSeed(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  return Rng::splitmix(x);
}

/// Fisher–Yates in place, as the trainer shuffles.
inline void shuffleRows(int64_t *v, size_t n, Rng &rng) {
  for (size_t i = n; i > 1; --i)
    std::swap(v[i - 1], v[rng.below(i)]);
}

} // namespace nnjit::bench
