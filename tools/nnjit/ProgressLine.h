// ProgressLine: a live status line on a terminal for long training runs.
#pragma once

#include <nnjit/nnjit.h>

namespace nnjit::cli {

/// Redraws one line on stderr at most 10 times a second, and only when
/// stderr is a terminal and training has run for a while, so piped and JSON
/// output never see it. `clear()` erases it before a log line is printed.
class ProgressLine {
public:
  ProgressLine();
  void update(const api::TrainProgress& p);
  void clear();

private:
  bool enabled_;
  bool shown_ = false;
  double lastDraw_ = -1;
};

} // namespace nnjit::cli
