// IdxDataset: IDX files (MNIST's format, raw or gzip-compressed) bound to a model's inputs.
#pragma once

#include "CsvDataset.h"

#include <string>
#include <vector>

namespace nnjit {

/// One data file: where it is, and how diagnostics name it.
struct DataSource {
  std::string path;
  std::string name;
};

enum class DataFormat { Csv, Idx };

/// What `files` hold, told by their first bytes (after gzip decompression,
/// detected by its magic): one CSV file, or IDX files only. Several files
/// that are not all IDX, a gzip-compressed file that is not IDX, and a file
/// that cannot be read are errors naming the file.
Result<DataFormat> dataFormat(const std::vector<DataSource>& files);

/// Reads IDX files: each binds the first unbound input (in declaration order)
/// that its items fit: a one-dim file of integers a class(N) input (else a
/// float input of one value a row), any other file a float input whose row
/// holds as many values as one item. Every file must hold the same item
/// count. Inputs with `required[i]` must be bound; `bound` says which are, and
/// the Dataset has one column group per bound input, in declaration order.
/// An unbound required input is an error naming `modelName`.
Result<Dataset> loadIdx(const std::vector<DataSource>& files, const std::vector<InputColumns>& inputs,
                        const std::vector<bool>& required, DType dtype, const std::string& modelName,
                        std::vector<bool>& bound);

} // namespace nnjit
