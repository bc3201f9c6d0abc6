// Random: seeded, portable random numbers — the same bits on every machine and libstdc++.
#pragma once

#include <cstdint>
#include <vector>

namespace nnjit {

/// SplitMix64-seeded xoshiro256**: small, fast and fully specified, unlike
/// the standard distributions whose output varies between library versions.
class Rng {
public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  /// Uniform in [0, 1).
  double uniform();
  /// Standard normal by Box–Muller (both values used in turn).
  double normal();
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);

private:
  uint64_t s_[4];
  bool hasSpare_ = false;
  double spare_ = 0;
};

/// A seed for stream `stream` derived from `seed` (e.g. one per epoch).
uint64_t mixSeed(uint64_t seed, uint64_t stream);

/// Fisher–Yates shuffle of `v` driven by `rng`.
void shuffle(std::vector<int64_t>& v, Rng& rng);

} // namespace nnjit
