// BenchData: the benchmarks' data (CSV tables, deterministic synthetic rows) and initial params (safetensors).
#include "BenchData.h"

#include "BenchUtil.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace nnjit::bench {

namespace {

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::exit(1);
}

/// The numbers of one CSV line; false when a field is not a number.
bool parseLine(const std::string &line, std::vector<float> &out) {
  out.clear();
  const char *p = line.c_str();
  while (*p) {
    char *end = nullptr;
    float v = std::strtof(p, &end);
    if (end == p) return false;
    out.push_back(v);
    p = end;
    if (*p == ',')
      ++p;
    else if (*p == '\r')
      ++p;
    else if (*p)
      return false;
  }
  return true;
}

} // namespace

Table readCsv(const std::string &path, int features) {
  std::ifstream in(path);
  if (!in) fail("cannot read " + path);
  Table t;
  t.features = features;
  std::string line;
  std::vector<float> fields;
  for (int64_t lineNo = 1; std::getline(in, line); ++lineNo) {
    if (line.empty()) continue;
    if (!parseLine(line, fields)) {
      if (lineNo == 1) continue; // a header
      fail(path + ":" + std::to_string(lineNo) + ": not a row of numbers");
    }
    if (static_cast<int>(fields.size()) != features + 1) fail(path + ":" + std::to_string(lineNo) + ": wrong width");
    t.x.insert(t.x.end(), fields.begin(), fields.end() - 1);
    t.label.push_back(static_cast<int32_t>(fields.back()));
    ++t.rows;
  }
  return t;
}

Table writeSynthetic(const std::string &path, int64_t rows, int features, int classes, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> teacher(static_cast<size_t>(features) * classes);
  for (float &w : teacher)
    w = static_cast<float>(rng.uniform() - 0.5);
  Table t;
  t.rows = rows;
  t.features = features;
  t.x.resize(static_cast<size_t>(rows * features));
  t.label.resize(static_cast<size_t>(rows));
  std::FILE *f = std::fopen(path.c_str(), "w");
  if (!f) fail("cannot write " + path);
  std::vector<char> text(static_cast<size_t>(features) * 6 + 8);
  std::vector<float> score(classes);
  for (int64_t r = 0; r < rows; ++r) {
    char *p = text.data();
    std::fill(score.begin(), score.end(), 0.f);
    for (int j = 0; j < features; ++j) {
      int k = static_cast<int>(rng.below(1000));
      float v = static_cast<float>(k / 1000.0); // what strtof makes of "0.kkk"
      t.x[r * features + j] = v;
      for (int c = 0; c < classes; ++c)
        score[c] += (v - 0.5f) * teacher[j * classes + c];
      p += std::sprintf(p, "0.%03d,", k);
    }
    int32_t label = static_cast<int32_t>(std::max_element(score.begin(), score.end()) - score.begin());
    t.label[r] = label;
    p += std::sprintf(p, "%d\n", label);
    std::fwrite(text.data(), 1, p - text.data(), f);
  }
  if (std::fclose(f) != 0) fail("cannot write " + path);
  return t;
}

void writeSafetensors(const std::string &path, const std::vector<Tensor> &tensors) {
  std::string header = "{";
  size_t offset = 0;
  for (const Tensor &t : tensors) {
    std::string shape;
    for (int64_t d : t.shape)
      shape.append(shape.empty() ? "" : ",").append(std::to_string(d));
    size_t bytes = t.values.size() * sizeof(float);
    header.append(header.size() > 1 ? ",\"" : "\"").append(t.name).append("\":{\"dtype\":\"F32\",\"shape\":[");
    header.append(shape).append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    header.append(std::to_string(offset + bytes)).append("]}");
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size(); // little-endian on every machine this runs on (x86-64)
  out.write(reinterpret_cast<const char *>(&n), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const Tensor &t : tensors)
    out.write(reinterpret_cast<const char *>(t.values.data()), static_cast<std::streamsize>(t.values.size() * 4));
  if (!out) fail("cannot write " + path);
}

std::vector<Tensor> denseInit(const std::vector<int> &widths, uint64_t seed, bool numbered) {
  Rng rng(seed);
  std::vector<Tensor> params;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    int in = widths[l], out = widths[l + 1];
    std::string suffix = numbered ? std::to_string(l + 1) : "";
    Tensor w{"W" + suffix, {in, out}, std::vector<float>(static_cast<size_t>(in) * out)};
    double limit = std::sqrt(6.0 / (in + out));
    for (float &v : w.values)
      v = static_cast<float>((2 * rng.uniform() - 1) * limit);
    params.push_back(std::move(w));
    params.push_back(Tensor{"b" + suffix, {out}, std::vector<float>(out, 0.f)});
  }
  return params;
}

} // namespace nnjit::bench
