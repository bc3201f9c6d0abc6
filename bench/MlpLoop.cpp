// MlpLoop: a relu MLP with cross_entropy and sgd or adam, trained by a hand-written loop over a GemmFn.
#include "MlpLoop.h"

#include "BenchUtil.h"

#include <cmath>

namespace nnjit::bench {

double mlpFlopsPerRow(const std::vector<int> &widths) {
  double flops = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l)
    flops += 2.0 * widths[l] * widths[l + 1] * (l == 0 ? 2 : 3);
  return flops;
}

MlpLoop::MlpLoop(const MlpSpec &spec, const Table &data, const std::vector<Tensor> &init, GemmFn gemm)
    : spec_(spec), data_(data), gemm_(gemm), input_(static_cast<size_t>(spec.batch) * spec.widths[0]) {
  for (size_t l = 0; l + 1 < spec.widths.size(); ++l) {
    Layer L;
    L.in = spec.widths[l];
    L.out = spec.widths[l + 1];
    L.W = init[2 * l].values;
    L.b = init[2 * l + 1].values;
    L.dW.assign(L.W.size(), 0.f);
    L.db.assign(L.b.size(), 0.f);
    if (spec.optim == Optim::Adam) {
      L.mW = L.vW = L.dW;
      L.mb = L.vb = L.db;
    }
    L.act.assign(static_cast<size_t>(spec.batch) * L.out, 0.f);
    L.grad = L.act;
    layers_.push_back(std::move(L));
  }
}

double MlpLoop::train(std::vector<double> &epochLoss) {
  epochLoss.assign(spec_.epochs, 0);
  auto t0 = Clock::now();
  for (int e = 0; e < spec_.epochs; ++e) {
    double sum = 0;
    int batches = 0;
    for (long begin = 0; begin < data_.rows; begin += spec_.batch, ++batches)
      sum += step(begin, static_cast<int>(std::min<long>(spec_.batch, data_.rows - begin)));
    epochLoss[e] = sum / batches;
  }
  return msSince(t0);
}

/// Forward, backward and update on rows [begin, begin + n); returns the batch's loss.
float MlpLoop::step(long begin, int n) {
  const float *x = &data_.x[begin * data_.features];
  if (spec_.inputScale != 1) { // x = pixels / 16 is part of the model's math
    for (long i = 0; i < static_cast<long>(n) * data_.features; ++i)
      input_[i] = x[i] * spec_.inputScale;
    x = input_.data();
  }
  float loss = forward(x, &data_.label[begin], n);
  backward(x, n);
  update();
  return loss;
}

/// Activations of every layer; the last one's grad gets d(cross_entropy)/dlogits.
float MlpLoop::forward(const float *x, const int32_t *label, int n) {
  const float *in = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer &L = layers_[l];
    gemm_(Layout::NN, n, L.out, L.in, in, L.W.data(), L.act.data());
    bool relu = l + 1 < layers_.size();
    for (int i = 0; i < n; ++i) {
      float *z = &L.act[static_cast<long>(i) * L.out];
      for (int j = 0; j < L.out; ++j)
        z[j] = relu ? std::max(z[j] + L.b[j], 0.f) : z[j] + L.b[j];
    }
    in = L.act.data();
  }
  Layer &last = layers_.back();
  float loss = 0;
  for (int i = 0; i < n; ++i) {
    const float *z = &last.act[static_cast<long>(i) * last.out];
    float *g = &last.grad[static_cast<long>(i) * last.out];
    float m = *std::max_element(z, z + last.out), s = 0;
    for (int j = 0; j < last.out; ++j)
      s += (g[j] = std::exp(z[j] - m));
    loss += std::log(s) + m - z[label[i]];
    for (int j = 0; j < last.out; ++j)
      g[j] = (g[j] / s - (j == label[i] ? 1.f : 0.f)) / n;
  }
  return loss / n;
}

/// dW and db of every layer, and dL/dz down to the first layer (relu's mask is act > 0).
void MlpLoop::backward(const float *x, int n) {
  for (size_t l = layers_.size(); l-- > 0;) {
    Layer &L = layers_[l];
    const float *in = l == 0 ? x : layers_[l - 1].act.data();
    gemm_(Layout::TN, L.in, L.out, n, in, L.grad.data(), L.dW.data());
    std::fill(L.db.begin(), L.db.end(), 0.f);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < L.out; ++j)
        L.db[j] += L.grad[static_cast<long>(i) * L.out + j];
    if (l == 0) break;
    Layer &below = layers_[l - 1];
    gemm_(Layout::NT, n, L.in, L.out, L.grad.data(), L.W.data(), below.grad.data());
    for (long i = 0; i < static_cast<long>(n) * L.in; ++i)
      if (below.act[i] <= 0) below.grad[i] = 0;
  }
}

namespace {

void sgd(std::vector<float> &p, const std::vector<float> &g, float lr) {
  for (size_t i = 0; i < p.size(); ++i)
    p[i] -= lr * g[i];
}

/// The contract's adam with beta1 0.9, beta2 0.999, eps 1e-7; c1 = 1 - beta1^t, c2 = 1 - beta2^t.
void adam(std::vector<float> &p, const std::vector<float> &g, std::vector<float> &m, std::vector<float> &v, float lr,
          float c1, float c2) {
  for (size_t i = 0; i < p.size(); ++i) {
    m[i] = 0.9f * m[i] + 0.1f * g[i];
    v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
    p[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-7f);
  }
}

} // namespace

void MlpLoop::update() {
  ++t_;
  float c1 = 1 - std::pow(0.9f, static_cast<float>(t_)), c2 = 1 - std::pow(0.999f, static_cast<float>(t_));
  for (Layer &L : layers_) {
    if (spec_.optim == Optim::Sgd) {
      sgd(L.W, L.dW, spec_.lr);
      sgd(L.b, L.db, spec_.lr);
    } else {
      adam(L.W, L.dW, L.mW, L.vW, spec_.lr, c1, c2);
      adam(L.b, L.db, L.mb, L.vb, spec_.lr, c1, c2);
    }
  }
}

} // namespace nnjit::bench
