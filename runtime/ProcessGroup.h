// ProcessGroup: the processes of one data-parallel job (MPI ranks), as the train step sees them.
#pragma once

#include <cstdint>
#include <vector>

namespace nnjit {

/// Each process computes its share of the chunks of every batch; all of
/// them then hold every chunk's sums and apply the same update.
class ProcessGroup {
public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// In place, on every process at once: process r's `bytes[r]` bytes at
  /// `data + offsets[r]` are copied into the same place on every other process.
  virtual void allGather(void* data, const std::vector<int64_t>& offsets, const std::vector<int64_t>& bytes) = 0;
  /// Whether every process passed `ok`; a collective call, like allGather.
  virtual bool allOk(bool ok) = 0;
};

/// The chunks [first, last) of `chunks` that process `rank` of `size` computes:
/// one contiguous share each, so its sums are one block of the exchange.
inline std::pair<int64_t, int64_t> chunksOf(int64_t chunks, int rank, int size) {
  return {chunks * rank / size, chunks * (rank + 1) / size};
}

} // namespace nnjit
