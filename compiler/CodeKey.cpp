// CodeKey: a digest of everything code generation reads, so that the object cache can be asked before any IR exists.
//
// Each struct is taken apart with a structured binding that names every
// member: a member added to one of them stops this file from compiling
// until the digest says whether code generation reads it.
#include "CodeKey.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

#include <array>
#include <cstring>
#include <map>
#include <set>
#include <link.h>
#include <type_traits>

namespace nnjit {
namespace {

/// Feeds values into a SHA-256 unambiguously: numbers by their bytes,
/// strings and sequences after their length.
class Digest {
public:
  template <class T>
  std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>> add(T value) {
    uint8_t bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    sha_.update(llvm::ArrayRef<uint8_t>(bytes, sizeof(T)));
  }
  void add(const std::string& s) {
    add(s.size());
    sha_.update(llvm::StringRef(s));
  }
  template <class T>
  void add(const std::vector<T>& items) {
    add(items.size());
    for (const T& item : items) add(item);
  }
  void add(const std::vector<bool>& bits) {
    add(bits.size());
    for (bool b : bits) add(b);
  }
  template <class T>
  void add(const std::set<T>& items) {
    add(items.size());
    for (const T& item : items) add(item);
  }
  template <class K, class V>
  void add(const std::map<K, V>& items) {
    add(items.size());
    for (const auto& [k, v] : items) add(k), add(v);
  }
  template <class A, class B>
  void add(const std::pair<A, B>& p) {
    add(p.first), add(p.second);
  }

  void add(const Shape& s) {
    const auto& [dims] = s;
    add(dims);
  }
  void add(const Attrs& a) {
    const auto& [value, ints, name, values] = a;
    add(value), add(ints), add(name), add(values);
  }
  void add(const Node& n) {
    const auto& [op, inputs, shape, attrs, loc, call] = n;
    add(op), add(inputs), add(shape), add(attrs);
    // Not `loc` or `call`: where the source wrote a value; no code reads it.
    (void)loc, (void)call;
  }
  void add(const Graph& g) {
    add(g.size());
    for (NodeId i = 0; i < g.size(); ++i) add(g.node(i));
  }
  void add(const Schedule& s) {
    const auto& [materialized, kernels, reads, epilogueOf, epilogueTile, rowsScratch] = s;
    add(materialized), add(kernels), add(reads), add(epilogueOf), add(epilogueTile), add(rowsScratch);
  }
  void add(const ArenaBuffer& b) {
    const auto& [perRow, offset] = b;
    add(perRow), add(offset);
  }
  void add(const MemoryPlan& m) {
    const auto& [buffers, staticSize, rowSize] = m;
    add(buffers), add(staticSize), add(rowSize);
  }
  void add(const FunctionCode& f) {
    const auto& [name, schedule, memory, writesToSlot, copies, assigns, finiteGuardSlot, inPlace, guardBeforeKernel,
                 alsoStores] = f;
    add(name), add(schedule), add(memory), add(writesToSlot), add(copies), add(assigns);
    add(finiteGuardSlot), add(inPlace), add(guardBeforeKernel), add(alsoStores);
  }
  void add(const VectorTarget& t) {
    const auto& [bits, registers, fma] = t;
    add(bits), add(registers), add(fma);
  }
  void add(const CodeGenInput& in) {
    const auto& [graph, dtype, leafSlot, arenaSlot, workersSlot, functions, target, profileKernels] = in;
    add(*graph), add(dtype), add(leafSlot), add(arenaSlot), add(workersSlot), add(functions);
    add(target), add(profileKernels);
  }

  std::string hex() {
    std::array<uint8_t, 32> sum = sha_.final();
    return llvm::toHex(sum, /*LowerCase=*/true);
  }

private:
  llvm::SHA256 sha_;
};

struct BuildIdSearch {
  uintptr_t address;  // an address in this code generator
  std::string id;
};

constexpr size_t align4(size_t n) { return (n + 3) & ~size_t(3); }

/// The NT_GNU_BUILD_ID note among one loaded object's PT_NOTE segments.
std::string buildIdOf(const dl_phdr_info& info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* at = reinterpret_cast<const char*>(info.dlpi_addr + ph.p_vaddr);
    const char* end = at + ph.p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(at);
      const char* name = at + sizeof(ElfW(Nhdr));
      const char* desc = name + align4(note->n_namesz);
      if (desc + note->n_descsz > end) break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0)
        return llvm::toHex(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(desc), note->n_descsz),
                           /*LowerCase=*/true);
      at = desc + align4(note->n_descsz);
    }
  }
  return "";
}

int findBuildId(dl_phdr_info* info, size_t, void* data) {
  auto& search = *static_cast<BuildIdSearch*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && search.address >= start && search.address < start + ph.p_memsz) {
      search.id = buildIdOf(*info);
      return 1;
    }
  }
  return 0;
}

} // namespace

std::string codeDigest(const CodeGenInput& in, size_t parts, size_t part) {
  Digest d;
  d.add(in);
  d.add(parts), d.add(part);
  return d.hex();
}

const std::string& generatorBuildId() {
  static const std::string id = [] {
    BuildIdSearch search{reinterpret_cast<uintptr_t>(&codeDigest), ""};
    dl_iterate_phdr(findBuildId, &search);
    return search.id;
  }();
  return id;
}

} // namespace nnjit
