// Diagnostics: formatting in the style of a C compiler.
#include "Diagnostics.h"

#include <fmt/format.h>

namespace nnjit {

static const char* severityName(Severity s) {
  switch (s) {
  case Severity::Error: return "error";
  case Severity::Warning: return "warning";
  case Severity::Note: return "note";
  }
  return "error";
}

std::string formatDiagnostic(const Diagnostic& d) {
  std::string where = d.file.empty() ? "nnjit" : d.file;
  if (!d.file.empty() && d.line > 0) {
    where += fmt::format(":{}", d.line);
    if (d.col > 0) where += fmt::format(":{}", d.col);
  }
  std::string out = fmt::format("{}: {}: {}\n", where, severityName(d.severity), d.message);
  if (d.col > 0 && !d.sourceLine.empty()) {
    out += d.sourceLine + "\n";
    // Keep tabs so the caret lines up under the same column in a terminal.
    std::string pad;
    for (int i = 0; i + 1 < d.col && i < static_cast<int>(d.sourceLine.size()); ++i)
      pad += d.sourceLine[i] == '\t' ? '\t' : ' ';
    out += pad + "^\n";
  }
  return out;
}

DiagnosticEngine::DiagnosticEngine(std::string file, std::string source)
    : file_(std::move(file)), source_(std::move(source)) {}

std::string DiagnosticEngine::lineText(int line) const {
  size_t begin = 0;
  for (int l = 1; l < line; ++l) {
    begin = source_.find('\n', begin);
    if (begin == std::string::npos) return "";
    ++begin;
  }
  size_t end = source_.find('\n', begin);
  std::string text = source_.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

Diagnostic DiagnosticEngine::make(Severity s, SourceLoc loc, std::string message) const {
  Diagnostic d;
  d.severity = s;
  d.file = file_;
  d.line = loc.line;
  d.col = loc.col;
  d.message = std::move(message);
  if (loc.line > 0) d.sourceLine = lineText(loc.line);
  return d;
}

void DiagnosticEngine::error(SourceLoc loc, std::string message) {
  diags_.push_back(make(Severity::Error, loc, std::move(message)));
}

void DiagnosticEngine::warning(SourceLoc loc, std::string message) {
  diags_.push_back(make(Severity::Warning, loc, std::move(message)));
}

bool DiagnosticEngine::hasErrors() const {
  for (const auto& d : diags_)
    if (d.severity == Severity::Error) return true;
  return false;
}

} // namespace nnjit
