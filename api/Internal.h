// Internal: what the API's implementation files share — the Impl structs and conversions.
#pragma once

#include "nnjit/nnjit.h"

#include "Compiler.h"
#include "Session.h"
#include "Trainer.h"
#include "Autodiff.h"

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
  CompileTimes times;
  bool hasLoss = false, canTrain = false;
};

struct ParsedModel::Impl {
  nnjit::Model model;
  nnjit::StageTimes times;  // parse and lower
  std::string name, dataPath;
  TrainDefaults defaults;
  std::vector<Diagnostic> warnings;
};

struct Table::Impl {
  nnjit::Dataset data;
  std::vector<std::string> names;  // the input of each column group
};

struct TrainData::Impl {
  std::optional<Table> data, testFile;
  std::vector<int64_t> trainRows, testRows;  // into data, or testFile for test rows when set
  std::optional<uint64_t> shuffleSeed;
  TrainDefaults defaults;
};

struct Session::Impl {
  explicit Impl(const Model& m);

  Model model;              // keeps the compiled code alive
  const Model::Impl& m;
  nnjit::Session session;   // refers to *m.cm
  uint64_t seed = 0;
  int threads = 1;
  std::vector<double> scratch;
  std::vector<const Batch::Column*> columns;
};

/// Reaches the private handles of the public classes.
struct Access {
  static const Model::Impl& of(const Model& m) { return *m.impl_; }
  static const ParsedModel::Impl& of(const ParsedModel& p) { return *p.impl_; }
  static const Table::Impl& of(const Table& t) { return *t.impl_; }
  static const TrainData::Impl& of(const TrainData& t) { return *t.impl_; }
  static Table table(nnjit::Dataset data, std::vector<std::string> names) {
    return Table(std::make_shared<const Table::Impl>(Table::Impl{std::move(data), std::move(names)}));
  }
  static ParsedModel parsed(std::shared_ptr<const ParsedModel::Impl> p) { return ParsedModel(std::move(p)); }
  static Model model(std::shared_ptr<const Model::Impl> m) { return Model(std::move(m)); }
  static TrainData trainData(std::shared_ptr<const TrainData::Impl> t) { return TrainData(std::move(t)); }
};

/// Fills the public description (inputs, params, output, ...) from the compiled model.
void describeModel(Model::Impl& m);

/// The public form of the model's `train(...)`, paths resolved beside `modelPath`.
TrainDefaults trainDefaults(const nnjit::Model& model, const std::string& modelPath);

/// A path written in the `.nn` file, made relative to the `.nn` file's folder.
std::string besideModel(const std::string& modelPath, const std::string& path);

nnjit::DType internalDType(DType d);
CompileTimes publicTimes(const nnjit::StageTimes& t);

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
