// Session: the buffers of one compiled model — params, state, inputs, outputs, arena.
#include "Session.h"

#include "Random.h"

#include "InternalError.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace nnjit {

Buffer::Buffer(DType dtype, int64_t count) : dtype_(dtype), count_(count) {
  size_t bytes = 0;
  if (count < 0 || __builtin_mul_overflow(static_cast<size_t>(std::max<int64_t>(count, 1)), dtypeSize(dtype), &bytes) ||
      bytes > SIZE_MAX - 63)
    throw std::bad_alloc();
  bytes = (bytes + 63) / 64 * 64;
  data_.reset(std::aligned_alloc(64, bytes));
  if (!data_) throw std::bad_alloc();
  std::memset(data_.get(), 0, bytes);
}

double Buffer::get(int64_t i) const {
  return dtype_ == DType::F32 ? static_cast<const float*>(data())[i] : static_cast<const double*>(data())[i];
}

void Buffer::set(int64_t i, double v) {
  if (dtype_ == DType::F32) static_cast<float*>(data())[i] = static_cast<float>(v);
  else static_cast<double*>(data())[i] = v;
}

namespace {

void runOnCaller(void*, KernelRange range, void* const* args, int64_t batch, int64_t count, int64_t) {
  if (count > 0) range(args, batch, 0, count);
}

bool runsByChunks(const CompiledModel& cm, EntryFn fn) {
  return fn && (fn == cm.evalRows || (fn == cm.predict && cm.predictPerRow));
}

/// Which slots hold a chunk's sums of the train step by chunks (kept in Session::TrainChunks).
std::vector<bool> trainSumSlots(const CompiledModel& cm) {
  std::vector<bool> is(cm.slots.size(), false);
  for (int s : cm.trainSumSlots) is[s] = true;
  return is;
}

/// The arena the hungriest entry point needs on `rows` rows (one chunk's, for
/// those that run by chunks); -1 when the count does not fit in int64_t.
int64_t arenaElementsFor(const CompiledModel& cm, int64_t rows) {
  std::vector<CompiledModel::ArenaNeed> needs = cm.arenaNeeds;
  if (needs.empty()) needs.push_back({nullptr, cm.arenaStatic, cm.arenaPerRow});  // not linked: the bound
  int64_t most = 0;
  for (const CompiledModel::ArenaNeed& a : needs) {
    if (a.entry && a.entry == cm.trainRows) continue;  // its chunks have arenas of their own (TrainChunks)
    int64_t r = runsByChunks(cm, a.entry) ? std::min(rows, Session::kRowsPerChunk) : rows, n = 0;
    if (__builtin_mul_overflow(a.perRow, r, &n) || __builtin_add_overflow(n, a.fixed, &n)) return -1;
    most = std::max(most, n);
  }
  return most;
}

/// Elements of `slot` for `rows` rows; -1 when the count does not fit in int64_t.
int64_t elementsOf(const CompiledModel& cm, int slot, int64_t rows) {
  int64_t perRow = 0, fixed = 0;
  if (slot == cm.arenaSlot) return arenaElementsFor(cm, rows);
  if (cm.slots[slot].shape.hasBatch()) perRow = cm.slots[slot].shape.staticElements();
  else fixed = cm.slots[slot].shape.staticElements();
  int64_t n = 0;
  if (__builtin_mul_overflow(perRow, rows, &n) || __builtin_add_overflow(n, fixed, &n)) return -1;
  return n;
}

} // namespace

Session::Session(const CompiledModel& cm) : cm_(cm), workers_(std::make_unique<Workers>()) {
  buffers_.resize(cm.slots.size());
  pointers_.resize(cm.slots.size(), nullptr);
  serial_ = Workers{runOnCaller, nullptr};
  for (size_t s = 0; s < cm_.slots.size(); ++s)
    if (static_cast<int>(s) != cm_.arenaSlot && cm_.slots[s].shape.hasBatch())
      perRowSlots_.push_back({static_cast<int>(s), cm_.slots[s].shape.staticElements() * static_cast<int64_t>(dtypeSize(cm_.dtype))});
  setThreads(1);
  reserveRows(1);
  resetOptimizer();
}

void Session::setThreads(int threads) {
  if (threads == this->threads() && workers_->parallelFor) return;
  pool_ = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  *workers_ = pool_ ? pool_->abi() : Workers{runOnCaller, nullptr};
  if (cm_.workersSlot >= 0) pointers_[cm_.workersSlot] = workers_.get();
}

uint64_t availableMemory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (meminfo >> key >> kb)
    if (key == "MemAvailable:") return kb * 1024;
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
}

int64_t Session::slotElements(int slot, int64_t rows) const {
  int64_t n = elementsOf(cm_, slot, rows);
  if (n < 0) throw std::bad_alloc();
  return n;
}

uint64_t Session::bytesFor(const CompiledModel& cm, int64_t rows, int64_t trainBatch) {
  uint64_t total = 0;
  std::vector<bool> isTrainSum = trainSumSlots(cm);
  int64_t chunks = trainChunkElements(cm, trainBatch);
  if (chunks < 0 || __builtin_mul_overflow(static_cast<uint64_t>(chunks), dtypeSize(cm.dtype), &total)) return UINT64_MAX;
  for (size_t s = 0; s < cm.slots.size(); ++s) {
    if (isTrainSum[s]) continue;
    int64_t n = elementsOf(cm, static_cast<int>(s), rows);
    uint64_t bytes = 0;
    if (n < 0 || __builtin_mul_overflow(static_cast<uint64_t>(n), dtypeSize(cm.dtype), &bytes) ||
        __builtin_add_overflow(total, bytes, &total))
      return UINT64_MAX;
  }
  return total;
}

void Session::reserveRows(int64_t rows) {
  if (rows <= capacity_) return;
  std::vector<bool> isTrainSum = trainSumSlots(cm_);
  for (size_t s = 0; s < cm_.slots.size(); ++s) {
    if (static_cast<int>(s) == cm_.workersSlot || static_cast<int>(s) == cm_.arenaSlot) continue;
    if (static_cast<int>(s) == cm_.randomKeySlot) {
      if (capacity_ < 0) buffers_[s] = Buffer(DType::F64, 4);  // four uint64 words
      pointers_[s] = buffers_[s].data();
      continue;
    }
    if (isTrainSum[s]) continue;  // in chunks_.sums (prepareTrainChunks)
    bool grows = static_cast<int>(s) == cm_.arenaSlot || cm_.slots[s].shape.hasBatch();
    if (capacity_ >= 0 && !grows) continue;
    buffers_[s] = Buffer(cm_.dtype, slotElements(static_cast<int>(s), rows));
    pointers_[s] = buffers_[s].data();
  }
  capacity_ = rows;
}

void Session::run(EntryFn fn, int64_t rows) {
  NNJIT_CHECK(fn && rows <= capacity_, "an entry point run without its buffers");
  fitArena(fn, rows);
  fn(pointers_.data(), rows);
}

void Session::evaluate(int64_t rows) {
  if (!cm_.evalFinish) return run(cm_.evaluate, rows);
  for (int slot : cm_.accumulatorSlots) std::memset(buffers_[slot].data(), 0, buffers_[slot].size() * dtypeSize(cm_.dtype));
  runByChunks(cm_.evalRows, rows, kRowsPerChunk);
  run(cm_.evalFinish, rows);  // the batch size the figures divide by: every row
}

void Session::predict(int64_t rows) {
  if (cm_.predictPerRow) runByChunks(cm_.predict, rows, kRowsPerChunk);
  else run(cm_.predict, rows);
}

void Session::runByChunks(EntryFn fn, int64_t rows, int64_t chunk) {
  NNJIT_CHECK(fn && rows <= capacity_ && chunk > 0, "an entry point run without its buffers");
  fitArena(fn, std::min(rows, chunk));
  std::vector<void*> whole = pointers_;
  for (int64_t begin = 0; begin < rows; begin += chunk) {
    for (const auto& [slot, bytes] : perRowSlots_) pointers_[slot] = static_cast<char*>(whole[slot]) + begin * bytes;
    fn(pointers_.data(), std::min(chunk, rows - begin));
  }
  for (const auto& [slot, bytes] : perRowSlots_) pointers_[slot] = whole[slot];
}

void Session::fitArena(EntryFn fn, int64_t rows) {
  if (cm_.arenaSlot < 0) return;
  int64_t need = 0;
  for (const CompiledModel::ArenaNeed& a : cm_.arenaNeeds)
    if (a.entry == fn && (__builtin_mul_overflow(a.perRow, rows, &need) || __builtin_add_overflow(need, a.fixed, &need)))
      throw std::bad_alloc();
  Buffer& arena = buffers_[cm_.arenaSlot];
  if (pointers_[cm_.arenaSlot] && arena.size() >= need) return;
  arena = Buffer(cm_.dtype, need);  // grows once per larger batch, never per step
  pointers_[cm_.arenaSlot] = arena.data();
}

std::vector<double> Session::read(int slot, int64_t count) const {
  if (count == 0) count = cm_.slots[slot].shape.elements(1);
  std::vector<double> out(count);
  for (int64_t i = 0; i < count; ++i) out[i] = buffers_[slot].get(i);
  return out;
}

void Session::write(int slot, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i) buffers_[slot].set(static_cast<int64_t>(i), values[i]);
}

namespace {

std::vector<double> drawInit(const ParamDecl& p, Rng& rng) {
  int64_t n = p.shape.elements(1);
  const InitSpec& init = p.init;
  double fanIn = p.shape.isScalar() ? 1 : static_cast<double>(p.shape.dims.front());
  double fanOut = p.shape.isScalar() ? 1 : static_cast<double>(p.shape.dims.back());
  std::vector<double> v(n);
  for (double& x : v) {
    switch (init.kind) {
    case InitSpec::Kind::Constant: x = init.a; break;
    case InitSpec::Kind::Normal: x = init.a + init.b * rng.normal(); break;
    case InitSpec::Kind::TruncatedNormal:
      do x = rng.normal();
      while (std::fabs(x) > 2);
      x = init.a + init.b * x;
      break;
    case InitSpec::Kind::Uniform: x = init.a + (init.b - init.a) * rng.uniform(); break;
    case InitSpec::Kind::Glorot: {
      double limit = std::sqrt(6 / (fanIn + fanOut));
      x = -limit + 2 * limit * rng.uniform();
      break;
    }
    case InitSpec::Kind::He: x = std::sqrt(2 / fanIn) * rng.normal(); break;
    case InitSpec::Kind::List: break;
    }
  }
  if (init.kind == InitSpec::Kind::List) v = init.values;
  return v;
}

} // namespace

void Session::setRandomKey(int64_t epoch, int64_t batch) {
  if (cm_.randomKeySlot < 0) return;
  const uint64_t key[3] = {seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(batch)};
  std::memcpy(buffers_[cm_.randomKeySlot].data(), key, sizeof key);
}

void Session::initParams(uint64_t seed) {
  seed_ = seed;
  Rng rng(seed);
  for (size_t i = 0; i < declared().params.size(); ++i) write(cm_.paramSlots[i], drawInit(declared().params[i], rng));
}

void Session::resetOptimizer() {
  for (size_t i = 0; i < cm_.states.size(); ++i)
    write(cm_.stateSlots[i], std::vector<double>(cm_.states[i].shape.elements(1), cm_.states[i].initial));
  steps = 0;
  epochsDone = 0;
}

namespace {

/// Rows of `col` (each `width` values) in another dtype than the model's
/// (a table built by hand in float64 for a float32 model, or a float32 table
/// for a float64 model): converted, a value at a time.
template <typename T>
void convertRows(T* out, const DataColumn& col, const int64_t* rows, size_t count, int64_t width) {
  for (size_t r = 0; r < count; ++r)
    for (int64_t j = 0; j < width; ++j) out[static_cast<int64_t>(r) * width + j] = static_cast<T>(col[rows[r] * width + j]);
}

/// Rows of a column in the model's dtype, copied: a row of up to 16 values
/// (iris has 4) goes faster by a loop than by a call to memcpy.
template <typename T>
void copyRows(T* out, const T* in, const int64_t* rows, size_t count, int64_t width) {
  for (size_t r = 0; r < count; ++r) {
    const T* src = in + rows[r] * width;
    T* dst = out + static_cast<int64_t>(r) * width;
    if (width <= 16)
      for (int64_t j = 0; j < width; ++j) dst[j] = src[j];
    else std::memcpy(dst, src, static_cast<size_t>(width) * sizeof(T));
  }
}

bool consecutive(const int64_t* rows, size_t count) {
  for (size_t r = 1; r < count; ++r)
    if (rows[r] != rows[0] + static_cast<int64_t>(r)) return false;
  return true;
}

} // namespace

void Session::feed(const Dataset& data, const std::vector<int64_t>& rows, size_t begin, size_t count,
                   const std::vector<int>& columnOf, bool readInPlace) {
  const int64_t* picked = rows.data() + begin;
  for (size_t i = 0; i < columnOf.size(); ++i) {
    if (columnOf[i] < 0) continue;
    const DataColumn& col = data.columns[columnOf[i]];
    int64_t width = declared().inputs[i].width();
    int slot = cm_.inputSlots[i];
    if (col.dtype() != cm_.dtype) {
      unbindInput(slot);
      if (cm_.dtype == DType::F32) convertRows(static_cast<float*>(buffers_[slot].data()), col, picked, count, width);
      else convertRows(static_cast<double*>(buffers_[slot].data()), col, picked, count, width);
      continue;
    }
    size_t rowBytes = static_cast<size_t>(width) * dtypeSize(cm_.dtype);
    if (readInPlace && count > 0 && consecutive(picked, count)) {
      bindInput(slot, col.bytes() + picked[0] * static_cast<int64_t>(rowBytes));
      continue;
    }
    unbindInput(slot);
    if (cm_.dtype == DType::F32) copyRows(static_cast<float*>(buffers_[slot].data()), col.f32(), picked, count, width);
    else copyRows(static_cast<double*>(buffers_[slot].data()), col.f64(), picked, count, width);
  }
}

} // namespace nnjit
