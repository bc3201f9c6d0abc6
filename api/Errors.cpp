// Errors: formatting and conversion of the public diagnostics and errors.
#include "Internal.h"

#include <fmt/format.h>

namespace nnjit::api {
namespace {

/// Length of the valid UTF-8 sequence at `s[i]` that is printable (not a C1
/// control, U+0080..U+009F, which terminals may act on); 0 when there is none.
size_t printableUtf8(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  if (lead == 0xC2 && byte(i + 1) < 0xA0) return 0;
  return n;
}

/// `text` with control characters and invalid UTF-8 written as `\xHH`:
/// bytes from a CSV, a checkpoint's names or a `.nn` line must not reach a
/// terminal as escape sequences. Tabs and newlines stay. `column` (1-based,
/// or 0) is moved to where its byte lands in the result.
std::string escapeControls(std::string_view text, int* column = nullptr) {
  std::string out;
  int moved = 0;
  for (size_t i = 0; i < text.size();) {
    if (column && static_cast<int>(i) + 1 == *column) moved = static_cast<int>(out.size()) + 1;
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = c >= 0x80 ? printableUtf8(text, i) : (c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n' ? 1 : 0;
    if (n == 0) out += fmt::format("\\x{:02x}", c), n = 1;
    else out.append(text.substr(i, n));
    i += n;
  }
  if (column && *column > 0) *column = moved ? moved : *column + static_cast<int>(out.size() - text.size());
  return out;
}

} // namespace

std::string Diagnostic::str() const {
  std::string where = file;
  if (line > 0) where += ":" + std::to_string(line);
  if (line > 0 && column > 0) where += ":" + std::to_string(column);
  const char* kind = severity == Severity::Error ? "error" : severity == Severity::Warning ? "warning" : "note";
  return escapeControls((where.empty() ? "" : where + ": ") + kind + ": " + message);
}

std::string Diagnostic::render() const { return render(false); }

std::string Diagnostic::render(bool colour) const {
  nnjit::Diagnostic d;
  d.severity = severity == Severity::Error     ? nnjit::Severity::Error
               : severity == Severity::Warning ? nnjit::Severity::Warning
                                               : nnjit::Severity::Note;
  d.file = escapeControls(file);
  d.line = line;
  d.col = column;
  d.message = escapeControls(message);
  // The location keeps the column as an editor counts it; the caret follows its byte into the escaped line.
  std::string location = nnjit::formatDiagnostic(d, colour);
  d.sourceLine = escapeControls(sourceLine, &d.col);
  std::string full = nnjit::formatDiagnostic(d, colour);
  return location + full.substr(full.find('\n') + 1);
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
