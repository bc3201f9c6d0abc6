// Mpi: the processes of an mpirun job as a ProcessGroup (MPI_COMM_WORLD), built when CMake finds MPI.
#include "ProcessGroup.h"

#include "InternalError.h"

#include <fcntl.h>
#include <mpi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace nnjit {
namespace {

/// Whether mpirun (or another MPI launcher) started this process: only then
/// is MPI initialized, so a plain `nnjit train` never waits for a runtime.
bool launchedByMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(var)) return true;
  return false;
}

void check(int status, const char* call) {
  if (status != MPI_SUCCESS) internalError((std::string(call) + " failed").c_str());
}

class MpiWorld final : public ProcessGroup {
public:
  MpiWorld() {
    int provided = 0;
    // Serialized: an embedding program may train on another thread than the one that asked first.
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    // Errors return, so that a failed call is an internal error naming it, not MPI's own abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_);
    MPI_Comm_free(&local);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int onThisMachine() const { return local_; }

  /// Called every step: the block type and the count arrays are kept, not made anew.
  void allGather(void* data, int64_t blockBytes, const std::vector<int64_t>& firsts,
                 const std::vector<int64_t>& counts) override {
    NNJIT_CHECK(blockBytes > 0 && blockBytes <= INT_MAX && firsts.size() == static_cast<size_t>(size_),
                "an exchange of sums that MPI cannot describe");
    if (blockBytes != blockBytes_) {
      if (blockBytes_) MPI_Type_free(&block_);
      check(MPI_Type_contiguous(static_cast<int>(blockBytes), MPI_BYTE, &block_), "MPI_Type_contiguous");
      check(MPI_Type_commit(&block_), "MPI_Type_commit");
      blockBytes_ = blockBytes;
    }
    displacements_.assign(firsts.begin(), firsts.end());
    sizes_.assign(counts.begin(), counts.end());
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, sizes_.data(), displacements_.data(), block_,
                         MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }

  /// POSIX shared memory that the first process creates and every other
  /// maps; unlinked as soon as all have it, so nothing outlives the job.
  std::shared_ptr<void> sharedMemory(int64_t bytes) override {
    if (local_ != size_ || bytes <= 0) return nullptr;
    char name[64] = {};
    static int made = 0;
    if (rank_ == 0) std::snprintf(name, sizeof name, "/nnjit.%d.%d", static_cast<int>(getpid()), ++made);
    check(MPI_Bcast(name, sizeof name, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    int fd = -1;
    if (rank_ == 0) {
      fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
      // Space reserved now, not at the first write: a small /dev/shm (a
      // container's 64 MB) must mean the exchange instead, not SIGBUS.
      if (fd >= 0 && posix_fallocate(fd, 0, static_cast<off_t>(bytes)) != 0) close(fd), fd = -1;
    }
    barrier();
    if (rank_ != 0) fd = shm_open(name, O_RDWR, 0);
    void* p = fd >= 0 ? mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (fd >= 0) close(fd);
    bool everyone = allOk(p != MAP_FAILED);
    if (rank_ == 0) shm_unlink(name);
    if (!everyone) {
      if (p != MAP_FAILED) munmap(p, static_cast<size_t>(bytes));
      return nullptr;  // the sums go by allGather instead
    }
    return std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, static_cast<size_t>(bytes)); });
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  bool allOk(bool ok) override {
    int mine = ok ? 1 : 0, all = 0;
    check(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    return all == 1;
  }

private:
  int rank_ = 0, size_ = 1, local_ = 1;
  MPI_Datatype block_{};
  int64_t blockBytes_ = 0;
  std::vector<int> displacements_, sizes_;
};

MpiWorld* world() {
  static std::unique_ptr<MpiWorld> w = launchedByMpi() ? std::make_unique<MpiWorld>() : nullptr;
  return w.get();
}

} // namespace

ProcessGroup* mpiWorld() { return world(); }

void endJob(int status) {
  if (!world()) return;
  // MPI_Finalize waits for every process: after a failure on this one, the
  // others may be waiting in an exchange it will never join.
  if (status == 0) MPI_Finalize();
  else MPI_Abort(MPI_COMM_WORLD, status);
}

int processesOnThisMachine() { return world() ? world()->onThisMachine() : 1; }

std::string mpiLibrary() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);  // callable before MPI_Init
  std::string name(text, static_cast<size_t>(length));
  return name.substr(0, name.find(','));  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
}

} // namespace nnjit
