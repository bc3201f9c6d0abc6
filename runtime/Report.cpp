// Report: what training and evaluation print — a readable text log or JSON lines.
#include "Report.h"

#include "JsonLine.h"

#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace nnjit {

std::string formatNumber(double v, DType dtype) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return dtype == DType::F32 ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v);
}

namespace {

/// A JSON number that prints like formatNumber: parse the shortest text back.
nlohmann::ordered_json jsonNumber(double v, DType dtype) {
  if (!std::isfinite(v)) return nullptr;  // JSON has no NaN; a diverged run never reports one
  return std::stod(formatNumber(v, dtype));
}

std::string oneLine(const nlohmann::ordered_json& j) { return jsonLine(j); }

} // namespace

void Reporter::epoch(const EpochStats& s) {
  const Model& m = cm_.model;
  if (format_ == LogFormat::Json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["epoch"] = s.epoch;
    j["loss"] = jsonNumber(s.loss, cm_.dtype);
    nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
    for (size_t i = 0; i < m.metrics.size(); ++i) metrics[m.metrics[i].name] = jsonNumber(s.metrics[i], cm_.dtype);
    j["metrics"] = metrics;
    if (s.hasTest) {
      nlohmann::ordered_json test = nlohmann::ordered_json::object();
      test["loss"] = jsonNumber(s.testLoss, cm_.dtype);
      for (size_t i = 0; i < m.metrics.size(); ++i) test[m.metrics[i].name] = jsonNumber(s.testMetrics[i], cm_.dtype);
      j["test"] = test;
    }
    j["ms"] = std::round(s.ms * 1000) / 1000;
    fmt::print(out_, "{}\n", oneLine(j));
  } else {
    int width = static_cast<int>(std::to_string(lastEpoch_).size());
    std::string line = fmt::format("epoch {:>{}}/{}  loss {}", s.epoch, width, lastEpoch_, number(s.loss));
    for (size_t i = 0; i < m.metrics.size(); ++i) line += fmt::format("  {} {}", m.metrics[i].name, number(s.metrics[i]));
    if (s.hasTest) {
      line += fmt::format("  | test loss {}", number(s.testLoss));
      for (size_t i = 0; i < m.metrics.size(); ++i)
        line += fmt::format("  {} {}", m.metrics[i].name, number(s.testMetrics[i]));
    }
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

void Reporter::done(const TrainOutcome& o, double compileMs) {
  auto ms = [](double v) { return std::round(v * 1000) / 1000; };
  if (format_ == LogFormat::Json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["done"] = true;
    j["epochs"] = o.epochsRun;
    j["loss"] = o.epochsRun ? jsonNumber(o.lastLoss, cm_.dtype) : nlohmann::ordered_json(nullptr);
    j["compile_ms"] = ms(compileMs);
    j["train_ms"] = ms(o.trainMs);
    fmt::print(out_, "{}\n", oneLine(j));
  } else {
    fmt::print(out_, "done: {} epoch{}{}, compile {:.1f} ms, train {:.1f} ms\n", o.epochsRun, o.epochsRun == 1 ? "" : "s",
               o.epochsRun ? ", final loss " + number(o.lastLoss) : "", compileMs, o.trainMs);
  }
  std::fflush(out_);
}

void Reporter::evaluation(const Evaluation& e) {
  const Model& m = cm_.model;
  if (format_ == LogFormat::Json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["loss"] = jsonNumber(e.loss, cm_.dtype);
    nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
    for (size_t i = 0; i < m.metrics.size(); ++i) metrics[m.metrics[i].name] = jsonNumber(e.metrics[i], cm_.dtype);
    j["metrics"] = metrics;
    fmt::print(out_, "{}\n", oneLine(j));
  } else {
    fmt::print(out_, "loss {}\n", number(e.loss));
    for (size_t i = 0; i < m.metrics.size(); ++i) fmt::print(out_, "{} {}\n", m.metrics[i].name, number(e.metrics[i]));
  }
  std::fflush(out_);
}

} // namespace nnjit
