// ChunkedStepTest: a train step by chunks adds the chunks' sums in one fixed tree, so threads and processes
// change who computes a chunk, never a bit of the result.
#include "ChunkSums.h"
#include "TestSupport.h"

#include <barrier>
#include <cstring>
#include <random>
#include <thread>
#include <tuple>

using namespace nnjit;
using namespace nnjit::test;

namespace {

/// The tree ChunkSums.h describes, written as the recursion it is: the
/// largest power of two below the count on the left, the rest on the right.
float treeSum(const std::vector<float>& p, size_t lo, size_t hi) {
  if (hi - lo == 1) return p[lo];
  size_t half = 1;
  while (half * 2 < hi - lo) half *= 2;
  return treeSum(p, lo, lo + half) + treeSum(p, lo + half, hi);
}

/// Processes of a data-parallel job as threads of this one: allGather goes
/// through a shared buffer between two barriers.
struct LocalJob {
  LocalJob(int size, bool share) : size(size), share(share), sync(size), ok(size, true) {}
  int size;
  bool share;  // whether the processes share memory (one machine) or exchange sums
  std::barrier<> sync;
  std::vector<char> staging;
  std::vector<bool> ok;
  std::shared_ptr<void> memory;
};

class LocalGroup : public ProcessGroup {
public:
  LocalGroup(LocalJob& job, int rank) : job_(job), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return job_.size; }
  void allGather(void* data, int64_t blockBytes, const std::vector<int64_t>& firsts,
                 const std::vector<int64_t>& counts) override {
    auto* d = static_cast<char*>(data);
    auto bytes = [&](int r) { return static_cast<size_t>(counts[r] * blockBytes); };
    auto at = [&](int r) { return static_cast<size_t>(firsts[r] * blockBytes); };
    if (rank_ == 0) job_.staging.assign(at(job_.size - 1) + bytes(job_.size - 1), 0);
    job_.sync.arrive_and_wait();
    std::memcpy(job_.staging.data() + at(rank_), d + at(rank_), bytes(rank_));
    job_.sync.arrive_and_wait();
    for (int r = 0; r < job_.size; ++r)
      if (r != rank_) std::memcpy(d + at(r), job_.staging.data() + at(r), bytes(r));
    job_.sync.arrive_and_wait();
  }
  std::shared_ptr<void> sharedMemory(int64_t bytes) override {
    if (!job_.share) return nullptr;
    if (rank_ == 0) job_.memory = std::shared_ptr<void>(std::calloc(static_cast<size_t>(bytes), 1), std::free);
    job_.sync.arrive_and_wait();
    std::shared_ptr<void> memory = job_.memory;
    job_.sync.arrive_and_wait();
    return memory;
  }
  void barrier() override { job_.sync.arrive_and_wait(); }
  bool allOk(bool ok) override {
    job_.ok[rank_] = ok;
    job_.sync.arrive_and_wait();
    bool all = std::all_of(job_.ok.begin(), job_.ok.end(), [](bool b) { return b; });
    job_.sync.arrive_and_wait();
    return all;
  }

private:
  LocalJob& job_;
  int rank_;
};

// Every reduction kind: the loss, weight gradients (transpose(x) @ dz), bias
// gradients, a metric of the rows and an optimizer with state.
const char* kModel = "input x[batch, 6]\n"
                     "input label[batch] : class(3)\n"
                     "param W1[6, 16] = he\n"
                     "param b1[16] = zeros\n"
                     "param W2[16, 3] = glorot\n"
                     "param b2[3] = zeros\n"
                     "logits = relu(x @ W1 + b1) @ W2 + b2\n"
                     "loss = cross_entropy(logits, label)\n"
                     "metric acc = accuracy(logits, label)\n"
                     "optimizer adam(lr = 0.05)\n";

constexpr int64_t kRows = 100;  // chunks of 32 rows: 32, 32, 32 and 4

Dataset makeData() {
  Dataset d;
  d.rows = kRows;
  d.columns.resize(2);
  std::mt19937 gen(7);
  std::normal_distribution<double> normal;
  for (int64_t r = 0; r < kRows; ++r) {
    for (int j = 0; j < 6; ++j) d.columns[0].push_back(normal(gen));
    d.columns[1].push_back(static_cast<double>(r % 3));
  }
  return d;
}

/// The params after a step on each of `steps` rows (from the first row),
/// run by `processes` sessions (one thread each, as ranks would be) on
/// `threads` threads apiece.
std::vector<std::vector<double>> train(const CompiledModel& cm, int processes, int threads, bool share = false,
                                       const std::vector<int64_t>& steps = {kRows, kRows, kRows}) {
  Dataset data = makeData();
  LocalJob job(processes, share);
  std::vector<std::vector<std::vector<double>>> params(processes);
  auto rank = [&](int r) {
    Session s(cm);
    LocalGroup group(job, r);
    if (processes > 1) s.setProcessGroup(&group);
    s.setThreads(threads);
    s.initParams(3);
    feedAll(s, data);
    for (size_t step = 0; step < steps.size(); ++step) {
      s.setScalar(cm.stepSlot, static_cast<double>(step + 1));
      s.trainStep(steps[step]);
    }
    for (int slot : cm.paramSlots) params[r].push_back(s.read(slot));
    params[r].push_back({s.scalar(cm.lossSlot)});
    for (int slot : cm.metricSlots) params[r].back().push_back(s.scalar(slot));
  };
  std::vector<std::thread> ranks;
  for (int r = 0; r < processes; ++r) ranks.emplace_back(rank, r);
  for (std::thread& t : ranks) t.join();
  for (int r = 1; r < processes; ++r) CHECK(params[r] == params[0]);  // every rank applied the same update
  return params[0];
}

/// `src` with a train step (and evaluation when asked); fails the test on any diagnostic.
Compiled trainable(const std::string& src, bool evaluate = false) {
  CompileOptions o;
  o.trainStep = true;
  o.evaluate = evaluate;
  Compiled c(src, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  return c;
}

} // namespace

TEST_CASE("chunk sums: one fixed tree, whoever adds which range of elements", "[chunks]") {
  for (int64_t chunks = 1; chunks <= 9; ++chunks) {
    // Magnitudes far apart, so that another grouping of the additions rounds differently.
    std::vector<float> p;
    for (int64_t c = 0; c < chunks; ++c) p.push_back(c % 2 ? 1.0f + 0.125f * static_cast<float>(c) : 3e7f * (c % 4 ? -1 : 1));
    const int64_t stride = 5;
    std::vector<float> whole(chunks * stride), pieces;
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t i = 0; i < stride; ++i) whole[c * stride + i] = p[c] * static_cast<float>(i + 1);
    pieces = whole;
    addChunkSums(whole.data(), stride, chunks, 0, stride, whole.data());
    std::vector<float> total(stride);  // the tree's last addition into a block of its own
    for (int64_t i = 0; i < stride; ++i) addChunkSums(pieces.data(), stride, chunks, i, i + 1, total.data());
    for (int64_t i = 0; i < stride; ++i) {
      std::vector<float> column;
      for (int64_t c = 0; c < chunks; ++c) column.push_back(p[c] * static_cast<float>(i + 1));
      INFO(chunks << " chunks, element " << i);
      CHECK(whole[i] == treeSum(column, 0, column.size()));
      CHECK(total[i] == whole[i]);
    }
  }
  // The grouping matters: in file order the 1s would be lost against 3e7.
  std::vector<float> p = {3e7f, 1.0f, -3e7f, 1.0f};
  addChunkSums(p.data(), 1, 4, 0, 1, p.data());
  CHECK(p[0] == (3e7f + 1.0f) + (-3e7f + 1.0f));
}

TEST_CASE("train step by chunks: any threads and any number of processes give the same bits", "[chunks][threads]") {
  Compiled c = trainable(kModel);
  const CompiledModel& cm = *c.cm;
  REQUIRE(cm.trainFinish);  // the model trains by chunks
  REQUIRE_FALSE(cm.trainStep);
  CHECK(cm.trainChunkRows == 32);
  CHECK(c.session->trainChunks(kRows) == 4);
  std::vector<std::vector<double>> reference = train(cm, 1, 1);
  for (bool share : {false, true})
    for (auto [processes, threads] : {std::pair{1, 2}, {1, 3}, {1, 8}, {2, 1}, {3, 1}, {4, 2}, {5, 1}}) {
      INFO(processes << " processes of " << threads << " threads, " << (share ? "in shared memory" : "exchanging sums"));
      CHECK(train(cm, processes, threads, share) == reference);
    }
}

TEST_CASE("train step by chunks: a Winograd convolution's kernel gradient is a chunk sum, the same bits anywhere",
          "[chunks][threads][conv]") {
  // 16 channels at stride 1: conv2d goes by Winograd's tiles, its kernel's
  // gradient one product per point, summed over each chunk's rows.
  // Big enough that the threads share out each of its products: 16 tiles of
  // 36 points an image; 5 threads start shares inside one of the 36 products
  // of the kernel gradient, whose panels of B (64 floats a row, 36 rows
  // apart: a multiple of 1 KB) each thread copies.
  Compiled c = trainable("input x[batch, 6]\ninput label[batch] : class(3)\nparam W0[6, 1280] = he\n"
                         "param K[5, 5, 20, 64] = normal(0, 0.05)\nparam W1[4096, 3] = glorot\n"
                         "h = relu(conv2d(reshape(x @ W0, [batch, 8, 8, 20]), K, padding = \"same\"))\n"
                         "loss = cross_entropy(reshape(h, [batch, 4096]) @ W1, label)\noptimizer adam(lr = 0.01)\n");
  const CompiledModel& cm = *c.cm;
  REQUIRE(cm.trainFinish);
  std::optional<std::string> schedule = trainStepStage(
      "input x[batch, 6, 6, 16]\nparam K[3, 3, 16, 8] = 0\nloss = sum(conv2d(x, K))\noptimizer sgd(lr = 0.1)\n",
      Stage::Schedule);
  REQUIRE(schedule);
  CHECK(schedule->find(" = @g ") != std::string::npos);
  std::vector<std::vector<double>> reference = train(cm, 1, 1);
  for (auto [processes, threads, share] :
       {std::tuple{1, 2, false}, {1, 3, false}, {1, 5, false}, {2, 1, true}, {3, 2, false}}) {
    INFO(processes << " processes of " << threads << " threads, " << (share ? "in shared memory" : "exchanging sums"));
    CHECK(train(cm, processes, threads, share) == reference);
  }
}

TEST_CASE("train step by chunks: a model that reads a statistic of the batch into its rows trains whole", "[chunks]") {
  Compiled c = trainable("input x[batch, 3]\nparam w[3] = 0.5\nloss = mean(square((x - mean(x, axis = 0)) * w))\n"
                         "optimizer sgd(lr = 0.1)\n");
  CHECK(c.cm->trainStep);
  CHECK_FALSE(c.cm->trainFinish);
  CHECK(c.session->trainChunks(100) == 1);
}

TEST_CASE("train step by chunks: dropout draws each row's mask of the whole batch", "[chunks][dropout]") {
  // The same model twice: trained by chunks, and whole (a statistic of the
  // batch, times 0, forces that). The losses agree only if every chunk drew
  // the masks its rows have in the whole batch.
  std::string model = "input x[batch, 6]\nparam w[6, 1] = 0.5\n"
                      "loss = mean(square(dropout(x, 0.5) @ w))LOSS\noptimizer sgd(lr = 0.1)\n";
  auto lossOf = [&](const std::string& extra, bool byChunks) {
    std::string src = model;
    src.replace(src.find("LOSS"), 4, extra);
    Compiled c = trainable(src);
    CHECK((c.cm->trainFinish != nullptr) == byChunks);
    Dataset data = makeData();
    data.columns.resize(1);
    c.session->initParams(1);
    feedAll(*c.session, data);
    c.session->setRandomKey(0, 1);
    c.session->trainStep(kRows);
    return c.session->scalar(c.cm->lossSlot);
  };
  double chunked = lossOf("", true), whole = lossOf(" + 0 * mean(square(x - mean(x, axis = 0)))", false);
  CHECK(chunked == Approx(whole).epsilon(1e-5));
}

TEST_CASE("train step by chunks: the chunks' sums are held for the batches trained on, not for test rows",
          "[chunks]") {
  Compiled c = trainable(kModel, true);
  Session& s = *c.session;
  s.reserveRows(10000);  // 10,000 test rows: 313 chunks' sums if they sized them
  CHECK(s.trainChunksHeld() == 0);
  feedAll(s, makeData());
  s.trainStep(64);
  CHECK(s.trainChunksHeld() == 2);
  s.trainStep(kRows);
  CHECK(s.trainChunksHeld() == 4);
  s.trainStep(10);
  CHECK(s.trainChunksHeld() == 4);
  CHECK(Session::bytesFor(*c.cm, 10000, 64) < Session::bytesFor(*c.cm, 10000, 10000));
}

TEST_CASE("train step by chunks: a run lays out its chunks before its first step, which then allocates nothing",
          "[chunks]") {
  Compiled prepared = trainable(kModel), lazy = trainable(kModel);
  for (Compiled* c : {&prepared, &lazy}) {
    c->session->initParams(3);
    feedAll(*c->session, makeData());
  }
  prepared.session->prepareTrainStep(kRows);
  CHECK(prepared.session->trainChunksHeld() == 4);
  CHECK(lazy.session->trainChunksHeld() == 0);
  for (Compiled* c : {&prepared, &lazy}) {
    c->session->setScalar(c->cm->stepSlot, 1);
    c->session->trainStep(kRows);
  }
  CHECK(prepared.session->trainChunksHeld() == 4);
  for (size_t p = 0; p < prepared.cm->paramSlots.size(); ++p)
    CHECK(prepared.session->read(prepared.cm->paramSlots[p]) == lazy.session->read(lazy.cm->paramSlots[p]));
}

TEST_CASE("train step by chunks: batches of changing sizes through a wide layer give the same bits on any processes",
          "[chunks]") {
  // A weight past ~512 x 512 turns dZ @ transpose(W) into transpose(W @ transpose(dZ)), read down its rows; and a
  // chunk that a process computes after a longer one must not see what the longer one left in its arena.
  Compiled c = trainable("input x[batch, 6]\ninput label[batch] : class(3)\nparam W0[6, 520] = he\n"
                         "param W1[520, 520] = he\nparam W2[520, 3] = glorot\n"
                         "loss = cross_entropy(relu(relu(x @ W0) @ W1) @ W2, label)\noptimizer sgd(lr = 0.01)\n");
  const CompiledModel& cm = *c.cm;
  REQUIRE(cm.trainFinish);
  REQUIRE(cm.trainChunkRows == 64);
  const std::vector<int64_t> steps = {kRows, 28, 64, 93, 20};
  std::vector<std::vector<double>> reference = train(cm, 1, 1, false, steps);
  for (auto [processes, share] : {std::pair{2, false}, {2, true}, {3, true}}) {
    INFO(processes << " processes, " << (share ? "in shared memory" : "exchanging sums"));
    CHECK(train(cm, processes, 1, share, steps) == reference);
  }
}

TEST_CASE("train step by chunks: a weight's transpose is made once a step, before the chunks, on every process",
          "[chunks]") {
  // dX = dZ @ transpose(W2): the transpose reads no rows, so each chunk would make the same copy of it.
  std::string model = "input x[batch, 6]\ninput label[batch] : class(8)\nparam W1[6, 64] = he\n"
                      "param W2[64, 8] = glorot\nloss = cross_entropy(relu(x @ W1) @ W2, label)LOSS\n"
                      "optimizer sgd(lr = 0.1)\n";
  auto source = [&](const std::string& extra) { return std::string(model).replace(model.find("LOSS"), 4, extra); };
  CompileOptions o;
  o.trainStep = true;
  DiagnosticEngine diags("test.nn", source(""));
  std::optional<std::string> schedule = emitStage(source(""), "test.nn", Stage::Schedule, o, diags);
  REQUIRE(schedule);
  size_t rows = schedule->find("function nnjit_train_rows");
  REQUIRE(rows != std::string::npos);
  CHECK(schedule->substr(0, rows).find("transpose %") != std::string::npos);  // in nnjit_train_prepare
  CHECK(schedule->substr(rows).find("transpose %") == std::string::npos);

  Compiled c = trainable(source(""));
  REQUIRE(c.cm->trainPrepare);
  std::vector<std::vector<double>> chunked = train(*c.cm, 1, 1);
  for (auto [processes, threads, share] : {std::tuple{1, 2, false}, {2, 1, false}, {3, 1, true}}) {
    INFO(processes << " processes of " << threads << " threads, " << (share ? "in shared memory" : "exchanging sums"));
    CHECK(train(*c.cm, processes, threads, share) == chunked);  // each process made its own copy
  }
  // The step made whole (a statistic of the batch, times 0, forces that) transposes W2 where it reads it.
  Compiled whole = trainable(source(" + 0 * mean(square(x - mean(x, axis = 0)))"));
  REQUIRE_FALSE(whole.cm->trainFinish);
  std::vector<std::vector<double>> reference = train(*whole.cm, 1, 1);
  REQUIRE(chunked.size() == reference.size());
  for (size_t p = 0; p < chunked.size(); ++p)
    for (size_t i = 0; i < chunked[p].size(); ++i)
      CHECK(chunked[p][i] == Approx(reference[p][i]).epsilon(1e-4).margin(1e-6));
}

TEST_CASE("train step by chunks: work on params alone moves out of the chunks, under views and small results too",
          "[chunks]") {
  // W1 @ tanh(V) is a product of params; the mean of exp(V) is small, the exp beneath it is not; the
  // reshape of h is a view the chunks read in place.
  std::string src = "input x[batch, 6]\ninput label[batch] : class(3)\nparam W1[6, 33] = he\n"
                    "param V[33, 33] = glorot\nparam W2[33, 3] = glorot\n"
                    "h = tanh(x @ (W1 @ tanh(V)))\n"
                    "h2 = reshape(h, [batch, 3, 11]) * mean(reshape(exp(V * 0.01), [3, 11, 33]), axis = 2)\n"
                    "loss = cross_entropy(reshape(h2, [batch, 33]) @ W2, label)\noptimizer sgd(lr = 0.05)\n";
  std::optional<std::string> schedule = trainStepStage(src, Stage::Schedule);
  REQUIRE(schedule);
  INFO(*schedule);
  size_t rows = schedule->find("function nnjit_train_rows");
  REQUIRE(rows != std::string::npos);
  std::string prepare = schedule->substr(0, rows), chunk = schedule->substr(rows);
  chunk = chunk.substr(0, chunk.find("\n\n"));
  for (const char* op : {"tanh %", "exp %", "sum %"}) CHECK(prepare.find(op) != std::string::npos);  // a mean is a sum
  CHECK(chunk.find(": [33, 33]") == std::string::npos);  // neither tanh(V) nor exp(V * 0.01) per chunk
  CHECK(chunk.find("@ %2, ") == std::string::npos);      // nor W1 @ tanh(V)

  Compiled c = trainable(src);
  std::vector<std::vector<double>> reference = train(*c.cm, 1, 1);
  CHECK(train(*c.cm, 1, 3) == reference);
  CHECK(train(*c.cm, 2, 1, true) == reference);
}
