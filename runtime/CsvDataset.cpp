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

  bool next(std::string_view& line, int& number) {
    while (!rest_.empty()) {
      size_t nl = rest_.find('\n');
      line = rest_.substr(0, nl);
      rest_ = nl == std::string_view::npos ? std::string_view() : rest_.substr(nl + 1);
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
    reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
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
  /// One allocation per input instead of a doubling series; a line count bounds the rows.
  void reserve(size_t lines) {
    for (size_t i = 0; i < inputs_.size(); ++i) data_.columns[i].reserve(lines * static_cast<size_t>(inputs_[i].width));
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

} // namespace

Result<Dataset> parseCsv(std::string_view text, const std::string& displayName,
                         const std::vector<InputColumns>& inputs, DType dtype) {
  return CsvParser(displayName, inputs, dtype, fmt::format("{} columns", totalWidth(inputs))).run(text);
}

Result<Dataset> loadCsv(const std::string& path, const std::string& displayName,
                        const std::vector<InputColumns>& inputs, DType dtype) {
  Result<std::string> text = readFile(path, displayName);
  if (!text) return text.errors();
  return parseCsv(*text, displayName, inputs, dtype);
}

Result<Dataset> loadCsvEither(const std::string& path, const std::string& displayName,
                              const std::vector<InputColumns>& full, const std::vector<InputColumns>& subset,
                              DType dtype) {
  Result<std::string> text = readFile(path, displayName);
  if (!text) return text.errors();
  int64_t fullWidth = totalWidth(full), subsetWidth = totalWidth(subset);
  if (fullWidth == subsetWidth) return parseCsv(*text, displayName, full, dtype);
  // Both layouts word a count error the same way, so the user learns of both.
  std::string expected =
      fmt::format("{} columns (or {} with only the inputs of the output)", fullWidth, subsetWidth);
  bool useSubset = firstRowWidth(*text) == subsetWidth;
  return CsvParser(displayName, useSubset ? subset : full, dtype, expected).run(*text);
}

} // namespace nnjit
