// Internal: what the API's implementation files share — the Impl structs and conversions.
#pragma once

#include "nnjit/nnjit.h"

#include "Compiler.h"
#include "Session.h"

namespace nnjit::api {

struct Model::Impl {
  std::unique_ptr<nnjit::CompiledModel> cm;
  std::string name;
  DType dtype = DType::F32;
  std::vector<TensorInfo> inputs, params;
  std::optional<TensorInfo> output;
  std::vector<std::string> metrics;
  TrainDefaults defaults;
  std::vector<Diagnostic> warnings;
  bool hasLoss = false, canTrain = false;
};

/// Converts the compiler's diagnostics into the public ones.
std::vector<Diagnostic> publicDiagnostics(const std::vector<nnjit::Diagnostic>& diags);

/// An error naming `file` (the model) with one message.
Error errorIn(ErrorKind kind, const std::string& file, std::string message);

/// Checks `batch` against the model: every name is an input, every input with
/// `needed[i]` is bound with the right size, labels are whole numbers in range.
/// On success, `columns[i]` is the binding of input i (null when unbound).
Status bindInputs(const Model::Impl& m, const Batch& batch, const std::vector<bool>& needed,
                  std::vector<const Batch::Column*>& columns);

/// Rows a generated function runs on: the batch's rows, or 1 for a model
/// without batched inputs.
int64_t runRows(const Model::Impl& m, const Batch& batch);

/// Feeds rows `order[0, count)` (or rows firstRow.. when `order` is null) of
/// each bound input: in place, with no copy, when the rows are consecutive and
/// in the model's dtype; otherwise copied (and converted) into the slot.
void feedInputs(nnjit::Session& s, const Model::Impl& m, const std::vector<const Batch::Column*>& columns,
                const int64_t* order, int64_t firstRow, int64_t count, std::vector<double>& scratch);

} // namespace nnjit::api
