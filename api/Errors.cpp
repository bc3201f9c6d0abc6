// Errors: formatting and conversion of the public diagnostics and errors.
#include "Internal.h"

namespace nnjit::api {

std::string Diagnostic::str() const {
  std::string where = file;
  if (line > 0) where += ":" + std::to_string(line);
  if (line > 0 && column > 0) where += ":" + std::to_string(column);
  const char* kind = severity == Severity::Error ? "error" : severity == Severity::Warning ? "warning" : "note";
  return (where.empty() ? "" : where + ": ") + kind + ": " + message;
}

std::string Diagnostic::render() const {
  nnjit::Diagnostic d;
  d.severity = severity == Severity::Error     ? nnjit::Severity::Error
               : severity == Severity::Warning ? nnjit::Severity::Warning
                                               : nnjit::Severity::Note;
  d.file = file;
  d.line = line;
  d.col = column;
  d.message = message;
  d.sourceLine = sourceLine;
  return nnjit::formatDiagnostic(d);
}

Error::Error(ErrorKind kind, std::string message) : kind_(kind) {
  Diagnostic d;
  d.message = std::move(message);
  diags_.push_back(std::move(d));
}

std::string Error::message() const {
  std::string out;
  for (const Diagnostic& d : diags_) out += (out.empty() ? "" : "\n") + d.str();
  return out;
}

std::vector<Diagnostic> publicDiagnostics(const std::vector<nnjit::Diagnostic>& diags) {
  std::vector<Diagnostic> out;
  for (const nnjit::Diagnostic& d : diags) {
    Diagnostic p;
    p.severity = d.severity == nnjit::Severity::Error     ? Severity::Error
                 : d.severity == nnjit::Severity::Warning ? Severity::Warning
                                                          : Severity::Note;
    p.file = d.file;
    p.line = d.line;
    p.column = d.col;
    p.message = d.message;
    p.sourceLine = d.sourceLine;
    out.push_back(std::move(p));
  }
  return out;
}

Error errorIn(ErrorKind kind, const std::string& file, std::string message) {
  Diagnostic d;
  d.file = file;
  d.message = std::move(message);
  return Error(kind, {std::move(d)});
}

} // namespace nnjit::api
