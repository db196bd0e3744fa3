// "Did you mean" suggestions: the bounded edit distance agrees with the plain one, and
// suggestions among thousands of names or for megabyte names stay cheap.
#include "support/DidYouMean.h"
#include "frontend/SemaChecker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tdsl::frontend::sema {
namespace {

/// The reference: the closest candidate within min(2, (|name| + 1) / 3) by plain edit distance.
std::string reference(const std::string &name, const std::vector<std::string> &candidates) {
  size_t limit = std::min<size_t>(2, (name.size() + 1) / 3);
  std::string best;
  size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    if (c == name)
      continue;
    size_t d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best.empty() ? std::string() : "did you mean '" + best + "'?";
}

TEST(DidYouMean, AgreesWithPlainEditDistanceOnRandomNames) {
  std::mt19937 rng(5);
  auto word = [&](size_t maxLen) {
    std::string s(1 + rng() % maxLen, 'a');
    for (char &ch : s)
      ch = "abcx_"[rng() % 5];
    return s;
  };
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::string> candidates;
    for (int k = 0; k < 6; ++k)
      candidates.push_back(word(9));
    std::string name = word(9);
    std::string expected = reference(name, candidates);
    std::string actual = didYouMean(name, candidates);
    // Both pick a candidate at the same smallest distance (the first such one).
    ASSERT_EQ(actual.empty(), expected.empty()) << name;
    ASSERT_EQ(actual, expected) << name;
  }
}

TEST(DidYouMean, ThousandsOfCandidatesAndHugeNames) {
  std::vector<std::string> candidates;
  for (int k = 0; k < 5000; ++k)
    candidates.push_back("t" + std::to_string(k));
  candidates.push_back(std::string(1 << 20, 'a'));
  EXPECT_EQ(didYouMean("t12345", candidates), "did you mean 't1234'?");
  std::string huge(1 << 20, 'a');
  huge.back() = 'b';
  // Within 2 of the other megabyte name: found, in O(length * 2) steps, and quoted shortened.
  EXPECT_EQ(didYouMean(huge, candidates),
            "did you mean '" + std::string(64, 'a') + "...' (1048576 bytes)?");
  EXPECT_EQ(didYouMean(std::string(1 << 19, 'q'), candidates), "");
}

} // namespace
} // namespace tdsl::frontend::sema
