// CsvDataset: CSV training data bound to a model's inputs, as the contract's data-binding rules say.
#pragma once

#include "DataColumn.h"
#include "Diagnostics.h"

#include <cstdint>
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
