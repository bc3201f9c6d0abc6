// Commands: the `nnjit` subcommands, each a thin client of the library.
#pragma once

#include "Compiler.h"
#include "CsvDataset.h"
#include "Report.h"

#include <optional>
#include <string>

namespace nnjit::cli {

/// Exit statuses of the contract.
enum Exit { kOk = 0, kModelError = 1, kUsage = 2, kDiverged = 3 };

struct Options {
  std::string model;
  std::string data;       // --data, relative to the current directory
  std::string load, save;
  std::optional<int64_t> epochs, batch;
  std::optional<double> lr;
  uint64_t seed = 0;
  LogFormat log = LogFormat::Text;
  int threads = 1;
  DType dtype = DType::F32;
  bool timeReport = false;
  std::string breakGradient;  // check's test hook: an op whose gradient rule is made wrong
  // show
  bool graph = false, grad = false, ir = false, assembly = false;
};

int runTrain(const Options& o);
int runEval(const Options& o);
int runPredict(const Options& o);
int runCheck(const Options& o);
int runShow(const Options& o);

// ---- shared by the commands ----

/// Prints diagnostics to stderr; returns kModelError if any was an error.
int report(const std::vector<Diagnostic>& diags);

/// Reads and parses the model file, checking that it has what `command` needs
/// (`loss`, `optimizer`, `train`, `output`). Prints diagnostics on failure.
std::optional<Model> loadModel(const Options& o, const char* command, StageTimes* times = nullptr);

/// The CSV `--data` names, or else the model's `data` file; null when the model has no inputs.
/// Sets `failed` (after printing) when the data is needed but missing or broken.
std::optional<Dataset> loadData(const Options& o, const Model& m, bool& failed);

/// A path written in the `.nn` file, made relative to the `.nn` file's folder.
std::string besideModel(const std::string& modelPath, const std::string& path);

} // namespace nnjit::cli
