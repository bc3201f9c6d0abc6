// Output: standard output and error as streams whose failures never stop a run, and are reported once.
#include "Output.h"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace nnjit::cli {
namespace {

int stdoutError = 0;  // errno of the first failed write to standard output
bool stderrFailed = false;

/// The stream's write function: all of `buf` to the descriptor, or a
/// remembered failure; it always claims success so that stdio and fmt go on.
ssize_t writeChecked(void* cookie, const char* buf, size_t size) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(cookie));
  if ((fd == STDOUT_FILENO && stdoutError) || (fd == STDERR_FILENO && stderrFailed)) return static_cast<ssize_t>(size);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (fd == STDOUT_FILENO) stdoutError = n < 0 ? errno : EIO;
      else stderrFailed = true;
      break;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(size);
}

FILE* checkedStream(int fd, int mode) {
  cookie_io_functions_t io{};
  io.write = writeChecked;
  FILE* f = fopencookie(reinterpret_cast<void*>(static_cast<intptr_t>(fd)), "w", io);
  if (f) setvbuf(f, nullptr, mode, BUFSIZ);
  return f;
}

} // namespace

void installCheckedOutput() {
  // A closed pipe is an EPIPE error to handle, not a signal that kills the run before its save.
  std::signal(SIGPIPE, SIG_IGN);
  if (FILE* out = checkedStream(STDOUT_FILENO, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF)) stdout = out;
  if (FILE* err = checkedStream(STDERR_FILENO, _IONBF)) stderr = err;
}

int finishOutput(int status) {
  std::fflush(stdout);
  if (!stdoutError || stdoutError == EPIPE) return status;
  fmt::print(stderr, "nnjit: error: cannot write to standard output: {}\n", std::strerror(stdoutError));
  return status == 0 ? 1 : status;
}

} // namespace nnjit::cli
