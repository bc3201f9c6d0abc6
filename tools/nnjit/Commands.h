// Commands: the `nnjit` subcommands, each a thin client of the public API.
#pragma once

#include <nnjit/nnjit.h>

#include <optional>
#include <string>
#include <vector>

namespace nnjit::cli {

/// Exit statuses of the contract.
enum Exit { kOk = 0, kModelError = 1, kUsage = 2, kDiverged = 3 };

enum class LogFormat { Text, Json };

struct Options {
  std::string model;
  std::vector<std::string> data;  // each --data, relative to the current directory
  std::string load, save;
  std::string plot;      // train: the SVG chart of the run's curves
  std::string saveBest;  // train: the checkpoint of the epoch with the lowest test loss
  std::optional<int64_t> epochs, batch;
  std::optional<int64_t> patience;  // train: overrides train(patience = N)
  std::optional<double> lr;
  uint64_t seed = 0;
  LogFormat log = LogFormat::Text;
  std::optional<int64_t> logEvery;  // train: print every N-th epoch (see logStride)
  int threads = 0;  // 0: one per core
  api::DType dtype = api::DType::F32;
  bool timeReport = false;
  int color = 0;  // --color, read before parsing (see setDiagnosticColour)
  std::string breakGradient;  // check's test hook: an op whose gradient rule is made wrong
  // show
  bool graph = false, grad = false, ir = false, assembly = false, summary = false;
  bool expand = false;  // show --graph/--grad: calls as open clusters
  int emit = -1;  // show --emit: an index into api::emitStages()
};

/// --threads, else this machine's cores (its share of them in an MPI job).
int threadCount(const Options& o);
/// Warnings are not printed from here on (errors are): the other processes
/// of an MPI job leave them to the first.
void hideWarnings();

int runTrain(const Options& o);
int runEval(const Options& o);
int runPredict(const Options& o);
int runCheck(const Options& o);
int runShow(const Options& o);

// ---- shared by the commands ----

/// Whether diagnostics are coloured: `when` is --color's auto (the default:
/// when stderr is a terminal, NO_COLOR is unset or empty and TERM is not
/// "dumb"), always or never, in any case.
void setDiagnosticColour(const std::string& when);

/// Prints diagnostics to stderr, then "N errors generated." when there are
/// several errors; returns kModelError if any was an error.
int report(const std::vector<api::Diagnostic>& diags);
/// The same for a failed call's error.
int report(const api::Error& error);

/// An error about a whole file (no line), as the commands report them.
api::Diagnostic fileError(std::string file, std::string message);

/// The same as a warning.
api::Diagnostic warningFor(std::string file, std::string message);
/// Reads and parses the model file, checking that it has what `command` needs
/// (`loss`, `optimizer`, `train`, `output`). Prints diagnostics on failure.
std::optional<api::ParsedModel> loadModel(const Options& o, const char* command);

/// Compiles in `dtype` with `lr`, building what `build` asks for; prints the diagnostics.
std::optional<api::Model> compile(const api::ParsedModel& parsed, api::DType dtype, std::optional<double> lr,
                                  const api::BuildOptions& build);

/// The files `--data` names, or else the model's `data` files; none when the model has no inputs.
/// Sets `failed` (after printing) when the data is needed but missing or broken.
std::optional<api::Table> loadData(const Options& o, const api::ParsedModel& m, bool& failed);

} // namespace nnjit::cli
