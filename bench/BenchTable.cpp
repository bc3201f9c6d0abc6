// BenchTable: the benchmark's results — timed rows and loss checks — and the Markdown table they print as.
#include "BenchTable.h"

#include <cmath>

namespace nnjit::bench {

namespace {

std::string format(const char *fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string ms(double v) { return format(v < 10 ? "%.2f ms" : v < 1000 ? "%.1f ms" : "%.0f ms", v); }

std::string gflops(double gflop, double msTaken) {
  return gflop > 0 && msTaken > 0 ? format("%.2f", gflop / (msTaken / 1e3)) : "";
}

std::string percent(double gflop, double msTaken, double peak) {
  return gflop > 0 && msTaken > 0 && peak > 0 ? format("%.1f%%", 100 * gflop / (msTaken / 1e3) / peak) : "";
}

std::string goal(const Row &r) {
  if (r.goalMs <= 0) return "";
  return format("<= %g ms", r.goalMs) + (r.nnjitMs <= r.goalMs ? " (met)" : " (missed)");
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

} // namespace

void printTable(std::FILE *out, const Results &results, double peakGflops) {
  std::fprintf(out, "| workload | nnjit | reference | nnjit / ref | GFLOP/s nnjit | GFLOP/s ref | %% of peak "
                    "nnjit / ref | goal |\n|---|---:|---|---:|---:|---:|---:|---|\n");
  for (const Row &r : results.rows) {
    bool ref = !r.reference.empty();
    std::string pct = percent(r.gflop, r.nnjitMs, peakGflops);
    if (!pct.empty()) pct += " / " + percent(r.gflop, r.referenceMs, peakGflops);
    std::fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.workload.c_str(), ms(r.nnjitMs).c_str(),
                 ref ? (ms(r.referenceMs) + " " + r.reference).c_str() : "",
                 ref ? format("%.2fx", r.nnjitMs / r.referenceMs).c_str() : "", gflops(r.gflop, r.nnjitMs).c_str(),
                 ref ? gflops(r.gflop, r.referenceMs).c_str() : "", pct.c_str(), goal(r).c_str());
  }
}

bool printLossChecks(std::FILE *out, const Results &results) {
  bool ok = true;
  std::fprintf(out, "| workload | reference | epoch 1: nnjit | ref | rel. diff | last epoch: nnjit | ref | rel. diff "
                    "|\n|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const LossCheck &c : results.losses) {
    if (c.nnjit.empty() || c.nnjit.size() != c.ref.size()) {
      std::fprintf(out, "| %s | %s | epoch counts differ: %zu and %zu |\n", c.workload.c_str(), c.reference.c_str(),
                   c.nnjit.size(), c.ref.size());
      ok = false;
      continue;
    }
    double first = relative(c.nnjit.front(), c.ref.front()), last = relative(c.nnjit.back(), c.ref.back());
    bool same = first <= 1e-3;
    ok = ok && same;
    std::fprintf(out, "| %s | %s | %.7g | %.7g | %.1e%s | %.7g | %.7g | %.1e |\n", c.workload.c_str(),
                 c.reference.c_str(), c.nnjit.front(), c.ref.front(), first, same ? "" : " MISMATCH", c.nnjit.back(),
                 c.ref.back(), last);
  }
  return ok;
}

} // namespace nnjit::bench
