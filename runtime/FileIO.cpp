// FileIO: reading a whole file, with the reason it failed as a diagnostic.
#include "FileIO.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {

static Diagnostic cannotRead(const std::string& displayName, int err) {
  return fileError(displayName, fmt::format("cannot read file: {}", std::strerror(err)));
}

// POSIX calls rather than streams so that errno says why.
Result<std::string> readFile(const std::string& path, const std::string& displayName) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cannotRead(displayName, errno);
  std::string bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return cannotRead(displayName, err);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

} // namespace nnjit
