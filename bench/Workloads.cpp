// Workloads: each benchmark — nnjit's binary and the hand-written references on the same data — timed into Results.
#include "Workloads.h"

#include "BenchData.h"
#include "BenchUtil.h"
#include "IrisLoop.h"
#include "MlpLoop.h"
#include "NnjitRunner.h"

#include <cstdlib>
#include <filesystem>
#include <functional>

namespace nnjit::bench {

namespace {

/// One reference implementation: runs a fresh copy of itself once, returning
/// its milliseconds and leaving its per-epoch losses.
struct Reference {
  std::string name;
  std::function<double(std::vector<double> &epochLoss)> run;
  bool epochsOnly = false; // compare with the sum of nnjit's per-epoch "ms", not its train_ms
};

struct Measured {
  std::vector<double> nnjitMs, epochMs, compileMs;
  std::vector<std::vector<double>> refMs;
  std::vector<double> nnjitLoss;
  std::vector<std::vector<double>> refLoss;
};

/// `repeats` rounds of nnjit (object cache off) then every reference, interleaved so all share the machine's noise.
Measured measure(const BenchConfig &c, const std::string &model, const std::vector<std::string> &args,
                 const std::vector<Reference> &refs) {
  Measured m;
  m.refMs.resize(refs.size());
  m.refLoss.resize(refs.size());
  for (int r = 0; r < c.repeats; ++r) {
    std::optional<NnjitRun> run = runNnjit(c.nnjit, model, args, {}, c.workDir);
    if (!run) std::exit(1);
    m.nnjitMs.push_back(run->trainMs);
    m.epochMs.push_back(run->epochMsSum);
    m.compileMs.push_back(run->compileMs);
    m.nnjitLoss = run->epochLoss;
    for (size_t i = 0; i < refs.size(); ++i)
      m.refMs[i].push_back(refs[i].run(m.refLoss[i]));
  }
  return m;
}

/// A row and a loss check per reference.
void record(const std::string &workload, const Measured &m, const std::vector<Reference> &refs, double gflop,
            Results &out) {
  for (size_t i = 0; i < refs.size(); ++i) {
    double nnjitMs = median(refs[i].epochsOnly ? m.epochMs : m.nnjitMs);
    std::string name = refs[i].epochsOnly ? "  1 without the log: nnjit's per-epoch ms summed"
                       : i == 0           ? workload
                                          : "  the same workload";
    out.rows.push_back({name, nnjitMs, refs[i].name, median(m.refMs[i]), gflop, 0});
    out.losses.push_back({workload, refs[i].name, m.nnjitLoss, m.refLoss[i]});
  }
}

std::string writeInit(const BenchConfig &c, const std::string &name, const std::vector<Tensor> &init) {
  std::string path = c.workDir + "/" + name + ".safetensors";
  writeSafetensors(path, init);
  return path;
}

/// The OpenBLAS loop (when built with it) and the plain one (when asked for) for an MLP.
std::vector<Reference> mlpReferences(const BenchConfig &c, const MlpSpec &spec, const Table &data,
                                     const std::vector<Tensor> &init) {
  std::vector<Reference> refs;
  auto loop = [&spec, &data, &init](GemmFn gemm) {
    return
        [&spec, &data, &init, gemm](std::vector<double> &loss) { return MlpLoop(spec, data, init, gemm).train(loss); };
  };
#ifdef NNJIT_BENCH_OPENBLAS
  refs.push_back({"(C++ + OpenBLAS sgemm)", loop(blasGemm)});
#endif
  if (c.plain) refs.push_back({"(plain C++ loops)", loop(plainGemm)});
  return refs;
}

/// An MLP workload: the model against its references; returns the nnjit compile times.
std::vector<double> benchMlp(const BenchConfig &c, const std::string &workload, const std::string &model,
                             std::vector<std::string> args, const MlpSpec &spec, const Table &data, Results &out) {
  std::vector<Tensor> init = denseInit(spec.widths, 2);
  args.insert(args.end(), {"--load", writeInit(c, "mlp", init)});
  std::vector<Reference> refs = mlpReferences(c, spec, data, init);
  Measured m = measure(c, model, args, refs);
  double gflop = mlpFlopsPerRow(spec.widths) * static_cast<double>(data.rows) * spec.epochs / 1e9;
  if (refs.empty()) out.rows.push_back({workload, median(m.nnjitMs), "", 0, gflop, 0});
  record(workload, m, refs, gflop, out);
  return m.compileMs;
}

} // namespace

void benchIris(const BenchConfig &c, Results &out) {
  Table data = readCsv(c.root + "/examples/iris.csv", 4);
  std::vector<Tensor> init = denseInit({4, 3}, 1, false);
  std::vector<std::string> load = {"--load", writeInit(c, "iris", init)};
  const std::vector<float> &W = init[0].values, &b = init[1].values;

  // bench/models/iris_batches.nn: 500 epochs, batch 32, sgd(lr = 0.1), rows in file order. The binary
  // writes a JSON line per epoch, so the first reference does too; the second compares the epochs alone.
  std::string logPath = c.workDir + "/hand.log";
  auto iris = [&](IrisExtras extras, bool log) {
    return [&, extras, log](std::vector<double> &loss) mutable {
      extras.log = log ? std::fopen(logPath.c_str(), "w") : nullptr;
      double ms = IrisLoop(data, W, b).train(500, 32, 0.1f, extras, loss);
      if (extras.log) std::fclose(extras.log);
      return ms;
    };
  };
  std::vector<Reference> plain = {{"(hand C++ loop)", iris({}, true)},
                                  {"(hand C++ loop, no log)", iris({}, false), true}};
  Measured m = measure(c, c.root + "/bench/models/iris_batches.nn", load, plain);
  record("1 iris, 500 epochs, file order, JSON log lines", m, plain, 3.6e-3, out);

  // examples/iris.nn as shipped: shuffle = 116, test = 30, accuracy, a log line per epoch.
  std::vector<Reference> shipped = {{"(hand C++ loop)", iris({116, 30, true}, true)}};
  m = measure(c, c.root + "/examples/iris.nn", load, shipped);
  double gflop = (120 * 48 + 30 * 24) * 500 / 1e9; // train steps on 120 rows, the forward on 30 test rows
  record("2 examples/iris.nn as shipped: shuffle, acc, 30 test rows, log", m, shipped, gflop, out);
  out.rows.push_back({"compile examples/iris.nn, cold (NNJIT_CACHE=0)", median(m.compileMs), "", 0, 0, 15});
}

void benchDigits(const BenchConfig &c, Results &out) {
  Table data = readCsv(c.root + "/examples/digits.csv", 64);
  MlpSpec spec{{64, 128, 64, 10}, 1.f / 16, Optim::Adam, 0.001f, 64, 20};
  std::vector<double> compile = benchMlp(c, "3 digits MLP 64-128-64-10, adam, batch 64, 20 epochs",
                                         c.root + "/bench/models/digits_mlp.nn", {}, spec, data, out);
  out.rows.push_back({"compile bench/models/digits_mlp.nn, cold", median(compile), "", 0, 0, 50});
}

void benchMlp784(const BenchConfig &c, Results &out) {
  std::string csv = c.workDir + "/synthetic.csv";
  Table data = writeSynthetic(csv, 8192, 784, 10, 3);
  MlpSpec spec{{784, 512, 256, 10}, 1, Optim::Sgd, 0.01f, 128, 3};
  benchMlp(c, "4 MLP 784-512-256-10, sgd, batch 128, 8192 rows, 3 epochs", c.root + "/bench/models/mlp784.nn",
           {"--data", csv}, spec, data, out);
  std::filesystem::remove(csv);
}

void benchWarmCompile(const BenchConfig &c, Results &out) {
  CacheSetting cache{true, c.workDir + "/cache"};
  std::vector<double> ms;
  for (int r = 0; r <= c.repeats; ++r) { // the first run fills the cache
    std::optional<NnjitRun> run = runNnjit(c.nnjit, c.root + "/examples/iris.nn", {"--epochs", "1"}, cache, c.workDir);
    if (!run) std::exit(1);
    if (r > 0) ms.push_back(run->compileMs);
  }
  out.rows.push_back({"compile examples/iris.nn, object cache warm", median(ms), "", 0, 0, 3});
}

} // namespace nnjit::bench
