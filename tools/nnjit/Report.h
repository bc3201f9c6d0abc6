// Report: what training and evaluation print — a readable text log or JSON lines.
#pragma once

#include "Commands.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace nnjit::cli {

/// `v` as the dtype holds it, written in the fewest digits that read back
/// to the same value (2.6f prints as 2.6, not 2.5999999046325684).
std::string formatNumber(double v, api::DType dtype);

class Reporter {
public:
  Reporter(LogFormat format, api::DType dtype, int64_t lastEpoch, std::FILE* out = stdout)
      : format_(format), dtype_(dtype), lastEpoch_(lastEpoch), out_(out) {}

  /// The run watches its best test loss (early stopping after `patience`
  /// epochs, 0: none, or --save-best): JSON epoch lines mark the best
  /// epochs, and the done line says which was best and whether the run stopped early.
  void watchBest(int64_t patience) {
    watchesBest_ = true;
    patience_ = patience;
  }
  void epoch(const api::EpochReport& r);
  void done(const api::TrainRun& run, double compileMs);
  /// The last line of a run that `TrainRun::interrupted` stopped; `savedTo`
  /// is the checkpoint written (empty: none), holding `epochsDone` epochs.
  void interrupted(const api::TrainRun& run, double compileMs, int64_t epochsDone, const std::string& savedTo);
  void evaluation(const api::Evaluation& e);

private:
  std::string number(double v) const { return formatNumber(v, dtype_); }
  std::string json(double v) const;
  /// `{"loss": L, "M": V, ...}`: the metrics, after the loss when there is one.
  struct JsonObjectStart {
    std::optional<double> loss;
  };
  std::string metricsObject(const std::vector<api::Metric>& metrics, JsonObjectStart start) const;
  void flushSometimes();

  LogFormat format_;
  api::DType dtype_;
  int64_t lastEpoch_;
  bool watchesBest_ = false;
  int64_t patience_ = 0;
  std::FILE* out_;
  std::chrono::steady_clock::time_point lastFlush_ = std::chrono::steady_clock::now();
};

} // namespace nnjit::cli
