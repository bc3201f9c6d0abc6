// EditDistanceTest: the distance behind every "did you mean", and when a suggestion is made.
#include "EditDistance.h"

#include <catch2/catch.hpp>

using namespace nnjit;

TEST_CASE("edit distance: insertions, deletions, substitutions and adjacent swaps cost one each", "[suggest]") {
  CHECK(editDistance("", "") == 0);
  CHECK(editDistance("", "abc") == 3);
  CHECK(editDistance("abc", "") == 3);
  CHECK(editDistance("train", "train") == 0);
  CHECK(editDistance("trian", "train") == 1);       // a swap, not two substitutions
  CHECK(editDistance("sofmax", "softmax") == 1);    // an insertion
  CHECK(editDistance("epochs", "epoch") == 1);      // a deletion
  CHECK(editDistance("momentun", "momentum") == 1); // a substitution
  CHECK(editDistance("adma", "adam") == 1);
  CHECK(editDistance("lable", "label") == 1);
  CHECK(editDistance("kitten", "sitting") == 3);
  CHECK(editDistance("ca", "abc") == 3);  // optimal string alignment: a swapped pair is not edited again
  CHECK(editDistance("abc", "ca") == editDistance("ca", "abc"));
}

TEST_CASE("closest name: close enough, nearest first, ties to the first", "[suggest]") {
  std::vector<std::string> commands{"train", "eval", "predict", "check", "show"};
  CHECK(closestName("trian", commands) == "train");
  CHECK(closestName("evl", commands) == "eval");
  CHECK(closestName("chekc", commands) == "check");
  CHECK(!closestName("frobnicate", commands));
  CHECK(!closestName("train", commands));  // the name itself is no suggestion
  CHECK(!closestName("", commands));
  // Short words: one edit at most, and never every character.
  CHECK(closestName("ab", {"ac"}) == "ac");
  CHECK(!closestName("w", {"x"}));
  CHECK(!closestName("xml", {"text", "json"}));
  CHECK(closestName("jsn", {"text", "json"}) == "json");
  // A third of the typo's length: two edits in seven or eight letters, not three.
  CHECK(editDistance("sotfamx", "softmax") == 2);
  CHECK(closestName("sotfamx", {"softmax"}) == "softmax");
  CHECK(editDistance("sotfamxx", "softmax") == 3);
  CHECK(!closestName("sotfamxx", {"softmax"}));
  CHECK(closestName("ab", {"xb", "ay"}) == "xb");
  CHECK(closestName("sofmax", {"softplus", "softmax", "log_softmax"}) == "softmax");
}

TEST_CASE("did you mean: clang's suffix, or nothing", "[suggest]") {
  CHECK(didYouMean("lable", {"x", "label"}) == "; did you mean 'label'?");
  CHECK(didYouMean("zzz", {"x", "label"}).empty());
}
