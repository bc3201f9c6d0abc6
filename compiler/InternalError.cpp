// InternalError: checks of the compiler's own invariants, on in every build.
#include "InternalError.h"

#include <cstdio>
#include <cstdlib>

namespace nnjit {

void internalError(const char* what) {
  std::fflush(stdout);
  std::fprintf(stderr, "nnjit: internal error: %s (this is a bug in nnjit, not in your model)\n", what);
  std::fflush(stderr);
  std::_Exit(kInternalErrorStatus);
}

} // namespace nnjit
