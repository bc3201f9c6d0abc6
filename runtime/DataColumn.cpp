// DataColumn: one input's values in a data table (CSV or IDX), in the model's dtype.
#include "DataColumn.h"

#include "InternalError.h"

#include <algorithm>

namespace nnjit {

DataColumn::DataColumn(DType dtype, std::vector<double> values) : dtype_(dtype) {
  if (dtype == DType::F64) {
    f64_ = std::move(values);
    return;
  }
  f32_.resize(values.size());
  std::transform(values.begin(), values.end(), f32_.begin(), [](double v) { return static_cast<float>(v); });
}

void DataColumn::appendRows(const DataColumn& from, const int64_t* rows, int64_t count, int64_t width) {
  NNJIT_CHECK(from.dtype_ == dtype_, "rows appended from a column of another dtype");
  auto append = [&](auto& out, const auto& in) {
    for (int64_t r = 0; r < count; ++r) {
      auto first = in.begin() + rows[r] * width;
      out.insert(out.end(), first, first + width);
    }
  };
  if (dtype_ == DType::F32) append(f32_, from.f32_);
  else append(f64_, from.f64_);
}

std::vector<double> DataColumn::values() const {
  if (dtype_ == DType::F64) return f64_;
  return std::vector<double>(f32_.begin(), f32_.end());
}

bool operator==(const DataColumn& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < b.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

} // namespace nnjit
