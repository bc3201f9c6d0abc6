// CsvDataset: CSV training data bound to a model's inputs, as the contract's data-binding rules say.
#pragma once

#include "DType.h"
#include "Diagnostics.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace nnjit {

/// One `input` of the model, in declaration order.
struct InputColumns {
  std::string name;
  int64_t width = 1;       // columns it takes: the product of its non-batch dims
  int64_t numClasses = 0;  // > 0: a class(N) label column, an integer 0..N-1
};

/// One input's values in a data table, row-major (rows x width), held in
/// the dtype the model computes in, so that a batch is a view of them or
/// one copy per row, never a conversion. A column built from doubles (the
/// default) holds float64.
class DataColumn {
public:
  explicit DataColumn(DType dtype = DType::F64) : dtype_(dtype) {}
  DataColumn(std::vector<double> values) : f64_(std::move(values)) {}  // NOLINT: float64 values, as tests write them
  DataColumn(std::initializer_list<double> values) : f64_(values) {}
  /// `values` in `dtype` (rounded to float32 once, here, for a float32 model).
  DataColumn(DType dtype, std::vector<double> values);

  DType dtype() const { return dtype_; }
  size_t size() const { return dtype_ == DType::F32 ? f32_.size() : f64_.size(); }
  bool empty() const { return size() == 0; }
  double operator[](size_t i) const { return dtype_ == DType::F32 ? f32_[i] : f64_[i]; }
  double back() const { return (*this)[size() - 1]; }
  /// Every value, as float64 (to look at them).
  std::vector<double> values() const;
  void push_back(double v) { dtype_ == DType::F32 ? f32_.push_back(static_cast<float>(v)) : f64_.push_back(v); }
  void reserve(size_t n) { dtype_ == DType::F32 ? f32_.reserve(n) : f64_.reserve(n); }
  /// Appends [first, last), each value converted to the column's dtype as it goes in.
  template <class It>
  void append(It first, It last) {
    if (dtype_ == DType::F32) f32_.insert(f32_.end(), first, last);
    else f64_.insert(f64_.end(), first, last);
  }
  /// The values' memory, dtypeSize(dtype()) bytes each.
  const char* bytes() const {
    return dtype_ == DType::F32 ? reinterpret_cast<const char*>(f32_.data()) : reinterpret_cast<const char*>(f64_.data());
  }
  /// Appends `count` rows of `width` values of `from` (of the same dtype): row rows[i] for each i.
  void appendRows(const DataColumn& from, const int64_t* rows, int64_t count, int64_t width);

  friend bool operator==(const DataColumn& a, const std::vector<double>& b);
  friend bool operator==(const DataColumn&, const DataColumn&) = default;

private:
  DType dtype_ = DType::F64;
  std::vector<float> f32_;
  std::vector<double> f64_;
};

struct Dataset {
  int64_t rows = 0;
  std::vector<DataColumn> columns;  // per input: rows * width values, row-major
};

/// Reads `path`, naming it `displayName` in diagnostics. A header that names
/// every column after the inputs (`x0,x1,label`, quoted or not) binds them by
/// name in any order; any other header is skipped and columns go by position
/// (docs/language.md, "CSV headers"). Values must be
/// finite in `dtype` (1e39 overflows float32). Errors name the 1-based line
/// and field; up to 20 are collected before giving up.
Result<Dataset> loadCsv(const std::string& path, const std::string& displayName,
                        const std::vector<InputColumns>& inputs, DType dtype);

/// The same, from text in memory.
Result<Dataset> parseCsv(std::string_view text, const std::string& displayName,
                         const std::vector<InputColumns>& inputs, DType dtype);

/// For `predict`: a CSV laid out like the training data (`full`), or with only
/// the columns of `subset`. The layout is the one a header names, else the
/// one of the first row's column count; the Dataset then has one column group per input of that layout. A
/// wrong count names both: "expected 5 columns (or 4 with only the inputs of the output)".
Result<Dataset> loadCsvEither(const std::string& path, const std::string& displayName,
                              const std::vector<InputColumns>& full, const std::vector<InputColumns>& subset,
                              DType dtype);

} // namespace nnjit
