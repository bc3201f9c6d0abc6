// Models: the `.nn` sources and data the API tests share.
#pragma once

#include <cstdint>
#include <vector>

namespace apitest {

/// y = 3*x0 - 2*x1 + 1, with one metric that reads inputs and one that reads only params.
inline const char* const kRegression = R"(input x[batch, 2]
input y[batch, 1]
param W[2, 1] = normal(0, 0.1)
param b[1] = 0
pred = x @ W + b
loss = mean(square(pred - y))
metric err = mean(square(pred - y))
metric wnorm = sum(square(W))
output pred
optimizer sgd(lr = 0.1)
train(epochs = 5, batch = 16, shuffle = 3)
)";

/// A classifier with a class(3) label input that the output does not read.
inline const char* const kClassifier = R"(input x[batch, 4]
input label[batch] : class(3)
param W[4, 3] = truncated_normal(0, 0.1)
param b[3] = 0
y = softmax(x @ W + b)
loss = mean(square(onehot(label, 3) - y))
metric acc = accuracy(y, label)
output y
optimizer adam(lr = 0.05)
train(epochs = 3, batch = 8)
)";

/// No inputs at all: gradient descent on (w + 1)^2.
inline const char* const kQuadratic = R"(param w = 5
loss = square(w + 1)
metric w
optimizer sgd(lr = 0.2)
train(epochs = 40)
)";

/// Regression data, row-major, in float.
struct Data {
  int64_t rows;
  std::vector<float> x, y;
};

inline Data regressionData(int64_t rows) {
  Data d{rows, std::vector<float>(rows * 2), std::vector<float>(rows)};
  for (int64_t r = 0; r < rows; ++r) {
    float a = static_cast<float>((r * 37) % 101) / 50.0f - 1, c = static_cast<float>((r * 53) % 97) / 48.0f - 1;
    d.x[r * 2] = a;
    d.x[r * 2 + 1] = c;
    d.y[r] = 3 * a - 2 * c + 1;
  }
  return d;
}

} // namespace apitest
