// ObjectCacheTest: compiled native code is reused from disk, and a damaged entry is only a miss.
#include "TestSupport.h"

#include "Jit.h"
#include "ObjectCache.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace nnjit;
using namespace nnjit::test;

namespace {

const char* const kModel = "param w = 5\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\n";

/// Points the cache at a fresh folder for the life of the object.
struct CacheDir {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nnjit-cache-test-" + std::to_string(getpid()));
  CacheDir() {
    std::filesystem::remove_all(dir);
    setenv("NNJIT_CACHE_DIR", dir.c_str(), 1);
  }
  ~CacheDir() {
    unsetenv("NNJIT_CACHE_DIR");
    unsetenv("NNJIT_CACHE");
    std::filesystem::remove_all(dir);
    (void)takeObjectCacheWarning();
  }
  std::vector<std::filesystem::path> entries() const {
    std::vector<std::filesystem::path> out;
    if (std::filesystem::exists(dir))
      for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".o") out.push_back(e.path());
    return out;
  }
};

double trainedW(Compiled& c) {
  c.session->initParams(0);
  for (int step = 1; step <= 3; ++step) {
    c.session->setScalar(c.cm->stepSlot, step);
    c.session->trainStep(1);
  }
  return c.session->read(c.cm->paramSlots[0])[0];
}

CompileOptions trainOptions() {
  CompileOptions o;
  o.trainStep = true;
  return o;
}

} // namespace

TEST_CASE("object cache: a second compile of the same model reuses the native code", "[cache]") {
  CacheDir cache;
  Compiled first(kModel, trainOptions());
  REQUIRE(first.ok());
  CHECK_FALSE(first.cm->times.cacheHit);
  REQUIRE(cache.entries().size() == 1);
  Compiled second(kModel, trainOptions());
  REQUIRE(second.ok());
  CHECK(second.cm->times.cacheHit);
  CHECK(trainedW(first) == trainedW(second));
}

TEST_CASE("object cache: a hit is found before any IR is generated", "[cache]") {
  CacheDir cache;
  Compiled first(kModel, trainOptions());
  REQUIRE(first.ok());
  auto ran = [](const Compiled& c, const std::string& stage) {
    for (const StageTime& t : c.cm->times.stages)
      if (t.name == stage) return true;
    return false;
  };
  CHECK(ran(first, "codegen"));
  Compiled second(kModel, trainOptions());
  REQUIRE(second.ok());
  CHECK(second.cm->times.cacheHit);
  CHECK_FALSE(ran(second, "codegen"));
  CHECK_FALSE(ran(second, "LLVM optimize"));
  CHECK(second.cm->times.codegenMs == 0);
}

TEST_CASE("object cache: a different model or dtype is a different entry", "[cache]") {
  CacheDir cache;
  Compiled a(kModel, trainOptions());
  CompileOptions f64 = trainOptions();
  f64.dtype = DType::F64;
  Compiled b(kModel, f64);
  Compiled c(std::string(kModel) + "metric m = w * 2\n", trainOptions());
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK_FALSE(b.cm->times.cacheHit);
  CHECK_FALSE(c.cm->times.cacheHit);
  // One entry per entry point: c's metric of params alone adds a second one.
  CHECK(cache.entries().size() == 4);
}

TEST_CASE("object cache: a damaged entry is recompiled, never run", "[cache]") {
  CacheDir cache;
  Compiled first(kModel, trainOptions());
  REQUIRE(cache.entries().size() == 1);
  std::filesystem::path entry = cache.entries()[0];
  std::string bytes;
  {
    std::ifstream in(entry, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x5a;  // flip bits in the middle of the code
  std::ofstream(entry, std::ios::binary) << bytes;
  Compiled second(kModel, trainOptions());
  REQUIRE(second.ok());
  CHECK_FALSE(second.cm->times.cacheHit);
  CHECK(trainedW(first) == trainedW(second));
}

TEST_CASE("object cache: NNJIT_CACHE=0 writes nothing", "[cache]") {
  CacheDir cache;
  setenv("NNJIT_CACHE", "0", 1);
  Compiled a(kModel, trainOptions());
  Compiled b(kModel, trainOptions());
  REQUIRE((a.ok() && b.ok()));
  CHECK_FALSE(b.cm->times.cacheHit);
  CHECK(cache.entries().empty());
}

namespace {

mode_t modeOf(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string readBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Restores an environment variable when the test ends.
struct EnvVar {
  std::string name;
  std::optional<std::string> old;
  explicit EnvVar(std::string n) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
  }
  ~EnvVar() {
    if (old) setenv(name.c_str(), old->c_str(), 1);
    else unsetenv(name.c_str());
  }
};

} // namespace

TEST_CASE("object cache: the folder is created 0700 whatever the umask", "[cache][security]") {
  CacheDir cache;
  mode_t old = ::umask(0);
  Compiled a(kModel, trainOptions());
  ::umask(old);
  REQUIRE(a.ok());
  CHECK(modeOf(cache.dir) == 0700);
  REQUIRE(cache.entries().size() == 1);
  CHECK((modeOf(cache.entries()[0]) & 077) == 0);
}

TEST_CASE("object cache: a folder others may write is not used, with one warning", "[cache][security]") {
  CacheDir cache;
  std::filesystem::create_directories(cache.dir);
  for (mode_t mode : {0777, 0720, 0702}) {
    ::chmod(cache.dir.c_str(), mode);
    Compiled a(kModel, trainOptions());
    REQUIRE(a.ok());
    CHECK_FALSE(a.cm->times.cacheHit);
    CHECK(cache.entries().empty());  // nothing written into it either
    std::string warning = takeObjectCacheWarning();
    INFO(warning);
    CHECK(warning.find(cache.dir.string()) != std::string::npos);
    CHECK(warning.find("writable by group or others") != std::string::npos);
    CHECK(warning.find('\n') == std::string::npos);
  }
}

TEST_CASE("object cache: an entry others may write, or owned by someone else, is never run", "[cache][security]") {
  CacheDir cache;
  Compiled first(kModel, trainOptions());
  REQUIRE(cache.entries().size() == 1);
  std::filesystem::path entry = cache.entries()[0];
  ::chmod(entry.c_str(), 0666);
  Compiled second(kModel, trainOptions());
  CHECK_FALSE(second.cm->times.cacheHit);
  CHECK(takeObjectCacheWarning().find("writable by group or others") != std::string::npos);
  if (::geteuid() == 0) {  // only root can give a file away
    ::chmod(entry.c_str(), 0600);
    REQUIRE(::chown(entry.c_str(), 65534, 65534) == 0);
    Compiled third(kModel, trainOptions());
    CHECK_FALSE(third.cm->times.cacheHit);
    CHECK(takeObjectCacheWarning().find("owned by uid 65534") != std::string::npos);
  }
}

TEST_CASE("object cache: an entry that is a symbolic link is not followed", "[cache][security]") {
  CacheDir cache;
  Compiled first(kModel, trainOptions());
  REQUIRE(cache.entries().size() == 1);
  std::filesystem::path entry = cache.entries()[0], moved = cache.dir / "elsewhere";
  std::filesystem::rename(entry, moved);
  std::filesystem::create_symlink(moved, entry);
  Compiled second(kModel, trainOptions());
  CHECK_FALSE(second.cm->times.cacheHit);
  CHECK(takeObjectCacheWarning().find("symbolic link") != std::string::npos);
}

TEST_CASE("object cache: an entry records its whole key and serves no other", "[cache][security]") {
  CacheDir cache;
  Compiled a(kModel, trainOptions());
  REQUIRE(cache.entries().size() == 1);
  std::filesystem::path entryA = cache.entries()[0];
  std::string bytes = readBytes(entryA);
  for (const char* part : {"nnjit 0.", "LLVM 19", "cpu ", "generator ", "code-sha256 "})
    CHECK(bytes.find(part) != std::string::npos);
  std::string other = "param w = 5\nloss = square(w + 2)\noptimizer sgd(lr = 0.2)\n";
  Compiled b(other, trainOptions());
  REQUIRE(cache.entries().size() == 2);
  std::filesystem::path entryB = cache.entries()[0] == entryA ? cache.entries()[1] : cache.entries()[0];
  // A well-formed, checksummed entry planted under B's name: its key is A's, so B recompiles.
  std::filesystem::copy_file(entryA, entryB, std::filesystem::copy_options::overwrite_existing);
  Compiled again(other, trainOptions());
  REQUIRE(again.ok());
  CHECK_FALSE(again.cm->times.cacheHit);
  CHECK(readBytes(entryB) != bytes);  // and stores its own entry again
}

TEST_CASE("object cache: no cache when HOME is unset or missing, created under an existing HOME", "[cache][security]") {
  EnvVar home("HOME"), xdg("XDG_CACHE_HOME");
  unsetenv("NNJIT_CACHE_DIR");
  unsetenv("XDG_CACHE_HOME");
  std::string missing = "/nonexistent-nnjit-home-" + std::to_string(getpid());
  setenv("HOME", (missing + "/x").c_str(), 1);
  Compiled a(kModel, trainOptions());
  Compiled b(kModel, trainOptions());
  REQUIRE((a.ok() && b.ok()));
  CHECK_FALSE(b.cm->times.cacheHit);
  CHECK_FALSE(std::filesystem::exists(missing));
  unsetenv("HOME");
  Compiled c(kModel, trainOptions());
  CHECK_FALSE(c.cm->times.cacheHit);

  CacheDir scratch;  // an existing HOME
  unsetenv("NNJIT_CACHE_DIR");
  std::filesystem::create_directories(scratch.dir);
  setenv("HOME", scratch.dir.c_str(), 1);
  Compiled d(kModel, trainOptions());
  Compiled e(kModel, trainOptions());
  CHECK(e.cm->times.cacheHit);
  CHECK(modeOf(scratch.dir / ".cache" / "nnjit") == 0700);
  CHECK(modeOf(scratch.dir / ".cache") == 0700);
}

namespace {

/// A file named like an entry (64 hex digits and `.o`), `kib` KiB, last used `age` ago.
std::filesystem::path plantEntry(const std::filesystem::path& dir, char digit, int kib, std::chrono::hours age) {
  std::filesystem::path path = dir / (std::string(64, digit) + ".o");
  std::ofstream(path, std::ios::binary) << std::string(static_cast<size_t>(kib) << 10, 'x');
  ::chmod(path.c_str(), 0600);
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - age);
  return path;
}

} // namespace

TEST_CASE("object cache: the folder keeps under NNJIT_CACHE_MAX_MB, the least recently used entries go first",
          "[cache]") {
  CacheDir cache;
  EnvVar max("NNJIT_CACHE_MAX_MB");
  setenv("NNJIT_CACHE_MAX_MB", "1", 1);
  std::filesystem::create_directories(cache.dir);
  ::chmod(cache.dir.c_str(), 0700);
  auto hours = [](int h) { return std::chrono::hours(h); };
  std::filesystem::path oldest = plantEntry(cache.dir, 'a', 600, hours(30));
  std::filesystem::path older = plantEntry(cache.dir, 'b', 600, hours(20));
  std::filesystem::path recent = plantEntry(cache.dir, 'c', 600, hours(10));
  std::filesystem::path expired = plantEntry(cache.dir, 'd', 1, hours(24 * 31));
  std::filesystem::path other = cache.dir / "notes.txt";  // not an entry: never removed
  std::ofstream(other) << std::string(2 << 20, 'n');
  Compiled c(kModel, trainOptions());  // stores its entries, then looks the folder over
  REQUIRE(c.ok());
  CHECK(std::filesystem::exists(recent));
  CHECK_FALSE(std::filesystem::exists(older));  // with the new entries and the 600 KiB just used, 1 MiB is full
  CHECK_FALSE(std::filesystem::exists(oldest));
  CHECK_FALSE(std::filesystem::exists(expired));  // unused for more than 30 days
  CHECK(std::filesystem::exists(other));
  Compiled again(kModel, trainOptions());
  CHECK(again.cm->times.cacheHit);  // the entries just stored are the newest: kept
}

TEST_CASE("object cache: a hit renews an entry, and the folder is looked over at most every ten minutes",
          "[cache]") {
  CacheDir cache;
  EnvVar max("NNJIT_CACHE_MAX_MB");
  setenv("NNJIT_CACHE_MAX_MB", "1", 1);
  Compiled first(kModel, trainOptions());
  REQUIRE(first.ok());
  std::vector<std::filesystem::path> stored = cache.entries();
  REQUIRE(!stored.empty());
  for (const auto& p : stored) std::filesystem::last_write_time(p, std::filesystem::file_time_type::clock::now() - std::chrono::hours(5));
  Compiled hit(kModel, trainOptions());
  REQUIRE(hit.cm->times.cacheHit);
  auto age = std::filesystem::file_time_type::clock::now() - std::filesystem::last_write_time(stored[0]);
  CHECK(age < std::chrono::minutes(1));  // renewed by the hit

  // Just looked over: a planted entry over the bound stays until ten minutes have passed.
  std::filesystem::path big = plantEntry(cache.dir, 'e', 2048, std::chrono::hours(1));
  Compiled other("param w = 2\nloss = square(w - 1)\noptimizer sgd(lr = 0.1)\n", trainOptions());
  REQUIRE(other.ok());
  CHECK(std::filesystem::exists(big));
  std::filesystem::last_write_time(cache.dir / "last-pruned",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::minutes(11));
  Compiled third("param w = 3\nloss = square(w - 2)\noptimizer sgd(lr = 0.1)\n", trainOptions());
  REQUIRE(third.ok());
  CHECK_FALSE(std::filesystem::exists(big));
  CHECK(std::filesystem::exists(stored[0]));

  // A stamp from the future (a clock set back) does not stop pruning.
  std::filesystem::path bigger = plantEntry(cache.dir, 'f', 2048, std::chrono::hours(1));
  std::filesystem::last_write_time(cache.dir / "last-pruned",
                                   std::filesystem::file_time_type::clock::now() + std::chrono::hours(24));
  Compiled fourth("param w = 4\nloss = square(w - 3)\noptimizer sgd(lr = 0.1)\n", trainOptions());
  REQUIRE(fourth.ok());
  CHECK_FALSE(std::filesystem::exists(bigger));
}

TEST_CASE("object cache: the recipe keying the code names the backend's options as they are in the process", "[cache]") {
  // The schedulers are switched off once per process by setting LLVM's own
  // options; the recipe reads them back, so an entry is never served to a
  // process whose backend would compile differently.
  nnjit::initializeNativeTarget();
  std::string recipe = nnjit::backendRecipe();
  CHECK(recipe.find("always-inline") == 0);
  CHECK(recipe.find("; backend without LSR or machine schedulers") != std::string::npos);
}
