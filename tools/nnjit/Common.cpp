// Common: what every subcommand does first — read the model, report, find the data.
#include "Commands.h"
#include "FileIO.h"
#include "Trainer.h"

#include <fmt/format.h>


namespace nnjit::cli {

/// Like a C compiler's error limit: past this, more errors are counted, not shown.
constexpr size_t kErrorLimit = 20;

int report(const std::vector<Diagnostic>& diags) {
  size_t errors = 0;
  for (const Diagnostic& d : diags) {
    bool isError = d.severity == Severity::Error;
    errors += isError;
    if (errors <= kErrorLimit || !isError) fmt::print(stderr, "{}", formatDiagnostic(d));
  }
  if (errors > kErrorLimit) fmt::print(stderr, "nnjit: {} more errors not shown\n", errors - kErrorLimit);
  return errors ? kModelError : kOk;
}

std::string besideModel(const std::string& modelPath, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  size_t slash = modelPath.rfind('/');
  return slash == std::string::npos ? path : modelPath.substr(0, slash + 1) + path;
}

std::optional<Model> loadModel(const Options& o, const char* command, StageTimes* times) {
  Result<std::string> source = readFile(o.model, o.model);
  if (!source) {
    report(source.errors());
    return std::nullopt;
  }
  DiagnosticEngine diags(o.model, *source);
  std::optional<Model> model = parseModel(*source, o.model, diags, times);
  if (model) {
    std::string cmd = command;
    auto missing = [&](bool absent, const char* what) {
      if (absent) diags.add(fileError(o.model, fmt::format("the model has no {}; 'nnjit {}' needs one", what, cmd)));
    };
    bool wantsLoss = cmd == "train" || cmd == "eval" || cmd == "check" || cmd == "show";
    missing(wantsLoss && model->loss == kNoNode, "'loss = ...'");
    missing(cmd == "train" && !model->optimizer, "'optimizer ...'");
    missing(cmd == "train" && !model->train, "'train(...)'");
    missing(cmd == "predict" && !model->output, "'output NAME'");
  }
  if (report(diags.diagnostics()) != kOk) return std::nullopt;
  return model;
}

std::optional<Dataset> loadData(const Options& o, const Model& m, bool& failed) {
  failed = false;
  if (m.inputs.empty()) return std::nullopt;
  std::string path = !o.data.empty() ? o.data : besideModel(o.model, m.dataPath);
  if (path.empty()) {
    report({fileError(o.model, "the model has inputs but no data; add 'data \"FILE.csv\"' or pass --data FILE.csv")});
    failed = true;
    return std::nullopt;
  }
  Result<Dataset> data = loadCsv(path, path, csvLayout(m), o.dtype);
  if (!data) {
    report(data.errors());
    failed = true;
    return std::nullopt;
  }
  return std::move(*data);
}

} // namespace nnjit::cli
