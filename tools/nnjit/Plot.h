// Plot: curves of values per epoch (loss, metrics; train and test) as one standalone SVG 1.1 line chart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnjit::cli {

/// One line of a chart: a value per epoch of `Curves::epochs`, NaN (or any
/// non-finite value) where the line has no point, which breaks it there.
struct Series {
  std::string name;  ///< its legend entry
  std::vector<double> values;
};

/// One chart: a quantity (the loss, a metric) and its lines.
struct Chart {
  std::string quantity;
  std::vector<Series> series;
  /// A log scale when every value is positive and they span more than two decades (a loss).
  bool logWhenWide = false;
};

struct Curves {
  std::string title;
  std::vector<int64_t> epochs;  ///< the x of each value, increasing
  std::vector<Chart> charts;    ///< stacked top to bottom
};

/// The SVG: the title, then each chart with integer epoch ticks, 1-2-5 value
/// ticks (powers of ten for a positive loss spanning more than two decades)
/// and a legend; a point with no neighbour is drawn as a marker. The same
/// curves give the same bytes.
std::string plotSvg(const Curves& curves);

} // namespace nnjit::cli
