// Workloads: each benchmark — nnjit's binary and the hand-written references on the same data — timed into Results.
#pragma once

#include "BenchTable.h"

#include <string>

namespace nnjit::bench {

struct BenchConfig {
  std::string nnjit;   // the nnjit binary
  std::string root;    // the repository: examples/ and bench/models/
  std::string workDir; // a fresh temporary folder
  int repeats = 5;     // each time is the median of this many runs
  bool plain = true;   // also time the MLPs' plain C++ loops (no BLAS)
};

/// 1: bench/models/iris_batches.nn (batches in file order, no extras) against IrisLoop;
/// 2: examples/iris.nn as shipped against IrisLoop with its shuffle, test rows and log;
/// and the cold compile of examples/iris.nn.
void benchIris(const BenchConfig &c, Results &out);

/// 3: bench/models/digits_mlp.nn (64-128-64-10, adam) against OpenBLAS and plain loops; its cold compile.
void benchDigits(const BenchConfig &c, Results &out);

/// 4: bench/models/mlp784.nn (784-512-256-10, sgd) on synthetic rows against OpenBLAS and plain loops.
void benchMlp784(const BenchConfig &c, Results &out);

/// The compile of examples/iris.nn when the object cache already holds it.
void benchWarmCompile(const BenchConfig &c, Results &out);

} // namespace nnjit::bench
