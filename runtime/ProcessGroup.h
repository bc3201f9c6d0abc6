// ProcessGroup: the processes of one data-parallel job (MPI ranks), as the train step sees them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nnjit {

/// Each process computes its share of the chunks of every batch; all of
/// them then hold every chunk's sums and apply the same update.
class ProcessGroup {
public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// In place, on every process at once: `data` is blocks of `blockBytes`
  /// bytes, and process r's `counts[r]` blocks from block `firsts[r]` on are
  /// copied into the same place on every other process.
  virtual void allGather(void* data, int64_t blockBytes, const std::vector<int64_t>& firsts,
                         const std::vector<int64_t>& counts) = 0;
  /// Whether every process passed `ok`; a collective call, like allGather.
  virtual bool allOk(bool ok) = 0;
  /// `bytes` bytes of zeros that every process maps, the same memory, when
  /// they all run on one machine; null otherwise (then sums go by allGather).
  /// Collective; the memory lives as long as the handle.
  virtual std::shared_ptr<void> sharedMemory(int64_t bytes) = 0;
  /// Returns once every process has called it.
  virtual void barrier() = 0;
};

/// The processes of this job when it was started by mpirun (MPI_COMM_WORLD,
/// initialized on the first call); null when it was not, or when nnjit was
/// built without MPI.
ProcessGroup* mpiWorld();
/// The end of this process's part in the MPI job: MPI_Finalize when `status`
/// is 0 (every process must get there), else MPI_Abort, which ends every
/// process of the job with `status`. Nothing outside an MPI job.
void endJob(int status);
/// The MPI library's name and version ("Open MPI v4.1.4"); empty without MPI.
std::string mpiLibrary();
/// The processes of the job on this machine (1 without MPI): each takes its
/// share of the cores.
int processesOnThisMachine();

/// The chunks [first, last) of `chunks` that process `rank` of `size` computes:
/// one contiguous share each, so its sums are one block of the exchange.
inline std::pair<int64_t, int64_t> chunksOf(int64_t chunks, int rank, int size) {
  return {chunks * rank / size, chunks * (rank + 1) / size};
}

} // namespace nnjit
