// Helpers shared by the end-to-end tests: JSON log lines, diagnostics, safetensors headers.
#pragma once

#include "Run.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace nnjit::e2e {

/// Parses every non-empty stdout line as one JSON object.
inline std::vector<nlohmann::json> jsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

/// The JSON log lines without their timings, which are all that may differ
/// between runs of one model.
inline std::vector<nlohmann::json> withoutTimes(const std::string& out) {
  std::vector<nlohmann::json> lines = jsonLines(out);
  for (nlohmann::json& line : lines)
    for (const char* key : {"ms", "compile_ms", "train_ms"}) line.erase(key);
  return lines;
}

/// Only the epoch lines (not the `done` line).
inline std::vector<nlohmann::json> epochLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  for (auto& j : jsonLines(out))
    if (j.contains("epoch") && !j.contains("done")) lines.push_back(j);
  return lines;
}

inline std::vector<std::string> textLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

inline bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline bool near(double got, double want, double tol = 1e-5) {
  return std::fabs(got - want) <= tol * std::max(1.0, std::fabs(want));
}

/// Checks that `err` holds a diagnostic `FILE:LINE:COL: error: ...` followed by the
/// source line and a caret under column COL. Returns the diagnostic's line.
inline std::string requireDiagnostic(const std::string& err, const std::string& file, int line, int col,
                                     const std::string& sourceLine) {
  std::string prefix = file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": error: ";
  auto lines = textLines(err);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!startsWith(lines[i], prefix)) continue;
    INFO("diagnostic: " << lines[i]);
    REQUIRE(i + 2 < lines.size() + 0);
    const std::string& src = lines[i + 1];
    const std::string& caret = lines[i + 2];
    size_t at = src.find(sourceLine);
    REQUIRE(at != std::string::npos);
    size_t caretAt = caret.find('^');
    REQUIRE(caretAt != std::string::npos);
    CHECK(caretAt == at + size_t(col - 1));
    return lines[i];
  }
  FAIL("no diagnostic starting with '" << prefix << "' in stderr:\n" << err);
  return {};
}

/// A parsed safetensors file: the JSON header and the raw tensor bytes.
struct SafeTensors {
  nlohmann::json header;
  std::string data;  // bytes after the header

  std::vector<double> values(const std::string& name) const {
    const auto& t = header.at(name);
    std::string dtype = t.at("dtype");
    size_t begin = t.at("data_offsets")[0], end = t.at("data_offsets")[1];
    std::vector<double> out;
    if (dtype == "F32") {
      for (size_t at = begin; at + 4 <= end; at += 4) {
        float f;
        std::memcpy(&f, data.data() + at, 4);
        out.push_back(f);
      }
    } else if (dtype == "F64") {
      for (size_t at = begin; at + 8 <= end; at += 8) {
        double d;
        std::memcpy(&d, data.data() + at, 8);
        out.push_back(d);
      }
    }
    return out;
  }
};

inline SafeTensors parseSafeTensors(const std::string& bytes) {
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  REQUIRE(8 + n <= bytes.size());
  SafeTensors st;
  st.header = nlohmann::json::parse(bytes.substr(8, n));
  st.data = bytes.substr(8 + n);
  for (auto& [name, t] : st.header.items()) {
    if (name == "__metadata__") continue;
    size_t end = t.at("data_offsets")[1];
    CHECK(end <= st.data.size());
  }
  return st;
}

/// The names of the files in `dir`, except the harness's `.stderr`.
inline std::set<std::string> listDir(const std::string& dir) {
  std::set<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n != ".stderr") names.insert(n);
  }
  return names;
}

/// quadratic.nn with a different optimizer line and epoch count.
inline std::string quadratic(const std::string& optimizer, int epochs = 40) {
  return "param w = 5\nloss = square(w + 1)\nmetric w\noptimizer " + optimizer + "\ntrain(epochs = " +
         std::to_string(epochs) + ")\n";
}

/// Debian's Fashion-MNIST folder (dataset-fashion-mnist), without a trailing slash.
inline const std::string kFashionDir = "/usr/share/datasets/fashion-mnist";

/// Whether Fashion-MNIST is installed; a test that needs it warns and returns when not.
inline bool fashionInstalled() {
  if (std::filesystem::exists(kFashionDir + "/train-images-idx3-ubyte.gz")) return true;
  WARN("skipped: " << kFashionDir << " is absent (apt-get install dataset-fashion-mnist)");
  return false;
}

} // namespace nnjit::e2e
