// TestSupport: compile a model from a string and run its entry points, for unit tests.
#pragma once

#include "Compiler.h"
#include "Lexer.h"
#include "LowerToGraph.h"
#include "Parser.h"
#include "Session.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>

#include <memory>
#include <numeric>
#include <optional>
#include <string>

namespace nnjit::test {

/// A compiled model with its session; fails the test on any diagnostic.
struct Compiled {
  std::unique_ptr<CompiledModel> cm;
  std::unique_ptr<Session> session;
  std::string errors;

  Compiled(const std::string& source, CompileOptions options) {
    DiagnosticEngine diags("test.nn", source);
    cm = compileModel(source, "test.nn", options, diags);
    for (const auto& d : diags.diagnostics()) errors += formatDiagnostic(d);
    if (cm) session = std::make_unique<Session>(*cm);
  }
  bool ok() const { return cm != nullptr; }
};

inline CompileOptions f64Gradients() {
  CompileOptions o;
  o.dtype = DType::F64;
  o.gradients = true;
  o.evaluate = true;
  return o;
}

/// The output of compiler stage `stage` (a schedule, the IR) for `src`'s train step.
inline std::optional<std::string> trainStepStage(const std::string& src, Stage stage) {
  CompileOptions o;
  o.trainStep = true;
  DiagnosticEngine diags("test.nn", src);
  return emitStage(src, "test.nn", stage, o, diags);
}

/// Every diagnostic of parsing and (when that succeeds) lowering `src`, as
/// printed: `t.nn:LINE:COL: error: ...`, the source line and a caret.
inline std::string lowerErrors(const std::string& src) {
  DiagnosticEngine diags("t.nn", src);
  Module m = parse(lex(src, diags), diags);
  if (!diags.hasErrors()) lowerToGraph(m, "t.nn", diags);
  std::string out;
  for (const auto& d : diags.diagnostics()) out += formatDiagnostic(d);
  return out;
}

/// Feeds all rows of `data`, in order, column i to input i.
inline void feedAll(Session& s, const Dataset& data) {
  std::vector<int64_t> rows(data.rows);
  std::iota(rows.begin(), rows.end(), 0);
  std::vector<int> columnOf(data.columns.size());
  std::iota(columnOf.begin(), columnOf.end(), 0);
  s.reserveRows(data.rows);
  s.feed(data, rows, 0, data.rows, columnOf);
}

/// The largest relative difference between every param's symbolic gradient
/// and central finite differences of the loss, at the session's params, each
/// param moved by `step` times its size (at least 1).
inline double gradientError(Compiled& c, int64_t rows, double step = 1e-6) {
  Session& s = *c.session;
  const CompiledModel& cm = *c.cm;
  s.run(cm.gradients, rows);
  double worst = 0;
  for (size_t i = 0; i < cm.paramSlots.size(); ++i) {
    int slot = cm.paramSlots[i];
    std::vector<double> symbolic = s.read(cm.gradientSlots[i]);
    std::vector<double> p = s.read(slot);
    for (size_t j = 0; j < p.size(); ++j) {
      double h = step * std::max(1.0, std::fabs(p[j]));
      std::vector<double> q = p;
      q[j] = p[j] + h;
      s.write(slot, q);
      s.evaluate(rows);
      double up = s.scalar(cm.lossSlot);
      q[j] = p[j] - h;
      s.write(slot, q);
      s.evaluate(rows);
      double down = s.scalar(cm.lossSlot);
      s.write(slot, p);
      double numeric = (up - down) / (2 * h);
      double scale = std::max({std::fabs(numeric), std::fabs(symbolic[j]), 1e-3});
      worst = std::max(worst, std::fabs(numeric - symbolic[j]) / scale);
    }
  }
  return worst;
}

/// `src`'s gradients (over all rows of `data`, if given) match finite
/// differences at three random draws of its params.
inline void checkGradients(const std::string& src, const Dataset* data = nullptr) {
  Compiled c(src, f64Gradients());
  INFO(src << c.errors);
  REQUIRE(c.ok());
  if (data) feedAll(*c.session, *data);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    c.session->initParams(seed);
    CHECK(gradientError(c, data ? data->rows : 1) < 1e-6);
  }
}

} // namespace nnjit::test
