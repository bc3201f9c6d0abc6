// Checkpoint: the safetensors file format — a JSON header, then raw little-endian tensors.
#include "Checkpoint.h"

#include "AtomicFile.h"
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
#include <unordered_set>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

// Headers are parsed into std::map objects (ordered_json inserts by linear
// search: 80,000 keys took 17 s); the file's order is kept in a list of keys.
using Json = nlohmann::json;

/// Headers beyond this are refused before allocating for them: a checkpoint
/// of about 150,000 tensors, parsed in a few seconds at worst.
constexpr uint64_t kMaxHeader = 16u << 20;
/// Our headers nest three deep; JSON itself would nest without end (100 MB of
/// '[' took more than 3.6 GB to parse).
constexpr int kMaxDepth = 64;

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

/// Whether the JSON text nests deeper than kMaxDepth, by a scan that skips strings.
bool nestsTooDeep(std::string_view text) {
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\') ++i;
      else if (c == '"') inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

/// The parsed header and its top-level names in file order.
struct Header {
  Json json;
  std::vector<std::string> keys;
  std::string duplicate;  // a name given twice (JSON objects would silently keep the last)
};

Header parseHeader(std::string_view text) {
  Header h;
  std::unordered_set<std::string> seen;
  Json::parser_callback_t noteKeys = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (seen.insert(key).second) h.keys.push_back(key);
      else if (h.duplicate.empty()) h.duplicate = key;
    }
    return true;
  };
  h.json = Json::parse(text, noteKeys, /*allow_exceptions=*/false);
  return h;
}

} // namespace

std::string safetensorsSizeProblem(std::string_view first, uint64_t fileSize) {
  if (first.size() < 8) return fileSize < 8 ? "shorter than its 8-byte header size" : "";
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(first[i]);
  if (n > kMaxHeader)
    return fmt::format("its header claims {} bytes, more than the {} nnjit reads", n, byteSize(kMaxHeader));
  if (n > fileSize - 8)
    return fmt::format("its header claims {} bytes, but the file has {} after the size", n, fileSize - 8);
  // The first byte of the header that is not blank, if `first` reaches it.
  size_t end = 8 + n, brace = first.find_first_not_of(" \t\r\n", 8);
  bool seen = brace != std::string_view::npos && brace < end;
  if (n == 0 || (seen && first[brace] != '{') || (!seen && end <= first.size())) return "the header is not a JSON object";
  return "";
}

Result<std::vector<NamedTensor>> parseSafetensors(std::string_view bytes, const std::string& name) {
  auto notSafetensors = [&](const std::string& why) { return fileError(name, "not a safetensors file: " + why); };
  if (std::string why = safetensorsSizeProblem(bytes, bytes.size()); !why.empty()) return notSafetensors(why);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  std::string_view text = bytes.substr(8, n);
  if (nestsTooDeep(text)) return notSafetensors(fmt::format("the header nests deeper than {} levels", kMaxDepth));
  Header header = parseHeader(text);
  if (header.json.is_discarded()) return notSafetensors("the header is not valid JSON");
  if (!header.json.is_object()) return notSafetensors("the header is not a JSON object");
  if (!header.duplicate.empty())
    return fileError(name, fmt::format("tensor '{}' appears twice in the header", header.duplicate));
  EntryReader reader(bytes.substr(8 + n), name);
  std::vector<NamedTensor> out;
  for (const std::string& key : header.keys) {
    const Json& value = header.json.at(key);
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

Result<std::vector<NamedTensor>> readSafetensors(const std::string& path, const std::string& displayName,
                                                 uint64_t maxBytes) {
  ReadLimits limits;
  limits.maxBytes = maxBytes;
  limits.what = "a checkpoint of this model";
  // /dev/zero or /dev/urandom fail here, on their first bytes, not after filling memory.
  limits.sniff = [](std::string_view first) {
    std::string why = safetensorsSizeProblem(first, UINT64_MAX);
    return why.empty() ? why : "not a safetensors file: " + why;
  };
  Result<std::string> bytes = readFile(path, displayName, limits);
  if (!bytes) return bytes.errors();
  return parseSafetensors(*bytes, displayName);
}

namespace {

/// The header as text, keys in the tensors' order (written by hand: a JSON
/// object type would sort them, or insert by linear search).
Result<std::string> encodeHeader(const std::vector<NamedTensor>& tensors, DType dtype, const std::string& path) {
  std::string text = "{";
  std::unordered_set<std::string> names;
  uint64_t offset = 0, elem = dtypeSize(dtype);
  for (const NamedTensor& t : tensors) {
    uint64_t count = 1;
    bool valid = true;
    for (int64_t d : t.shape) valid = valid && d >= 0 && !__builtin_mul_overflow(count, uint64_t(d), &count);
    if (!valid || count != t.values.size() || t.name == "__metadata__" || !names.insert(t.name).second)
      return fileError(path, fmt::format("cannot write tensor '{}': bad name or {} values for shape [{}]", t.name,
                                         t.values.size(), fmt::join(t.shape, ", ")));
    Json entry = {{"dtype", dtype == DType::F32 ? "F32" : "F64"},
                  {"shape", t.shape},
                  {"data_offsets", {offset, offset + count * elem}}};
    try {
      text += Json(t.name).dump() + ":" + entry.dump() + ",";
    } catch (const nlohmann::json::type_error&) {  // a name that is not UTF-8
      return fileError(path, "cannot write a tensor name that is not valid UTF-8");
    }
    offset += count * elem;
  }
  text += R"("__metadata__":{"format":"nnjit"}})";
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

} // namespace

Status writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors, DType dtype) {
  Result<std::string> header = encodeHeader(tensors, dtype, path);
  if (!header) return header.errors();
  std::string bytes = encode(*header, tensors, dtype);
  return writeFileAtomically(path, bytes);
}

} // namespace nnjit
