// IrisLoop: iris.nn's math (softmax regression, mean squared error against onehot, sgd) as a hand-written loop.
#pragma once

#include "BenchData.h"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

namespace nnjit::bench {

/// What a run does beyond training batches in file order: iris.nn's shuffle
/// seed, held-out test rows evaluated after each epoch, the accuracy metric,
/// and a JSON line per epoch written to `log`, as `nnjit train --log json` does.
struct IrisExtras {
  std::optional<uint64_t> shuffleSeed;
  int testRows = 0;
  bool accuracy = false; // the model has `metric acc = accuracy(y, label)`
  std::FILE *log = nullptr;
};

class IrisLoop {
public:
  /// `data` has 4 features and labels 0..2; W (4x3, row-major) and b (3) are the initial params.
  IrisLoop(const Table &data, const std::vector<float> &W, const std::vector<float> &b);

  /// Epochs of forward + backward + update per batch, accuracy per batch;
  /// rows shuffled as nnjit shuffles them when extras say so. Returns the
  /// milliseconds and leaves each epoch's mean loss in `epochLoss`.
  double train(int epochs, int batch, float lr, const IrisExtras &extras, std::vector<double> &epochLoss);

private:
  float forward(const int64_t *rows, int n, bool backward, int &correct);
  void step(const int64_t *rows, int n, float lr);
  double epoch(const int64_t *order, int rows, int batch, float lr, double &accuracy);

  float W_[4][3], b_[3];
  std::vector<float> x_;       // rows x 4
  std::vector<int32_t> label_; // rows
  std::vector<float> dz_;      // batch x 3, dL/d(x @ W + b)
};

} // namespace nnjit::bench
