// Report: what training and evaluation print — a readable text log or JSON lines.
#include "Report.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace nnjit::cli {

std::string formatNumber(double v, api::DType dtype) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return dtype == api::DType::F32 ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v);
}

namespace {

using Json = nlohmann::ordered_json;

/// `{"epoch": 1, "loss": 36.0}`: ", " and ": " separators, keys in insertion
/// order, numbers as nlohmann writes them (the contract's examples).
std::string jsonLine(const Json& j) {
  if (!j.is_object()) return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out = "{";
  const char* sep = "";
  for (auto it = j.begin(); it != j.end(); ++it) {
    out += sep + Json(it.key()).dump() + ": " + jsonLine(it.value());
    sep = ", ";
  }
  return out + "}";
}

Json metricsObject(const std::vector<api::Metric>& metrics, auto&& number, Json j = Json::object()) {
  for (const api::Metric& m : metrics) j[m.name] = number(m.value);
  return j;
}

double roundMs(double v) { return std::round(v * 1000) / 1000; }

} // namespace

/// A JSON number that prints like formatNumber: parse the shortest text back.
/// JSON has no NaN: a non-finite value is null (a diverged run never reports one).
nlohmann::ordered_json Reporter::json(double v) const {
  if (!std::isfinite(v)) return nullptr;
  return std::stod(formatNumber(v, dtype_));
}

void Reporter::epoch(const api::EpochReport& r) {
  auto num = [&](double v) { return json(v); };
  if (format_ == LogFormat::Json) {
    Json j = Json::object();
    j["epoch"] = r.epoch;
    j["loss"] = json(r.loss);
    j["metrics"] = metricsObject(r.metrics, num);
    if (r.test) {
      Json test = Json::object();
      test["loss"] = json(r.test->loss);
      j["test"] = metricsObject(r.test->metrics, num, test);
    }
    j["ms"] = roundMs(r.ms);
    fmt::print(out_, "{}\n", jsonLine(j));
  } else {    int width = static_cast<int>(std::to_string(lastEpoch_).size());
    std::string line = fmt::format("epoch {:>{}}/{}  loss {}", r.epoch, width, lastEpoch_, number(r.loss));
    for (const api::Metric& m : r.metrics) line += fmt::format("  {} {}", m.name, number(m.value));
    if (r.test) {
      line += fmt::format("  | test loss {}", number(r.test->loss));
      for (const api::Metric& m : r.test->metrics) line += fmt::format("  {} {}", m.name, number(m.value));
    }
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

void Reporter::done(const api::TrainRun& run, double compileMs) {
  if (format_ == LogFormat::Json) {
    Json j = Json::object();
    j["done"] = true;
    j["epochs"] = run.epochs;
    j["loss"] = run.epochs ? json(run.lastLoss) : Json(nullptr);
    j["compile_ms"] = roundMs(compileMs);
    j["train_ms"] = roundMs(run.trainMs);
    fmt::print(out_, "{}\n", jsonLine(j));
  } else {
    fmt::print(out_, "done: {} epoch{}{}, compile {:.1f} ms, train {:.1f} ms\n", run.epochs, run.epochs == 1 ? "" : "s",
               run.epochs ? ", final loss " + number(run.lastLoss) : "", compileMs, run.trainMs);
  }
  std::fflush(out_);
}

void Reporter::evaluation(const api::Evaluation& e) {
  if (format_ == LogFormat::Json) {
    auto num = [&](double v) { return json(v); };
    Json j = Json::object();
    j["loss"] = json(e.loss);
    j["metrics"] = metricsObject(e.metrics, num);
    fmt::print(out_, "{}\n", jsonLine(j));
  } else {
    fmt::print(out_, "loss {}\n", number(e.loss));
    for (const api::Metric& m : e.metrics) fmt::print(out_, "{} {}\n", m.name, number(m.value));
  }
  std::fflush(out_);
}

} // namespace nnjit::cli
