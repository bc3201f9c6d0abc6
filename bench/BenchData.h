// BenchData: the benchmarks' data (CSV tables, deterministic synthetic rows) and initial params (safetensors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnjit::bench {

/// Rows of `features` floats and one integer label, as the hand loops read them.
struct Table {
  int64_t rows = 0;
  int features = 0;
  std::vector<float> x;       // rows * features, row-major
  std::vector<int32_t> label; // rows
};

/// A CSV whose last column is an integer label; a first line that is not all
/// numbers is a header and skipped. Exits with a message on a malformed file.
Table readCsv(const std::string &path, int features);

/// `rows` synthetic rows written to `path` as CSV: pixels k/1000 in [0, 1)
/// drawn from `seed`, each label the argmax of a fixed random linear map of
/// the centered pixels, so there is something to learn and the loss moves.
Table writeSynthetic(const std::string &path, int64_t rows, int features, int classes, uint64_t seed);

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// A safetensors file of F32 tensors, what `nnjit train --load` reads.
void writeSafetensors(const std::string &path, const std::vector<Tensor> &tensors);

/// The params of dense layers widths[0] -> widths[1] -> ...: glorot-uniform
/// weights drawn from `seed` and zero biases, named W1, b1, W2, ... (or W, b
/// for a single layer when `numbered` is false).
std::vector<Tensor> denseInit(const std::vector<int> &widths, uint64_t seed, bool numbered = true);

} // namespace nnjit::bench
