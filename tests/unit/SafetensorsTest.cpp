// SafetensorsTest: the checkpoint format — round trips, atomic writes, and hostile files that must not crash.
#include "Checkpoint.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace nnjit;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the temp directory, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("nnjit_sttest_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

/// A file made of the 8-byte size, `header` and `data`.
std::string fileOf(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::string floats(std::initializer_list<float> values) {
  std::string out;
  for (float f : values) {
    char b[4];
    std::memcpy(b, &f, 4);
    out.append(b, 4);
  }
  return out;
}

std::string u16s(std::initializer_list<uint16_t> values) {
  std::string out;
  for (uint16_t v : values) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  }
  return out;
}

std::string messages(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const Diagnostic& d : errors) out += d.file + ": " + d.message + "\n";
  return out;
}

/// Parsing must fail with a whole-file diagnostic naming the file; returns its message.
std::string expectBad(const std::string& bytes) {
  auto r = parseSafetensors(bytes, "ck.safetensors");
  INFO(messages(r.errors()));
  REQUIRE_FALSE(r);
  REQUIRE_FALSE(r.errors().empty());
  CHECK(r.errors()[0].file == "ck.safetensors");
  CHECK(r.errors()[0].line == 0);
  CHECK_FALSE(r.errors()[0].message.empty());
  return r.errors()[0].message;
}

std::vector<NamedTensor> sample() {
  return {
      {"W", {2, 3}, {0.1, -2.5, 3.0, 1e-8, 123456.789, -0.0}},
      {"b", {3}, {1.0 / 3.0, 2.0 / 3.0, -7.25}},
      {"s", {}, {42.125}},
      {"adam.m.W", {2, 3}, {1, 2, 3, 4, 5, 6}},
      {"empty", {0}, {}},
  };
}

} // namespace

TEST_CASE("safetensors file: F64 round trip is exact", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  auto in = sample();
  Status s = writeSafetensors(path, in, DType::F64);
  INFO(messages(s.errors()));
  REQUIRE(s);
  auto out = readSafetensors(path, "a.safetensors");
  INFO(messages(out.errors()));
  REQUIRE(out);
  REQUIRE(out->size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK((*out)[i].name == in[i].name);
    CHECK((*out)[i].shape == in[i].shape);
    CHECK((*out)[i].values == in[i].values);
  }
}

TEST_CASE("safetensors file: F32 round trip equals the values rounded to float", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  auto in = sample();
  REQUIRE(writeSafetensors(path, in, DType::F32));
  auto out = readSafetensors(path, "a.safetensors");
  REQUIRE(out);
  REQUIRE(out->size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK((*out)[i].name == in[i].name);
    CHECK((*out)[i].shape == in[i].shape);
    std::vector<double> rounded;
    for (double v : in[i].values) rounded.push_back(static_cast<float>(v));
    CHECK((*out)[i].values == rounded);
  }
  // The file holds F32 entries with 4 bytes per element.
  std::string bytes = readAll(path);
  CHECK(bytes.find("\"F32\"") != std::string::npos);
  CHECK(bytes.find("\"F64\"") == std::string::npos);
}

TEST_CASE("safetensors file: a scalar has shape [] in the header", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("s.safetensors");
  REQUIRE(writeSafetensors(path, {{"epoch", {}, {7}}}, DType::F32));
  std::string bytes = readAll(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  std::string header = bytes.substr(8, n);
  CHECK(header.find("\"shape\":[]") != std::string::npos);
  CHECK(bytes.size() == 8 + n + 4);
  auto out = readSafetensors(path, "s");
  REQUIRE(out);
  REQUIRE(out->size() == 1);
  CHECK((*out)[0].shape.empty());
  CHECK((*out)[0].values == std::vector<double>{7});
}

TEST_CASE("safetensors file: tensor data starts 8-byte aligned", "[safetensors]") {
  TempDir dir;
  // Names of different lengths move the header size through every residue mod 8.
  for (int len = 1; len <= 9; ++len) {
    std::string path = dir.file("al.safetensors");
    REQUIRE(writeSafetensors(path, {{std::string(len, 'n'), {1}, {1.5}}}, DType::F32));
    std::string bytes = readAll(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    INFO("name length " << len << ", header " << n);
    CHECK((8 + n) % 8 == 0);
    CHECK(bytes.size() == 8 + n + 4);
    REQUIRE(readSafetensors(path, "al"));
  }
}

TEST_CASE("safetensors file: writing into a missing directory fails and leaves nothing", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("missing/sub/a.safetensors");
  Status s = writeSafetensors(path, sample(), DType::F32);
  REQUIRE_FALSE(s);
  REQUIRE(s.errors().size() == 1);
  CHECK(s.errors()[0].file == path);
  CHECK_FALSE(fs::exists(dir.path / "missing"));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("safetensors file: overwriting replaces the whole file and leaves no temporary", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  // A large file first, then a small one: no tail of the old file may remain.
  std::vector<double> big(1000, 3.5);
  REQUIRE(writeSafetensors(path, {{"big", {1000}, big}, {"other", {2}, {1, 2}}}, DType::F64));
  uintmax_t bigSize = fs::file_size(path);
  REQUIRE(writeSafetensors(path, {{"small", {2}, {9, 8}}}, DType::F32));
  CHECK(fs::file_size(path) < bigSize);
  auto out = readSafetensors(path, "a");
  REQUIRE(out);
  REQUIRE(out->size() == 1);
  CHECK((*out)[0].name == "small");
  CHECK((*out)[0].values == std::vector<double>{9, 8});
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("safetensors file: a write that fails keeps the old file", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  REQUIRE(writeSafetensors(path, {{"w", {2}, {1, 2}}}, DType::F32));
  std::string before = readAll(path);
  // Bad: 3 values for shape [2].
  Status s = writeSafetensors(path, {{"w", {2}, {1, 2, 3}}}, DType::F32);
  REQUIRE_FALSE(s);
  CHECK(readAll(path) == before);
  // Bad: the same name twice.
  CHECK_FALSE(writeSafetensors(path, {{"w", {1}, {1}}, {"w", {1}, {2}}}, DType::F32));
  CHECK(readAll(path) == before);
}

TEST_CASE("safetensors file: reading a missing file is an error naming it", "[safetensors]") {
  auto r = readSafetensors("/nonexistent/x.safetensors", "x.safetensors");
  REQUIRE_FALSE(r);
  REQUIRE(r.errors().size() == 1);
  CHECK(r.errors()[0].file == "x.safetensors");
}

TEST_CASE("safetensors file: a hand-built file parses", "[safetensors]") {
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})";
  auto r = parseSafetensors(fileOf(header, floats({1.5f, -2.0f})), "ck.safetensors");
  INFO(messages(r.errors()));
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].name == "a");
  CHECK((*r)[0].values == std::vector<double>{1.5, -2.0});
}

TEST_CASE("safetensors file: truncated files", "[safetensors]") {
  SECTION("empty") { expectBad(""); }
  SECTION("fewer than 8 bytes") { expectBad(std::string("\x10\x00\x00", 3)); }
  SECTION("7 bytes") { expectBad(std::string(7, '\0')); }
  SECTION("header longer than the file") {
    std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::string whole = fileOf(header, floats({1}));
    expectBad(whole.substr(0, 8 + header.size() / 2));
  }
  SECTION("data cut short") {
    std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    expectBad(fileOf(header, floats({1, 2, 3})));
  }
}

TEST_CASE("safetensors file: garbage bytes", "[safetensors]") {
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 256; ++i) {
    x = x * 1103515245u + 12345u;
    garbage += static_cast<char>(x >> 24);
  }
  expectBad(garbage);
  // Every prefix, too: none may crash or read out of bounds.
  for (size_t n = 0; n < garbage.size(); n += 7) CHECK_FALSE(parseSafetensors(garbage.substr(0, n), "g"));
}

TEST_CASE("safetensors file: header that is not JSON or not an object", "[safetensors]") {
  SECTION("not JSON") { expectBad(fileOf("{not json at all", "")); }
  SECTION("a JSON array") { expectBad(fileOf("[1, 2, 3]", "")); }
  SECTION("an entry that is not an object") { expectBad(fileOf(R"({"a": 5})", "")); }
  SECTION("missing dtype") { expectBad(fileOf(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", floats({1}))); }
  SECTION("missing offsets") { expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1]}})", floats({1}))); }
  SECTION("offsets not a pair") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", floats({1})));
  }
  SECTION("a shape of strings") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", floats({1})));
  }
}

TEST_CASE("safetensors file: a header size that lies", "[safetensors]") {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string body = header + floats({1});
  SECTION("huge") { expectBad(le64(~uint64_t(0)) + body); }
  SECTION("just past the end") { expectBad(le64(body.size() + 1) + body); }
  SECTION("shorter than the JSON") { expectBad(le64(header.size() - 3) + body); }
  SECTION("2^63") { expectBad(le64(uint64_t(1) << 63) + body); }
}

TEST_CASE("safetensors file: offsets out of range or not matching shape and dtype", "[safetensors]") {
  SECTION("end past the data") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1})));
  }
  SECTION("begin past the data") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}})", floats({1})));
  }
  SECTION("end before begin") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", floats({1})));
  }
  SECTION("huge offsets that would wrap") {
    expectBad(fileOf(
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}})",
        floats({1})));
  }
  SECTION("negative offsets") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", floats({1})));
  }
  SECTION("too few bytes for the shape") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2, 3})));
  }
  SECTION("too many bytes for the shape") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", floats({1, 2})));
  }
  SECTION("bytes for F32 but dtype F64") {
    expectBad(fileOf(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", floats({1, 2})));
  }
  SECTION("a shape whose element count overflows") {
    expectBad(fileOf(
        R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", floats({1})));
  }
}

TEST_CASE("safetensors file: unknown dtype and negative dims", "[safetensors]") {
  SECTION("I32") {
    std::string m = expectBad(fileOf(R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", floats({1})));
    CHECK(m.find("I32") != std::string::npos);
  }
  SECTION("lower-case f32") {
    expectBad(fileOf(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", floats({1})));
  }
  SECTION("negative dim") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floats({1})));
  }
  SECTION("negative dims whose product is positive") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[-1,-1],"data_offsets":[0,4]}})", floats({1})));
  }
  SECTION("fractional dim") {
    expectBad(fileOf(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", floats({1})));
  }
}

TEST_CASE("safetensors file: a name twice in the header", "[safetensors]") {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  std::string m = expectBad(fileOf(header, floats({1, 2})));
  CHECK(m.find("'a'") != std::string::npos);
}

TEST_CASE("safetensors file: F16 and BF16 tensors are converted", "[safetensors]") {
  // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, 65504 = 0x7BFF, smallest subnormal 0x0001 = 2^-24, 0 = 0x0000.
  // BF16: top half of the float32: 1.0 = 0x3F80, -2.0 = 0xC000, 3.140625 = 0x4049, 1e-3ish 0x3A83.
  std::string header = R"({"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
                       R"("bf":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]}})";
  std::string data = u16s({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000}) + u16s({0x3F80, 0xC000, 0x4049, 0x3A83});
  auto r = parseSafetensors(fileOf(header, data), "ck.safetensors");
  INFO(messages(r.errors()));
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].name == "h");
  CHECK((*r)[0].shape == std::vector<int64_t>{2, 3});
  REQUIRE((*r)[0].values.size() == 6);
  CHECK((*r)[0].values[0] == 1.0);
  CHECK((*r)[0].values[1] == -2.0);
  CHECK((*r)[0].values[2] == 0.5);
  CHECK((*r)[0].values[3] == 65504.0);
  CHECK((*r)[0].values[4] == std::ldexp(1.0, -24));
  CHECK((*r)[0].values[5] == 0.0);
  CHECK(std::signbit((*r)[0].values[5]));
  CHECK((*r)[1].name == "bf");
  CHECK((*r)[1].shape == std::vector<int64_t>{4});
  uint32_t bits = 0x3A830000u;
  float small;
  std::memcpy(&small, &bits, 4);
  CHECK((*r)[1].values == std::vector<double>{1.0, -2.0, 3.140625, static_cast<double>(small)});
}

TEST_CASE("safetensors file: unaligned data offsets are read correctly", "[safetensors]") {
  // The second tensor starts at byte 2: a reader must not assume alignment.
  std::string header = R"({"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
                       R"("f":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  auto r = parseSafetensors(fileOf(header, u16s({0x3C00}) + floats({0.25f, -8.0f})), "ck");
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[1].values == std::vector<double>{0.25, -8.0});
}

// ---- writing: symbolic links, exclusive temporaries, leftovers of killed runs, checks before a run ----

#include "AtomicFile.h"

#include <sys/stat.h>
#include <sys/wait.h>

namespace {

std::vector<NamedTensor> oneScalar(double v) { return {{"w", {}, {v}}}; }

/// A process id that is no longer running: a child that has exited and been reaped.
pid_t deadPid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

} // namespace

TEST_CASE("safetensors write: a symbolic link is followed, and stays a link", "[safetensors][write]") {
  TempDir dir;
  fs::create_directories(dir.path / "real");
  fs::create_symlink("real/ck.safetensors", dir.path / "ck.safetensors");  // dangling until the first save
  REQUIRE(writeSafetensors(dir.file("ck.safetensors"), oneScalar(1), DType::F32));
  CHECK(fs::is_symlink(dir.path / "ck.safetensors"));
  REQUIRE(writeSafetensors(dir.file("ck.safetensors"), oneScalar(2), DType::F32));
  CHECK(fs::is_symlink(dir.path / "ck.safetensors"));
  auto back = readSafetensors(dir.file("real/ck.safetensors"), "ck");
  REQUIRE(back);
  CHECK((*back)[0].values[0] == 2);
}

TEST_CASE("safetensors write: a temporary's name that exists is never written through", "[safetensors][write]") {
  TempDir dir;
  std::string victim = dir.file("victim");
  std::ofstream(victim) << "precious";
  // The names a save could pick for its temporary, planted as links to another file.
  std::string target = dir.file("ck.safetensors");
  fs::create_symlink(victim, target + ".tmp-" + std::to_string(::getpid()));
  for (int i = 0; i < 400; ++i) fs::create_symlink(victim, target + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(i));
  (void)writeSafetensors(target, oneScalar(1), DType::F32);
  CHECK(readAll(victim) == "precious");
}

TEST_CASE("safetensors write: temporaries a killed save left behind are removed", "[safetensors][write]") {
  TempDir dir;
  std::string target = dir.file("ck.safetensors");
  std::string stale = target + ".tmp-" + std::to_string(deadPid()), staleNew = stale + "-3";
  std::string alive = target + ".tmp-" + std::to_string(::getppid());  // a running process's: left alone
  std::string other = dir.file("other.safetensors.tmp-" + std::to_string(deadPid()));  // another file's: left alone
  for (const std::string& f : {stale, staleNew, alive, other}) std::ofstream(f) << "half a checkpoint";
  REQUIRE(writeSafetensors(target, oneScalar(1), DType::F32));
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(staleNew));
  CHECK(fs::exists(alive));
  CHECK(fs::exists(other));
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.insert(e.path().filename().string());
  CHECK(names.size() == 3);  // the checkpoint, and the two left alone: no temporary of this save
}

TEST_CASE("safetensors write: checkWritable finds an unusable path before any work", "[safetensors][write]") {
  TempDir dir;
  CHECK(checkWritable(dir.file("new.safetensors")));
  auto message = [](const Status& s) { return s ? std::string() : s.errors()[0].message; };
  Status missing = checkWritable(dir.file("nodir/ck.safetensors"));
  CHECK(message(missing).find("does not exist") != std::string::npos);
  std::ofstream(dir.file("file")) << "x";
  CHECK(message(checkWritable(dir.file("file/ck.safetensors"))).find("not a folder") != std::string::npos);
  CHECK(message(checkWritable(dir.path.string())).find("Is a directory") != std::string::npos);
  CHECK(message(checkWritable("")).find("empty") != std::string::npos);
}
