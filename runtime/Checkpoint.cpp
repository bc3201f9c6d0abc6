// Checkpoint: the safetensors file format — a JSON header, then raw little-endian tensors.
#include "Checkpoint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

namespace nnjit {
namespace {

using Json = nlohmann::json;

/// Headers beyond this are refused before allocating for them.
constexpr uint64_t kMaxHeader = 100u << 20;

struct DTypeInfo {
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}};

double halfToDouble(uint16_t h) {
  int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double sign = (h & 0x8000) ? -1 : 1;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(mant + 1024, exp - 25);
}

double decode(const unsigned char* p, const std::string& dtype) {
  if (dtype == "F32") {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (dtype == "F64") {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
  if (dtype == "F16") return halfToDouble(h);
  uint32_t bits = static_cast<uint32_t>(h) << 16;  // BF16 is the top half of a float
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

class HeaderReader {
public:
  HeaderReader(std::string_view data, const std::string& name) : data_(data), name_(name) {}

  Result<NamedTensor> tensor(const std::string& key, const Json& entry) {
    auto bad = [&](std::string why) { return Result<NamedTensor>(fileError(name_, fmt::format("tensor '{}': {}", key, why))); };
    if (!entry.is_object()) return bad("its header entry is not an object");
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) return bad("missing 'dtype'");
    if (shape == entry.end() || !shape->is_array()) return bad("missing 'shape'");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2) return bad("missing 'data_offsets'");
    std::string type = dtype->get<std::string>();
    size_t size = 0;
    for (const DTypeInfo& t : kTypes)
      if (type == t.name) size = t.size;
    if (!size) return bad(fmt::format("unsupported dtype '{}' (expected F32, F64, F16 or BF16)", type));
    NamedTensor t;
    t.name = key;
    uint64_t count = 1;
    for (const Json& d : *shape) {
      if (!d.is_number_unsigned()) return bad("a dim is not a non-negative integer");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && count > (uint64_t(1) << 40) / v) return bad("its shape is too large");
      count *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const Json &begin = (*offsets)[0], &end = (*offsets)[1];
    if (!begin.is_number_unsigned() || !end.is_number_unsigned()) return bad("data_offsets are not integers");
    uint64_t b = begin.get<uint64_t>(), e = end.get<uint64_t>();
    if (e < b || e > data_.size())
      return bad(fmt::format("data_offsets [{}, {}] lie outside the {} bytes of data", b, e, data_.size()));
    if (e - b != count * size)
      return bad(fmt::format("data_offsets cover {} bytes, but shape and dtype need {}", e - b, count * size));
    t.values.resize(count);
    const auto* p = reinterpret_cast<const unsigned char*>(data_.data() + b);
    for (uint64_t i = 0; i < count; ++i) t.values[i] = decode(p + i * size, type);
    return t;
  }

private:
  std::string_view data_;
  const std::string& name_;
};

} // namespace

Result<std::vector<NamedTensor>> parseSafetensors(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 8) return fileError(name, "not a safetensors file: shorter than its 8-byte header size");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > kMaxHeader || n > bytes.size() - 8)
    return fileError(name, fmt::format("not a safetensors file: its header claims {} bytes, but the file has {}", n,
                                       bytes.size() - 8));
  Json header = Json::parse(bytes.substr(8, n), nullptr, false);
  if (header.is_discarded() || !header.is_object())
    return fileError(name, "not a safetensors file: the header is not a JSON object");
  HeaderReader reader(bytes.substr(8 + n), name);
  std::vector<NamedTensor> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    Result<NamedTensor> t = reader.tensor(it.key(), it.value());
    if (!t) return t.errors();
    out.push_back(std::move(*t));
  }
  return out;
}

Result<std::vector<NamedTensor>> readSafetensors(const std::string& path, const std::string& displayName) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fileError(displayName, fmt::format("cannot read file: {}", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parseSafetensors(ss.str(), displayName);
}

namespace {

std::string encode(const std::vector<NamedTensor>& tensors, DType dtype) {
  Json header = Json::object();
  size_t elem = dtypeSize(dtype);
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    uint64_t bytes = t.values.size() * elem;
    header[t.name] = {{"dtype", dtype == DType::F32 ? "F32" : "F64"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "nnjit"}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += text;
  for (const NamedTensor& t : tensors) {
    for (double v : t.values) {
      char bytes[8];
      if (dtype == DType::F32) {
        float f = static_cast<float>(v);
        std::memcpy(bytes, &f, 4);
      } else {
        std::memcpy(bytes, &v, 8);
      }
      out.append(bytes, elem);
    }
  }
  return out;
}

} // namespace

Status writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors, DType dtype) {
  std::string bytes = encode(tensors, dtype);
  std::string tmp = fmt::format("{}.tmp-{}", path, getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return fileError(path, fmt::format("cannot write checkpoint: {}", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  int err = done == bytes.size() ? 0 : errno;
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    std::remove(tmp.c_str());
    return fileError(path, fmt::format("cannot write checkpoint: {}", std::strerror(err ? err : EIO)));
  }
  return Ok{};
}

} // namespace nnjit
