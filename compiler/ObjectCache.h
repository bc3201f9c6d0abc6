// ObjectCache: native code of already-compiled models on disk, keyed by their IR and the CPU.
#pragma once

#include <optional>
#include <string>

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace nnjit {

/// Compiling a model's IR to native code is most of a compile's time and
/// gives the same bytes every time for the same IR on the same CPU, so the
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
  /// The cache for `module` as `tm` would compile it after `recipe` (the
  /// optimization passes and backend settings, as text); an unusable folder
  /// makes a disabled cache.
  ObjectCache(const llvm::Module& module, const llvm::TargetMachine& tm, const std::string& recipe);
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  bool enabled() const { return dir_ >= 0; }
  std::optional<std::string> load() const;
  void store(const std::string& object) const;

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
