// Report: what training and evaluation print — a readable text log or JSON lines.
#pragma once

#include "Trainer.h"

#include <cstdio>
#include <string>

namespace nnjit {

enum class LogFormat { Text, Json };

/// `v` as the dtype holds it, written in the fewest digits that read back
/// to the same value (2.6f prints as 2.6, not 2.5999999046325684).
std::string formatNumber(double v, DType dtype);

class Reporter {
public:
  Reporter(LogFormat format, const CompiledModel& cm, int64_t lastEpoch, std::FILE* out = stdout)
      : format_(format), cm_(cm), lastEpoch_(lastEpoch), out_(out) {}

  void epoch(const EpochStats& s);
  void done(const TrainOutcome& o, double compileMs);
  void evaluation(const Evaluation& e);

private:
  std::string number(double v) const { return formatNumber(v, cm_.dtype); }

  LogFormat format_;
  const CompiledModel& cm_;
  int64_t lastEpoch_;
  std::FILE* out_;
};

} // namespace nnjit
