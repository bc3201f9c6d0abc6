// IdxTest: IDX data files, raw and gzip-compressed, bound to a model's inputs, and every bad file's diagnostic.
#include "IdxDataset.h"
#include "IdxFiles.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace nnjit;
using namespace nnjit::testing;

namespace {

/// Files in a fresh temp folder, removed with it.
struct Folder {
  std::filesystem::path dir;
  Folder() {
    dir = std::filesystem::temp_directory_path() / ("nnjit_idxtest_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }
  ~Folder() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  DataSource write(const std::string& name, const std::string& bytes) const {
    std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return {path, name};
  }
};

/// x[batch, 2, 2] (4 values a row) then label[batch] : class(3).
std::vector<InputColumns> imagesAndLabels() { return {{"x", 4, 0}, {"label", 1, 3}}; }

const std::vector<uint8_t> kPixels = {0, 1, 2, 255, 10, 20, 30, 40, 7, 7, 7, 7};
const std::vector<uint8_t> kLabels = {2, 0, 1};

Result<Dataset> load(const std::vector<DataSource>& files, const std::vector<InputColumns>& inputs,
                     DType dtype = DType::F32) {
  std::vector<bool> bound;
  return loadIdx(files, inputs, std::vector<bool>(inputs.size(), true), dtype, "m.nn", bound);
}

std::string messages(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const Diagnostic& d : errors) out += d.file + ": " + d.message + "\n";
  return out;
}

/// Exactly one error, about the whole of `file`, containing every part.
template <class T>
void expectError(const Result<T>& r, const std::string& file, std::initializer_list<std::string> parts) {
  REQUIRE_FALSE(r);
  INFO(messages(r.errors()));
  REQUIRE(r.errors().size() == 1);
  CHECK(r.errors()[0].file == file);
  CHECK(r.errors()[0].line == 0);
  for (const std::string& p : parts) CHECK(r.errors()[0].message.find(p) != std::string::npos);
}

void expectImagesAndLabels(const Result<Dataset>& r) {
  INFO(messages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 3);
  REQUIRE(r->columns.size() == 2);
  CHECK(r->columns[0] == std::vector<double>(kPixels.begin(), kPixels.end()));
  CHECK(r->columns[1] == std::vector<double>{2, 0, 1});
  CHECK(r->columns[0].dtype() == DType::F32);  // kept in the model's dtype
}

} // namespace

TEST_CASE("idx: raw images and labels bind x and a class input", "[idx]") {
  Folder f;
  DataSource images = f.write("images", idxUbyte({3, 2, 2}, kPixels));
  DataSource labels = f.write("labels", idxUbyte({3}, kLabels));
  Result<DataFormat> format = dataFormat({images, labels});
  REQUIRE(format);
  CHECK(*format == DataFormat::Idx);
  expectImagesAndLabels(load({images, labels}, imagesAndLabels()));
  // Each file finds its input whatever the order of the list.
  expectImagesAndLabels(load({labels, images}, imagesAndLabels()));
}

TEST_CASE("idx: gzip-compressed files load alike, told by their magic and not their name", "[idx]") {
  Folder f;
  DataSource images = f.write("images.idx", gzipped(idxUbyte({3, 2, 2}, kPixels)));
  DataSource labels = f.write("labels.csv", gzipped(idxUbyte({3}, kLabels)));
  Result<DataFormat> format = dataFormat({images});
  REQUIRE(format);
  CHECK(*format == DataFormat::Idx);
  expectImagesAndLabels(load({images, labels}, imagesAndLabels()));
}

TEST_CASE("idx: a large gzip file streams in chunks", "[idx]") {
  Folder f;
  std::vector<uint8_t> pixels(3000 * 784);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 31 % 251);
  DataSource images = f.write("big.gz", gzipped(idxUbyte({3000, 28, 28}, pixels)));
  Result<Dataset> r = load({images}, {{"x", 784, 0}});
  INFO(messages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 3000);
  CHECK(r->columns[0] == std::vector<double>(pixels.begin(), pixels.end()));
}

TEST_CASE("idx: every element type, big-endian", "[idx]") {
  Folder f;
  struct Case {
    uint8_t type;
    std::string payload;
    std::vector<double> want;
  };
  std::vector<Case> cases = {
      {0x09, std::string{'\x7F', '\x80', '\xFF', '\0'}, {127, -128, -1, 0}},
      {0x0B, bigEndian<int16_t>({-300, 0, 32767, 1}), {-300, 0, 32767, 1}},
      {0x0C, bigEndian<int32_t>({-70000, 5, 2147483647, -1}), {-70000, 5, 2147483647, -1}},
      {0x0D, bigEndian<float>({0.5f, -1.25f, 3e10f, 0}), {0.5, -1.25, double(3e10f), 0}},
      {0x0E, bigEndian<double>({0.1, -2, 1e300, 0}), {0.1, -2, 1e300, 0}},
  };
  for (const Case& c : cases) {
    INFO("type " << int(c.type));
    DataSource file = f.write("t", idxBytes(c.type, {2, 2}, c.payload));
    Result<Dataset> r = load({file}, {{"x", 2, 0}}, DType::F64);
    INFO(messages(r.errors()));
    REQUIRE(r);
    CHECK(r->columns[0] == c.want);
  }
  // A one-dim file of integers binds a class input; one of floats a float input.
  DataSource shorts = f.write("s", idxBytes(0x0B, {2}, bigEndian<int16_t>({1, 0})));
  DataSource floats = f.write("f", idxBytes(0x0D, {2}, bigEndian<float>({0.5f, 2})));
  Result<Dataset> r = load({floats, shorts}, {{"label", 1, 2}, {"y", 1, 0}});
  INFO(messages(r.errors()));
  REQUIRE(r);
  CHECK(r->columns[0] == std::vector<double>{1, 0});
  CHECK(r->columns[1] == std::vector<double>{0.5, 2});
}

TEST_CASE("idx: an input the output does not read may stay unbound when not required", "[idx]") {
  Folder f;
  DataSource images = f.write("images", idxUbyte({3, 2, 2}, kPixels));
  std::vector<bool> bound;
  Result<Dataset> r = loadIdx({images}, imagesAndLabels(), {true, false}, DType::F32, "m.nn", bound);
  INFO(messages(r.errors()));
  REQUIRE(r);
  CHECK(bound == std::vector<bool>{true, false});
  REQUIRE(r->columns.size() == 1);
  CHECK(r->columns[0].size() == 12);
}

TEST_CASE("idx: a single CSV file stays CSV, a list must be all IDX", "[idx]") {
  Folder f;
  DataSource csv = f.write("d.csv", "1,2,0\n");
  DataSource images = f.write("images", idxUbyte({3, 2, 2}, kPixels));
  Result<DataFormat> one = dataFormat({csv});
  REQUIRE(one);
  CHECK(*one == DataFormat::Csv);
  expectError(dataFormat({images, csv}), "d.csv", {"not an IDX file (it starts 31 2C 32 2C", "IDX files only"});
  expectError(dataFormat({f.write("z", std::string(8, '\0')), images}), "z", {"not an IDX file"});
  expectError(dataFormat({f.write("c.gz", gzipped("a,b\n1,2\n"))}), "c.gz",
              {"gzip-compressed, but not IDX data (its data starts 61 2C 62 0A", "CSV files uncompressed"});
  expectError(dataFormat({{(f.dir / "missing").string(), "missing"}}), "missing",
              {"cannot read file: No such file or directory"});
}

TEST_CASE("idx: bad files are diagnostics naming the file", "[idx]") {
  Folder f;
  std::string images = idxUbyte({3, 2, 2}, kPixels), labels = idxUbyte({3}, kLabels);
  auto only = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
    expectError(load({f.write("bad", bytes), f.write("labels", labels)}, imagesAndLabels()), "bad", parts);
  };
  only(std::string{'\0', '\0', '\x05', '\x01'} + std::string(4, '\0'), {"unsupported IDX element type 0x05"});
  only(images.substr(0, 10), {"truncated: the IDX header has 3 dims, but the data ends inside them"});
  only(images.substr(0, images.size() - 1),
       {"truncated: the header declares 3 items of 2x2 = 4 values (12 bytes of data), but the data ends after 11 bytes"});
  only(images + "x", {"more data follows the 3 items its header declares"});
  std::string gz = gzipped(images);
  only(gz.substr(0, gz.size() / 2), {"truncated gzip stream: "});
  std::vector<uint8_t> noise(200 * 784);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  std::string bigGz = gzipped(idxUbyte({200, 28, 28}, noise));
  expectError(load({f.write("cut", bigGz.substr(0, bigGz.size() / 2))}, {{"x", 784, 0}}), "cut",
              {"truncated gzip stream: the header declares 200 items of 28x28 = 784 values (156800 bytes of data), "
               "but the data ends after "});
  only(gz.substr(0, gz.size() - 4), {"truncated gzip stream: it ends without its checksum"});
  std::string badCrc = gz;
  badCrc[badCrc.size() - 6] ^= 0x55;
  only(badCrc, {"corrupt gzip stream: incorrect data check"});
  only(idxUbyte({0, 2, 2}, {}), {"no items"});
  only(idxBytes(0x08, {65536, 65536, 2}, ""), {"more than the 2147483647 values"});
}

TEST_CASE("idx: files that disagree with each other or with the model", "[idx]") {
  Folder f;
  DataSource images = f.write("images", idxUbyte({3, 2, 2}, kPixels));
  expectError(load({images, f.write("labels", idxUbyte({2}, {0, 1}))}, imagesAndLabels()), "labels",
              {"2 items, but images has 3"});
  expectError(load({images, f.write("labels", idxUbyte({3}, {0, 1, 3}))}, imagesAndLabels()), "labels",
              {"item 3: label 3 is not in 0..2 (input 'label' is class(3))"});
  expectError(load({f.write("wide", idxUbyte({3, 3}, std::vector<uint8_t>(9))), images}, imagesAndLabels()), "wide",
              {"its items of 3 values fit no input (the unbound inputs are 'x' (4 values a row), 'label' (class(3)))"});
  expectError(load({images, images}, imagesAndLabels()), "images", {"fit no input", "'label' (class(3))"});
  expectError(load({images}, imagesAndLabels()), "m.nn",
              {"input 'label' (class(3)) is fed by none of the data files (images)"});
  DataSource huge = f.write("huge", idxBytes(0x0E, {1, 1}, bigEndian<double>({1e39})));
  expectError(load({huge}, {{"x", 1, 0}}), "huge", {"item 1: 1e+39 is not a finite float32 number"});
  CHECK(load({huge}, {{"x", 1, 0}}, DType::F64));
}

TEST_CASE("idx: every seed of FuzzIdx's corpus loads or is refused with a diagnostic", "[idx][fuzz-corpus]") {
  std::filesystem::path dir = std::filesystem::path(NNJIT_SOURCE_DIR) / "tests/fuzz/corpus/idx";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++seeds;
    INFO(entry.path().filename().string());
    std::vector<DataSource> files = {{entry.path().string(), "fuzz.idx"}};
    std::vector<bool> bound;
    Result<Dataset> r = loadIdx(files, imagesAndLabels(), {false, false}, DType::F32, "fuzz.nn", bound);
    CHECK((r || !r.errors().empty()));
  }
  CHECK(seeds >= 5);
}
