// embed: compiles a model from a string, trains it on data made in memory, and predicts.
#include <nnjit/nnjit.h>

#include <cstdio>
#include <random>
#include <vector>

namespace nn = nnjit::api;

// Linear regression of y = 3*x0 - 2*x1 + 1 (plus a little noise).
static const char* const kModel = R"(
input x[batch, 2]
input y[batch, 1]
param W[2, 1] = normal(0, 0.1)
param b[1] = 0
pred = x @ W + b
loss = mean(square(pred - y))
output pred
optimizer sgd(lr = 0.1)
train(epochs = 40, batch = 32, shuffle = 7)
)";

int main() {
  nn::Expected<nn::Model> model = nn::Model::fromString(kModel, "embed.nn");
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().message().c_str());
    return 1;
  }

  // The training data lives in our own buffers, row-major: x is rows x 2, y is rows x 1.
  const int64_t rows = 512;
  std::vector<float> x(rows * 2), y(rows);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::normal_distribution<float> noise(0, 0.05f);
  for (int64_t r = 0; r < rows; ++r) {
    x[r * 2] = uniform(rng);
    x[r * 2 + 1] = uniform(rng);
    y[r] = 3 * x[r * 2] - 2 * x[r * 2 + 1] + 1 + noise(rng);
  }

  nn::Session session(*model, /*seed=*/1);
  nn::Batch data(rows);
  data.set("x", x).set("y", y);
  double first = 0, last = 0;
  for (int64_t e = 0; e < model->trainDefaults().epochs; ++e) {
    nn::Expected<nn::EpochResult> epoch = session.trainEpoch(data);
    if (!epoch) {
      std::fprintf(stderr, "%s\n", epoch.error().message().c_str());
      return 1;
    }
    if (e == 0) first = epoch->loss;
    last = epoch->loss;
    if (e % 5 == 0 || e + 1 == model->trainDefaults().epochs)
      std::printf("epoch %3lld  loss %.6f\n", static_cast<long long>(epoch->epoch), epoch->loss);
  }

  // Predict two new points: expect about 3*0.5 - 2*0.25 + 1 = 2 and 3*(-1) - 2*1 + 1 = -4.
  std::vector<float> query = {0.5f, 0.25f, -1.0f, 1.0f};
  nn::Expected<nn::Tensor> pred = session.predict(nn::Batch(2).set("x", query));
  if (!pred) {
    std::fprintf(stderr, "%s\n", pred.error().message().c_str());
    return 1;
  }
  std::printf("predict (0.5, 0.25) -> %.3f   (-1, 1) -> %.3f\n", pred->values[0], pred->values[1]);

  nn::Expected<nn::Tensor> w = session.param("W");
  nn::Expected<nn::Tensor> b = session.param("b");
  std::printf("W = [%.3f, %.3f]  b = %.3f\n", w->values[0], w->values[1], b->values[0]);

  if (!(last < first / 10)) {
    std::fprintf(stderr, "the loss did not fall: %g -> %g\n", first, last);
    return 1;
  }
  return 0;
}
