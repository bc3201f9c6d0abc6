// CsvDataset: CSV training data bound to a model's inputs, as the contract's data-binding rules say.
#include "CsvDataset.h"

#include "FileIO.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nnjit {
namespace {

/// Stop collecting after this many errors: the rest are likely the same mistake.
constexpr size_t kMaxErrors = 20;
/// Lines are numbered with an int, and a CSV this large would need several
/// times its size in memory as numbers.
constexpr uint64_t kMaxCsvBytes = (uint64_t(1) << 31) - 1;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// The non-blank lines of a CSV text, numbered as the user's editor numbers them.
class LineReader {
public:
  explicit LineReader(std::string_view text) : rest_(text) {
    // Spreadsheet exports often start with a UTF-8 byte order mark.
    if (rest_.substr(0, 3) == "\xEF\xBB\xBF") rest_.remove_prefix(3);
  }

  /// Lines end in '\n', "\r\n" or a lone '\r' (classic Mac exports), as
  /// Python's universal newlines and so NumPy and pandas read them.
  bool next(std::string_view& line, int& number) {
    while (!rest_.empty()) {
      size_t end = rest_.find_first_of("\r\n");
      line = rest_.substr(0, end);
      size_t skip = end == std::string_view::npos ? rest_.size() : end + 1;
      if (end != std::string_view::npos && rest_[end] == '\r' && end + 1 < rest_.size() && rest_[end + 1] == '\n') ++skip;
      rest_.remove_prefix(skip);
      number = ++line_;
      if (!trim(line).empty()) return true;
    }
    return false;
  }

private:
  std::string_view rest_;
  int line_ = 0;
};

/// Splits at commas outside quotes (RFC 4180: `"1,5"` is one field). Fields
/// keep their quotes and spaces; `unquote` takes them off.
void splitFields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t begin = 0;
  if (line.find('"') == std::string_view::npos) {  // the common case, at memchr speed
    for (size_t comma; (comma = line.find(',', begin)) != std::string_view::npos; begin = comma + 1)
      fields.push_back(line.substr(begin, comma - begin));
    fields.push_back(line.substr(begin));
    return;
  }
  bool inQuotes = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') inQuotes = !inQuotes;  // `""` inside quotes toggles twice: stays quoted
    else if (line[i] == ',' && !inQuotes) {
      fields.push_back(line.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  fields.push_back(line.substr(begin));
}

/// A field without its surrounding spaces and quotes, `""` read as `"`; a
/// field with a stray or unclosed quote is returned as it is, so that it
/// matches no name and reads as no number.
std::string unquote(std::string_view field) {
  field = trim(field);
  if (field.size() < 2 || field.front() != '"' || field.back() != '"') return std::string(field);
  std::string out;
  for (size_t i = 1; i + 1 < field.size(); ++i) {
    if (field[i] == '"') {
      if (i + 2 >= field.size() || field[i + 1] != '"') return std::string(field);  // a lone quote inside
      ++i;
    }
    out += field[i];
  }
  return out;
}

/// Parses the whole field (spaces around it allowed) as a double; false if
/// anything else is in it. Overflow yields ±inf, which the caller reports.
bool parseNumber(std::string_view field, double& out) {
  field = trim(field);
  // Spreadsheets quote numbers ("5.1"); a number never holds a quote, so no unescaping.
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = trim(field.substr(1, field.size() - 2));
  // from_chars refuses a leading '+', which people and some tools write.
  if (field.size() > 1 && field[0] == '+' && field[1] != '-' && field[1] != '+') field.remove_prefix(1);
  if (field.empty()) return false;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  if (end != field.data() + field.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves `out` unset on overflow *and* underflow; strtod tells them apart.
    std::string copy(field);
    out = std::strtod(copy.c_str(), nullptr);
    return true;
  }
  return ec == std::errc();
}

/// The contract's header rule: a first line that is not all numbers.
bool isHeader(const std::vector<std::string_view>& fields) {
  double v;
  for (std::string_view f : fields)
    if (!parseNumber(f, v)) return true;
  return false;
}

int64_t totalWidth(const std::vector<InputColumns>& inputs) {
  int64_t n = 0;
  for (const InputColumns& in : inputs) n += in.width;
  return n;
}

std::string columns(size_t n) { return fmt::format("{} column{}", n, n == 1 ? "" : "s"); }

/// The names a header gives the layout's columns, in layout order: `x0`..`x3`
/// for `x[batch, 4]` (the flattened row-major index, as `predict` names its
/// output's columns), the plain name for a one-column input such as `label`.
std::vector<std::string> columnNames(const std::vector<InputColumns>& inputs) {
  std::vector<std::string> names;
  for (const InputColumns& in : inputs) {
    if (in.width == 1) names.push_back(in.name);
    else
      for (int64_t j = 0; j < in.width; ++j) names.push_back(fmt::format("{}{}", in.name, j));
  }
  return names;
}

/// For each layout column, the header field that names it, when the header
/// names exactly the layout's columns, each once, in any order; nullopt when
/// it does not (iris's `sepal_length,...`), and columns go by position.
std::optional<std::vector<size_t>> bindByName(const std::vector<std::string_view>& header,
                                              const std::vector<InputColumns>& inputs) {
  if (header.empty() || static_cast<int64_t>(header.size()) != totalWidth(inputs)) return std::nullopt;
  std::unordered_map<std::string, size_t> layoutIndex;
  std::vector<std::string> names = columnNames(inputs);
  for (size_t i = 0; i < names.size(); ++i) layoutIndex.emplace(std::move(names[i]), i);
  std::vector<size_t> fieldOf(header.size(), header.size());
  for (size_t f = 0; f < header.size(); ++f) {
    auto it = layoutIndex.find(unquote(header[f]));
    if (it == layoutIndex.end() || fieldOf[it->second] != header.size()) return std::nullopt;  // unknown or twice
    fieldOf[it->second] = f;
  }
  return fieldOf;
}

/// Fills a Dataset row by row, collecting errors instead of stopping at the first.
class CsvParser {
public:
  /// `expected` is how a column-count error words the expected count.
  CsvParser(const std::string& name, const std::vector<InputColumns>& inputs, DType dtype, std::string expected)
      : name_(name), inputs_(inputs), dtype_(dtype), width_(totalWidth(inputs)), expected_(std::move(expected)) {
    data_.columns.assign(inputs.size(), DataColumn(dtype));
  }

  Result<Dataset> run(std::string_view text) {
    reserve(text);
    LineReader lines(text);
    std::string_view line;
    int number = 0;
    std::vector<std::string_view> fields;
    bool first = true;
    while (errors_.size() < kMaxErrors && lines.next(line, number)) {
      splitFields(line, fields);
      bool header = first && isHeader(fields);
      first = false;
      if (header) readHeader(fields, number);
      else row(fields, number);
    }
    if (!errors_.empty()) return std::move(errors_);
    if (data_.rows == 0) return fileError(name_, "no data rows");
    return std::move(data_);
  }

private:
  /// One allocation per input instead of a doubling series. A line count
  /// bounds the rows, and the text bounds the values (each takes a byte and
  /// a comma): a model that wants 1e9 columns of a small file reserves
  /// little, and the file's column count is reported instead.
  void reserve(std::string_view text) {
    size_t lines = static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; })) + 1;
    for (size_t i = 0; i < inputs_.size(); ++i)
      data_.columns[i].reserve(std::min(lines * static_cast<size_t>(inputs_[i].width), text.size() / 2 + 1));
  }

  void error(int line, std::string message) {
    if (errors_.size() < kMaxErrors) errors_.push_back(fileError(name_, std::move(message), line));
  }

  void readHeader(const std::vector<std::string_view>& fields, int line) {
    headerLine_ = line;
    headerWidth_ = fields.size();
    if (std::optional<std::vector<size_t>> byName = bindByName(fields, inputs_)) fieldOf_ = std::move(*byName);
  }

  /// A header of another width than the rows is a sign of a shifted or
  /// missing column, whichever way the columns bind.
  void checkHeaderWidth(size_t rowWidth, int rowLine) {
    if (!headerLine_ || headerChecked_) return;
    headerChecked_ = true;
    if (rowWidth != headerWidth_)
      error(headerLine_, fmt::format("the header has {}, but the first row (line {}) has {}", columns(headerWidth_),
                                     rowLine, rowWidth));
  }

  void row(const std::vector<std::string_view>& fields, int line) {
    checkHeaderWidth(fields.size(), line);
    if (static_cast<int64_t>(fields.size()) != width_)
      return error(line, fmt::format("expected {}, found {}", expected_, fields.size()));
    size_t column = 0;
    for (size_t i = 0; i < inputs_.size(); ++i)
      for (int64_t j = 0; j < inputs_[i].width; ++j, ++column) {
        size_t field = fieldOf_.empty() ? column : fieldOf_[column];
        data_.columns[i].push_back(value(fields[field], field + 1, line, inputs_[i].numClasses));
      }
    ++data_.rows;
  }

  /// One field's value; on error records it and returns 0 (the run fails anyway).
  double value(std::string_view field, size_t column, int line, int64_t classes) {
    std::string_view text = trim(field);
    double v = 0;
    if (!parseNumber(text, v)) {
      error(line, fmt::format("column {}: '{}' is not a number", column, text));
      return 0;
    }
    if (!finiteIn(dtype_, v)) {
      error(line, fmt::format("column {}: {} is not a finite {} number", column, text,
                              dtype_ == DType::F32 ? "float32" : "float64"));
      return 0;
    }
    if (classes > 0 && (v != std::floor(v) || v < 0 || v >= static_cast<double>(classes))) {
      error(line, fmt::format("column {}: label {} is not an integer in 0..{}", column, text, classes - 1));
      return 0;
    }
    return v;
  }

  const std::string& name_;
  const std::vector<InputColumns>& inputs_;
  DType dtype_;
  int64_t width_;
  std::string expected_;
  int headerLine_ = 0;  // 0: no header
  size_t headerWidth_ = 0;
  bool headerChecked_ = false;
  std::vector<size_t> fieldOf_;  // per layout column, its field; empty: by position
  Dataset data_;
  std::vector<Diagnostic> errors_;
};


/// The header's fields (none without one) and the first data row's column count (-1 if none).
struct FirstLines {
  std::vector<std::string_view> header;
  int64_t rowWidth = -1;
};

FirstLines firstLines(std::string_view text) {
  FirstLines out;
  LineReader lines(text);
  std::string_view line;
  int number = 0;
  std::vector<std::string_view> fields;
  for (bool first = true; lines.next(line, number); first = false) {
    splitFields(line, fields);
    if (!(first && isHeader(fields))) {
      out.rowWidth = static_cast<int64_t>(fields.size());
      break;
    }
    out.header = fields;
  }
  return out;
}

/// UTF-16 and UTF-32 files, and binary ones, are named for what they are
/// rather than reported field by field as NUL-filled numbers.
std::string notCsvText(std::string_view first) {
  if (first.substr(0, 4) == std::string_view("\0\0\xFE\xFF", 4) || first.substr(0, 4) == std::string_view("\xFF\xFE\0\0", 4))
    return "the file is UTF-32 text; nnjit reads CSV files in UTF-8 or ASCII";
  if (first.substr(0, 2) == "\xFF\xFE" || first.substr(0, 2) == "\xFE\xFF")
    return "the file is UTF-16 text (it starts with a UTF-16 byte order mark); nnjit reads CSV files in UTF-8 or ASCII";
  size_t nul = first.find('\0');
  if (nul == std::string_view::npos) return "";
  size_t pairs = 0, sample = std::min<size_t>(first.size(), 1024);
  for (size_t i = 0; i + 1 < sample; i += 2) pairs += (first[i] == '\0') != (first[i + 1] == '\0');
  if (sample >= 4 && pairs * 2 * 10 >= sample * 9)
    return "the file looks like UTF-16 text (every other byte is NUL); nnjit reads CSV files in UTF-8 or ASCII";
  return fmt::format("not a text CSV file: byte {} is NUL", nul + 1);
}

/// The text of a CSV file within the limits; see docs/language.md.
Result<std::string> readCsvText(const std::string& path, const std::string& displayName) {
  ReadLimits limits;
  limits.maxBytes = kMaxCsvBytes;
  limits.what = "a CSV file";
  limits.sniff = notCsvText;
  return readFile(path, displayName, limits);
}

/// Runs a parser, turning a failed allocation into a diagnostic naming the file and its size.
Result<Dataset> parseGuarded(CsvParser parser, std::string_view text, const std::string& displayName) {
  try {
    return parser.run(text);
  } catch (const std::bad_alloc&) {
    return fileError(displayName, fmt::format("out of memory holding the values of its {}", byteSize(text.size())));
  }
}

} // namespace

Result<Dataset> parseCsv(std::string_view text, const std::string& displayName,
                         const std::vector<InputColumns>& inputs, DType dtype) {
  return parseGuarded(CsvParser(displayName, inputs, dtype, columns(static_cast<size_t>(totalWidth(inputs)))), text,
                      displayName);
}

Result<Dataset> loadCsv(const std::string& path, const std::string& displayName,
                        const std::vector<InputColumns>& inputs, DType dtype) {
  Result<std::string> text = readCsvText(path, displayName);
  if (!text) return text.errors();
  return parseCsv(*text, displayName, inputs, dtype);
}

Result<Dataset> loadCsvEither(const std::string& path, const std::string& displayName,
                              const std::vector<InputColumns>& full, const std::vector<InputColumns>& subset,
                              DType dtype) {
  Result<std::string> text = readCsvText(path, displayName);
  if (!text) return text.errors();
  int64_t fullWidth = totalWidth(full), subsetWidth = totalWidth(subset);
  if (fullWidth == subsetWidth) return parseCsv(*text, displayName, full, dtype);
  // Both layouts word a count error the same way, so the user learns of both.
  std::string expected =
      fmt::format("{} columns (or {} with only the inputs of the output)", fullWidth, subsetWidth);
  // A header naming one layout's columns decides; otherwise the first row's width.
  FirstLines first = firstLines(*text);
  bool useSubset = !bindByName(first.header, full) &&
                   (bindByName(first.header, subset) || first.rowWidth == subsetWidth);
  return parseGuarded(CsvParser(displayName, useSubset ? subset : full, dtype, expected), *text, displayName);
}

} // namespace nnjit
