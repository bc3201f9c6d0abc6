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
/// else `~/.cache/nnjit`. `NNJIT_CACHE=0` turns it off. Entries are written to
/// a temporary file and renamed, so concurrent runs never see half of one.
class ObjectCache {
public:
  /// The cache for `module` as `tm` would compile it (with or without the
  /// vectorizer); an unusable folder makes a disabled cache.
  ObjectCache(const llvm::Module& module, const llvm::TargetMachine& tm, bool vectorize);

  bool enabled() const { return !path_.empty(); }
  std::optional<std::string> load() const;
  void store(const std::string& object) const;

private:
  std::string path_;
};

} // namespace nnjit
