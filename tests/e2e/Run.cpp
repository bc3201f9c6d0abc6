// Run: runs the real `nnjit` binary in a scratch folder and captures what it prints.
#include "Run.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

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

static std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Output Scratch::nnjit(const std::vector<std::string>& args) const {
  // A hung nnjit fails its test after a minute instead of stalling the suite.
  std::string cmd = "cd " + quote(dir_) + " && timeout -k 5 60 " + quote(NNJIT_BINARY);
  for (const std::string& a : args) cmd += " " + quote(a);
  return capture(cmd);
}

Output Scratch::shell(const std::string& script) const {
  return capture("cd " + quote(dir_) + " && NNJIT=" + quote(NNJIT_BINARY) + " timeout -k 5 60 bash -c " + quote(script));
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

} // namespace nnjit::e2e
