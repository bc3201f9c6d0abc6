// CheckpointTest: safetensors round trips, the atomic write, and a reader that refuses every malformed file.
#include "Checkpoint.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace nnjit;

namespace {

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/nnjit-ckpt-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

/// A safetensors file from a literal JSON header and raw data bytes.
std::string makeFile(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f32Bytes(std::initializer_list<float> values) {
  std::string out;
  for (float f : values) out.append(reinterpret_cast<const char*>(&f), 4);
  return out;
}

/// The single error a parse must produce.
std::string parseError(const std::string& bytes) {
  Result<std::vector<NamedTensor>> r = parseSafetensors(bytes, "w.safetensors");
  REQUIRE_FALSE(r);
  REQUIRE(r.errors().size() == 1);
  return formatDiagnostic(r.errors()[0]);
}

std::vector<NamedTensor> sample() {
  return {{"W", {2, 3}, {1.0, -2.5, 0.1, 1e-30, 3.0e38, -0.0}},
          {"b", {3}, {0.3, 1.0 / 3.0, -7}},
          {"epoch", {}, {12}}};
}

uint64_t bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

} // namespace

TEST_CASE("safetensors: F64 round trip is bit for bit", "[checkpoint]") {
  TempDir dir;
  std::vector<NamedTensor> in = sample();
  REQUIRE(writeSafetensors(dir.file("w.safetensors"), in, DType::F64));
  auto out = readSafetensors(dir.file("w.safetensors"), "w.safetensors");
  REQUIRE(out);
  REQUIRE(out->size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK((*out)[i].name == in[i].name);
    CHECK((*out)[i].shape == in[i].shape);
    REQUIRE((*out)[i].values.size() == in[i].values.size());
    for (size_t j = 0; j < in[i].values.size(); ++j) CHECK(bits((*out)[i].values[j]) == bits(in[i].values[j]));
  }
}

TEST_CASE("safetensors: F32 round trip gives the values rounded to float", "[checkpoint]") {
  TempDir dir;
  std::vector<NamedTensor> in = sample();
  REQUIRE(writeSafetensors(dir.file("w.safetensors"), in, DType::F32));
  auto out = readSafetensors(dir.file("w.safetensors"), "w.safetensors");
  REQUIRE(out);
  REQUIRE(out->size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK((*out)[i].name == in[i].name);
    CHECK((*out)[i].shape == in[i].shape);
    REQUIRE((*out)[i].values.size() == in[i].values.size());
    for (size_t j = 0; j < in[i].values.size(); ++j)
      CHECK(bits((*out)[i].values[j]) == bits(static_cast<double>(static_cast<float>(in[i].values[j]))));
  }
  CHECK((*out)[1].values[1] != 1.0 / 3.0);  // it really went through float
}

TEST_CASE("safetensors: the layout follows the reference format", "[checkpoint]") {
  TempDir dir;
  std::vector<NamedTensor> in = {{"z", {}, {5}}, {"a", {1}, {6}}};  // not alphabetical: order must be kept
  REQUIRE(writeSafetensors(dir.file("w.safetensors"), in, DType::F32));
  std::string bytes = slurp(dir.file("w.safetensors"));
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK((8 + n) % 8 == 0);
  CHECK(bytes.size() == 8 + n + 8);  // two F32 values
  std::string header = bytes.substr(8, n);
  CHECK(header.find(R"("z":{"dtype":"F32","shape":[],"data_offsets":[0,4]})") != std::string::npos);
  CHECK(header.find(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})") != std::string::npos);
  CHECK(header.find("\"z\"") < header.find("\"a\""));
  auto json = nlohmann::json::parse(header);
  CHECK(json["__metadata__"]["format"] == "nnjit");
  float a;
  std::memcpy(&a, bytes.data() + 8 + n + 4, 4);
  CHECK(a == 6.0f);
}

TEST_CASE("safetensors: a scalar has shape [] and one value", "[checkpoint]") {
  auto r = parseSafetensors(makeFile(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", f32Bytes({2.5f})),
                            "s");
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].shape.empty());
  CHECK((*r)[0].values == std::vector<double>{2.5});
}

TEST_CASE("safetensors: an empty tensor and metadata are accepted", "[checkpoint]") {
  auto r = parseSafetensors(
      makeFile(R"({"__metadata__":{"k":"v"},"e":{"dtype":"F64","shape":[0,3],"data_offsets":[0,0]}})", ""), "e");
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].shape == std::vector<int64_t>{0, 3});
  CHECK((*r)[0].values.empty());
}

TEST_CASE("safetensors: F16 and BF16 are converted", "[checkpoint]") {
  // F16: 1, -2, 0.333251953125, the smallest subnormal 2^-24, +inf. BF16: 1, -3, 3.140625.
  std::string f16("\x00\x3C\x00\xC0\x55\x35\x01\x00\x00\x7C", 10);
  std::string bf16("\x80\x3F\x40\xC0\x49\x40", 6);
  auto r = parseSafetensors(makeFile(R"({"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
                                     R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[10,16]}})",
                                     f16 + bf16),
                            "half");
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].values[0] == 1.0);
  CHECK((*r)[0].values[1] == -2.0);
  CHECK((*r)[0].values[2] == 0.333251953125);
  CHECK((*r)[0].values[3] == std::ldexp(1.0, -24));
  CHECK(std::isinf((*r)[0].values[4]));
  CHECK((*r)[1].values == std::vector<double>{1.0, -3.0, 3.140625});
}

TEST_CASE("safetensors: a failed write leaves no temporary and no half file", "[checkpoint]") {
  TempDir dir;
  SECTION("a directory that does not exist") {
    Status s = writeSafetensors(dir.file("missing/w.safetensors"), sample(), DType::F32);
    REQUIRE_FALSE(s);
    CHECK_THAT(s.errors()[0].message, Catch::StartsWith("cannot write file: No such file or directory"));
    CHECK(dir.entries().empty());
  }
  SECTION("a target that is a directory: the rename fails, the temporary is removed") {
    std::filesystem::create_directory(dir.file("w.safetensors"));
    Status s = writeSafetensors(dir.file("w.safetensors"), sample(), DType::F32);
    REQUIRE_FALSE(s);
    CHECK(dir.entries() == std::vector<std::string>{"w.safetensors"});
  }
  SECTION("values that do not fit the shape: the old file is untouched") {
    spit(dir.file("w.safetensors"), "old contents");
    std::vector<NamedTensor> bad = {{"W", {2, 2}, {1, 2, 3}}};
    Status s = writeSafetensors(dir.file("w.safetensors"), bad, DType::F32);
    REQUIRE_FALSE(s);
    CHECK_THAT(s.errors()[0].message, Catch::Contains("'W'"));
    CHECK(slurp(dir.file("w.safetensors")) == "old contents");
    CHECK(dir.entries().size() == 1);
  }
  SECTION("a name that is not UTF-8 is an error, not an exception") {
    std::vector<NamedTensor> bad = {{"\xff", {}, {1}}};
    CHECK_FALSE(writeSafetensors(dir.file("w.safetensors"), bad, DType::F32));
    CHECK(dir.entries().empty());
  }
  SECTION("a duplicate name is refused") {
    std::vector<NamedTensor> bad = {{"a", {}, {1}}, {"a", {}, {2}}};
    CHECK_FALSE(writeSafetensors(dir.file("w.safetensors"), bad, DType::F32));
    CHECK(dir.entries().empty());
  }
}

TEST_CASE("safetensors: a successful write replaces the old file whole", "[checkpoint]") {
  TempDir dir;
  spit(dir.file("w.safetensors"), "old contents");
  REQUIRE(writeSafetensors(dir.file("w.safetensors"), sample(), DType::F64));
  CHECK(dir.entries() == std::vector<std::string>{"w.safetensors"});
  auto r = readSafetensors(dir.file("w.safetensors"), "w");
  REQUIRE(r);
  CHECK(r->size() == 3);
}

TEST_CASE("safetensors: a file that cannot be read says why", "[checkpoint]") {
  TempDir dir;
  auto r = readSafetensors(dir.file("none.safetensors"), "none.safetensors");
  REQUIRE_FALSE(r);
  CHECK(formatDiagnostic(r.errors()[0]) == "none.safetensors: error: cannot read file: No such file or directory\n");
}

TEST_CASE("safetensors: every truncation of a valid file is an error", "[checkpoint]") {
  TempDir dir;
  REQUIRE(writeSafetensors(dir.file("w.safetensors"), sample(), DType::F32));
  std::string bytes = slurp(dir.file("w.safetensors"));
  REQUIRE(parseSafetensors(bytes, "w"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("length " << n);
    CHECK_FALSE(parseSafetensors(std::string_view(bytes).substr(0, n), "w"));
  }
  CHECK_THAT(parseError(bytes.substr(0, 5)), Catch::Contains("shorter than its 8-byte header size"));
}

TEST_CASE("safetensors: garbage is refused without reading out of bounds", "[checkpoint]") {
  CHECK_THAT(parseError("this is not a safetensors file at all"), Catch::StartsWith("w.safetensors: error:"));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(static_cast<size_t>(rng() % 64), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (trial % 2) bytes = makeFile(bytes.substr(0, bytes.size() / 2), bytes.substr(bytes.size() / 2));
    CHECK_FALSE(parseSafetensors(bytes, "g"));
  }
}

TEST_CASE("safetensors: a header size that lies is refused", "[checkpoint]") {
  std::string good = makeFile(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", f32Bytes({1}));
  std::string bigger = good;
  bigger[0] = static_cast<char>(0xff);  // 255 + ... bytes, more than the file has
  CHECK_THAT(parseError(bigger), Catch::Contains("header claims"));
  std::string absurd = good;
  absurd[6] = 1;  // 2^48 bytes
  CHECK_THAT(parseError(absurd), Catch::Contains("header claims"));
  std::string shorter = good;
  shorter[0] = static_cast<char>(shorter[0] - 1);  // cuts the JSON's closing brace
  CHECK_THAT(parseError(shorter), Catch::Contains("not valid JSON"));
}

TEST_CASE("safetensors: malformed headers name the fault and the tensor", "[checkpoint]") {
  std::string data = f32Bytes({1, 2, 3, 4});
  auto error = [&](const std::string& header) { return parseError(makeFile(header, data)); };
  CHECK_THAT(error("[1, 2]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(error("{\"a\": "), Catch::Contains("not valid JSON"));
  CHECK_THAT(error(R"({"a": 3})"), Catch::Contains("tensor 'a': its header entry is not an object"));
  CHECK_THAT(error(R"({"a":{"shape":[1],"data_offsets":[0,4]}})"), Catch::Contains("tensor 'a': 'dtype'"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})"), Catch::Contains("tensor 'a': 'shape'"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[1]}})"), Catch::Contains("tensor 'a': 'data_offsets'"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})"), Catch::Contains("'data_offsets'"));
  CHECK_THAT(error(R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})"), Catch::Contains("'dtype'"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})"), Catch::Contains("'shape'"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"),
             Catch::Contains("other than integers"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"),
             Catch::Contains("tensor 'a': its shape has a negative dimension"));
  CHECK_THAT(error(R"({"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})"),
             Catch::Contains("tensor 'a': unsupported dtype 'I8'"));
  CHECK_THAT(error(R"({"__metadata__":{"k":1}})"), Catch::Contains("'__metadata__' is not a map of strings"));
}

TEST_CASE("safetensors: offsets must fit the data and the shape", "[checkpoint]") {
  std::string data = f32Bytes({1, 2, 3, 4});
  auto error = [&](const std::string& header) { return parseError(makeFile(header, data)); };
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})"),
             Catch::Contains("tensor 'a': data_offsets [12, 20] lie outside the 16 bytes of data"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
             Catch::Contains("tensor 'a': data_offsets [0, 8] cover 8 bytes, but shape [3] of F32 needs 12"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"),
             Catch::Contains("end before they begin"));
  CHECK_THAT(error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})"),
             Catch::Contains("not non-negative integers"));
  CHECK_THAT(error(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}})"),
             Catch::Contains("too many elements"));
  CHECK_THAT(error(R"({"a":{"dtype":"F64","shape":[0,18446744073709551615],"data_offsets":[0,0]}})"),
             Catch::Contains("too many elements"));
}

TEST_CASE("safetensors: overlapping and out-of-order tensors are accepted", "[checkpoint]") {
  auto r = parseSafetensors(makeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                     R"("b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
                                     f32Bytes({1, 2, 3, 4})),
                            "o");
  REQUIRE(r);
  CHECK((*r)[0].values == std::vector<double>{3, 4});
  CHECK((*r)[1].values == std::vector<double>{1, 2, 3});
}

TEST_CASE("safetensors: a name given twice is refused", "[checkpoint]") {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  CHECK(parseError(makeFile(header, f32Bytes({1, 2}))) == "w.safetensors: error: tensor 'a' appears twice in the header\n");
}
