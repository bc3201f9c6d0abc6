// Plot: curves of values per epoch as one standalone SVG 1.1 line chart.
#include "Plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnjit::cli {
namespace {

constexpr double kWidth = 640, kTitleHeight = 36, kChartHeight = 240;
constexpr double kLeft = 72, kRight = 20, kTop = 34, kBottom = 44;
// matplotlib's first colours, so train and test look as they would there.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};

std::string escapeXml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab and newline.
        if (static_cast<unsigned char>(c) < 0x20) out += ' ';
        else out += c;
    }
  }
  return out;
}

/// 1, 2 or 5 times a power of ten, the smallest at least `rough`.
double niceStep(double rough) {
  double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= rough * (1 - 1e-9)) return m * power;
  return 10 * power;
}

/// A value axis: where its ticks are and how it maps values to [0, 1].
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  double decimals = 0;  // of the tick labels, for a linear axis

  double fraction(double v) const {
    return log ? (std::log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
  }
  std::string label(double tick) const {
    if (log) return fmt::format("{:g}", tick);
    if (std::fabs(tick) < 1e-12 * std::max(std::fabs(lo), std::fabs(hi)) ) tick = 0;  // no "-0"
    if (decimals > 6 || std::max(std::fabs(lo), std::fabs(hi)) >= 1e6) return fmt::format("{:.3g}", tick);
    return fmt::format("{:.{}f}", tick, static_cast<int>(decimals));
  }
};

Axis linearAxis(double lo, double hi) {
  if (lo == hi) {  // a constant: centre it rather than divide by a zero span
    double pad = std::max(std::fabs(lo) * 0.1, 1e-3);
    lo -= pad;
    hi += pad;
  }
  Axis a;
  double step = niceStep((hi - lo) / 5);
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  for (double t = a.lo; t <= a.hi + step * 1e-6; t += step) a.ticks.push_back(t);
  a.decimals = std::max(0.0, -std::floor(std::log10(step)));
  return a;
}

Axis logAxis(double lo, double hi) {
  Axis a;
  a.log = true;
  a.lo = std::floor(std::log10(lo));
  a.hi = std::ceil(std::log10(hi));
  double every = std::max(1.0, std::ceil((a.hi - a.lo) / 6));
  for (double e = a.lo; e <= a.hi; e += every) a.ticks.push_back(std::pow(10.0, e));
  return a;
}

Axis valueAxis(const Chart& chart) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Series& s : chart.series)
    for (double v : s.values)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (lo > hi) return linearAxis(0, 1);  // nothing finite to show
  if (chart.logWhenWide && lo > 0 && hi / lo > 100) return logAxis(lo, hi);
  return linearAxis(lo, hi);
}

/// Integer epoch ticks, 1-2-5 apart, about 8 of them at most.
std::vector<int64_t> epochTicks(int64_t first, int64_t last) {
  auto step = static_cast<int64_t>(niceStep(std::max(1.0, static_cast<double>(last - first) / 8)));
  std::vector<int64_t> ticks;
  for (int64_t t = (first + step - 1) / step * step; t <= last; t += step) ticks.push_back(t);
  if (ticks.empty() || ticks.front() != first) ticks.insert(ticks.begin(), first);
  return ticks;
}

/// Where one chart's plot area lies in the picture.
struct Frame {
  double left, top, width, height;
  int64_t first, last;  // epochs at the left and right edges

  double x(int64_t epoch) const {
    if (first == last) return left + width / 2;
    return left + width * static_cast<double>(epoch - first) / static_cast<double>(last - first);
  }
};

std::string number(double v) { return fmt::format("{:.2f}", v); }

std::string axesSvg(const Frame& f, const Axis& y, const std::string& quantity) {
  std::string out = fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
                                number(f.left), number(f.top), number(f.width), number(f.height));
  for (double t : y.ticks) {
    double py = f.top + f.height * (1 - y.fraction(t));
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", number(f.left),
                       number(py), number(f.left + f.width), number(py));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", number(f.left - 6),
                       number(py + 4), escapeXml(y.label(t)));
  }
  for (int64_t t : epochTicks(f.first, f.last)) {
    double px = f.x(t), bottom = f.top + f.height;
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#444\"/>\n", number(px),
                       number(bottom), number(bottom + 5));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", number(px), number(bottom + 18), t);
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch</text>\n", number(f.left + f.width / 2),
                     number(f.top + f.height + 36));
  out += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}{}</text>\n", number(f.left), number(f.top - 10),
                     escapeXml(quantity), y.log ? " (log scale)" : "");
  return out;
}

/// One path for the series, broken at each value it lacks, and a marker for each point without a neighbour.
std::string seriesSvg(const Frame& f, const Axis& y, const std::vector<int64_t>& epochs, const Series& s,
                      const char* colour) {
  std::string path, markers;
  auto finite = [&](size_t i) { return i < s.values.size() && std::isfinite(s.values[i]) && (!y.log || s.values[i] > 0); };
  for (size_t i = 0; i < epochs.size(); ++i) {
    if (!finite(i)) continue;
    double px = f.x(epochs[i]), py = f.top + f.height * (1 - y.fraction(s.values[i]));
    bool joined = i > 0 && finite(i - 1);
    path += fmt::format("{}{} {} ", joined ? "L" : "M", number(px), number(py));
    if (!joined && !finite(i + 1))
      markers += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"/>\n", number(px), number(py), colour);
  }
  if (!path.empty()) path.pop_back();
  return fmt::format("<path class=\"series\" data-name=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                     escapeXml(s.name), path, colour) +
         markers;
}

std::string legendSvg(const Frame& f, const Chart& chart) {
  double x = f.left + f.width - 90, yTop = f.top + 8;
  // A backdrop, so that a line passing under the legend does not hide it.
  std::string out = fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"84\" height=\"{}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
      number(x - 6), number(yTop), number(16 * static_cast<double>(chart.series.size()) + 2));
  for (size_t i = 0; i < chart.series.size(); ++i) {
    double y = yTop + 16 * static_cast<double>(i) + 8;
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>\n", number(x),
                       number(y), number(x + 20), number(y), kColours[i % 4]);
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", number(x + 26), number(y + 4),
                       escapeXml(chart.series[i].name));
  }
  return out;
}

std::string chartSvg(const Curves& curves, const Chart& chart, double top) {
  Frame f{kLeft, top + kTop, kWidth - kLeft - kRight, kChartHeight - kTop - kBottom, curves.epochs.front(),
          curves.epochs.back()};
  Axis y = valueAxis(chart);
  std::string out = axesSvg(f, y, chart.quantity);
  for (size_t i = 0; i < chart.series.size(); ++i)
    out += seriesSvg(f, y, curves.epochs, chart.series[i], kColours[i % 4]);
  return out + legendSvg(f, chart);
}

} // namespace

std::string plotSvg(const Curves& curves) {
  double height = kTitleHeight + kChartHeight * static_cast<double>(curves.charts.size());
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{3}</text>\n",
      kWidth, height, kWidth / 2, escapeXml(curves.title));
  if (!curves.epochs.empty())
    for (size_t i = 0; i < curves.charts.size(); ++i)
      out += chartSvg(curves, curves.charts[i], kTitleHeight + kChartHeight * static_cast<double>(i));
  return out + "</svg>\n";
}

} // namespace nnjit::cli
