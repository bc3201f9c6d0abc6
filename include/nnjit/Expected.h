// Expected: errors as values for the public API — diagnostics, Error, Expected<T>, Status.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#if defined(_WIN32)
#define NNJIT_API
#else
/// Marks what libnnjit exports; everything else in the library stays hidden.
#define NNJIT_API __attribute__((visibility("default")))
#endif

namespace nnjit::api {

enum class Severity { Error, Warning, Note };

/// One message about a `.nn` source or a file the API read or wrote.
/// `line` and `column` are 1-based; 0 when the whole file (or no file) is at fault.
struct Diagnostic {
  Severity severity = Severity::Error;
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string sourceLine;  ///< the source text `line` points into, if known

  /// `FILE:LINE:COL: error: MESSAGE`, as the nnjit CLI prints it (one line).
  NNJIT_API std::string str() const;
  /// As the nnjit CLI prints it: `str()` plus the source line with a caret
  /// under the column, when known; ends in a newline.
  NNJIT_API std::string render() const;
  /// The same, in clang's colours when `colour` (for a terminal): a bold
  /// location and message, a red `error:` (magenta `warning:`), a green caret.
  NNJIT_API std::string render(bool colour) const;
};

/// What went wrong, coarsely, so that callers can branch without parsing text.
enum class ErrorKind {
  Compile,          ///< the model source has errors (see the diagnostics)
  InvalidArgument,  ///< a wrongly shaped buffer, an unknown name, a bad setting
  NotSupported,     ///< the model lacks what the call needs (a loss, an output, ...)
  Io,               ///< a file could not be read or written, or is malformed
  Diverged,         ///< training stopped: the loss is not finite
  OutOfMemory,      ///< the call needed more memory than it could get (its message says how much)
};

/// The reason a call produced no value: a kind and one or more diagnostics.
class Error {
public:
  Error(ErrorKind kind, std::vector<Diagnostic> diagnostics) : kind_(kind), diags_(std::move(diagnostics)) {}
  /// An error about no particular file, with one message.
  NNJIT_API Error(ErrorKind kind, std::string message);

  ErrorKind kind() const { return kind_; }
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  /// Every diagnostic's `str()`, one per line.
  NNJIT_API std::string message() const;

private:
  ErrorKind kind_;
  std::vector<Diagnostic> diags_;
};

/// A value of type T, or the Error that explains why there is none.
/// Reading the value of a failed Expected is a programming error (asserts).
template <class T>
class [[nodiscard]] Expected {
public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

/// Success with no value, or an Error.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

private:
  std::optional<Error> error_;
};

} // namespace nnjit::api
