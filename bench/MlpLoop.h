// MlpLoop: a relu MLP with cross_entropy and sgd or adam, trained by a hand-written loop over a GemmFn.
#pragma once

#include "BenchData.h"
#include "Gemm.h"

#include <vector>

namespace nnjit::bench {

enum class Optim { Sgd, Adam };

/// The model: dense layers widths[0] -> ... -> widths.back(), relu between
/// them, cross_entropy on the last; the input is multiplied by inputScale.
struct MlpSpec {
  std::vector<int> widths;
  float inputScale = 1;
  Optim optim = Optim::Sgd;
  float lr = 0.01f;
  int batch = 64;
  int epochs = 1;
};

/// Matmul FLOPs of one row through one step: 2*in*out per layer each for the
/// forward product and dW, and for dX in every layer but the first.
double mlpFlopsPerRow(const std::vector<int> &widths);

class MlpLoop {
public:
  /// `init` holds W1, b1, W2, b2, ... in order (denseInit); every buffer is allocated here.
  MlpLoop(const MlpSpec &spec, const Table &data, const std::vector<Tensor> &init, GemmFn gemm);

  /// spec.epochs epochs of batches in file order; returns the milliseconds
  /// and leaves each epoch's mean batch loss in `epochLoss`.
  double train(std::vector<double> &epochLoss);

private:
  struct Layer {
    int in = 0, out = 0;
    std::vector<float> W, b, dW, db;
    std::vector<float> mW, vW, mb, vb; // adam's state
    std::vector<float> act, grad;      // batch x out: relu(z) (z for the last), dL/dz
  };

  float step(long begin, int n);
  float forward(const float *x, const int32_t *label, int n);
  void backward(const float *x, int n);
  void update();

  MlpSpec spec_;
  const Table &data_;
  GemmFn gemm_;
  std::vector<Layer> layers_;
  std::vector<float> input_; // batch x widths[0], the scaled input
  long t_ = 0;               // adam's step count
};

} // namespace nnjit::bench
