// AtomicFile: replacing a file so that readers see the old one or the whole new one, never half.
#include "AtomicFile.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

Diagnostic cannotWrite(const std::string& path, int err) {
  return fileError(path, fmt::format("cannot write file: {}", std::strerror(err)));
}

std::string folderOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// The file a chain of symbolic links at `path` ends at (which may not exist yet).
std::string followLinks(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) return path;
    std::string link(target, static_cast<size_t>(n));
    path = link[0] == '/' ? link : folderOf(path) + "/" + link;
  }
  return path;
}

/// Removes `BASE.tmp-PID...` files in `folder` whose process is gone: what a
/// `kill -9` during an earlier save left behind. Only ours: regular files
/// owned by this user, named as we name them.
void removeStaleTemporaries(const std::string& folder, const std::string& base) {
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return;
  std::string prefix = base + ".tmp-";
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (end == name.c_str() + prefix.size() || (*end != '\0' && *end != '-') || pid <= 0 || pid == ::getpid())
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to know
    std::string file = folder + "/" + name;
    struct stat st {};
    if (::lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) ::unlink(file.c_str());
  }
  ::closedir(dir);
}

/// Writes and syncs all of `bytes`; 0 or the errno of the failure.
int writeAll(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    done += static_cast<size_t>(w);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

/// Makes the rename itself durable; best effort, as some file systems refuse it.
void syncFolder(const std::string& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// Gives the unnamed file `fd` the name `tmp`, or makes a new named `tmp`
/// exclusively; the open descriptor, or -1 with errno set.
int createTemporary(const std::string& folder, const std::string& tmp, int unnamed) {
  if (unnamed >= 0) {
    std::string self = fmt::format("/proc/self/fd/{}", unnamed);
    return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0 ? unnamed : -1;
  }
  return ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
}

} // namespace

Status writeFileAtomically(const std::string& path, const std::string& bytes) {
  static std::atomic<unsigned> counter{0};
  std::string target = followLinks(path), folder = folderOf(target);
  removeStaleTemporaries(folder, baseOf(target));
  // Unnamed until complete: a run killed while writing leaves nothing.
  int fd = ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  int err = fd >= 0 ? writeAll(fd, bytes) : 0;
  std::string tmp;
  int named = -1;
  for (int attempt = 0; !err && named < 0 && attempt < 100; ++attempt) {
    tmp = fmt::format("{}.tmp-{}-{}", target, ::getpid(), counter++);
    named = createTemporary(folder, tmp, fd);
    if (named >= 0 || errno == EEXIST) continue;
    if (fd < 0) {
      err = errno;
    } else {  // no /proc to link through: write a named temporary instead
      ::close(fd);
      fd = -1;
    }
  }
  if (!err && named < 0) err = EEXIST;
  if (!err && fd < 0) err = writeAll(named, bytes);
  if (named >= 0 && ::close(named) != 0 && !err) err = errno;
  if (fd >= 0 && named != fd) ::close(fd);
  if (!err && ::rename(tmp.c_str(), target.c_str()) != 0) err = errno;
  if (err) {
    if (named >= 0) ::unlink(tmp.c_str());
    return cannotWrite(path, err);
  }
  syncFolder(folder);
  return Ok{};
}

Status checkWritable(const std::string& path) {
  if (path.empty()) return fileError("", "the checkpoint path is empty");
  std::string target = followLinks(path), folder = folderOf(target);
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return cannotWrite(path, EISDIR);
  if (::stat(folder.c_str(), &st) != 0)
    return fileError(path, fmt::format("cannot write file: its folder '{}' does not exist", folder));
  if (!S_ISDIR(st.st_mode)) return fileError(path, fmt::format("cannot write file: '{}' is not a folder", folder));
  if (::access(folder.c_str(), W_OK | X_OK) != 0) return cannotWrite(path, errno);
  return Ok{};
}

} // namespace nnjit
