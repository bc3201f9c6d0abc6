// Run: runs the real `nnjit` binary in a scratch folder and captures what it prints.
#pragma once

#include <string>
#include <vector>

namespace nnjit::e2e {

struct Output {
  int status = -1;   // exit status
  std::string out;   // stdout
  std::string err;   // stderr
};

/// A fresh temporary folder, removed when the object dies.
class Scratch {
public:
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  /// Writes `text` to `name` inside the folder; returns its path.
  std::string write(const std::string& name, const std::string& text) const;
  /// Copies a file from the source tree (e.g. "examples/iris.csv") into the folder.
  std::string copy(const std::string& sourceRelative, const std::string& name) const;
  std::string read(const std::string& name) const;
  bool exists(const std::string& name) const;

  /// Runs `nnjit ARGS...` with the folder as the working directory.
  Output nnjit(const std::vector<std::string>& args) const;
  /// Runs a bash script in the folder, with `$NNJIT` the binary: for pipes,
  /// redirections and environments that `nnjit()` cannot express.
  Output shell(const std::string& script) const;
  /// Runs `nnjit ARGS...` until its stdout holds `waitFor`, then sends it each
  /// of `signals` (a moment apart, so that two are two, not one pending), and
  /// captures the rest. Killed after a minute, like `nnjit()`.
  Output interrupt(const std::vector<std::string>& args, const std::string& waitFor,
                   const std::vector<int>& signals) const;

private:
  Output capture(std::string cmd) const;
  std::string dir_;
};

} // namespace nnjit::e2e
