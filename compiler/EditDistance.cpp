// EditDistance: how far apart two names are, and which known name a typo most likely meant.
#include "EditDistance.h"

#include <algorithm>

namespace nnjit {

size_t editDistance(std::string_view a, std::string_view b) {
  // Three rows of the dynamic-programming table: a transposition looks two rows back.
  std::vector<size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = previous[j - 1] + (a[i - 1] != b[j - 1]);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string> closestName(std::string_view typo, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(1, typo.size() / 3);
  std::optional<std::string> best;
  size_t bestDistance = limit + 1;
  for (const std::string& c : candidates) {
    if (c == typo) continue;
    size_t d = editDistance(typo, c);
    if (d < bestDistance && d < typo.size() && d < c.size()) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

std::string didYouMean(std::string_view typo, const std::vector<std::string>& candidates) {
  std::optional<std::string> name = closestName(typo, candidates);
  return name ? "; did you mean '" + *name + "'?" : "";
}

} // namespace nnjit
