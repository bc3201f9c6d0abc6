// TrainStepTest: the JIT'd train step of softmax regression against a plain float32 C++ loop of the same math.
#include "TestSupport.h"

#include <algorithm>
#include <numeric>

using namespace nnjit;
using namespace nnjit::test;

namespace {

const char* kModel = R"(
input  x[batch, 4]
input  label[batch] : class(3)
param  W[4, 3] = [[0.1, -0.2, 0.3], [-0.4, 0.5, 0.05], [0.2, 0.1, -0.3], [0.0, -0.1, 0.25]]
param  b[3]    = [0.05, -0.1, 0.02]
y      = softmax(x @ W + b)
loss   = mean(square(onehot(label, 3) - y))
optimizer sgd(lr = 0.1)
train(epochs = 1, batch = 5)
)";

/// Thirteen hand-made iris-like rows (features, then the class).
const float kRows[13][5] = {
    {5.1f, 3.5f, 1.4f, 0.2f, 0}, {4.9f, 3.0f, 1.4f, 0.2f, 0}, {7.0f, 3.2f, 4.7f, 1.4f, 1},
    {6.4f, 3.2f, 4.5f, 1.5f, 1}, {6.3f, 3.3f, 6.0f, 2.5f, 2}, {5.8f, 2.7f, 5.1f, 1.9f, 2},
    {4.7f, 3.2f, 1.3f, 0.2f, 0}, {5.5f, 2.3f, 4.0f, 1.3f, 1}, {7.1f, 3.0f, 5.9f, 2.1f, 2},
    {5.0f, 3.6f, 1.4f, 0.2f, 0}, {6.5f, 2.8f, 4.6f, 1.5f, 1}, {6.5f, 3.0f, 5.8f, 2.2f, 2},
    {4.6f, 3.1f, 1.5f, 0.2f, 0},
};
constexpr int kN = 13;

Dataset makeData() {
  Dataset d;
  d.rows = kN;
  d.columns.resize(2);
  for (int r = 0; r < kN; ++r) {
    for (int j = 0; j < 4; ++j) d.columns[0].push_back(kRows[r][j]);
    d.columns[1].push_back(kRows[r][4]);
  }
  return d;
}

/// The same model and update in float32, one step on rows [begin, begin + n).
struct Reference {
  float W[4][3] = {{0.1f, -0.2f, 0.3f}, {-0.4f, 0.5f, 0.05f}, {0.2f, 0.1f, -0.3f}, {0.0f, -0.1f, 0.25f}};
  float b[3] = {0.05f, -0.1f, 0.02f};
  float lr = 0.1f;

  /// Returns the loss before the update.
  float step(const std::vector<int64_t>& order, size_t begin, size_t n) {
    float gW[4][3] = {}, gb[3] = {};
    float loss = 0;
    const float scale = 1.0f / (3.0f * static_cast<float>(n));
    for (size_t i = 0; i < n; ++i) {
      const float* row = kRows[order[begin + i]];
      int label = static_cast<int>(row[4]);
      float z[3], y[3];
      for (int k = 0; k < 3; ++k) {
        z[k] = b[k];
        for (int j = 0; j < 4; ++j) z[k] += row[j] * W[j][k];
      }
      float m = std::max({z[0], z[1], z[2]}), s = 0;
      for (int k = 0; k < 3; ++k) s += (y[k] = std::exp(z[k] - m));
      for (float& v : y) v /= s;
      // dL/dy_k = -2 (onehot_k - y_k) / (3 n); softmax: dz_k = y_k (dy_k - sum_j dy_j y_j).
      float dy[3], dot = 0;
      for (int k = 0; k < 3; ++k) {
        float diff = (k == label ? 1.0f : 0.0f) - y[k];
        loss += diff * diff * scale;
        dy[k] = -2.0f * diff * scale;
        dot += dy[k] * y[k];
      }
      for (int k = 0; k < 3; ++k) {
        float dz = y[k] * (dy[k] - dot);
        gb[k] += dz;
        for (int j = 0; j < 4; ++j) gW[j][k] += row[j] * dz;
      }
    }
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) W[j][k] -= lr * gW[j][k];
    for (int k = 0; k < 3; ++k) b[k] -= lr * gb[k];
    return loss;
  }
};

void compareParams(Session& s, const CompiledModel& cm, const Reference& ref) {
  std::vector<double> W = s.read(cm.paramSlots[0]);
  std::vector<double> b = s.read(cm.paramSlots[1]);
  REQUIRE(W.size() == 12);
  REQUIRE(b.size() == 3);
  for (int j = 0; j < 4; ++j)
    for (int k = 0; k < 3; ++k) {
      INFO("W[" << j << "][" << k << "]");
      CHECK(W[j * 3 + k] == Approx(ref.W[j][k]).epsilon(1e-5).margin(1e-7));
    }
  for (int k = 0; k < 3; ++k) {
    INFO("b[" << k << "]");
    CHECK(b[k] == Approx(ref.b[k]).epsilon(1e-5).margin(1e-7));
  }
}

CompileOptions trainOnly() {
  CompileOptions o;
  o.trainStep = true;
  return o;
}

/// kModel compiled for its train step in float32, params drawn with seed 0.
struct Stepper {
  Compiled c{kModel, trainOnly()};
  Stepper() {
    INFO(c.errors);
    REQUIRE(c.ok());
    c.session->initParams(0);
  }
};

} // namespace

TEST_CASE("train step: softmax regression matches a float32 reference, short last batch included", "[trainstep]") {
  Compiled c(kModel, trainOnly());
  INFO(c.errors);
  REQUIRE(c.ok());
  const CompiledModel& cm = *c.cm;
  Session& s = *c.session;
  REQUIRE(cm.canTrain());
  REQUIRE(cm.paramSlots.size() == 2);
  REQUIRE(cm.inputSlots.size() == 2);
  CHECK(cm.states.empty());
  s.initParams(0);
  Dataset data = makeData();
  std::vector<int64_t> order(kN);
  std::iota(order.begin(), order.end(), 0);
  s.reserveRows(5);
  Reference ref;
  compareParams(s, cm, ref);  // the list initializers as written

  const size_t begins[] = {0, 5, 10}, sizes[] = {5, 5, 3};
  for (int step = 0; step < 3; ++step) {
    INFO("step " << step + 1 << " with " << sizes[step] << " rows");
    s.feed(data, order, begins[step], sizes[step], {0, 1});
    s.setScalar(cm.stepSlot, step + 1);
    s.setScalar(cm.epochSlot, 0);
    s.trainStep(static_cast<int64_t>(sizes[step]));
    float expected = ref.step(order, begins[step], sizes[step]);
    CHECK(s.scalar(cm.lossSlot) == Approx(expected).epsilon(1e-5));
    compareParams(s, cm, ref);
  }
}

TEST_CASE("train step: one compile serves every batch size, in any order", "[trainstep]") {
  Stepper t;
  const CompiledModel& cm = *t.c.cm;
  Session& s = *t.c.session;
  Dataset data = makeData();
  // A shuffled order, so rows are not fed in file order.
  std::vector<int64_t> order = {7, 2, 12, 0, 9, 4, 11, 1, 6, 3, 10, 8, 5};
  s.reserveRows(kN);
  Reference ref;
  struct Call {
    size_t begin, n;
  };
  // Growing, shrinking, one row, and the whole data set as one batch.
  const Call calls[] = {{0, 2}, {2, 7}, {9, 1}, {10, 3}, {0, 13}, {4, 4}, {0, 13}, {12, 1}};
  int step = 0;
  for (const Call& call : calls) {
    INFO("call " << step + 1 << ": rows [" << call.begin << ", " << call.begin + call.n << ")");
    s.feed(data, order, call.begin, call.n, {0, 1});
    s.setScalar(cm.stepSlot, ++step);
    s.setScalar(cm.epochSlot, 0);
    s.trainStep(static_cast<int64_t>(call.n));
    float expected = ref.step(order, call.begin, call.n);
    CHECK(s.scalar(cm.lossSlot) == Approx(expected).epsilon(1e-5));
    compareParams(s, cm, ref);
  }
}

TEST_CASE("train step: F64 agrees with the float32 reference to float32 precision", "[trainstep]") {
  CompileOptions o = trainOnly();
  o.dtype = DType::F64;
  Compiled c(kModel, o);
  INFO(c.errors);
  REQUIRE(c.ok());
  const CompiledModel& cm = *c.cm;
  Session& s = *c.session;
  s.initParams(0);
  Dataset data = makeData();
  std::vector<int64_t> order(kN);
  std::iota(order.begin(), order.end(), 0);
  s.reserveRows(kN);
  Reference ref;
  for (int step = 1; step <= 3; ++step) {
    s.feed(data, order, 0, kN, {0, 1});
    s.setScalar(cm.stepSlot, step);
    s.setScalar(cm.epochSlot, 0);
    s.trainStep(kN);
    float expected = ref.step(order, 0, kN);
    CHECK(s.scalar(cm.lossSlot) == Approx(expected).epsilon(1e-5));
    compareParams(s, cm, ref);
  }
}

TEST_CASE("train step: a float32 table's rows in order are read in place, shuffled ones copied", "[trainstep]") {
  Stepper t;
  const CompiledModel& cm = *t.c.cm;
  Session& s = *t.c.session;
  // The table in the model's dtype, as the CSV and IDX readers keep it for a float32 model.
  Dataset data = makeData();
  for (DataColumn& column : data.columns) column = DataColumn(DType::F32, column.values());
  REQUIRE(data.columns[0].dtype() == DType::F32);
  std::vector<int64_t> inOrder(kN), shuffled = {7, 2, 12, 0, 9, 4, 11, 1, 6, 3, 10, 8, 5};
  std::iota(inOrder.begin(), inOrder.end(), 0);
  s.reserveRows(kN);
  Reference ref;
  const char* table = data.columns[0].bytes();
  int slot = cm.inputSlots[0];
  struct Call {
    const std::vector<int64_t>& order;
    size_t begin, n;
    bool inPlace;
  };
  const Call calls[] = {{inOrder, 0, 5, true}, {inOrder, 5, 5, true}, {shuffled, 0, 5, false}, {inOrder, 10, 3, true}};
  int step = 0;
  for (const Call& call : calls) {
    s.feed(data, call.order, call.begin, call.n, {0, 1}, true);
    const char* at = static_cast<const char*>(s.inputData(slot));
    CHECK((at == table + call.order[call.begin] * 4 * sizeof(float)) == call.inPlace);
    s.setScalar(cm.stepSlot, ++step);
    s.setScalar(cm.epochSlot, 0);
    s.trainStep(static_cast<int64_t>(call.n));
    CHECK(s.scalar(cm.lossSlot) == Approx(ref.step(call.order, call.begin, call.n)).epsilon(1e-5));
    compareParams(s, cm, ref);
  }
  // Unless the caller says the table outlives the runs, rows in order are copied too.
  s.feed(data, inOrder, 0, 5, {0, 1});
  CHECK(s.inputData(slot) != static_cast<const void*>(table));
}
