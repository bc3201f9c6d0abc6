// Report: what training and evaluation print — a readable text log or JSON lines.
#include "Report.h"

#include <fmt/format.h>

#include <cmath>
#include <string_view>

namespace nnjit::cli {

std::string formatNumber(double v, api::DType dtype) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return dtype == api::DType::F32 ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v);
}

namespace {

/// A key as a JSON string (metric names are identifiers, but be exact).
std::string quoted(std::string_view key) {
  std::string out = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += c;
  }
  return out + "\"";
}

/// A JSON number in full, as the text log's `done:` line and `eval` write it
/// (shortest in the run's dtype);
/// a whole number keeps a ".0" as in the contract's examples (`36.0`), and
/// JSON's null stands for what is not finite.
std::string jsonNumber(double v, api::DType dtype) {
  if (!std::isfinite(v)) return "null";
  std::string text = formatNumber(v, dtype);
  if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
  return text;
}

/// One JSON object, written as it is built: `{"epoch": 1, "loss": 36.0}`,
/// with ", " and ": " separators and keys in the order given.
class JsonObject {
public:
  JsonObject& raw(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? "{" : ", ";
    text_ += quoted(key);
    text_ += ": ";
    text_ += value;
    return *this;
  }
  std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

private:
  std::string text_;
};

double roundMs(double v) { return std::round(v * 1000) / 1000; }

/// What a run's last JSON line ends with, whether it finished or not.
void addRunFigures(JsonObject& j, const api::TrainRun& run, double compileMs, api::DType dtype) {
  j.raw("loss", run.epochs ? jsonNumber(run.lastLoss, dtype) : "null");
  j.raw("compile_ms", jsonNumber(roundMs(compileMs), api::DType::F64));
  j.raw("train_ms", jsonNumber(roundMs(run.trainMs), api::DType::F64));
}

/// How often a log that goes to a pipe or a file is flushed: often enough to
/// watch, rarely enough that 500 epochs of iris are not 500 system calls.
constexpr double kFlushSeconds = 0.1;

/// An epoch line's numbers: 5 significant digits, padded so that a column
/// lines up from epoch to epoch (`0.19248`, `3.5527e-15`; `-1.2346e-15` overflows by one).
constexpr int kEpochDigits = 5;
constexpr int kEpochWidth = 10;

std::string epochNumber(double v, api::DType dtype) {
  // Rounded to the dtype first, as formatNumber does: a float32 value prints as float32 rounds it.
  double held = dtype == api::DType::F32 ? static_cast<double>(static_cast<float>(v)) : v;
  std::string text = std::isfinite(held) ? fmt::format("{:.{}g}", held, kEpochDigits) : formatNumber(v, dtype);
  return fmt::format("{:<{}}", text, kEpochWidth);
}

/// A text log longer than this is thinned to about kThinnedLines lines.
constexpr int64_t kMaxFullLog = 100;
constexpr int64_t kThinnedLines = 50;

} // namespace

int64_t logStride(std::optional<int64_t> logEvery, LogFormat format, int64_t epochs) {
  if (logEvery) return *logEvery;
  // JSON is for programs, which want every epoch; people want a screenful.
  if (format == LogFormat::Json || epochs <= kMaxFullLog) return 1;
  return (epochs + kThinnedLines - 1) / kThinnedLines;
}

std::string Reporter::json(double v) const { return jsonNumber(v, dtype_); }

std::string Reporter::metricsObject(const std::vector<api::Metric>& metrics, JsonObjectStart start) const {
  JsonObject o;
  if (start.loss) o.raw("loss", json(*start.loss));
  for (const api::Metric& m : metrics) o.raw(m.name, json(m.value));
  return o.str();
}

void Reporter::flushSometimes() {
  auto now = std::chrono::steady_clock::now();
  if (now - lastFlush_ < std::chrono::duration<double>(kFlushSeconds)) return;
  std::fflush(out_);
  lastFlush_ = now;
}

void Reporter::epoch(const api::EpochReport& r) {
  if (r.epoch != firstEpoch_ && r.epoch % every_ != 0 && r.epoch != lastEpoch_) {
    skipped_ = r;
    return;
  }
  skipped_.reset();
  printEpoch(r);
}

void Reporter::printSkipped() {
  if (skipped_) printEpoch(*skipped_);
  skipped_.reset();
}

void Reporter::printEpoch(const api::EpochReport& r) {
  if (format_ == LogFormat::Json) {
    JsonObject j;
    j.raw("epoch", std::to_string(r.epoch)).raw("loss", json(r.loss)).raw("metrics", metricsObject(r.metrics, {}));
    if (r.test) j.raw("test", metricsObject(r.test->metrics, {r.test->loss}));
    if (watchesBest_ && r.best) j.raw("best", "true");
    j.raw("ms", jsonNumber(roundMs(r.ms), api::DType::F64));
    fmt::print(out_, "{}\n", j.str());
  } else {
    int width = static_cast<int>(std::to_string(lastEpoch_).size());
    auto cell = [&](double v) { return epochNumber(v, dtype_); };
    std::string line = fmt::format("epoch {:>{}}/{}  loss {}", r.epoch, width, lastEpoch_, cell(r.loss));
    for (const api::Metric& m : r.metrics) line += fmt::format("  {} {}", m.name, cell(m.value));
    if (r.test) {
      line += fmt::format("  | test loss {}", cell(r.test->loss));
      for (const api::Metric& m : r.test->metrics) line += fmt::format("  {} {}", m.name, cell(m.value));
    }
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::print(out_, "{}\n", line);
  }
  flushSometimes();
}

void Reporter::done(const api::TrainRun& run, double compileMs) {
  printSkipped();  // a run that stopped early still shows its last epoch
  if (format_ == LogFormat::Json) {
    JsonObject j;
    j.raw("done", "true").raw("epochs", std::to_string(run.epochs));
    addRunFigures(j, run, compileMs, dtype_);
    if (watchesBest_) {
      j.raw("stopped_early", run.stoppedEarly ? "true" : "false");
      j.raw("best_epoch", run.best ? std::to_string(run.best->epoch) : "null");
      j.raw("best_test_loss", run.best ? json(run.best->testLoss) : "null");
    }
    fmt::print(out_, "{}\n", j.str());
  } else {
    if (run.stoppedEarly)
      fmt::print(out_, "early stop: test loss has not improved for {} epoch{}{}\n", patience_,
                 patience_ == 1 ? "" : "s", run.best ? fmt::format(" (best {} at epoch {})", number(run.best->testLoss), run.best->epoch) : "");
    fmt::print(out_, "done: {} epoch{}{}, compile {:.1f} ms, train {:.1f} ms\n", run.epochs, run.epochs == 1 ? "" : "s",
               run.epochs ? ", final loss " + number(run.lastLoss) : "", compileMs, run.trainMs);
  }
  std::fflush(out_);
}

void Reporter::interrupted(const api::TrainRun& run, double compileMs, int64_t epochsDone, const std::string& savedTo) {
  const api::Interruption& at = *run.interrupted;
  printSkipped();
  if (format_ == LogFormat::Json) {
    JsonObject j;
    j.raw("interrupted", "true").raw("epochs", std::to_string(run.epochs));
    j.raw("in_epoch", std::to_string(at.epoch)).raw("batch", std::to_string(at.batch));
    j.raw("batches", std::to_string(at.batches)).raw("saved", savedTo.empty() ? "null" : quoted(savedTo));
    addRunFigures(j, run, compileMs, dtype_);
    fmt::print(out_, "{}\n", j.str());
  } else {
    std::string where = at.batch ? fmt::format("in epoch {}, batch {} of {}", at.epoch, at.batch, at.batches)
                                 : fmt::format("after epoch {}", at.epoch - 1);
    std::string what = savedTo.empty() ? "nothing saved (no --save)"
                                       : fmt::format("saved the state after epoch {} to {}", epochsDone, savedTo);
    fmt::print(out_, "interrupted {}: {}\n", where, what);
  }
  std::fflush(out_);
}

void Reporter::evaluation(const api::Evaluation& e) {
  if (format_ == LogFormat::Json) {
    JsonObject j;
    j.raw("loss", json(e.loss)).raw("metrics", metricsObject(e.metrics, {}));
    fmt::print(out_, "{}\n", j.str());
  } else {
    fmt::print(out_, "loss {}\n", number(e.loss));
    for (const api::Metric& m : e.metrics) fmt::print(out_, "{} {}\n", m.name, number(m.value));
  }
  std::fflush(out_);
}

} // namespace nnjit::cli
