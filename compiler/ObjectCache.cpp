// ObjectCache: native code of already-compiled models on disk, keyed by their IR and the CPU.
#include "ObjectCache.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/IR/Module.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace nnjit {
namespace {

/// Bump when the way nnjit builds objects changes without changing the IR.
constexpr const char* kFormat = "nnjit-object-1";

std::string cacheFolder() {
  const char* off = std::getenv("NNJIT_CACHE");
  if (off && std::string(off) == "0") return "";
  if (const char* dir = std::getenv("NNJIT_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/nnjit";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/nnjit";
  return "";
}

/// 32 bytes appended to each entry: a damaged file is a miss, never bad code.
std::string checksum(llvm::StringRef bytes) {
  std::array<uint8_t, 32> sum = llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes));
  return std::string(sum.begin(), sum.end());
}

std::string hexKey(const llvm::Module& module, const llvm::TargetMachine& tm, bool vectorize) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << kFormat << '\n' << LLVM_VERSION_STRING << '\n' << tm.getTargetTriple().str() << '\n'
     << tm.getTargetCPU() << '\n' << tm.getTargetFeatureString() << '\n' << vectorize << '\n';
  module.print(os, nullptr);
  llvm::SHA256 sha;
  sha.update(text);
  std::string hex;
  for (uint8_t byte : sha.final()) {
    static const char digits[] = "0123456789abcdef";
    hex += digits[byte >> 4];
    hex += digits[byte & 15];
  }
  return hex;
}

} // namespace

ObjectCache::ObjectCache(const llvm::Module& module, const llvm::TargetMachine& tm, bool vectorize) {
  std::string folder = cacheFolder();
  if (folder.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec || access(folder.c_str(), W_OK) != 0) return;
  path_ = folder + "/" + hexKey(module, tm, vectorize) + ".o";
}

std::optional<std::string> ObjectCache::load() const {
  if (path_.empty()) return std::nullopt;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  if (bytes.size() < 32 + 4 || bytes.compare(0, 4, "\x7f" "ELF") != 0) return std::nullopt;
  std::string object = bytes.substr(0, bytes.size() - 32);
  if (checksum(object) != bytes.substr(bytes.size() - 32)) return std::nullopt;
  return object;
}

void ObjectCache::store(const std::string& object) const {
  if (path_.empty()) return;
  std::string tmp = path_ + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    out << checksum(object);
    if (!out) {
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) std::remove(tmp.c_str());
}

} // namespace nnjit
