// ObjectCacheTest: compiled native code is reused from disk, and a damaged entry is only a miss.
#include "TestSupport.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
  }
  std::vector<std::filesystem::path> entries() const {
    std::vector<std::filesystem::path> out;
    if (std::filesystem::exists(dir))
      for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path());
    return out;
  }
};

double trainedW(Compiled& c) {
  c.session->initParams(0);
  for (int step = 1; step <= 3; ++step) {
    c.session->setScalar(c.cm->stepSlot, step);
    c.session->run(c.cm->trainStep, 1);
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
  CHECK(cache.entries().size() == 3);
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
