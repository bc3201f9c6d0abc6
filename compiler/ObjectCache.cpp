// ObjectCache: native code of already-compiled models on disk, keyed by what it was made from and the CPU.
#include "ObjectCache.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/raw_ostream.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#ifndef NNJIT_VERSION
#define NNJIT_VERSION "unknown"
#endif

namespace nnjit {
namespace {

/// Bump when the way nnjit builds or lays out entries changes without changing the IR.
constexpr const char* kFormat = "nnjit object cache entry 3";
/// Larger files are not entries nnjit wrote; reading them would only cost memory.
constexpr off_t kMaxEntryBytes = 256 << 20;

/// What the folder may hold: NNJIT_CACHE_MAX_MB, else this. Each compiled
/// model is a few entries of 2 KB to a few MB, and every build of nnjit keys
/// its own, so without a bound the folder only ever grows.
constexpr int64_t kDefaultMaxBytes = int64_t(256) << 20;
/// Entries not used for this long are removed (a hit renews an entry's time).
constexpr auto kExpiry = std::chrono::hours(24 * 30);
/// The folder is looked over at most this often (its `last-pruned` file says when).
constexpr auto kPruneInterval = std::chrono::minutes(10);
/// A temporary this old is left by a killed run (live ones are written in milliseconds).
constexpr auto kStaleTemporary = std::chrono::hours(1);
constexpr const char* kStampName = "last-pruned";

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

int64_t maxCacheBytes() {
  const char* v = std::getenv("NNJIT_CACHE_MAX_MB");
  if (!v || !*v) return kDefaultMaxBytes;
  char* end = nullptr;
  errno = 0;
  long long mb = std::strtoll(v, &end, 10);
  if (errno || *end || mb <= 0 || mb > (int64_t(1) << 40)) return kDefaultMaxBytes;
  return mb << 20;
}

bool isEntryName(const std::string& name) {
  return name.size() == 66 && name.compare(64, 2, ".o") == 0 &&
         std::all_of(name.begin(), name.begin() + 64, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

bool isTemporaryName(const std::string& name) { return name.size() > 71 && isEntryName(name.substr(0, 66)) && name.compare(66, 5, ".tmp-") == 0; }

using FileTime = std::chrono::system_clock::time_point;

FileTime modified(const struct stat& st) {
  return FileTime(std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
}

/// Claims this look over the folder: false when one was made less than
/// kPruneInterval ago (by this process or another).
bool claimPrune(int dir, FileTime now) {
  struct stat st {};
  // A stamp from the future (a clock set back, a copied folder) is stale, not recent.
  if (::fstatat(dir, kStampName, &st, AT_SYMLINK_NOFOLLOW) == 0 && modified(st) <= now &&
      now - modified(st) < kPruneInterval)
    return false;
  int fd = ::openat(dir, kStampName, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool touched = ::futimens(fd, nullptr) == 0;
  ::close(fd);
  return touched;
}

struct CachedFile {
  std::string name;
  FileTime used;
  int64_t bytes;
};

/// The folder's entries and temporaries that this user owns: nothing else in
/// it is ever removed (not other files, not symbolic links).
std::vector<CachedFile> ownFiles(int dir, std::vector<std::string>& staleTemporaries, FileTime now) {
  std::vector<CachedFile> entries;
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = fd < 0 ? nullptr : ::fdopendir(fd);
  if (!listing) {
    if (fd >= 0) ::close(fd);
    return entries;
  }
  while (const dirent* e = ::readdir(listing)) {
    std::string name = e->d_name;
    bool entry = isEntryName(name), temporary = !entry && isTemporaryName(name);
    struct stat st {};
    if (!(entry || temporary) || ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) continue;
    if (temporary && now - modified(st) > kStaleTemporary) staleTemporaries.push_back(name);
    if (entry) entries.push_back({name, modified(st), static_cast<int64_t>(st.st_size)});
  }
  ::closedir(listing);
  return entries;
}

/// Removes entries unused for kExpiry, then the least recently used ones
/// while the folder holds more than its bound, and temporaries killed runs left.
void prune(int dir) {
  FileTime now = std::chrono::system_clock::now();
  if (!claimPrune(dir, now)) return;
  std::vector<std::string> stale;
  std::vector<CachedFile> entries = ownFiles(dir, stale, now);
  for (const std::string& name : stale) ::unlinkat(dir, name.c_str(), 0);
  std::sort(entries.begin(), entries.end(), [](const CachedFile& a, const CachedFile& b) { return a.used > b.used; });
  int64_t kept = 0, bound = maxCacheBytes();
  bool full = false;
  for (const CachedFile& e : entries) {  // most recently used first; the newest stays whatever its size
    full = full || (kept > 0 && (now - e.used >= kExpiry || kept + e.bytes > bound));
    if (full) ::unlinkat(dir, e.name.c_str(), 0);
    else kept += e.bytes;
  }
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
  ::utimensat(dir_, name_.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);  // used now: pruning keeps it longest
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
  if (ok && ::renameat(dir_, tmp.c_str(), dir_, name_.c_str()) == 0) {
    prune(dir_);
    return;
  }
  if (named) ::unlinkat(dir_, tmp.c_str(), 0);
}

} // namespace nnjit
