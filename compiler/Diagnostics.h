// Diagnostics: user errors as values, with the file and position they point at.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace nnjit {

/// A position in a `.nn` source: 1-based line and column; 0 means unknown.
struct SourceLoc {
  int line = 0;
  int col = 0;
};

enum class Severity { Error, Warning, Note };

/// One message for the user. `line`/`col` are 0 when the whole file (or no
/// file) is at fault; `sourceLine` is the text under the caret, if any.
struct Diagnostic {
  Severity severity = Severity::Error;
  std::string file;
  int line = 0;
  int col = 0;
  std::string message;
  std::string sourceLine;
};

/// Formats as `FILE:LINE:COL: error: MESSAGE` plus the source line and a
/// caret; with `colour`, in clang's colours (a bold location and message, a
/// red `error:`, a magenta `warning:`, a green caret) for a terminal.
std::string formatDiagnostic(const Diagnostic& d, bool colour = false);

/// Collects diagnostics for one source file; knows its text for carets.
class DiagnosticEngine {
public:
  DiagnosticEngine() = default;
  DiagnosticEngine(std::string file, std::string source);

  void error(SourceLoc loc, std::string message);
  /// A character the lexer cannot read: an error, and its line's later
  /// errors (but this kind) are dropped as echoes of it.
  void unreadable(SourceLoc loc, std::string message);
  void warning(SourceLoc loc, std::string message);
  void add(Diagnostic d);

  bool hasErrors() const { return errors_ > 0; }
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  const std::string& file() const { return file_; }
  const std::string& source() const { return source_; }

private:
  Diagnostic make(Severity s, SourceLoc loc, std::string message) const;
  std::string lineText(int line) const;

  std::string file_;
  std::string source_;
  std::vector<size_t> lineStarts_;  // offset of each line's first byte, indexed once
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
  std::set<int> unreadLines_;  // lines with a character the lexer could not read
};

/// Source lines longer than this are cut to it in a diagnostic: each one
/// holds its own copy, and 40,000 errors on one 40 KB line took 3 GB.
constexpr size_t kMaxSourceLine = 1000;

/// A value or the diagnostics that explain why there is none.
template <class T>
class Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(std::vector<Diagnostic> errors) : errors_(std::move(errors)) {}
  Result(Diagnostic error) { errors_.push_back(std::move(error)); }

  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const std::vector<Diagnostic>& errors() const { return errors_; }

private:
  std::optional<T> value_;
  std::vector<Diagnostic> errors_;
};

/// A success with no value, or diagnostics.
struct Ok {};
using Status = Result<Ok>;

/// A file-level error (`FILE: error: MESSAGE` or `FILE:LINE: error: ...`).
inline Diagnostic fileError(std::string file, std::string message, int line = 0) {
  Diagnostic d;
  d.file = std::move(file);
  d.line = line;
  d.message = std::move(message);
  return d;
}

} // namespace nnjit
