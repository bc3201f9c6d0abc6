// Shape: tensor dims, with the symbolic `batch` dim known only at run time.
#include "Shape.h"

#include <algorithm>

namespace nnjit {

int Shape::batchDims() const {
  return static_cast<int>(std::count_if(dims.begin(), dims.end(), isBatchDim));
}

int64_t Shape::staticElements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= isBatchDim(d) ? batchFactor(d) : d;
  return n;
}

int64_t Shape::elements(int64_t batch) const {
  int64_t n = 1;
  for (int64_t d : dims) n *= isBatchDim(d) ? batch * batchFactor(d) : d;
  return n;
}

std::string Shape::str() const {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    if (dims[i] == kBatch) out += "batch";
    else if (isBatchDim(dims[i])) out += "batch*" + std::to_string(batchFactor(dims[i]));
    else out += std::to_string(dims[i]);
  }
  return out + "]";
}

bool sameUnitFree(const Shape& a, const Shape& b) {
  auto unitFree = [](const Shape& s) {
    std::vector<int64_t> dims;
    for (int64_t d : s.dims)
      if (d != 1) dims.push_back(d);
    return dims;
  };
  return unitFree(a) == unitFree(b);
}

bool broadcastShapes(const Shape& a, const Shape& b, Shape& out) {
  int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) {
    int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    int64_t da = ia >= 0 ? a.dims[ia] : 1;
    int64_t db = ib >= 0 ? b.dims[ib] : 1;
    if (da == db || db == 1) dims[i] = da;
    else if (da == 1) dims[i] = db;
    else return false; // includes batch against a fixed size other than 1
  }
  out = Shape(std::move(dims));
  return true;
}

} // namespace nnjit
