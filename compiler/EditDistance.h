// EditDistance: how far apart two names are, and which known name a typo most likely meant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnjit {

/// The optimal-string-alignment distance (Damerau-Levenshtein restricted to
/// adjacent transpositions): the fewest insertions, deletions, substitutions
/// and swaps of two neighbouring characters that turn `a` into `b`.
/// `editDistance("trian", "train") == 1`.
size_t editDistance(std::string_view a, std::string_view b);

/// The candidate closest to `typo`, if one is close enough to be what was
/// meant: at most a third of the typo's length away (at least 1), and not a
/// complete rewrite (less than either length). Ties go to the first
/// candidate; `typo` itself is never suggested.
std::optional<std::string> closestName(std::string_view typo, const std::vector<std::string>& candidates);

/// "; did you mean 'NAME'?" for the closest candidate, or "" when none is
/// close: the suffix of a diagnostic, as clang writes it.
std::string didYouMean(std::string_view typo, const std::vector<std::string>& candidates);

} // namespace nnjit
