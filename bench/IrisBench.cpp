// IrisBench: compile time and 500 epochs of examples/iris.nn against a hand-written C++ loop.
//
// Both sides see the same batches in the same order (the trainer's own split
// and shuffles), compute in float32, allocate nothing inside the epoch loop,
// and each epoch also evaluates accuracy and the test rows, as nnjit does.
#include "Compiler.h"
#include "CsvDataset.h"
#include "Session.h"
#include "Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <sstream>

using namespace nnjit;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

/// Softmax regression with loss mean((onehot - y)^2), exactly iris.nn's math.
struct HandLoop {
  float W[4][3], b[3];
  float x[150][4];
  int label[150];
  float z[150][3], dz[150][3];

  /// Forward over `rows`; returns the loss, adds hits to `correct`, and leaves
  /// dL/dz in dz when `backward` is set.
  float forward(const int64_t* rows, int n, bool backward, int& correct) {
    float loss = 0;
    for (int i = 0; i < n; ++i) {
      const float* xi = x[rows[i]];
      float* y = z[i];
      for (int k = 0; k < 3; ++k) y[k] = xi[0] * W[0][k] + xi[1] * W[1][k] + xi[2] * W[2][k] + xi[3] * W[3][k] + b[k];
      float m = std::max(y[0], std::max(y[1], y[2]));
      float s = 0;
      for (int k = 0; k < 3; ++k) s += (y[k] = std::exp(y[k] - m));
      int best = 0;
      for (int k = 0; k < 3; ++k) {
        y[k] /= s;
        if (y[k] > y[best]) best = k;
      }
      correct += best == label[rows[i]];
      float dot = 0, dy[3];
      for (int k = 0; k < 3; ++k) {
        float d = (k == label[rows[i]] ? 1.f : 0.f) - y[k];
        loss += d * d;
        dy[k] = -2 * d / (3.f * n);
        dot += dy[k] * y[k];
      }
      if (backward)
        for (int k = 0; k < 3; ++k) dz[i][k] = y[k] * (dy[k] - dot);
    }
    return loss / (3.f * n);
  }

  void step(const int64_t* rows, int n, float lr) {
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) {
        float g = 0;
        for (int i = 0; i < n; ++i) g += x[rows[i]][j] * dz[i][k];
        W[j][k] -= lr * g;
      }
    for (int k = 0; k < 3; ++k) {
      float g = 0;
      for (int i = 0; i < n; ++i) g += dz[i][k];
      b[k] -= lr * g;
    }
  }

  double train(const TrainPlan& plan, int64_t batch, float lr, float& lastLoss) {
    std::vector<int64_t> rows(plan.trainRows.size());
    auto t0 = Clock::now();
    for (int64_t e = 0; e < plan.epochs; ++e) {
      std::vector<int64_t> order = epochRows(plan, e);
      float sum = 0;
      int batches = 0, correct = 0;
      for (size_t begin = 0; begin < order.size(); begin += batch) {
        int n = static_cast<int>(std::min<size_t>(batch, order.size() - begin));
        sum += forward(&order[begin], n, true, correct);
        step(&order[begin], n, lr);
        ++batches;
      }
      int testCorrect = 0;
      forward(plan.testRows.data(), static_cast<int>(plan.testRows.size()), false, testCorrect);
      lastLoss = sum / batches;
    }
    return msSince(t0);
  }
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "examples";
  int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  std::string source = readFile(dir + "/iris.nn");

  // Cold compiles go all the way through LLVM; warm ones find the native
  // code in a fresh object cache that the first warm compile fills.
  std::string cacheDir = "/tmp/nnjit-bench-cache-" + std::to_string(getpid());
  std::vector<double> warmMs;
  setenv("NNJIT_CACHE_DIR", cacheDir.c_str(), 1);
  for (int r = 0; r <= repeats; ++r) {
    auto t0 = Clock::now();
    DiagnosticEngine diags("iris.nn", source);
    CompileOptions opt;
    opt.trainStep = opt.evaluate = true;
    std::unique_ptr<CompiledModel> cm = compileModel(source, "iris.nn", opt, diags);
    if (r > 0) warmMs.push_back(msSince(t0));
  }
  std::filesystem::remove_all(cacheDir);
  setenv("NNJIT_CACHE", "0", 1);

  std::vector<double> compileMs, nnjitMs, handMs;
  float nnjitLoss = 0, handLoss = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    DiagnosticEngine diags("iris.nn", source);
    CompileOptions opt;
    opt.trainStep = opt.evaluate = true;
    std::unique_ptr<CompiledModel> cm = compileModel(source, "iris.nn", opt, diags);
    compileMs.push_back(msSince(t0));
    if (!cm) {
      for (const auto& d : diags.diagnostics()) fmt::print(stderr, "{}", formatDiagnostic(d));
      return 1;
    }
    const Model& m = cm->model;
    std::vector<InputColumns> cols;
    for (const InputInfo& in : m.inputs) cols.push_back({in.name, in.width(), in.numClasses});
    Result<Dataset> data = loadCsv(dir + "/iris.csv", "iris.csv", cols, DType::F32);
    if (!data) return 1;
    TrainPlan plan;
    plan.epochs = m.train->epochs;
    plan.batch = m.train->batch;
    plan.shuffleSeed = m.train->shuffleSeed;
    plan.data = &*data;
    plan.testData = &*data;
    splitRows(plan, data->rows, m.train->test.count);

    Session session(*cm);
    session.initParams(0);
    TrainOutcome out = train(session, plan, TrainCallbacks{[](const EpochStats&) {}, nullptr});
    nnjitMs.push_back(out.trainMs);
    nnjitLoss = static_cast<float>(out.lastLoss);

    HandLoop hand;
    std::vector<double> W = session.read(cm->paramSlots[0]), b = session.read(cm->paramSlots[1]);
    Session fresh(*cm);
    fresh.initParams(0);
    W = fresh.read(cm->paramSlots[0]);
    b = fresh.read(cm->paramSlots[1]);
    for (int j = 0; j < 12; ++j) hand.W[j / 3][j % 3] = static_cast<float>(W[j]);
    for (int k = 0; k < 3; ++k) hand.b[k] = static_cast<float>(b[k]);
    for (int64_t i = 0; i < data->rows; ++i) {
      for (int j = 0; j < 4; ++j) hand.x[i][j] = static_cast<float>(data->columns[0][i * 4 + j]);
      hand.label[i] = static_cast<int>(data->columns[1][i]);
    }
    handMs.push_back(hand.train(plan, plan.batch, 0.1f, handLoss));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double c = median(compileMs), n = median(nnjitMs), h = median(handMs);
  fmt::print("iris.nn, 500 epochs, median of {} runs\n", repeats);
  fmt::print("  compile (parse to callable):  {:8.3f} ms  (cold: all of LLVM)\n", c);
  fmt::print("  compile, object cache warm:   {:8.3f} ms\n", median(warmMs));
  fmt::print("  nnjit training:               {:8.3f} ms  (final loss {})\n", n, nnjitLoss);
  fmt::print("  hand-written C++ loop:        {:8.3f} ms  (final loss {})\n", h, handLoss);
  fmt::print("  ratio nnjit / hand:           {:8.2f}x\n", n / h);
  return 0;
}
