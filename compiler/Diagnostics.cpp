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

namespace {

/// The escape sequences clang colours its diagnostics with.
struct Palette {
  const char* bold = "";
  const char* severity = "";
  const char* caret = "";
  const char* reset = "";
};

Palette paletteFor(Severity s, bool colour) {
  if (!colour) return {};
  const char* severity = s == Severity::Error ? "\033[0;1;31m" : s == Severity::Warning ? "\033[0;1;35m" : "\033[0;1;30m";
  return {"\033[1m", severity, "\033[0;1;32m", "\033[0m"};
}

} // namespace

std::string formatDiagnostic(const Diagnostic& d, bool colour) {
  std::string where = d.file.empty() ? "nnjit" : d.file;
  if (!d.file.empty() && d.line > 0) {
    where += fmt::format(":{}", d.line);
    if (d.col > 0) where += fmt::format(":{}", d.col);
  }
  Palette p = paletteFor(d.severity, colour);
  std::string out = fmt::format("{}{}: {}{}{}: {}{}{}{}\n", p.bold, where, p.reset, p.severity, severityName(d.severity),
                                p.reset, p.bold, d.message, p.reset);
  // A column past the kept text (a line cut to kMaxSourceLine) shows no
  // line; one or two past it is the end of the line (`\r\n` counts as two).
  if (d.col > 0 && !d.sourceLine.empty() && static_cast<size_t>(d.col) <= d.sourceLine.size() + 2) {
    out += d.sourceLine + "\n";
    // Keep tabs so the caret lines up under the same column in a terminal.
    std::string pad;
    for (int i = 0; i + 1 < d.col && i < static_cast<int>(d.sourceLine.size()); ++i)
      pad += d.sourceLine[i] == '\t' ? '\t' : ' ';
    out += pad + p.caret + "^" + p.reset + "\n";
  }
  return out;
}

DiagnosticEngine::DiagnosticEngine(std::string file, std::string source)
    : file_(std::move(file)), source_(std::move(source)) {
  // Indexed once: finding each error's line by scanning from the start made
  // 40,000 errors take 14 s.
  lineStarts_.push_back(0);
  for (size_t at = source_.find('\n'); at != std::string::npos; at = source_.find('\n', at + 1))
    lineStarts_.push_back(at + 1);
}

std::string DiagnosticEngine::lineText(int line) const {
  if (line < 1 || static_cast<size_t>(line) > lineStarts_.size()) return "";
  size_t begin = lineStarts_[line - 1];
  size_t end = static_cast<size_t>(line) < lineStarts_.size() ? lineStarts_[line] - 1 : source_.size();
  if (end > begin && source_[end - 1] == '\r') --end;
  return source_.substr(begin, std::min(end - begin, kMaxSourceLine));
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
  // After a character the lexer could not read, the rest of its line is
  // misread (`squaré(w)` calls an unknown 'squar', `w $ 2` has a stray 2):
  // the parser's and the lowering's errors there would only echo it.
  if (loc.line > 0 && unreadLines_.count(loc.line)) return;
  add(make(Severity::Error, loc, std::move(message)));
}

void DiagnosticEngine::unreadable(SourceLoc loc, std::string message) {
  add(make(Severity::Error, loc, std::move(message)));
  if (loc.line > 0) unreadLines_.insert(loc.line);
}

void DiagnosticEngine::warning(SourceLoc loc, std::string message) {
  add(make(Severity::Warning, loc, std::move(message)));
}

void DiagnosticEngine::add(Diagnostic d) {
  errors_ += d.severity == Severity::Error;
  diags_.push_back(std::move(d));
}

} // namespace nnjit
