// IdxDataset: IDX files (MNIST's format, raw or gzip-compressed) bound to a model's inputs.
#include "IdxDataset.h"

#include "FileIO.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

/// Values are held as doubles: this bounds one file at 16 GiB of them, and
/// keeps a lying header from asking for more before any data is read.
constexpr int64_t kMaxValues = (int64_t(1) << 31) - 1;
/// Bytes decompressed per read: a whole number of elements of every type.
constexpr size_t kChunkBytes = 1 << 20;
/// Deflate expands at most about 1032:1, which bounds what a gzip file can hold.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ElementType {
  uint8_t code;
  int bytes;
  const char* name;
  bool integer;
};

constexpr ElementType kTypes[] = {{0x08, 1, "unsigned byte", true}, {0x09, 1, "signed byte", true},
                                  {0x0B, 2, "short", true},         {0x0C, 4, "int", true},
                                  {0x0D, 4, "float", false},        {0x0E, 8, "double", false}};

const ElementType* typeOf(uint8_t code) {
  for (const ElementType& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

/// The IDX magic: two zero bytes, a type code and a dim count. A zero type
/// or dim count is left to the CSV reader, which names /dev/zero and UTF-32
/// text for what they are.
bool isIdxMagic(const unsigned char* b, int64_t n) {
  return n >= 4 && b[0] == 0 && b[1] == 0 && b[2] != 0 && b[3] != 0 && !(b[2] == 0xFE && b[3] == 0xFF);
}

/// A file read through zlib, which decompresses a gzip stream (told by its
/// magic) and passes any other file through as it is.
class Reader {
public:
  explicit Reader(const DataSource& file) : file_(file) {}
  ~Reader() {
    if (gz_) gzclose(gz_);
    else if (fd_ >= 0) ::close(fd_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  /// An empty message on success, else why the file cannot be read.
  std::string open() {
    fd_ = ::open(file_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return fmt::format("cannot read file: {}", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) fileBytes_ = static_cast<uint64_t>(st.st_size);
    gz_ = gzdopen(fd_, "rb");
    if (!gz_) return "out of memory opening it";
    gzbuffer(gz_, 1 << 17);  // zlib's default 8 KiB costs a system call per 8 KiB
    return "";
  }

  /// Reads `n` bytes, fewer only where the data ends; -1 on an error (see `why()`).
  int64_t read(void* out, size_t n) {
    int got = gzread(gz_, out, static_cast<unsigned>(n));
    if (got < 0) why_ = failure();
    return got;
  }

  bool gzip() const { return gzdirect(gz_) == 0; }
  /// After a short read: "truncated", naming a gzip stream that stopped before its end (a cut-off download).
  std::string truncated() const { return cutOff() ? "truncated gzip stream" : "truncated"; }
  bool cutOff() const {
    int code = Z_OK;
    gzerror(gz_, &code);
    return gzip() && code == Z_BUF_ERROR;
  }
  /// Bytes worth reserving for: the most the file can hold (its size, or what
  /// deflate can expand it to), so a lying header reserves no more than that;
  /// 0 when the size is unknown (a pipe), and the values grow as they come.
  uint64_t reserveHint() const { return gzip() ? fileBytes_ * kMaxDeflateRatio : fileBytes_; }
  const std::string& why() const { return why_; }

private:
  std::string failure() const {
    int code = Z_OK;
    const char* text = gzerror(gz_, &code);
    if (code == Z_ERRNO) return fmt::format("cannot read file: {}", std::strerror(errno));
    if (code == Z_MEM_ERROR) return "out of memory decompressing it";
    // zlib prefixes its message with the name it was opened by ("<fd:3>: ").
    std::string message = text ? text : "";
    size_t colon = message.find(": ");
    return "corrupt gzip stream: " + (colon == std::string::npos ? message : message.substr(colon + 2));
  }

  const DataSource& file_;
  int fd_ = -1;
  gzFile gz_ = nullptr;
  uint64_t fileBytes_ = 0;
  std::string why_;
};

Diagnostic errorIn(const DataSource& file, std::string message) { return fileError(file.name, std::move(message)); }

/// The first bytes, in hex, for a message about a file that is not IDX.
std::string hexBytes(const unsigned char* b, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) out += fmt::format("{}{:02X}", i ? " " : "", b[i]);
  return out.empty() ? "it is empty" : "it starts " + out;
}

struct Header {
  const ElementType* type = nullptr;
  std::vector<int64_t> dims;  // dims[0]: the item count
  int64_t itemValues = 1;     // the product of the other dims
  int64_t count() const { return dims[0]; }
  std::string itemShape() const {
    if (dims.size() == 1) return "one value";
    std::string s;
    for (size_t i = 1; i < dims.size(); ++i) s += fmt::format("{}{}", i > 1 ? "x" : "", dims[i]);
    return dims.size() == 2 ? fmt::format("{} values", s) : fmt::format("{} = {} values", s, itemValues);
  }
};

/// Reads the magic and the dims; the item count and sizes within the limits.
Result<Header> readHeader(Reader& in, const DataSource& file) {
  unsigned char magic[4];
  int64_t got = in.read(magic, 4);
  if (got < 0) return errorIn(file, in.why());
  if (!isIdxMagic(magic, got))
    return errorIn(file, fmt::format("not an IDX file ({}; IDX starts 00 00 TYPE DIMS)", hexBytes(magic, got)));
  Header h;
  h.type = typeOf(magic[2]);
  if (!h.type)
    return errorIn(file, fmt::format("unsupported IDX element type 0x{:02X}; nnjit reads 0x08 (unsigned byte), "
                                     "0x09 (signed byte), 0x0B (short), 0x0C (int), 0x0D (float), 0x0E (double)",
                                     magic[2]));
  std::vector<unsigned char> raw(size_t(magic[3]) * 4);
  got = in.read(raw.data(), raw.size());
  if (got < 0) return errorIn(file, in.why());
  if (got < static_cast<int64_t>(raw.size()))
    return errorIn(file, fmt::format("{}: the IDX header has {} dims, but the data ends inside them", in.truncated(),
                                     magic[3]));
  for (size_t i = 0; i < magic[3]; ++i) {
    const unsigned char* d = &raw[i * 4];
    h.dims.push_back((int64_t(d[0]) << 24) | (int64_t(d[1]) << 16) | (int64_t(d[2]) << 8) | d[3]);
  }
  int64_t total = std::min(h.count(), kMaxValues + 1);  // each product stays far from overflow
  for (size_t i = 1; i < h.dims.size(); ++i) {
    h.itemValues = h.dims[i] ? std::min(h.itemValues * h.dims[i], kMaxValues + 1) : 0;
    total = h.dims[i] ? std::min(total * h.dims[i], kMaxValues + 1) : 0;
  }
  if (h.count() == 0) return errorIn(file, "no items: the IDX header's count is 0");
  if (total > kMaxValues)
    return errorIn(file, fmt::format("the IDX header declares more than the {} values nnjit reads from one file",
                                     kMaxValues));
  return h;
}

/// Big-endian element `i` of `bytes` as a double.
double elementAt(const unsigned char* bytes, int64_t i, const ElementType& t) {
  const unsigned char* p = bytes + i * t.bytes;
  uint64_t bits = 0;
  for (int k = 0; k < t.bytes; ++k) bits = (bits << 8) | p[k];
  switch (t.code) {
  case 0x08: return static_cast<double>(bits);
  case 0x09: return static_cast<int8_t>(bits);
  case 0x0B: return static_cast<int16_t>(bits);
  case 0x0C: return static_cast<int32_t>(bits);
  case 0x0D: {
    float f;
    uint32_t b32 = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b32, 4);
    return f;
  }
  default: {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  }
}

/// Appends `n` elements, converted to `out`'s dtype as they go in (not
/// resized, then written: that would zero the values first, a pass over all
/// of them). Elements of a floating type are checked on the way, in float64:
/// the 1-based item and value of the first that is not finite in `out`'s
/// dtype, if any (`first` is the index of bytes' first element).
std::string appendChecked(DataColumn& out, const unsigned char* bytes, int64_t n, const Header& h, int64_t first,
                          std::vector<double>& scratch) {
  const ElementType& t = *h.type;
  if (t.code == 0x08) {  // images: each byte converts as it is inserted
    out.append(bytes, bytes + n);
    return "";
  }
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scratch[i] = elementAt(bytes, i, t);
  if (!t.integer)
    for (int64_t i = 0; i < n; ++i)
      if (!finiteIn(out.dtype(), scratch[i]))
        return fmt::format("item {}: {} is not a finite {} number", (first + i) / h.itemValues + 1, scratch[i],
                           out.dtype() == DType::F32 ? "float32" : "float64");
  out.append(scratch.begin(), scratch.end());
  return "";
}

/// Reads every item after the header into a column of `dtype`; errors say
/// how much of the data there was.
Result<DataColumn> readValues(Reader& in, const DataSource& file, const Header& h, DType dtype) {
  uint64_t want = static_cast<uint64_t>(h.count() * h.itemValues), bytes = want * h.type->bytes;
  DataColumn values(dtype);
  std::vector<double> scratch;
  values.reserve(static_cast<size_t>(std::min<uint64_t>(want, in.reserveHint() / h.type->bytes)));
  std::vector<unsigned char> chunk(kChunkBytes);
  for (uint64_t done = 0; done < bytes;) {
    int64_t ask = static_cast<int64_t>(std::min<uint64_t>(kChunkBytes, bytes - done));
    int64_t got = in.read(chunk.data(), static_cast<size_t>(ask));
    if (got < 0) return errorIn(file, in.why());
    int64_t first = static_cast<int64_t>(done / h.type->bytes);
    std::string wrong = appendChecked(values, chunk.data(), got / h.type->bytes, h, first, scratch);
    if (!wrong.empty()) return errorIn(file, wrong);
    done += static_cast<uint64_t>(got);
    if (got < ask)  // zlib reads short only where the data ends
      return errorIn(file, fmt::format("{}: the header declares {} items of {} ({} bytes of data), but the data "
                                       "ends after {} bytes",
                                       in.truncated(), h.count(), h.itemShape(), bytes, done));
  }
  unsigned char extra;
  int64_t more = in.read(&extra, 1);
  if (more < 0) return errorIn(file, in.why());
  if (more > 0) return errorIn(file, fmt::format("more data follows the {} items its header declares", h.count()));
  if (in.cutOff()) return errorIn(file, "truncated gzip stream: it ends without its checksum");
  return values;
}

/// Which unbound input a file's items feed: see loadIdx. -1 for none.
int pickInput(const Header& h, const std::vector<InputColumns>& inputs, const std::vector<bool>& bound) {
  bool labels = h.dims.size() == 1 && h.type->integer;
  for (int pass = labels ? 0 : 1; pass < 2; ++pass)
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!bound[i] && (pass == 0 ? inputs[i].numClasses > 0
                                  : inputs[i].numClasses == 0 && inputs[i].width == h.itemValues))
        return static_cast<int>(i);
  return -1;
}

std::string describeInput(const InputColumns& in) {
  return in.numClasses > 0 ? fmt::format("'{}' (class({}))", in.name, in.numClasses)
                           : fmt::format("'{}' ({} values a row)", in.name, in.width);
}

std::string unboundList(const std::vector<InputColumns>& inputs, const std::vector<bool>& bound) {
  std::string list;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!bound[i]) list += (list.empty() ? "" : ", ") + describeInput(inputs[i]);
  return list.empty() ? "every input is bound already" : "the unbound inputs are " + list;
}

/// The first label outside 0..N-1, naming its 1-based item.
std::string badLabel(const DataColumn& values, const InputColumns& in) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!(values[i] >= 0 && values[i] < static_cast<double>(in.numClasses)))
      return fmt::format("item {}: label {} is not in 0..{} (input '{}' is class({}))", i + 1, values[i],
                         in.numClasses - 1, in.name, in.numClasses);
  return "";
}

/// Binds and reads one file into `columns`; `count`/`countFile` remember the first file's item count.
Status loadOne(const DataSource& file, const std::vector<InputColumns>& inputs, DType dtype,
               std::vector<bool>& bound, std::vector<DataColumn>& columns, int64_t& count,
               const DataSource*& countFile) {
  Reader in(file);
  if (std::string why = in.open(); !why.empty()) return errorIn(file, why);
  Result<Header> h = readHeader(in, file);
  if (!h) return h.errors();
  int input = pickInput(*h, inputs, bound);
  if (input < 0)
    return errorIn(file, fmt::format("its items of {} fit no input ({})", h->itemShape(), unboundList(inputs, bound)));
  if (countFile && h->count() != count)
    return errorIn(file, fmt::format("{} items, but {} has {}; every data file must hold one item a row",
                                     h->count(), countFile->name, count));
  Result<DataColumn> values = readValues(in, file, *h, dtype);  // labels come from files of whole numbers
  if (!values) return values.errors();
  const InputColumns& target = inputs[input];
  if (std::string wrong = target.numClasses > 0 ? badLabel(*values, target) : ""; !wrong.empty())
    return errorIn(file, wrong);
  bound[input] = true;
  columns[input] = std::move(*values);
  count = h->count();
  countFile = &file;
  return Ok{};
}

} // namespace

Result<DataFormat> dataFormat(const std::vector<DataSource>& files) {
  for (const DataSource& file : files) {
    // Sniffing reads a file twice: a pipe (`--data <(cat d.csv)`) would lose
    // its first bytes, so a single one is CSV, read once, as it always was.
    struct stat st {};
    if (::stat(file.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      if (files.size() == 1) return DataFormat::Csv;
      return errorIn(file, "not a regular file; the IDX files of a 'data' list are read from files, not pipes or devices");
    }
    Reader in(file);
    if (std::string why = in.open(); !why.empty()) return errorIn(file, why);
    unsigned char magic[4];
    int64_t got = in.read(magic, 4);
    if (got < 0) return errorIn(file, in.why());
    if (isIdxMagic(magic, got)) continue;
    if (in.gzip())
      return errorIn(file, fmt::format("gzip-compressed, but not IDX data (its data {}; IDX starts 00 00 TYPE DIMS); "
                                       "nnjit reads CSV files uncompressed",
                                       hexBytes(magic, got).substr(3)));
    if (files.size() > 1)
      return errorIn(file, fmt::format("not an IDX file ({}; IDX starts 00 00 TYPE DIMS); a 'data' list of "
                                       "several files takes IDX files only (CSV data is one file)",
                                       hexBytes(magic, got)));
    return DataFormat::Csv;
  }
  return DataFormat::Idx;
}

Result<Dataset> loadIdx(const std::vector<DataSource>& files, const std::vector<InputColumns>& inputs,
                        const std::vector<bool>& required, DType dtype, const std::string& modelName,
                        std::vector<bool>& bound) {
  bound.assign(inputs.size(), false);
  std::vector<DataColumn> columns(inputs.size());
  int64_t count = 0;
  const DataSource* countFile = nullptr;
  for (const DataSource& file : files) {
    try {
      if (Status ok = loadOne(file, inputs, dtype, bound, columns, count, countFile); !ok) return ok.errors();
    } catch (const std::bad_alloc&) {
      return errorIn(file, "out of memory holding its values");
    }
  }
  std::vector<std::string> names;
  for (const DataSource& file : files) names.push_back(file.name);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (required[i] && !bound[i])
      return fileError(modelName, fmt::format("input {} is fed by none of the data files ({}); add its IDX file",
                                              describeInput(inputs[i]), fmt::join(names, ", ")));
  Dataset data;
  data.rows = count;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (bound[i]) data.columns.push_back(std::move(columns[i]));
  return data;
}

} // namespace nnjit
