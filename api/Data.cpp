// Data: data tables for a model and their train/test split, on top of runtime/CsvDataset, IdxDataset and Trainer.
#include "Internal.h"

#include "CsvDataset.h"
#include "IdxDataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace nnjit::api {
namespace {

std::vector<std::string> namesOf(const std::vector<nnjit::InputColumns>& layout) {
  std::vector<std::string> names;
  for (const nnjit::InputColumns& c : layout) names.push_back(c.name);
  return names;
}

Expected<Table> tableOf(Result<nnjit::Dataset> data, std::vector<std::string> names) {
  if (!data) return Error(ErrorKind::Io, publicDiagnostics(data.errors()));
  return Access::table(std::move(*data), std::move(names));
}

std::vector<nnjit::DataSource> sourcesOf(const std::vector<DataFile>& files) {
  std::vector<nnjit::DataSource> sources;
  for (const DataFile& f : files) sources.push_back({f.path, f.name.empty() ? f.path : f.name});
  return sources;
}

/// Whether the files are one CSV (else IDX files); an Io error when that cannot be told.
Expected<bool> isCsv(const std::vector<nnjit::DataSource>& files, const std::string& modelName) {
  if (files.empty()) return errorIn(ErrorKind::InvalidArgument, modelName, "no data files to read");
  Result<nnjit::DataFormat> format = nnjit::dataFormat(files);
  if (!format) return Error(ErrorKind::Io, publicDiagnostics(format.errors()));
  return *format == nnjit::DataFormat::Csv;
}

/// IDX files bound to `layout`; the table holds the inputs they bind.
Expected<Table> idxTable(const std::vector<nnjit::DataSource>& files, const std::vector<nnjit::InputColumns>& layout,
                         const std::vector<bool>& required, nnjit::DType dtype, const std::string& modelName) {
  std::vector<bool> bound;
  Result<nnjit::Dataset> data = nnjit::loadIdx(files, layout, required, dtype, modelName, bound);
  std::vector<std::string> names;
  for (size_t i = 0; i < layout.size(); ++i)
    if (bound[i]) names.push_back(layout[i].name);
  return tableOf(std::move(data), std::move(names));
}

/// How many of `rows` the model holds out to test on; -1 for a separate test file.
Expected<int64_t> testCount(const ParsedModel::Impl& p, int64_t rows) {
  const TestSplit& test = p.defaults.test;
  int64_t count = test.kind == TestSplit::Kind::Count      ? test.count
                  : test.kind == TestSplit::Kind::Fraction ? nnjit::testRowsForFraction(test.fraction, rows)
                                                           : 0;
  if (test.kind == TestSplit::Kind::File) return -1;
  if (count >= rows) {
    std::string message =
        fmt::format("test takes {} rows, but the data has only {}; no rows would be left to train on", count, rows);
    if (p.defaults.testAt.line == 0) return errorIn(ErrorKind::InvalidArgument, p.name, message);
    Diagnostic at = p.defaults.testAt;
    at.message = std::move(message);
    return Error(ErrorKind::InvalidArgument, {at});
  }
  return count;
}

} // namespace

int64_t Table::rows() const { return impl_->data.rows; }
std::vector<std::string> Table::inputNames() const { return impl_->names; }

Batch Table::batch() const {
  Batch b(impl_->data.rows);
  for (size_t i = 0; i < impl_->names.size(); ++i) {
    const nnjit::DataColumn& c = impl_->data.columns[i];
    auto count = static_cast<int64_t>(c.size());
    if (c.dtype() == nnjit::DType::F32) b.set(impl_->names[i], c.f32(), count);
    else b.set(impl_->names[i], c.f64(), count);
  }
  return b;
}

Table Table::firstRows(int64_t count, std::optional<uint64_t> shuffleSeed) const {
  nnjit::TrainPlan plan;
  plan.shuffleSeed = shuffleSeed;
  nnjit::splitRows(plan, impl_->data.rows, 0);
  count = std::clamp<int64_t>(count, 0, impl_->data.rows);
  nnjit::Dataset out;
  out.rows = count;
  for (const nnjit::DataColumn& column : impl_->data.columns) {
    int64_t width = impl_->data.rows ? static_cast<int64_t>(column.size()) / impl_->data.rows : 0;
    out.columns.emplace_back(column.dtype()).appendRows(column, plan.trainRows.data(), count, width);
  }
  return Access::table(std::move(out), impl_->names);
}

Expected<Table> loadCsv(const ParsedModel& model, const std::string& path, DType dtype,
                        const std::string& displayName) {
  return loadData(model, {{path, displayName}}, dtype);
}

Expected<Table> loadPredictCsv(const Model& model, const std::string& path) { return loadPredictData(model, {path}); }

Expected<Table> loadData(const ParsedModel& model, const std::vector<DataFile>& files, DType dtype) {
  const ParsedModel::Impl& p = Access::of(model);
  std::vector<nnjit::InputColumns> layout = nnjit::csvLayout(nnjit::declarationsOf(*p.model));
  std::vector<nnjit::DataSource> sources = sourcesOf(files);
  Expected<bool> csv = isCsv(sources, p.name);
  if (!csv) return csv.error();
  if (!*csv) return idxTable(sources, layout, std::vector<bool>(layout.size(), true), internalDType(dtype), p.name);
  return tableOf(nnjit::loadCsv(sources[0].path, sources[0].name, layout, internalDType(dtype)), namesOf(layout));
}

Expected<Table> loadPredictData(const Model& model, const std::vector<std::string>& paths) {
  const Model::Impl& m = Access::of(model);
  const nnjit::CompiledModel& cm = *m.cm;
  std::vector<nnjit::InputColumns> full = nnjit::csvLayout(cm.declared), subset;
  std::vector<bool> reads(full.size());
  for (size_t i = 0; i < full.size(); ++i) {
    reads[i] = i < cm.outputReadsInput.size() && cm.outputReadsInput[i];
    if (reads[i]) subset.push_back(full[i]);
  }
  std::vector<nnjit::DataSource> sources;
  for (const std::string& path : paths) sources.push_back({path, path});
  Expected<bool> csv = isCsv(sources, m.name);
  if (!csv) return csv.error();
  if (!*csv) return idxTable(sources, full, reads, cm.dtype, m.name);
  Result<nnjit::Dataset> data = nnjit::loadCsvEither(paths[0], paths[0], full, subset, cm.dtype);
  bool isFull = data && data->columns.size() == full.size();
  return tableOf(std::move(data), namesOf(isFull ? full : subset));
}

Expected<TrainData> TrainData::split(const ParsedModel& model, std::optional<Table> data, DType dtype) {
  const ParsedModel::Impl& p = Access::of(model);
  auto impl = std::make_shared<Impl>();
  impl->defaults = p.defaults;
  impl->shuffleSeed = p.defaults.shuffleSeed;
  if (!data) return TrainData(std::move(impl));
  int64_t rows = data->rows();
  Expected<int64_t> test = testCount(p, rows);
  if (!test) return test.error();
  if (*test < 0) {
    std::vector<DataFile> files;
    for (size_t i = 0; i < p.defaults.test.paths.size(); ++i)
      files.push_back({p.defaults.test.paths[i], p.defaults.test.names[i]});
    Expected<Table> file = loadData(model, files, dtype);
    if (!file) return file.error();
    impl->testFile = std::move(*file);
    impl->testRows.resize(static_cast<size_t>(impl->testFile->rows()));
    std::iota(impl->testRows.begin(), impl->testRows.end(), int64_t(0));
  }
  nnjit::TrainPlan plan;
  plan.shuffleSeed = impl->shuffleSeed;
  nnjit::splitRows(plan, rows, *test);
  impl->trainRows = std::move(plan.trainRows);
  if (*test >= 0) impl->testRows = std::move(plan.testRows);
  impl->data = std::move(data);
  return TrainData(std::move(impl));
}

int64_t TrainData::trainRows() const { return static_cast<int64_t>(impl_->trainRows.size()); }
int64_t TrainData::testRows() const { return static_cast<int64_t>(impl_->testRows.size()); }

} // namespace nnjit::api
