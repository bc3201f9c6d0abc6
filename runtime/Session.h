// Session: the buffers of one compiled model — params, state, inputs, outputs, arena.
#pragma once

#include "CompiledModel.h"
#include "CsvDataset.h"
#include "ProcessGroup.h"
#include "ThreadPool.h"

#include <cstdlib>
#include <memory>

namespace nnjit {

/// A 64-byte aligned array of float or double.
class Buffer {
public:
  Buffer() = default;
  Buffer(DType dtype, int64_t count);
  void* data() const { return data_.get(); }
  int64_t size() const { return count_; }
  double get(int64_t i) const;
  void set(int64_t i, double v);

private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  DType dtype_ = DType::F32;
  int64_t count_ = 0;
  std::unique_ptr<void, Free> data_;
};

/// Memory the kernel says new allocations can get without swapping (MemAvailable).
uint64_t availableMemory();

/// Owns every buffer the generated functions touch and the bookkeeping
/// (epochs and steps done) that a checkpoint restores.
class Session {
public:
  explicit Session(const CompiledModel& cm);

  const CompiledModel& compiled() const { return cm_; }
  const Declarations& declared() const { return cm_.declared; }

  /// Makes room for batches of up to `rows` rows (allocates; never per step).
  /// Throws std::bad_alloc when that cannot be allocated, or cannot even be counted.
  void reserveRows(int64_t rows);
  /// The bytes the buffers of `cm` take for batches of `rows` rows, with
  /// train steps on up to `trainBatch` rows (0: none); UINT64_MAX when that
  /// does not fit in 64 bits.
  static uint64_t bytesFor(const CompiledModel& cm, int64_t rows, int64_t trainBatch = 0);
  /// The elements a train step by chunks keeps for batches of up to
  /// `trainBatch` rows (TrainChunks: sums, totals, arenas); -1 on overflow.
  static int64_t trainChunkElements(const CompiledModel& cm, int64_t trainBatch);
  /// Calls a generated entry point on a batch of `rows` rows.
  void run(EntryFn fn, int64_t rows);
  /// One train step on the `rows` rows in the input slots. A model that trains
  /// by chunks (CompiledModel::trainRows) computes each chunk's sums — this
  /// process's share of the chunks, on every thread at once — gathers the
  /// other processes' shares, adds them in the fixed tree of addTrainSums and
  /// runs the finish: the same bits for any threads and processes.
  void trainStep(int64_t rows);
  /// Everything a train step on up to `rows` rows allocates the first time
  /// (each chunk's sums and arena, the arenas of its functions), now: a
  /// training run calls it before its first batch, so that no step
  /// allocates. Collective, like the first step, in a process group.
  void prepareTrainStep(int64_t rows);
  /// The chunks of a batch of `rows` rows (1 for a model that does not train by chunks).
  int64_t trainChunks(int64_t rows) const;
  /// The chunks whose sums the session holds now: the most a step has had.
  int64_t trainChunksHeld() const { return static_cast<int64_t>(chunks_.tables.size()); }
  /// The processes this session trains with (null: this one alone); not
  /// owned. Every process of the group must call it, and then make the same
  /// calls: laying out the chunks' sums may be collective (shared memory).
  void setProcessGroup(ProcessGroup* group);
  /// Evaluates the loss and metrics on the `rows` rows in the input slots:
  /// in chunks of kRowsPerChunk rows where the model allows (CompiledModel::evalRows).
  void evaluate(int64_t rows);
  /// Computes the output of the `rows` rows in the input slots, in chunks where
  /// each row's output reads only its own row (CompiledModel::predictPerRow).
  void predict(int64_t rows);
  /// Evaluation and predict hold one chunk's activations at a time: 10,000
  /// images through fashion_cnn.nn take 354 MB in all instead of 7 GB. The sums over a
  /// chunk are added in chunk order, so the figures do not depend on threads.
  static constexpr int64_t kRowsPerChunk = 256;

  /// The threads the generated code runs on (1: the calling thread only).
  /// Any count gives the same bits: kernels split only into pieces that
  /// write disjoint outputs, and a train step's chunks are fixed by the model.
  void setThreads(int threads);
  int threads() const { return pool_ ? pool_->threads() : 1; }
  /// The arena's size in elements: what the largest run so far needed.
  int64_t arenaElements() const { return cm_.arenaSlot >= 0 ? buffers_[cm_.arenaSlot].size() : 0; }

  double scalar(int slot) const { return buffers_[slot].get(0); }
  void setScalar(int slot, double v) { buffers_[slot].set(0, v); }
  /// The first `count` elements of a slot (all of a fixed-size slot when 0).
  std::vector<double> read(int slot, int64_t count = 0) const;
  void write(int slot, const std::vector<double>& values);

  /// Draws every param from its initializer, in declaration order; random
  /// ops (dropout) draw from the same seed.
  void initParams(uint64_t seed);
  /// What random ops draw from in the next step: the seed, and the epoch (from
  /// 0) and batch (from 1) of the step, both restored when a run resumes.
  void setRandomKey(int64_t epoch, int64_t batch);
  /// Optimizer state to its initial values; counters to zero.
  void resetOptimizer();

  /// Rows `rows[begin, begin + count)` of `data` into the input slots: a
  /// copy a row at a time (converted only when the table is in another dtype
  /// than the model). With `readInPlace`, rows that follow one another in the
  /// table (no shuffle) are read where they are instead, as `bindInput` reads,
  /// so `data` must outlive the runs until the next feed or `unbindInputs`.
  /// `columnOf[i]` is the dataset column feeding model input i (-1: none).
  void feed(const Dataset& data, const std::vector<int64_t>& rows, size_t begin, size_t count,
            const std::vector<int>& columnOf, bool readInPlace = false);

  /// Makes the next runs read input slot `slot` straight from the caller's
  /// `data` (the model's dtype, row-major, as many rows as the run), with no
  /// copy. The generated code never writes an input. `unbindInput` (or
  /// `reserveRows` growing the buffers) goes back to the session's own buffer.
  void bindInput(int slot, const void* data) { pointers_[slot] = const_cast<void*>(data); }
  void unbindInput(int slot) { pointers_[slot] = buffers_[slot].data(); }
  /// Where the runs read input slot `slot` from: the session's own buffer or a bound table.
  const void* inputData(int slot) const { return pointers_[slot]; }
  void unbindInputs() {
    for (int slot : cm_.inputSlots) unbindInput(slot);
  }

  int64_t epochsDone = 0;
  int64_t steps = 0;

private:
  int64_t slotElements(int slot, int64_t rows) const;
  /// Makes the arena large enough for `fn` on `rows` rows.
  void fitArena(EntryFn fn, int64_t rows);
  /// Runs `fn` on rows [0, rows) a chunk at a time: the slots that hold a
  /// value per row (inputs, the output) are seen at each chunk's first row.
  void runByChunks(EntryFn fn, int64_t rows, int64_t chunk);

  /// What the train step by chunks keeps between steps: a slot table and an
  /// arena per chunk, and every chunk's sums, chunk after chunk (`stride`
  /// elements each), then the totals that the finish reads: chunk 0's own
  /// block, or, in memory the processes share, a block after the chunks (a
  /// process still reading the totals must not see chunk 0's next sums).
  struct TrainChunks {
    std::vector<std::vector<void*>> tables;
    std::vector<Buffer> arenas;
    std::vector<Buffer> keys;      // the random key, with the chunk's first row
    Buffer own;                    // the sums, in this process's memory
    std::shared_ptr<void> shared;  // or in the memory of the group's processes
    void* sums = nullptr;
    int64_t totals = 0;            // the block the totals land in
    std::vector<int64_t> offsets;  // of each sum slot in a chunk's block
    int64_t stride = 0;
    int64_t arenaElements = 0;     // of each chunk's arena
    std::vector<int64_t> firsts, counts;  // each process's chunks in the exchange
  };
  /// Lays out TrainChunks for `chunks` chunks (a step's, on its first step
  /// with that many: test rows must not size them).
  void prepareTrainChunks(int64_t chunks);
  /// Chunks [first, last) of this step read their rows, the workers, their
  /// arena (made at a chunk's first step here) and a random key with their first row.
  void pointChunkTables(int64_t first, int64_t last, bool sideBySide);
  void runTrainChunk(int64_t chunk, int64_t rows);
  /// Chunk 0's sums += every other chunk's, in the fixed tree of ChunkSums.h.
  void addTrainSums(int64_t chunks);
  void exchangeTrainSums(int64_t chunks);
  void sharedBarrier();
  static void runTrainChunks(void* const* args, int64_t, int64_t begin, int64_t end);
  static void addTrainSumsIn(void* const* args, int64_t, int64_t begin, int64_t end);

  const CompiledModel& cm_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Workers> workers_;  // on the heap: its address is in pointers_
  Workers serial_;                    // for chunks that run side by side, each on one thread
  std::vector<std::pair<int, int64_t>> perRowSlots_;  // slots with a value per row: bytes per row
  TrainChunks chunks_;
  ProcessGroup* group_ = nullptr;
  std::vector<Buffer> buffers_;
  std::vector<void*> pointers_;
  int64_t capacity_ = -1;
  uint64_t seed_ = 0;
};

} // namespace nnjit
