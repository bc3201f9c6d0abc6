// BenchTable: the benchmark's results — timed rows and loss checks — and the Markdown table they print as.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace nnjit::bench {

/// One line of the table: nnjit against a reference, or a compile time alone.
struct Row {
  std::string workload;
  double nnjitMs = 0;
  std::string reference; // empty: nothing to compare with
  double referenceMs = 0;
  double gflop = 0;  // matmul work of the whole run (0: not counted)
  double goalMs = 0; // 0: no goal
};

/// The per-epoch losses of nnjit and of one reference on the same workload.
struct LossCheck {
  std::string workload, reference;
  std::vector<double> nnjit, ref;
};

struct Results {
  std::vector<Row> rows;
  std::vector<LossCheck> losses;
};

/// The timing table; "% of peak" against `peakGflops` where a row counts its FLOPs.
void printTable(std::FILE *out, const Results &results, double peakGflops);

/// First and last epoch of each side; false when some first epoch differs by more than 1e-3 relative.
bool printLossChecks(std::FILE *out, const Results &results);

} // namespace nnjit::bench
