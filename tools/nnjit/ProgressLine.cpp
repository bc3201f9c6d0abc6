// ProgressLine: a live status line on a terminal for long training runs.
#include "ProgressLine.h"

#include <fmt/format.h>

#include <cstdio>
#include <unistd.h>

namespace nnjit::cli {

namespace {
constexpr double kQuietSeconds = 1.0;    // short runs never show it
constexpr double kRedrawSeconds = 0.1;
} // namespace

ProgressLine::ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::update(const api::TrainProgress& p) {
  if (!enabled_ || p.seconds < kQuietSeconds || p.seconds - lastDraw_ < kRedrawSeconds) return;
  lastDraw_ = p.seconds;
  double rate = p.rowsDone / p.seconds;
  double left = rate > 0 ? (p.rowsTotal - p.rowsDone) / rate : 0;
  fmt::print(stderr, "\r\033[Kepoch {}/{}  batch {}/{}  loss {:.6g}  {:.0f} rows/s  {:.0f} s left", p.epoch,
             p.lastEpoch, p.batch, p.batches, p.loss, rate, left);
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

} // namespace nnjit::cli
