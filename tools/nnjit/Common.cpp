// Common: what every subcommand does first — read the model, report, find the data.
#include "Commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <unistd.h>

namespace nnjit::cli {

/// Like a C compiler's error limit: past this, more errors are counted, not shown.
constexpr size_t kErrorLimit = 20;

namespace {

bool colour = false;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

} // namespace

void setDiagnosticColour(const std::string& when) {
  std::string w = lowercase(when);
  if (w == "always" || w == "never") {
    colour = w == "always";
    return;
  }
  const char* noColor = std::getenv("NO_COLOR");  // https://no-color.org: set and not empty
  const char* term = std::getenv("TERM");
  colour = isatty(STDERR_FILENO) && !(noColor && *noColor) && !(term && std::string_view(term) == "dumb");
}

namespace {
bool showWarnings = true;
} // namespace

void hideWarnings() { showWarnings = false; }

int report(const std::vector<api::Diagnostic>& diags) {
  size_t errors = 0;
  for (const api::Diagnostic& d : diags) {
    bool isError = d.severity == api::Severity::Error;
    errors += isError;
    if (!isError && !showWarnings) continue;
    if (errors <= kErrorLimit || !isError) fmt::print(stderr, "{}", d.render(colour));
  }
  if (errors > kErrorLimit) fmt::print(stderr, "nnjit: {} more errors not shown\n", errors - kErrorLimit);
  if (errors > 1) fmt::print(stderr, "{} errors generated.\n", errors);  // as clang closes
  return errors ? kModelError : kOk;
}

int report(const api::Error& error) {
  report(error.diagnostics());
  return kModelError;  // a failed call is an error even when it says nothing
}

api::Diagnostic fileError(std::string file, std::string message) {
  api::Diagnostic d;
  d.file = std::move(file);
  d.message = std::move(message);
  return d;
}

api::Diagnostic warningFor(std::string file, std::string message) {
  api::Diagnostic d = fileError(std::move(file), std::move(message));
  d.severity = api::Severity::Warning;
  return d;
}

std::optional<api::ParsedModel> loadModel(const Options& o, const char* command) {
  api::Expected<api::ParsedModel> model = api::ParsedModel::fromFile(o.model);
  if (!model) {
    report(model.error());
    return std::nullopt;
  }
  std::vector<api::Diagnostic> diags = model->warnings();
  std::string cmd = command;
  auto missing = [&](bool absent, const char* what) {
    if (absent) diags.push_back(fileError(o.model, fmt::format("the model has no {}; 'nnjit {}' needs one", what, cmd)));
  };
  bool wantsLoss = cmd == "train" || cmd == "eval" || cmd == "check" || cmd == "show";
  missing(wantsLoss && !model->hasLoss(), "'loss = ...'");
  missing(cmd == "train" && !model->hasOptimizer(), "'optimizer ...'");
  missing(cmd == "train" && !model->hasTrain(), "'train(...)'");
  missing(cmd == "predict" && !model->hasOutput(), "'output NAME'");
  if (report(diags) != kOk) return std::nullopt;
  return std::move(*model);
}

std::optional<api::Model> compile(const api::ParsedModel& parsed, api::DType dtype, std::optional<double> lr,
                                  const api::BuildOptions& build) {
  api::Expected<api::Model> model = api::Model::compile(parsed, {dtype, lr}, build);
  if (!model) {
    report(model.error());
    return std::nullopt;
  }
  if (report(model->warnings()) != kOk) return std::nullopt;
  return std::move(*model);
}

std::optional<api::Table> loadData(const Options& o, const api::ParsedModel& m, bool& failed) {
  failed = false;
  if (!m.hasInputs()) return std::nullopt;
  // Diagnostics name each file as the user wrote it: on the command line, or in the .nn file.
  std::vector<api::DataFile> files;
  for (const std::string& path : o.data) files.push_back({path, path});
  for (size_t i = 0; o.data.empty() && i < m.dataPaths().size(); ++i)
    files.push_back({m.dataPaths()[i], m.dataNames()[i]});
  if (files.empty()) {
    report({fileError(o.model, "the model has inputs but no data; add 'data \"FILE.csv\"' or pass --data FILE.csv")});
    failed = true;
    return std::nullopt;
  }
  api::Expected<api::Table> data = api::loadData(m, files, o.dtype);
  if (!data) {
    report(data.error());
    failed = true;
    return std::nullopt;
  }
  return std::move(*data);
}

int threadCount(const Options& o) {
  if (o.threads > 0) return o.threads;
  // The processes of an MPI job on this machine share its cores.
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, api::mpiJob().onThisMachine));
}

} // namespace nnjit::cli
