// DataColumn: one input's values in a data table (CSV or IDX), in the model's dtype.
#pragma once

#include "DType.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace nnjit {

/// Whether `v` is a finite number once rounded to `dtype`: 3.4028235e38,
/// float32's largest as its shortest decimal, is a little above it as a
/// double, and is finite in float32.
inline bool finiteIn(DType dtype, double v) {
  return dtype == DType::F32 ? std::isfinite(static_cast<float>(v)) : std::isfinite(v);
}

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
  void push_back(double v) {
    if (dtype_ == DType::F32) f32_.push_back(static_cast<float>(v));
    else f64_.push_back(v);
  }
  void reserve(size_t n) {
    if (dtype_ == DType::F32) f32_.reserve(n);
    else f64_.reserve(n);
  }
  /// Appends [first, last), each value converted to the column's dtype as it goes in.
  template <class It>
  void append(It first, It last) {
    if (dtype_ == DType::F32) f32_.insert(f32_.end(), first, last);
    else f64_.insert(f64_.end(), first, last);
  }
  /// The values, for a column of that dtype.
  const float* f32() const { return f32_.data(); }
  const double* f64() const { return f64_.data(); }
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

} // namespace nnjit
