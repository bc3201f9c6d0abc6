// IrisLoop: iris.nn's math (softmax regression, mean squared error against onehot, sgd) as a hand-written loop.
#include "IrisLoop.h"

#include "BenchUtil.h"

#include <cmath>
#include <numeric>

namespace nnjit::bench {

IrisLoop::IrisLoop(const Table &data, const std::vector<float> &W, const std::vector<float> &b)
    : x_(data.x), label_(data.label), dz_(data.x.size()) {
  for (int j = 0; j < 12; ++j)
    W_[j / 3][j % 3] = W[j];
  for (int k = 0; k < 3; ++k)
    b_[k] = b[k];
}

/// Forward over `rows`: returns mean((onehot - softmax(x @ W + b))^2), adds
/// the rows whose top score is at the label to `correct`, and with
/// `backward` leaves dL/dz in dz_.
float IrisLoop::forward(const int64_t *rows, int n, bool backward, int &correct) {
  float loss = 0;
  for (int i = 0; i < n; ++i) {
    const float *xi = &x_[rows[i] * 4];
    int label = label_[rows[i]];
    float y[3];
    for (int k = 0; k < 3; ++k)
      y[k] = xi[0] * W_[0][k] + xi[1] * W_[1][k] + xi[2] * W_[2][k] + xi[3] * W_[3][k] + b_[k];
    float m = std::max(y[0], std::max(y[1], y[2]));
    float s = 0;
    for (int k = 0; k < 3; ++k)
      s += (y[k] = std::exp(y[k] - m));
    int best = 0;
    for (int k = 0; k < 3; ++k) {
      y[k] /= s;
      if (y[k] > y[best]) best = k;
    }
    correct += best == label;
    float dot = 0, dy[3];
    for (int k = 0; k < 3; ++k) {
      float d = (k == label ? 1.f : 0.f) - y[k];
      loss += d * d;
      dy[k] = -2 * d / (3.f * n);
      dot += dy[k] * y[k];
    }
    if (backward)
      for (int k = 0; k < 3; ++k)
        dz_[i * 3 + k] = y[k] * (dy[k] - dot);
  }
  return loss / (3.f * n);
}

/// sgd on W and b from dz_: dW = x^T dz, db = the column sums of dz.
void IrisLoop::step(const int64_t *rows, int n, float lr) {
  for (int j = 0; j < 4; ++j)
    for (int k = 0; k < 3; ++k) {
      float g = 0;
      for (int i = 0; i < n; ++i)
        g += x_[rows[i] * 4 + j] * dz_[i * 3 + k];
      W_[j][k] -= lr * g;
    }
  for (int k = 0; k < 3; ++k) {
    float g = 0;
    for (int i = 0; i < n; ++i)
      g += dz_[i * 3 + k];
    b_[k] -= lr * g;
  }
}

/// One epoch over `order`: returns the mean batch loss; `accuracy` gets the mean batch accuracy.
double IrisLoop::epoch(const int64_t *order, int rows, int batch, float lr, double &accuracy) {
  double loss = 0;
  int batches = 0;
  accuracy = 0;
  for (int begin = 0; begin < rows; begin += batch, ++batches) {
    int n = std::min(batch, rows - begin), correct = 0;
    loss += forward(order + begin, n, true, correct);
    step(order + begin, n, lr);
    accuracy += static_cast<double>(correct) / n;
  }
  accuracy /= batches;
  return loss / batches;
}

/// The rows of the run: the training rows first, then the test rows; shuffled
/// once with stream 0 when there is a seed, as the trainer splits them.
static std::vector<int64_t> splitRows(size_t rows, const IrisExtras &extras) {
  std::vector<int64_t> split(rows);
  std::iota(split.begin(), split.end(), 0);
  if (extras.shuffleSeed) {
    Rng rng(mixSeed(*extras.shuffleSeed, 0));
    shuffleRows(split.data(), split.size(), rng);
  }
  return split;
}

/// The JSON line nnjit prints for an epoch, written and flushed as it does.
static void logEpoch(const IrisExtras &extras, int epoch, double loss, double accuracy, float testLoss,
                     double testAccuracy, double ms) {
  char line[256];
  int len = std::snprintf(line, sizeof line, "{\"epoch\": %d, \"loss\": %.8g, \"metrics\": {", epoch, loss);
  if (extras.accuracy) len += std::snprintf(line + len, sizeof line - len, "\"acc\": %.8g", accuracy);
  len += std::snprintf(line + len, sizeof line - len, "}");
  if (extras.testRows > 0)
    len += std::snprintf(line + len, sizeof line - len, ", \"test\": {\"loss\": %.8g, \"acc\": %.8g}", testLoss,
                         testAccuracy);
  len += std::snprintf(line + len, sizeof line - len, ", \"ms\": %.3f}\n", ms);
  std::fwrite(line, 1, static_cast<size_t>(len), extras.log);
  std::fflush(extras.log);
}

double IrisLoop::train(int epochs, int batch, float lr, const IrisExtras &extras, std::vector<double> &epochLoss) {
  int trainRows = static_cast<int>(label_.size()) - extras.testRows;
  std::vector<int64_t> split = splitRows(label_.size(), extras), order(split.begin(), split.begin() + trainRows);
  const int64_t *test = split.data() + trainRows;
  epochLoss.assign(epochs, 0);
  auto t0 = Clock::now();
  for (int e = 0; e < epochs; ++e) {
    auto te = Clock::now();
    if (extras.shuffleSeed) { // each epoch reshuffles the training rows from their split order
      std::copy(split.begin(), split.begin() + trainRows, order.begin());
      Rng rng(mixSeed(*extras.shuffleSeed, static_cast<uint64_t>(e) + 1));
      shuffleRows(order.data(), order.size(), rng);
    }
    double accuracy = 0;
    epochLoss[e] = epoch(order.data(), trainRows, batch, lr, accuracy);
    int testCorrect = 0;
    float testLoss = extras.testRows > 0 ? forward(test, extras.testRows, false, testCorrect) : 0;
    if (extras.log)
      logEpoch(extras, e + 1, epochLoss[e], accuracy, testLoss,
               static_cast<double>(testCorrect) / std::max(extras.testRows, 1), msSince(te));
  }
  return msSince(t0);
}

} // namespace nnjit::bench
