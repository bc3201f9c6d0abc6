// TrainStep: one train step — the compiled step, or the step by chunks of rows with their sums added in a fixed tree.
#include "Session.h"

#include "ChunkSums.h"
#include "InternalError.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <tuple>

namespace nnjit {
namespace {

/// Elements of the sums one unit of the parallel addition covers.
constexpr int64_t kSumBlock = 4096;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Where each sum slot lies in a chunk's block of sums (a vector's rows start
/// on a cache line), and the block's size.
struct SumLayout {
  std::vector<int64_t> offsets;
  int64_t stride = 0;
};

SumLayout sumLayout(const CompiledModel& cm) {
  SumLayout l;
  for (int s : cm.trainSumSlots) {
    int64_t n = cm.slots[s].shape.staticElements();
    if (n >= 16) l.stride = ceilDiv(l.stride, 16) * 16;
    l.offsets.push_back(l.stride);
    l.stride += n;
  }
  return l;
}

int64_t chunkArenaElements(const CompiledModel& cm) {
  for (const CompiledModel::ArenaNeed& a : cm.arenaNeeds)
    if (a.entry == cm.trainRows) return a.fixed + a.perRow * cm.trainChunkRows;
  return 0;
}

int64_t chunksFor(const CompiledModel& cm, int64_t rows) {
  return cm.trainFinish ? std::max<int64_t>(1, ceilDiv(rows, cm.trainChunkRows)) : 1;
}

} // namespace

int64_t Session::trainChunks(int64_t rows) const { return chunksFor(cm_, rows); }

int64_t Session::trainChunkElements(const CompiledModel& cm, int64_t trainBatch) {
  if (!cm.trainFinish || trainBatch <= 0) return 0;
  int64_t chunks = chunksFor(cm, trainBatch), sums = sumLayout(cm).stride, n = 0;
  // Each chunk's sums and arena, and the totals' block of shared memory.
  if (__builtin_mul_overflow(sums + chunkArenaElements(cm), chunks, &n) || __builtin_add_overflow(n, sums, &n)) return -1;
  return n;
}

void Session::setProcessGroup(ProcessGroup* group) {
  group_ = group;
  if (!chunks_.tables.empty()) prepareTrainChunks(static_cast<int64_t>(chunks_.tables.size()));
}

void Session::prepareTrainChunks(int64_t chunks) {
  TrainChunks& t = chunks_;
  SumLayout layout = sumLayout(cm_);
  t.offsets = std::move(layout.offsets);
  t.stride = layout.stride;
  size_t bytes = dtypeSize(cm_.dtype);
  t.shared = group_ && group_->size() > 1 ? group_->sharedMemory((chunks + 1) * t.stride * static_cast<int64_t>(bytes))
                                          : nullptr;
  t.own = t.shared ? Buffer() : Buffer(cm_.dtype, std::max<int64_t>(1, chunks * t.stride));
  t.sums = t.shared ? t.shared.get() : t.own.data();
  t.totals = t.shared ? chunks : 0;
  auto* base = static_cast<char*>(t.sums);
  for (size_t i = 0; i < cm_.trainSumSlots.size(); ++i)
    pointers_[cm_.trainSumSlots[i]] = base + (t.totals * t.stride + t.offsets[i]) * bytes;
  t.tables.assign(chunks, pointers_);
  t.arenas.clear();
  t.keys.clear();
  for (int64_t c = 0; c < chunks; ++c) {
    if (cm_.randomKeySlot >= 0) {
      t.keys.emplace_back(DType::F64, 4);
      t.tables[c][cm_.randomKeySlot] = t.keys.back().data();
    }
    for (size_t i = 0; i < cm_.trainSumSlots.size(); ++i)
      t.tables[c][cm_.trainSumSlots[i]] = base + (c * t.stride + t.offsets[i]) * bytes;
  }
  t.arenaElements = chunkArenaElements(cm_);
  t.arenas.resize(chunks);  // made for the chunks this process computes, when it first does
}

void Session::trainStep(int64_t rows) {
  if (!cm_.trainFinish) return run(cm_.trainStep, rows);
  NNJIT_CHECK(rows <= capacity_ && rows > 0, "a train step run without its buffers");
  setScalar(cm_.batchSizeSlot, static_cast<double>(rows));
  int64_t chunks = trainChunks(rows);
  if (chunks > static_cast<int64_t>(chunks_.tables.size())) prepareTrainChunks(chunks);  // the same step on every process
  auto [first, last] = group_ ? chunksOf(chunks, group_->rank(), group_->size()) : std::pair<int64_t, int64_t>{0, chunks};
  // Chunks side by side, one thread each, when there are enough to go round;
  // otherwise one after another, each kernel split across the threads.
  bool sideBySide = pool_ && last - first >= threads();
  pointChunkTables(first, last, sideBySide);
  if (cm_.trainPrepare) run(cm_.trainPrepare, rows);
  if (sideBySide) {
    void* args[] = {this, &first, &rows};
    pool_->parallelFor(runTrainChunks, args, 0, last - first, int64_t(1) << 30);  // always worth spreading
  } else {
    for (int64_t c = first; c < last; ++c) runTrainChunk(c, rows);
  }
  // In shared memory every chunk's sums are in place once all processes are
  // done; each then adds up its share of the elements.
  bool together = group_ && group_->size() > 1;
  if (together && chunks_.shared) sharedBarrier();
  else if (together) exchangeTrainSums(chunks);
  addTrainSums(chunks);
  if (together && chunks_.shared) sharedBarrier();
  run(cm_.trainFinish, rows);
}

void Session::prepareTrainStep(int64_t rows) {
  NNJIT_CHECK(rows <= capacity_ && rows > 0, "a train step prepared without its buffers");
  if (!cm_.trainFinish) return fitArena(cm_.trainStep, rows);
  int64_t chunks = trainChunks(rows);
  if (chunks > static_cast<int64_t>(chunks_.tables.size())) prepareTrainChunks(chunks);
  auto [first, last] = group_ ? chunksOf(chunks, group_->rank(), group_->size()) : std::pair<int64_t, int64_t>{0, chunks};
  pointChunkTables(first, last, pool_ && last - first >= threads());
  if (cm_.trainPrepare) fitArena(cm_.trainPrepare, rows);
  fitArena(cm_.trainFinish, rows);
}

void Session::pointChunkTables(int64_t first, int64_t last, bool sideBySide) {
  for (int64_t c = first; c < last; ++c) {
    std::vector<void*>& table = chunks_.tables[c];
    for (const auto& [slot, bytes] : perRowSlots_)
      table[slot] = static_cast<char*>(pointers_[slot]) + c * cm_.trainChunkRows * bytes;
    if (cm_.workersSlot >= 0) table[cm_.workersSlot] = sideBySide ? &serial_ : workers_.get();
    if (cm_.arenaSlot >= 0 && !chunks_.arenas[c].data()) {
      chunks_.arenas[c] = Buffer(cm_.dtype, std::max<int64_t>(1, chunks_.arenaElements));
      table[cm_.arenaSlot] = chunks_.arenas[c].data();
    }
    if (cm_.randomKeySlot >= 0) {
      auto* key = static_cast<uint64_t*>(table[cm_.randomKeySlot]);
      std::memcpy(key, pointers_[cm_.randomKeySlot], 3 * sizeof(uint64_t));
      key[3] = static_cast<uint64_t>(c * cm_.trainChunkRows);
    }
  }
}

/// A barrier that also orders this process's writes to the shared sums
/// before the others' reads (MPI_Barrier alone promises that only for MPI's own memory).
void Session::sharedBarrier() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  group_->barrier();
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void Session::runTrainChunk(int64_t chunk, int64_t rows) {
  int64_t begin = chunk * cm_.trainChunkRows;
  cm_.trainRows(chunks_.tables[chunk].data(), std::min(cm_.trainChunkRows, rows - begin));
}

void Session::runTrainChunks(void* const* args, int64_t, int64_t begin, int64_t end) {
  auto* self = static_cast<Session*>(args[0]);
  int64_t first = *static_cast<const int64_t*>(args[1]), rows = *static_cast<const int64_t*>(args[2]);
  for (int64_t c = begin; c < end; ++c) self->runTrainChunk(first + c, rows);
}

void Session::exchangeTrainSums(int64_t chunks) {
  std::vector<int64_t>&firsts = chunks_.firsts, &counts = chunks_.counts;  // kept: no allocation per step
  firsts.resize(group_->size());
  counts.resize(group_->size());
  for (int r = 0; r < group_->size(); ++r) {
    auto [first, last] = chunksOf(chunks, r, group_->size());
    firsts[r] = first;
    counts[r] = last - first;
  }
  group_->allGather(chunks_.sums, chunks_.stride * static_cast<int64_t>(dtypeSize(cm_.dtype)), firsts, counts);
}

void Session::addTrainSums(int64_t chunks) {
  if (chunks < 2 && chunks_.totals == 0) return;  // one chunk: its sums are the totals
  // The elements this process adds up: all, or its share of the shared memory.
  int64_t begin = 0, end = chunks_.stride;
  if (chunks_.shared) std::tie(begin, end) = chunksOf(chunks_.stride, group_->rank(), group_->size());
  void* args[] = {this, &chunks, &begin, &end};
  workers_->parallelFor(workers_->pool, addTrainSumsIn, args, 0, ceilDiv(end - begin, kSumBlock), kSumBlock * chunks);
}

void Session::addTrainSumsIn(void* const* args, int64_t, int64_t first, int64_t last) {
  auto* self = static_cast<Session*>(args[0]);
  int64_t chunks = *static_cast<const int64_t*>(args[1]), begin = *static_cast<const int64_t*>(args[2]),
          end = *static_cast<const int64_t*>(args[3]);
  const TrainChunks& t = self->chunks_;
  int64_t from = begin + first * kSumBlock, to = std::min(begin + last * kSumBlock, end);
  auto add = [&](auto* sums) { addChunkSums(sums, t.stride, chunks, from, to, sums + t.totals * t.stride); };
  if (self->cm_.dtype == DType::F32) add(static_cast<float*>(t.sums));
  else add(static_cast<double*>(t.sums));
}

} // namespace nnjit
