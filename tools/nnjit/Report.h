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

/// Every how many epochs a run's log prints a line: `--log-every` when given
/// (text and JSON alike); else, for a text log of more than 100 epochs, about
/// 50 lines' worth (ceil(epochs / 50)), and every epoch otherwise.
int64_t logStride(std::optional<int64_t> logEvery, LogFormat format, int64_t epochs);

class Reporter {
public:
  Reporter(LogFormat format, api::DType dtype, int64_t lastEpoch, std::FILE* out = stdout)
      : format_(format), dtype_(dtype), lastEpoch_(lastEpoch), out_(out) {}

  /// Prints only the epochs `firstEpoch`, the multiples of `every`, and the
  /// last one trained (at `done` or `interrupted`, when that was not the planned last).
  void thin(int64_t every, int64_t firstEpoch) {
    every_ = every;
    firstEpoch_ = firstEpoch;
  }
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
  void printEpoch(const api::EpochReport& r);
  /// A thinned-out epoch's line, printed before the run's last line when no later one was.
  void printSkipped();

  LogFormat format_;
  api::DType dtype_;
  int64_t lastEpoch_;
  int64_t every_ = 1;
  int64_t firstEpoch_ = 1;
  std::optional<api::EpochReport> skipped_;
  bool watchesBest_ = false;
  int64_t patience_ = 0;
  std::FILE* out_;
  std::chrono::steady_clock::time_point lastFlush_ = std::chrono::steady_clock::now();
};

} // namespace nnjit::cli
