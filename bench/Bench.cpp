// Bench: `nnjit_bench` — every workload against its hand-written reference, one table (see bench/run).
//
// nnjit is timed through its real binary (`train_ms` and `compile_ms` of the
// `--log json` done line), so the numbers stay comparable while the compiler
// and runtime are rewritten. The references are C++ loops of the same math
// on the same rows in the same order, from the same initial params (written
// by the harness and loaded with `--load`), allocating nothing while they
// train; their per-epoch losses are checked against nnjit's.
#include "Gemm.h"
#include "Peak.h"
#include "Workloads.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#ifdef NNJIT_BENCH_OPENBLAS
#include <cblas.h>
#endif

using namespace nnjit::bench;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: nnjit_bench --nnjit PATH [--root DIR] [--repeats N] [--no-plain]\n"
                       "  --root DIR   the repository (examples/, bench/models/); default: .\n"
                       "  --repeats N  each time is the median of N runs; default 5\n"
                       "  --no-plain   skip the MLPs' plain C++ loops (the slowest part)\n");
  std::exit(2);
}

BenchConfig parseArgs(int argc, char **argv) {
  BenchConfig c;
  c.root = ".";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool hasValue = i + 1 < argc;
    if (a == "--nnjit" && hasValue)
      c.nnjit = argv[++i];
    else if (a == "--root" && hasValue)
      c.root = argv[++i];
    else if (a == "--repeats" && hasValue)
      c.repeats = std::atoi(argv[++i]);
    else if (a == "--no-plain")
      c.plain = false;
    else
      usage();
  }
  if (c.nnjit.empty() || c.repeats < 1) usage();
  c.nnjit = std::filesystem::absolute(c.nnjit).string();
  c.root = std::filesystem::absolute(c.root).string();
  return c;
}

std::string makeWorkDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "nnjit-bench-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    std::perror("nnjit_bench: mkdtemp");
    std::exit(1);
  }
  return pattern;
}

void printSetup(const BenchConfig &c, const PeakResult &peak) {
  std::printf("nnjit: %s, --threads 1, object cache off unless said; median of %d runs\n", c.nnjit.c_str(), c.repeats);
#ifdef NNJIT_BENCH_OPENBLAS
  openblas_set_num_threads(1);
  std::printf("OpenBLAS: %s, 1 thread\n", openblasDescription().c_str());
  for (const char *var : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"})
    if (const char *v = std::getenv(var)) std::printf("warning: %s=%s is set (bench/run unsets it)\n", var, v);
#else
  std::printf("OpenBLAS: not found when this was built (install libopenblas-dev); its rows are left out\n");
#endif
  std::printf("FP32 peak of one core: %.1f GFLOP/s (%s, in CPU time; by the wall clock %.1f GFLOP/s:\n"
              "  well below it means other processes share the core and every wall time below is inflated)\n\n",
              peak.gflops, peak.how.c_str(), peak.wallGflops);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
  BenchConfig c = parseArgs(argc, argv);
  c.workDir = makeWorkDir();
  PeakResult peak = measureFmaPeak();
  printSetup(c, peak);
  Results results;
  benchIris(c, results);
  benchDigits(c, results);
  benchMlp784(c, results);
  benchWarmCompile(c, results);
  std::filesystem::remove_all(c.workDir);

  printTable(stdout, results, peak.gflops);
  std::printf("\nLosses (mean over the epoch's batches), nnjit against each reference:\n\n");
  bool same = printLossChecks(stdout, results);
  std::printf("\nratio = nnjit time / reference time (above 1: nnjit is slower). GFLOP/s count 2*M*K*N per\n"
              "matmul: forward, dW of every layer, dX of all but the first.\n");
  if (!same) std::printf("\nMISMATCH: some reference's first-epoch loss differs from nnjit's by more than 1e-3.\n");
  return same ? 0 : 1;
}
