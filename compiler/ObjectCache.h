// ObjectCache: native code of already-compiled models on disk, keyed by what it was made from and the CPU.
#pragma once

#include <optional>
#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace nnjit {

/// Compiling a model to native code is most of a compile's time and gives
/// the same bytes every time for the same input on the same CPU, so the
/// object file is kept in `$NNJIT_CACHE_DIR`, else `$XDG_CACHE_HOME/nnjit`,
/// else `~/.cache/nnjit`. `NNJIT_CACHE=0` turns it off.
///
/// The cache holds code that this process will run, so it is treated like
/// OpenSSH treats `~/.ssh`: the folder is created 0700; a folder or entry
/// that the effective user does not own, or that group or others may write,
/// is not used (a warning, see `takeObjectCacheWarning`); every entry records
/// its whole key and is checked against it; files are opened without
/// following symlinks and created exclusively, then renamed into place.
class ObjectCache {
public:
  /// The CPU native code is compiled for, as LLVM names it.
  struct Target {
    std::string triple, cpu, features;
  };
  /// One entry's contents.
  struct Entry {
    std::string object;
    std::string dataLayout;  // the layout the code was compiled with, which linking it needs
  };

  /// The cache for code made from `source` (see `codeSource`, `irSource`)
  /// by `recipe` (the optimization passes and backend settings, as text) for
  /// `target`; an unusable folder makes a disabled cache.
  ObjectCache(const Target& target, const std::string& recipe, const std::string& source);
  /// What code comes from, keyed before any IR exists: a digest of code
  /// generation's input (CodeKey.h) and the build of the generator.
  static std::string codeSource(const std::string& codeDigest, const std::string& generatorBuildId);
  /// What code comes from, keyed by the IR itself (when the generator's build is unknown).
  static std::string irSource(const llvm::Module& module);
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  /// Whether there is a cache folder to look in (not `NNJIT_CACHE=0`, and a
  /// place to put it); checks nothing on disk.
  static bool wanted();
  std::optional<Entry> load() const;
  void store(const Entry& entry) const;

private:
  int dir_ = -1;        // the cache folder, opened once and checked
  std::string folder_;  // its path, for warnings
  std::string key_;     // the entry's whole key, as it is recorded in the entry
  std::string name_;    // the entry's file name: a hash of the key
};

/// The warning the last cache on this thread gave (a folder or entry it would
/// not use), once; empty when none. The compile's caller reports it.
std::string takeObjectCacheWarning();

} // namespace nnjit
