// Internal: what the API's implementation files share — the Impl structs and conversions.
#pragma once

#include "nnjit/nnjit.h"

#include "Compiler.h"
#include "Session.h"
#include "Trainer.h"
#include "Autodiff.h"

#include <atomic>
#include <thread>

namespace nnjit::api {

struct Model::Impl {
  std::unique_ptr<nnjit::CompiledModel> cm;
  std::shared_ptr<const nnjit::Model> lowered;  // what was compiled, for what asks about its graph
  std::string name;
  DType dtype = DType::F32;
  std::vector<TensorInfo> inputs, params;
  std::optional<TensorInfo> output;
  std::vector<std::string> metrics;
  TrainDefaults defaults;
  std::vector<Diagnostic> warnings;
  CompileTimes times;
  bool hasLoss = false, canTrain = false, trainsByChunks = false;
  int64_t trainChunkRows = 0;
};

struct ParsedModel::Impl {
  std::shared_ptr<const nnjit::Model> model;
  std::string source;  // for `emit`, which runs the pipeline from the start
  nnjit::StageTimes times;  // parse and lower
  std::string name;
  std::vector<std::string> dataPaths;  // relative to the current directory
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
  std::unique_ptr<nnjit::Session> session;  // refers to *m.cm; null when it could not be allocated
  std::optional<Error> failure;             // why `session` is null
  uint64_t seed = 0;
  int threads = 1;
  std::vector<double> scratch;
  std::vector<const Batch::Column*> columns;
  std::atomic<std::thread::id> owner{};  // the thread inside a call, if any
  int depth = 0;                         // calls nested on that thread (from train's callbacks)
};

/// Enters one call on a session, for as long as it lives: `error()` says why
/// the call cannot go on (moved from, not allocated, in use on another thread).
class SessionEntry {
public:
  explicit SessionEntry(Session::Impl* s);
  ~SessionEntry();
  SessionEntry(const SessionEntry&) = delete;
  SessionEntry& operator=(const SessionEntry&) = delete;
  const std::optional<Error>& error() const { return error_; }

private:
  Session::Impl* s_ = nullptr;
  std::optional<Error> error_;
};

/// An OutOfMemory error naming the model: `what` could not be allocated.
Error outOfMemory(const Model::Impl& m, const std::string& what);

/// Runs `body(*s)` as one call on a session (see SessionEntry); a failed
/// allocation inside it is an OutOfMemory error, never an exception.
template <class F>
auto sessionCall(Session::Impl* s, F&& body) -> decltype(body(*s)) {
  SessionEntry entry(s);
  if (entry.error()) return *entry.error();
  try {
    return body(*s);
  } catch (const std::bad_alloc&) {
    return outOfMemory(s->m, "the buffers this call needs");
  }
}

/// Makes room for batches of `rows` rows, refusing what would not fit in memory.
Status reserveRows(Session::Impl& s, int64_t rows, int64_t trainBatch = 0);

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

/// The text of a `.nn` file, at most 64 MiB (`nnjit train /dev/zero` ends).
nnjit::Result<std::string> readModelFile(const std::string& path);

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
