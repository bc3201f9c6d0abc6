// Checkpoint: the safetensors file format — a JSON header, then raw little-endian tensors.
#include "Checkpoint.h"

#include "FileIO.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

// ordered_json keeps the file's tensor order, and writes ours in the caller's order.
using Json = nlohmann::ordered_json;

/// Headers beyond this are refused before allocating for them (the reference does the same).
constexpr uint64_t kMaxHeader = 100u << 20;

enum class FileType { F32, F64, F16, BF16 };

struct FileTypeInfo {
  const char* name;
  FileType type;
  uint64_t size;
};
constexpr FileTypeInfo kFileTypes[] = {
    {"F32", FileType::F32, 4}, {"F64", FileType::F64, 8}, {"F16", FileType::F16, 2}, {"BF16", FileType::BF16, 2}};

double halfToDouble(uint16_t h) {
  int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double sign = (h & 0x8000) ? -1 : 1;
  if (exp == 0) return sign * std::ldexp(mant, -24);  // subnormal
  if (exp == 31) return mant ? std::nan("") : sign * INFINITY;
  return sign * std::ldexp(mant + 1024, exp - 25);
}

/// One little-endian element; memcpy because offsets need not be aligned.
double decode(const unsigned char* p, FileType type) {
  switch (type) {
  case FileType::F32: {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  case FileType::F64: {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  case FileType::F16: return halfToDouble(static_cast<uint16_t>(p[0] | (p[1] << 8)));
  case FileType::BF16: {
    uint32_t bits = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;  // the top half of a float
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  }
  return 0;
}

/// Turns one header entry into a tensor, checking it against the data buffer.
class EntryReader {
public:
  EntryReader(std::string_view data, const std::string& file) : data_(data), file_(file) {}

  Result<NamedTensor> read(const std::string& name, const Json& entry) {
    name_ = &name;
    if (!entry.is_object()) return bad("its header entry is not an object");
    auto dtype = entry.find("dtype"), shape = entry.find("shape"), offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) return bad("'dtype' is missing or not a string");
    if (shape == entry.end() || !shape->is_array()) return bad("'shape' is missing or not an array");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2)
      return bad("'data_offsets' is missing or not a pair [begin, end]");
    const FileTypeInfo* info = findType(dtype->get<std::string>());
    if (!info)
      return bad(fmt::format("unsupported dtype '{}' (expected F32, F64, F16 or BF16)", dtype->get<std::string>()));
    NamedTensor t;
    t.name = name;
    uint64_t count = 1;
    if (Status s = readShape(*shape, t.shape, count); !s) return s.errors();
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(count, info->size, &bytes)) return bad("its shape has too many elements");
    uint64_t begin = 0, end = 0;
    if (Status s = readOffsets(*offsets, begin, end); !s) return s.errors();
    if (end - begin != bytes)
      return bad(fmt::format("data_offsets [{}, {}] cover {} bytes, but shape [{}] of {} needs {}", begin, end,
                             end - begin, fmt::join(t.shape, ", "), info->name, bytes));
    t.values.resize(count);
    const auto* p = reinterpret_cast<const unsigned char*>(data_.data() + begin);
    for (uint64_t i = 0; i < count; ++i) t.values[i] = decode(p + i * info->size, info->type);
    return t;
  }

private:
  Diagnostic bad(const std::string& why) const { return fileError(file_, fmt::format("tensor '{}': {}", *name_, why)); }

  static const FileTypeInfo* findType(const std::string& name) {
    for (const FileTypeInfo& t : kFileTypes)
      if (name == t.name) return &t;
    return nullptr;
  }

  Status readShape(const Json& shape, std::vector<int64_t>& dims, uint64_t& count) const {
    for (const Json& d : shape) {
      if (d.is_number_integer() && !d.is_number_unsigned()) return bad("its shape has a negative dimension");
      if (!d.is_number_unsigned()) return bad("its shape holds something other than integers");
      uint64_t v = d.get<uint64_t>();
      // Dims must fit int64_t; the product is checked so a lying header cannot wrap around.
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(count, v, &count))
        return bad("its shape has too many elements");
      dims.push_back(static_cast<int64_t>(v));
    }
    return Ok{};
  }

  Status readOffsets(const Json& offsets, uint64_t& begin, uint64_t& end) const {
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      return bad("data_offsets are not non-negative integers");
    begin = offsets[0].get<uint64_t>();
    end = offsets[1].get<uint64_t>();
    if (end < begin) return bad(fmt::format("data_offsets [{}, {}] end before they begin", begin, end));
    if (end > data_.size())
      return bad(fmt::format("data_offsets [{}, {}] lie outside the {} bytes of data", begin, end, data_.size()));
    return Ok{};
  }

  std::string_view data_;
  const std::string& file_;
  const std::string* name_ = nullptr;
};

bool isStringMap(const Json& j) {
  if (!j.is_object()) return false;
  for (const auto& [key, value] : j.items())
    if (!value.is_string()) return false;
  return true;
}

/// Parses the JSON header, noting a repeated top-level name (JSON objects would silently keep the last).
Json parseHeader(std::string_view text, std::string& duplicate) {
  std::set<std::string> seen;
  Json::parser_callback_t noteKeys = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  return Json::parse(text, noteKeys, /*allow_exceptions=*/false);
}


} // namespace

Result<std::vector<NamedTensor>> parseSafetensors(std::string_view bytes, const std::string& name) {
  auto notSafetensors = [&](const std::string& why) { return fileError(name, "not a safetensors file: " + why); };
  if (bytes.size() < 8) return notSafetensors("shorter than its 8-byte header size");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > kMaxHeader || n > bytes.size() - 8)
    return notSafetensors(fmt::format("its header claims {} bytes, but the file has {} after the size", n,
                                      bytes.size() - 8));
  std::string duplicate;
  Json header = parseHeader(bytes.substr(8, n), duplicate);
  if (header.is_discarded()) return notSafetensors("the header is not valid JSON");
  if (!header.is_object()) return notSafetensors("the header is not a JSON object");
  if (!duplicate.empty()) return fileError(name, fmt::format("tensor '{}' appears twice in the header", duplicate));
  EntryReader reader(bytes.substr(8 + n), name);
  std::vector<NamedTensor> out;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!isStringMap(value)) return fileError(name, "'__metadata__' is not a map of strings");
      continue;
    }
    Result<NamedTensor> t = reader.read(key, value);
    if (!t) return t.errors();
    out.push_back(std::move(*t));
  }
  return out;
}

Result<std::vector<NamedTensor>> readSafetensors(const std::string& path, const std::string& displayName) {
  Result<std::string> bytes = readFile(path, displayName);
  if (!bytes) return bytes.errors();
  return parseSafetensors(*bytes, displayName);
}

namespace {

Result<std::string> encodeHeader(const std::vector<NamedTensor>& tensors, DType dtype, const std::string& path) {
  Json header = Json::object();
  uint64_t offset = 0, elem = dtypeSize(dtype);
  for (const NamedTensor& t : tensors) {
    uint64_t count = 1;
    bool valid = true;
    for (int64_t d : t.shape) valid = valid && d >= 0 && !__builtin_mul_overflow(count, uint64_t(d), &count);
    if (!valid || count != t.values.size() || t.name == "__metadata__" || header.contains(t.name))
      return fileError(path, fmt::format("cannot write tensor '{}': bad name or {} values for shape [{}]", t.name,
                                         t.values.size(), fmt::join(t.shape, ", ")));
    header[t.name] = {{"dtype", dtype == DType::F32 ? "F32" : "F64"},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + count * elem}}};
    offset += count * elem;
  }
  header["__metadata__"] = {{"format", "nnjit"}};
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error&) {  // a name that is not UTF-8
    return fileError(path, "cannot write a tensor name that is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data then starts 8-byte aligned
  return text;
}

std::string encode(const std::string& header, const std::vector<NamedTensor>& tensors, DType dtype) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  for (const NamedTensor& t : tensors) {
    for (double v : t.values) {
      char bytes[8];
      if (dtype == DType::F32) {
        float f = static_cast<float>(v);
        std::memcpy(bytes, &f, 4);
      } else {
        std::memcpy(bytes, &v, 8);
      }
      out.append(bytes, dtypeSize(dtype));
    }
  }
  return out;
}

/// Writes and syncs all of `bytes`; 0 or the errno of the failure.
int writeAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    done += static_cast<size_t>(w);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

/// Makes the rename itself durable; best effort, as some file systems refuse it.
void syncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

} // namespace

Status writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors, DType dtype) {
  Result<std::string> header = encodeHeader(tensors, dtype, path);
  if (!header) return header.errors();
  std::string bytes = encode(*header, tensors, dtype);
  // A temporary beside `path` so the rename stays on one file system and is atomic.
  std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fileError(path, fmt::format("cannot write file: {}", std::strerror(errno)));
  int err = writeAll(fd, bytes);
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    std::remove(tmp.c_str());
    return fileError(path, fmt::format("cannot write file: {}", std::strerror(err)));
  }
  syncDirectoryOf(path);
  return Ok{};
}

} // namespace nnjit
