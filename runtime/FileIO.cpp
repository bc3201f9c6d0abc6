// FileIO: reading a whole file, with a size bound and the reason it failed as a diagnostic.
#include "FileIO.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

constexpr size_t kSniffBytes = 64 << 10;

Diagnostic cannotRead(const std::string& displayName, int err) {
  return fileError(displayName, fmt::format("cannot read file: {}", std::strerror(err)));
}

/// Closes the descriptor on every way out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Reads all of `fd` into `bytes` within the limits; an empty message on success.
std::string readAll(int fd, std::string& bytes, const ReadLimits& limits, int& err) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && static_cast<uint64_t>(st.st_size) <= limits.maxBytes)
    bytes.reserve(static_cast<size_t>(st.st_size));
  bool sniffed = !limits.sniff;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      return "";
    }
    if (!sniffed && (n == 0 || bytes.size() + static_cast<size_t>(n) >= kSniffBytes)) {
      sniffed = true;
      std::string first = bytes + std::string(buf, static_cast<size_t>(n));
      if (std::string why = limits.sniff(std::string_view(first).substr(0, kSniffBytes)); !why.empty()) return why;
    }
    if (n == 0) return "";
    if (bytes.size() + static_cast<uint64_t>(n) > limits.maxBytes)
      return fmt::format("larger than the {} {} may have", byteSize(limits.maxBytes), limits.what);
    bytes.append(buf, static_cast<size_t>(n));
  }
}

} // namespace

std::string byteSize(uint64_t n) {
  if (n < 1024) return fmt::format("{} bytes", n);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n) / 1024;
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  return v == static_cast<double>(static_cast<uint64_t>(v)) ? fmt::format("{} {}", static_cast<uint64_t>(v), units[u])
                                                            : fmt::format("{:.1f} {}", v, units[u]);
}

// POSIX calls rather than streams so that errno says why.
Result<std::string> readFile(const std::string& path, const std::string& displayName, const ReadLimits& limits) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return cannotRead(displayName, errno);
  std::string bytes;
  int err = 0;
  try {
    std::string why = readAll(file.fd, bytes, limits, err);
    if (err) return cannotRead(displayName, err);
    if (!why.empty()) return fileError(displayName, why);
  } catch (const std::bad_alloc&) {
    return fileError(displayName, fmt::format("out of memory after reading {} of it", byteSize(bytes.size())));
  }
  return bytes;
}

} // namespace nnjit
