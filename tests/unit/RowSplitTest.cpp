// RowSplitTest: which values may be computed on chunks of rows, and evaluation
// and predict over chunks giving what the whole batch gives.
#include "Builder.h"
#include "RowSplit.h"
#include "TestSupport.h"

namespace nnjit::test {
namespace {

Attrs named(const std::string& name) {
  Attrs a;
  a.name = name;
  return a;
}

Attrs axes(std::vector<int64_t> ints) {
  Attrs a;
  a.ints = std::move(ints);
  return a;
}

TEST_CASE("row split: each op's dependence on the batch's rows", "[rowsplit]") {
  using Dep = RowDependence;
  Graph g;
  Builder b(g);
  NodeId x = b.make(Op::Input, {}, named("x"), Shape{kBatch, 3});
  NodeId w = b.make(Op::Param, {}, named("w"), Shape{3, 2});
  NodeId xw = b.matmul(x, w);
  NodeId rowSum = b.sum(xw, {1});
  NodeId total = b.sum(xw, {0, 1});
  NodeId mean = b.div(total, b.make(Op::BatchSize, {}));
  NodeId centered = b.sub(xw, b.sum(xw, {0}));  // a batch statistic back in every row
  NodeId batchMax = b.make(Op::Max, {xw}, axes({0}));
  NodeId flat = b.reshape(x, Shape{batchTimes(3)});
  NodeId flipped = b.transpose(x);  // [3, batch]: the rows become columns
  NodeId gram = b.matmul(flipped, x);  // a sum over the rows, as a weight's gradient transpose(x) @ dz
  NodeId gramOfMixed = b.matmul(flipped, centered);
  NodeId perBatch = b.div(x, b.make(Op::BatchSize, {}));
  NodeId paramOnly = b.sum(b.mul(w, w), {0, 1});
  REQUIRE(b.error().empty());

  std::vector<Dep> dep = rowDependence(g);
  CHECK(dep[w] == Dep::None);
  CHECK(dep[paramOnly] == Dep::None);
  CHECK(dep[xw] == Dep::PerRow);
  CHECK(dep[rowSum] == Dep::PerRow);
  CHECK(dep[flat] == Dep::PerRow);
  CHECK(dep[total] == Dep::Summed);
  CHECK(dep[mean] == Dep::Summed);
  CHECK(dep[centered] == Dep::Mixed);
  CHECK(dep[batchMax] == Dep::Mixed);
  CHECK(dep[flipped] == Dep::Mixed);
  CHECK(dep[gram] == Dep::Summed);
  CHECK(dep[gramOfMixed] == Dep::Mixed);
  CHECK(dep[perBatch] == Dep::Mixed);  // each row would divide by its chunk's size

  CHECK(batchSums(g, {mean, paramOnly}) == std::vector<NodeId>{total});
  CHECK(batchSums(g, {b.matmul(gram, w), mean}) == std::vector<NodeId>{total, gram});
  CHECK_FALSE(batchSums(g, {mean, b.sum(centered, {0, 1})}));
  CHECK_FALSE(batchSums(g, {paramOnly}));  // no rows to split
  CHECK(computedPerRow(g, rowSum));
  CHECK_FALSE(computedPerRow(g, centered));
}

// Rows in f64 with a loss that is not a plain mean (a square root of one,
// plus a penalty) and metrics that count: evaluated over 4 chunks of rows.
const char* kRegression = R"(input x[batch, 3]
input t[batch, 1]
param W[3, 1] = 0.5
param b[1] = 0.25
y = x @ W + b
output y
loss = sqrt(mean(square(y - t))) + 0.01 * l2(W)
metric mae = mean(abs(y - t))
metric high = mean(y > 0.7)
)";

Dataset regressionRows(int64_t rows) {
  Dataset d;
  d.rows = rows;
  d.columns.resize(2);
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < 3; ++j) d.columns[0].push_back(std::sin(0.37 * static_cast<double>(r * 3 + j)));
    d.columns[1].push_back(std::cos(0.11 * static_cast<double>(r)));
  }
  return d;
}

struct Reference {
  double loss = 0, mae = 0, high = 0;
  std::vector<double> y;
};

Reference regressionReference(const Dataset& d) {
  Reference ref;
  double squares = 0;
  for (int64_t r = 0; r < d.rows; ++r) {
    double y = 0.25;
    for (int j = 0; j < 3; ++j) y += 0.5 * d.columns[0][r * 3 + j];
    ref.y.push_back(y);
    double e = y - d.columns[1][r];
    squares += e * e;
    ref.mae += std::fabs(e);
    ref.high += y > 0.7 ? 1 : 0;
  }
  double n = static_cast<double>(d.rows);
  ref.loss = std::sqrt(squares / n) + 0.01 * 0.75;  // l2(W) = 3 * 0.5^2
  ref.mae /= n;
  ref.high /= n;
  return ref;
}

CompileOptions evalAndPredict() {
  CompileOptions o;
  o.dtype = DType::F64;
  o.evaluate = true;
  o.predict = true;
  return o;
}

TEST_CASE("row split: evaluation over chunks of rows equals the whole batch's figures", "[rowsplit][session]") {
  Compiled c(kRegression, evalAndPredict());
  INFO(c.errors);
  REQUIRE(c.ok());
  REQUIRE(c.cm->evalRows);
  REQUIRE(c.cm->evalFinish);
  CHECK_FALSE(c.cm->evaluate);
  CHECK(c.cm->predictPerRow);
  c.session->initParams(1);
  // Fewer rows than a chunk, exactly one chunk, and several with a tail.
  for (int64_t rows : {int64_t(1), Session::kRowsPerChunk, 4 * Session::kRowsPerChunk - 24}) {
    INFO(rows << " rows");
    Dataset d = regressionRows(rows);
    Reference ref = regressionReference(d);
    feedAll(*c.session, d);
    c.session->evaluate(rows);
    CHECK(c.session->scalar(c.cm->lossSlot) == Approx(ref.loss).epsilon(1e-12));
    CHECK(c.session->scalar(c.cm->metricSlots[0]) == Approx(ref.mae).epsilon(1e-12));
    CHECK(c.session->scalar(c.cm->metricSlots[1]) == ref.high);
    // Evaluating again starts the sums from zero.
    c.session->evaluate(rows);
    CHECK(c.session->scalar(c.cm->lossSlot) == Approx(ref.loss).epsilon(1e-12));
    c.session->predict(rows);
    std::vector<double> y = c.session->read(c.cm->outputSlot, rows);
    for (int64_t r = 0; r < rows; ++r) REQUIRE(y[r] == Approx(ref.y[r]).epsilon(1e-14));
  }
}

TEST_CASE("row split: the arena holds one chunk, however many rows are evaluated", "[rowsplit][session]") {
  Compiled c(kRegression, evalAndPredict());
  REQUIRE(c.ok());
  c.session->initParams(1);
  int64_t rows = 40 * Session::kRowsPerChunk;
  feedAll(*c.session, regressionRows(rows));
  c.session->evaluate(rows);
  c.session->predict(rows);
  int64_t chunk = 0;
  for (const CompiledModel::ArenaNeed& a : c.cm->arenaNeeds)
    chunk = std::max(chunk, a.fixed + a.perRow * Session::kRowsPerChunk);
  CHECK(c.session->arenaElements() <= chunk);
  // What a session is said to need grows with the rows only by the inputs and
  // the output (x, t, y: 5 doubles a row), not by the intermediates.
  uint64_t more = Session::bytesFor(*c.cm, 2 * rows) - Session::bytesFor(*c.cm, rows);
  CHECK(more == static_cast<uint64_t>(rows) * 5 * sizeof(double));
}

// Centred by the batch's own mean: a chunk's mean would differ from the
// batch's, so both functions run on all rows at once.
const char* kBatchStatistics = R"(input x[batch, 2]
centred = x - mean(x, axis = 0)
output centred
loss = mean(square(centred))
)";

TEST_CASE("row split: values that read batch statistics run on the whole batch", "[rowsplit][session]") {
  Compiled c(kBatchStatistics, evalAndPredict());
  INFO(c.errors);
  REQUIRE(c.ok());
  CHECK(c.cm->evaluate);
  CHECK_FALSE(c.cm->evalRows);
  CHECK_FALSE(c.cm->predictPerRow);
  int64_t rows = 3 * Session::kRowsPerChunk;
  Dataset d;
  d.rows = rows;
  d.columns.resize(1);
  double mean[2] = {0, 0};
  for (int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < 2; ++j) {
      d.columns[0].push_back(static_cast<double>(r % 7) + j);
      mean[j] += d.columns[0].back() / static_cast<double>(rows);
    }
  double squares = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < 2; ++j) squares += std::pow(d.columns[0][r * 2 + j] - mean[j], 2);
  feedAll(*c.session, d);
  c.session->evaluate(rows);
  CHECK(c.session->scalar(c.cm->lossSlot) == Approx(squares / (2.0 * static_cast<double>(rows))).epsilon(1e-12));
  c.session->predict(rows);
  std::vector<double> out = c.session->read(c.cm->outputSlot, rows * 2);
  CHECK(out[2 * (rows - 1)] == Approx(d.columns[0][2 * (rows - 1)] - mean[0]).epsilon(1e-12));
}

} // namespace
} // namespace nnjit::test
