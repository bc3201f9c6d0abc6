// Binding: checking a caller's Batch against the model's inputs and copying it into a session.
#include "Internal.h"

#include <cmath>

namespace nnjit::api {
namespace {

double valueAt(const Batch::Column& c, int64_t i) {
  return c.dtype == DType::F32 ? static_cast<const float*>(c.data)[i] : static_cast<const double*>(c.data)[i];
}

std::string inputNames(const Model::Impl& m) {
  std::string names;
  for (const TensorInfo& t : m.inputs) names += (names.empty() ? "'" : ", '") + t.name + "'";
  return names.empty() ? "none" : names;
}

/// A label outside 0..N-1 would index out of bounds in the generated code.
Status checkLabels(const Model::Impl& m, const TensorInfo& in, const Batch::Column& c) {
  for (int64_t i = 0; i < c.size; ++i) {
    double v = valueAt(c, i);
    if (!(v >= 0 && v < static_cast<double>(in.classes) && v == std::floor(v)))
      return errorIn(ErrorKind::InvalidArgument, m.name,
                     "input '" + in.name + "' value " + std::to_string(i) + " is " + std::to_string(v) +
                         ", not a class label in 0.." + std::to_string(in.classes - 1));
  }
  return {};
}

/// The buffer bound to `in` holds exactly the values `rows` rows need.
Status checkSize(const Model::Impl& m, const TensorInfo& in, const Batch::Column& c, int64_t rows) {
  auto invalid = [&](const std::string& why) { return errorIn(ErrorKind::InvalidArgument, m.name, "input '" + in.name + "' " + why); };
  std::string layout = (in.batched ? std::to_string(rows) + " rows of " : std::string()) + std::to_string(in.rowElements);
  int64_t want = in.elements(rows);
  if (want < 0) return invalid("would need " + layout + " values, more than a buffer can hold");
  if (c.size < 0) return invalid("has a buffer of negative size " + std::to_string(c.size));
  if (c.size > 0 && !c.data) return invalid("has a null buffer (it needs " + std::to_string(want) + " values)");
  if (c.size != want)
    return invalid("needs " + std::to_string(want) + " values (" + layout + "), but its buffer holds " +
                   std::to_string(c.size));
  return {};
}

} // namespace

Batch& Batch::bind(Column c) {
  for (Column& old : columns_)
    if (old.name == c.name) {
      old = std::move(c);
      return *this;
    }
  columns_.push_back(std::move(c));
  return *this;
}

Batch& Batch::set(std::string name, std::span<const float> values) {
  return bind({std::move(name), values.data(), static_cast<int64_t>(values.size()), DType::F32});
}

Batch& Batch::set(std::string name, std::span<const double> values) {
  return bind({std::move(name), values.data(), static_cast<int64_t>(values.size()), DType::F64});
}

Status bindInputs(const Model::Impl& m, const Batch& batch, const std::vector<bool>& needed,
                  std::vector<const Batch::Column*>& columns) {
  columns.assign(m.inputs.size(), nullptr);
  if (batch.rows() < 0) return errorIn(ErrorKind::InvalidArgument, m.name, "a batch cannot have a negative row count");
  for (const Batch::Column& c : batch.columns()) {
    size_t i = 0;
    while (i < m.inputs.size() && m.inputs[i].name != c.name) ++i;
    if (i == m.inputs.size())
      return errorIn(ErrorKind::InvalidArgument, m.name,
                     "'" + c.name + "' is not an input of the model (its inputs: " + inputNames(m) + ")");
    columns[i] = &c;
  }
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const TensorInfo& in = m.inputs[i];
    if (!columns[i]) {
      if (needed[i]) return errorIn(ErrorKind::InvalidArgument, m.name, "input '" + in.name + "' is not bound");
      continue;
    }
    if (in.batched && batch.rows() == 0)
      return errorIn(ErrorKind::InvalidArgument, m.name, "the batch has no rows, but input '" + in.name + "' is batched");
    if (Status s = checkSize(m, in, *columns[i], batch.rows()); !s) return s;
    if (in.classes > 0)
      if (Status s = checkLabels(m, in, *columns[i]); !s) return s;
  }
  return {};
}

int64_t runRows(const Model::Impl& m, const Batch& batch) {
  for (const TensorInfo& in : m.inputs)
    if (in.batched) return batch.rows();
  return 1;
}

void feedInputs(nnjit::Session& s, const Model::Impl& m, const std::vector<const Batch::Column*>& columns,
                const int64_t* order, int64_t firstRow, int64_t count, std::vector<double>& scratch) {
  for (size_t i = 0; i < columns.size(); ++i) {
    const Batch::Column* c = columns[i];
    int slot = m.cm->inputSlots[i];
    if (!c) {
      s.unbindInput(slot);  // no pointer into an earlier call's memory survives
      continue;
    }
    const TensorInfo& in = m.inputs[i];
    // Rows in order and in the model's dtype: the generated code reads the
    // caller's memory directly.
    bool sameType = (c->dtype == DType::F32) == (m.cm->dtype == nnjit::DType::F32);
    int64_t width = in.rowElements, rows = in.batched ? count : 1;
    int64_t first = in.batched ? firstRow : 0;
    if (sameType && (!order || !in.batched)) {
      size_t bytes = c->dtype == DType::F32 ? sizeof(float) : sizeof(double);
      s.bindInput(slot, static_cast<const char*>(c->data) + first * width * bytes);
      continue;
    }
    s.unbindInput(slot);
    scratch.resize(static_cast<size_t>(rows * width));
    for (int64_t r = 0; r < rows; ++r) {
      int64_t src = (in.batched && order ? order[r] : first + r) * width;
      for (int64_t j = 0; j < width; ++j) scratch[r * width + j] = valueAt(*c, src + j);
    }
    s.write(slot, scratch);
  }
}

} // namespace nnjit::api
