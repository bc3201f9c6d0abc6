// ObjectCache: native code of already-compiled models on disk, keyed by what it was made from and the CPU.
#include "ObjectCache.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/raw_ostream.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NNJIT_VERSION
#define NNJIT_VERSION "unknown"
#endif

namespace nnjit {
namespace {

/// Bump when the way nnjit builds or lays out entries changes without changing the IR.
constexpr const char* kFormat = "nnjit object cache entry 3";
/// Larger files are not entries nnjit wrote; reading them would only cost memory.
constexpr off_t kMaxEntryBytes = 256 << 20;

thread_local std::string lastWarning;

void warn(const std::string& what, const std::string& why) {
  lastWarning = fmt::format("object cache {} is not used: {}", what, why);
}

std::string hex(llvm::ArrayRef<uint8_t> bytes) { return llvm::toHex(bytes, /*LowerCase=*/true); }

std::string sha256(llvm::StringRef bytes) {
  std::array<uint8_t, 32> sum = llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes));
  return std::string(sum.begin(), sum.end());
}

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The folder, and the folder that must already exist (nnjit never creates
/// HOME, XDG_CACHE_HOME or the parent of NNJIT_CACHE_DIR). Empty: no cache.
std::pair<std::string, std::string> cacheFolder() {
  const char* off = std::getenv("NNJIT_CACHE");
  if (off && std::string(off) == "0") return {};
  if (const char* dir = std::getenv("NNJIT_CACHE_DIR"); dir && *dir) {
    std::string path = dir;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    size_t slash = path.rfind('/');
    return {path, slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash)};
  }
  // The XDG spec: a relative path is invalid and is ignored.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return {std::string(xdg) + "/nnjit", xdg};
  if (const char* home = std::getenv("HOME"); home && *home == '/') return {std::string(home) + "/.cache/nnjit", home};
  return {};
}

/// Why a cache file or folder may not be trusted; empty when it may.
std::string distrust(const struct stat& st) {
  if (st.st_uid != ::geteuid())
    return fmt::format("it is owned by uid {}, not by the effective user (uid {})", st.st_uid, ::geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fmt::format("it is writable by group or others (mode {:04o})", st.st_mode & 07777);
  return "";
}

/// Opens the cache folder, creating it (and `.cache` under HOME) with mode
/// 0700 below `base`; -1 when there is no usable, trustworthy folder.
int openFolder(const std::string& path, const std::string& base) {
  if (!isDirectory(base)) return -1;
  std::string partial = base;
  for (size_t at = base.size(); at < path.size();) {
    size_t next = path.find('/', at + 1);
    partial = path.substr(0, next);
    at = next == std::string::npos ? path.size() : next;
    if (::mkdir(partial.c_str(), 0700) == 0) ::chmod(partial.c_str(), 0700);  // whatever the umask
    else if (errno != EEXIST) return -1;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  if (std::string why = distrust(st); !why.empty()) {
    warn("folder " + path, why);
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Everything the native code depends on, as text: recorded in the entry and
/// compared on load, so that an entry can only ever be used for its own key.
std::string keyText(const ObjectCache::Target& target, const std::string& recipe, const std::string& source) {
  return fmt::format("{}\nnnjit {}\nLLVM {}\ntriple {}\ncpu {}\nfeatures {}\nrecipe {}\n{}\n", kFormat, NNJIT_VERSION,
                     LLVM_VERSION_STRING, target.triple, target.cpu, target.features, recipe, source);
}

bool writeAll(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// The whole of an open entry, or nothing (a warning when it is not to be trusted).
std::optional<std::string> readEntry(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxEntryBytes) return std::nullopt;
  if (std::string why = distrust(st); !why.empty()) {
    warn("entry " + path, why);
    return std::nullopt;
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  return bytes;
}

} // namespace

std::string takeObjectCacheWarning() { return std::exchange(lastWarning, std::string()); }

bool ObjectCache::wanted() { return !cacheFolder().first.empty(); }

std::string ObjectCache::codeSource(const std::string& codeDigest, const std::string& generatorBuildId) {
  return fmt::format("generator {}\ncode-sha256 {}", generatorBuildId, codeDigest);
}

std::string ObjectCache::irSource(const llvm::Module& module) {
  std::string ir;
  llvm::raw_string_ostream os(ir);
  module.print(os, nullptr);
  return "ir-sha256 " + hex(llvm::arrayRefFromStringRef(sha256(ir)));
}

ObjectCache::ObjectCache(const Target& target, const std::string& recipe, const std::string& source) {
  auto [folder, base] = cacheFolder();
  if (folder.empty()) return;
  dir_ = openFolder(folder, base);
  if (dir_ < 0) return;
  folder_ = folder;
  key_ = keyText(target, recipe, source);
  name_ = hex(llvm::arrayRefFromStringRef(sha256(key_))) + ".o";
}

ObjectCache::~ObjectCache() {
  if (dir_ >= 0) ::close(dir_);
}

/// An entry is the key text, a NUL, the data layout, a NUL, the object
/// file, and a SHA-256 of all that: a damaged file is a miss, and so is one
/// written for another key.
std::optional<ObjectCache::Entry> ObjectCache::load() const {
  if (dir_ < 0) return std::nullopt;
  std::string path = folder_ + "/" + name_;
  int fd = ::openat(dir_, name_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) warn("entry " + path, "it is a symbolic link");
    return std::nullopt;
  }
  std::optional<std::string> bytes = readEntry(fd, path);
  ::close(fd);
  size_t prefix = key_.size() + 1;
  if (!bytes || bytes->size() < prefix + 4 + 32) return std::nullopt;
  std::string_view all(*bytes);
  if (all.substr(0, key_.size()) != key_ || all[key_.size()] != '\0') return std::nullopt;
  if (sha256(llvm::StringRef(all.data(), all.size() - 32)) != all.substr(all.size() - 32)) return std::nullopt;
  std::string_view rest = all.substr(prefix, all.size() - 32 - prefix);
  size_t layoutEnd = rest.find('\0');
  if (layoutEnd == std::string_view::npos) return std::nullopt;
  Entry entry{std::string(rest.substr(layoutEnd + 1)), std::string(rest.substr(0, layoutEnd))};
  if (entry.object.compare(0, 4, "\x7f" "ELF") != 0) return std::nullopt;
  return entry;
}

/// Written into an unnamed file where the file system allows (a killed run
/// leaves nothing behind), else into an exclusively created temporary; then
/// linked and renamed over the entry's name, so readers see all or nothing.
void ObjectCache::store(const Entry& entry) const {
  if (dir_ < 0) return;
  static std::atomic<unsigned> counter{0};
  std::string bytes = key_ + '\0' + entry.dataLayout + '\0' + entry.object;
  bytes += sha256(bytes);
  std::string tmp = fmt::format("{}.tmp-{}-{}", name_, ::getpid(), counter++);
  int fd = ::openat(dir_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  bool unnamed = fd >= 0;
  if (!unnamed) fd = ::openat(dir_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = writeAll(fd, bytes);
  bool named = !unnamed;
  if (ok && unnamed) {
    std::string self = fmt::format("/proc/self/fd/{}", fd);
    named = ok = ::linkat(AT_FDCWD, self.c_str(), dir_, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0;
  }
  ok = ::close(fd) == 0 && ok;
  if (ok && ::renameat(dir_, tmp.c_str(), dir_, name_.c_str()) == 0) return;
  if (named) ::unlinkat(dir_, tmp.c_str(), 0);
}

} // namespace nnjit
