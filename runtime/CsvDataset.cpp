// CsvDataset: CSV training data bound to a model's inputs, as the contract's data-binding rules say.
#include "CsvDataset.h"

#include "FileIO.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

void splitFields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t begin = 0;
  for (size_t comma; (comma = line.find(',', begin)) != std::string_view::npos; begin = comma + 1)
    fields.push_back(line.substr(begin, comma - begin));
  fields.push_back(line.substr(begin));
}

/// Parses the whole field (spaces around it allowed) as a double; false if
/// anything else is in it. Overflow yields ±inf, which the caller reports.
bool parseNumber(std::string_view field, double& out) {
  field = trim(field);
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

/// Fills a Dataset row by row, collecting errors instead of stopping at the first.
class CsvParser {
public:
  /// `expected` is how a column-count error words the expected count.
  CsvParser(const std::string& name, const std::vector<InputColumns>& inputs, DType dtype, std::string expected)
      : name_(name), inputs_(inputs), dtype_(dtype), width_(totalWidth(inputs)), expected_(std::move(expected)) {
    data_.columns.resize(inputs.size());
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
      if (!header) row(fields, number);
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

  void row(const std::vector<std::string_view>& fields, int line) {
    if (static_cast<int64_t>(fields.size()) != width_)
      return error(line, fmt::format("expected {}, found {}", expected_, fields.size()));
    size_t column = 0;
    for (size_t i = 0; i < inputs_.size(); ++i)
      for (int64_t j = 0; j < inputs_[i].width; ++j, ++column)
        data_.columns[i].push_back(value(fields[column], column + 1, line, inputs_[i].numClasses));
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
    double limit = dtype_ == DType::F32 ? FLT_MAX : DBL_MAX;
    if (!(std::fabs(v) <= limit)) {  // also catches nan
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
  Dataset data_;
  std::vector<Diagnostic> errors_;
};


/// Column count of the first data row (after an optional header); -1 if none.
int64_t firstRowWidth(std::string_view text) {
  LineReader lines(text);
  std::string_view line;
  int number = 0;
  std::vector<std::string_view> fields;
  for (bool first = true; lines.next(line, number); first = false) {
    splitFields(line, fields);
    if (!(first && isHeader(fields))) return static_cast<int64_t>(fields.size());
  }
  return -1;
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
  return parseGuarded(CsvParser(displayName, inputs, dtype, fmt::format("{} columns", totalWidth(inputs))), text,
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
  bool useSubset = firstRowWidth(*text) == subsetWidth;
  return parseGuarded(CsvParser(displayName, useSubset ? subset : full, dtype, expected), *text, displayName);
}

} // namespace nnjit
