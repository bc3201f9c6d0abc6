// Run: runs the real `nnjit` binary in a scratch folder and captures what it prints.
#include "Run.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace nnjit::e2e {

namespace fs = std::filesystem;

Scratch::Scratch() {
  std::string pattern = (fs::temp_directory_path() / "nnjit-e2e-XXXXXX").string();
  dir_ = mkdtemp(pattern.data());
}

Scratch::~Scratch() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string Scratch::write(const std::string& name, const std::string& text) const {
  std::ofstream(path(name), std::ios::binary) << text;
  return path(name);
}

std::string Scratch::copy(const std::string& sourceRelative, const std::string& name) const {
  fs::copy_file(fs::path(NNJIT_SOURCE_DIR) / sourceRelative, path(name), fs::copy_options::overwrite_existing);
  return path(name);
}

std::string Scratch::read(const std::string& name) const {
  std::ifstream in(path(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Scratch::exists(const std::string& name) const { return fs::exists(path(name)); }

/// The nnjit binary under test: $NNJIT_BINARY, or the one its build puts
/// next to this test binary's folder (build/tests/ -> build/tools/nnjit/).
/// Found at run time, so that the sanitized build compiles these files with
/// the same command line as the plain one (and ccache serves them once).
static const std::string& nnjitBinary() {
  static const std::string path = [] {
    if (const char* env = std::getenv("NNJIT_BINARY"); env && *env) return std::string(env);
    return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "nnjit" / "nnjit").string();
  }();
  return path;
}

static std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Output Scratch::nnjit(const std::vector<std::string>& args) const {
  // A hung nnjit fails its test after a minute instead of stalling the suite.
  std::string cmd = "cd " + quote(dir_) + " && timeout -k 5 60 " + quote(nnjitBinary());
  for (const std::string& a : args) cmd += " " + quote(a);
  return capture(cmd);
}

Output Scratch::shell(const std::string& script) const {
  return capture("cd " + quote(dir_) + " && NNJIT=" + quote(nnjitBinary()) + " timeout -k 5 60 bash -c " + quote(script));
}

Output Scratch::capture(std::string cmd) const {
  cmd += " 2>" + quote(path(".stderr")) + " </dev/null";
  Output o;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) o.out.append(buf, n);
  int status = pclose(pipe);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.err = read(".stderr");
  return o;
}

namespace {

/// Starts the binary in `dir` with `args`: stdout to a pipe (returned), stderr
/// to `errPath`, stdin from /dev/null.
pid_t spawn(const std::string& dir, const std::vector<std::string>& args, const std::string& errPath, int& outFd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const std::string& binary = nnjitBinary();  // found before the fork: the child only execs
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(127);
    dup2(fds[1], 1);
    int err = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(err, 2);
    dup2(in, 0);
    close(fds[0]);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  outFd = fds[0];
  return pid;
}

/// Appends what `fd` has to `out`, waiting up to `ms`; false at end of file.
bool readSome(int fd, std::string& out, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return true;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out.append(buf, static_cast<size_t>(n));
  return true;
}

} // namespace

Output Scratch::interrupt(const std::vector<std::string>& args, const std::string& waitFor,
                          const std::vector<int>& signals) const {
  Output o;
  int fd = -1;
  pid_t pid = spawn(dir_, args, path(".stderr"), fd);
  if (pid < 0) return o;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool alive = true;
  while (alive && o.out.find(waitFor) == std::string::npos && std::chrono::steady_clock::now() < deadline)
    alive = readSome(fd, o.out, 100);
  for (int sig : signals) {
    kill(pid, sig);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (alive && std::chrono::steady_clock::now() < deadline) alive = readSome(fd, o.out, 100);
  if (alive) kill(pid, SIGKILL);
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.err = read(".stderr");
  return o;
}

} // namespace nnjit::e2e
