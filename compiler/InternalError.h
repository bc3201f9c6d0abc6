// InternalError: checks of the compiler's own invariants, on in every build.
#pragma once

namespace nnjit {

/// Exit status of a failed internal check: distinct from every user-facing
/// status (0-3), so scripts and tests can tell a bug from a bad model.
constexpr int kInternalErrorStatus = 70;

/// Prints `nnjit: internal error: WHAT` and ends the process. A bug in nnjit,
/// never a user's mistake: user errors are diagnostics.
[[noreturn]] void internalError(const char* what);

} // namespace nnjit

/// Like assert, but never compiled out (Halide's internal_assert).
#define NNJIT_CHECK(cond, what)                 \
  do {                                          \
    if (!(cond)) ::nnjit::internalError(what);  \
  } while (false)
