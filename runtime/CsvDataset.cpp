// CsvDataset: CSV training data bound to a model's inputs, as the contract's data-binding rules say.
#include "CsvDataset.h"

#include <fmt/format.h>

#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nnjit {
namespace {

/// Stop collecting after this many bad lines: the rest are likely the same mistake.
constexpr size_t kMaxErrors = 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// Parses the whole field as a number; false if anything is left over.
bool parseNumber(std::string_view field, double& out) {
  field = trim(field);
  if (field.empty()) return false;
  if (field.front() == '+') field.remove_prefix(1);
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  if (ec == std::errc::result_out_of_range) {
    out = field.front() == '-' ? -HUGE_VAL : HUGE_VAL;  // overflow: reported as not finite
    return true;
  }
  return ec == std::errc() && end == field.data() + field.size();
}

void splitFields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t begin = 0;
  while (true) {
    size_t comma = line.find(',', begin);
    fields.push_back(line.substr(begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin));
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
}

bool allNumbers(const std::vector<std::string_view>& fields) {
  double v;
  for (std::string_view f : fields)
    if (!parseNumber(f, v)) return false;
  return true;
}

int64_t totalWidth(const std::vector<InputColumns>& inputs) {
  int64_t n = 0;
  for (const InputColumns& in : inputs) n += in.width;
  return n;
}

class CsvParser {
public:
  CsvParser(const std::string& name, const std::vector<InputColumns>& inputs, DType dtype)
      : name_(name), inputs_(inputs), dtype_(dtype), width_(totalWidth(inputs)) {
    data_.columns.resize(inputs.size());
  }

  Result<Dataset> run(std::string_view text) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    int line = 0;
    bool first = true;
    std::vector<std::string_view> fields;
    while (!text.empty() && errors_.size() < kMaxErrors) {
      size_t nl = text.find('\n');
      std::string_view raw = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      ++line;
      if (trim(raw).empty()) continue;
      splitFields(raw, fields);
      if (first && !allNumbers(fields)) {  // a header line
        first = false;
        continue;
      }
      first = false;
      row(fields, line);
    }
    if (!errors_.empty()) return errors_;
    if (data_.rows == 0) return fileError(name_, "the file has no data rows");
    return std::move(data_);
  }

private:
  void error(int line, std::string message) { errors_.push_back(fileError(name_, std::move(message), line)); }

  void row(const std::vector<std::string_view>& fields, int line) {
    if (static_cast<int64_t>(fields.size()) != width_)
      return error(line, fmt::format("expected {} columns, found {}", width_, fields.size()));
    size_t col = 0;
    size_t before = errors_.size();
    for (size_t i = 0; i < inputs_.size(); ++i) {
      for (int64_t j = 0; j < inputs_[i].width; ++j, ++col) {
        double v = 0;
        if (value(fields[col], col + 1, line, inputs_[i].numClasses, v)) data_.columns[i].push_back(v);
      }
    }
    if (errors_.size() == before) ++data_.rows;
  }

  bool value(std::string_view field, size_t column, int line, int64_t classes, double& v) {
    std::string text(trim(field));
    if (!parseNumber(field, v)) {
      error(line, fmt::format("column {}: '{}' is not a number", column, text));
      return false;
    }
    double limit = dtype_ == DType::F32 ? FLT_MAX : DBL_MAX;
    if (!std::isfinite(v) || std::fabs(v) > limit) {
      error(line, fmt::format("column {}: {} is not a finite {} number", column, text,
                              dtype_ == DType::F32 ? "float32" : "float64"));
      return false;
    }
    if (classes > 0 && (v != std::floor(v) || v < 0 || v >= static_cast<double>(classes))) {
      error(line, fmt::format("column {}: label {} is not an integer in 0..{}", column, text, classes - 1));
      return false;
    }
    return true;
  }

  const std::string& name_;
  const std::vector<InputColumns>& inputs_;
  DType dtype_;
  int64_t width_;
  Dataset data_;
  std::vector<Diagnostic> errors_;
};

Result<std::string> readAll(const std::string& path, const std::string& displayName) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fileError(displayName, fmt::format("cannot read file: {}", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fileError(displayName, "cannot read file");
  return ss.str();
}

/// Column count of the first data row (after an optional header), or -1.
int64_t firstRowWidth(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string_view> fields;
  bool first = true;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (trim(raw).empty()) continue;
    splitFields(raw, fields);
    if (first && !allNumbers(fields)) {
      first = false;
      continue;
    }
    return static_cast<int64_t>(fields.size());
  }
  return -1;
}

} // namespace

Result<Dataset> parseCsv(std::string_view text, const std::string& displayName,
                         const std::vector<InputColumns>& inputs, DType dtype) {
  return CsvParser(displayName, inputs, dtype).run(text);
}

Result<Dataset> loadCsv(const std::string& path, const std::string& displayName,
                        const std::vector<InputColumns>& inputs, DType dtype) {
  Result<std::string> text = readAll(path, displayName);
  if (!text) return text.errors();
  return parseCsv(*text, displayName, inputs, dtype);
}

Result<Dataset> loadCsvEither(const std::string& path, const std::string& displayName,
                              const std::vector<InputColumns>& full, const std::vector<InputColumns>& subset,
                              DType dtype) {
  Result<std::string> text = readAll(path, displayName);
  if (!text) return text.errors();
  int64_t width = firstRowWidth(*text);
  if (width == totalWidth(subset) && width != totalWidth(full)) return parseCsv(*text, displayName, subset, dtype);
  Result<Dataset> data = parseCsv(*text, displayName, full, dtype);
  if (!data && totalWidth(subset) != totalWidth(full)) {
    std::vector<Diagnostic> errors = data.errors();
    for (Diagnostic& d : errors)
      if (d.message.rfind("expected ", 0) == 0)
        d.message += fmt::format(" (or {} with only the inputs the output reads)", totalWidth(subset));
    return errors;
  }
  return data;
}

} // namespace nnjit
