// The edit distance, plain (the reference) and bounded (what suggestions use).
#include "support/DidYouMean.h"

#include <algorithm>

namespace tdsl {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

namespace {

/// editDistance(a, b) when it is at most `limit`, else some value above `limit`. Costs
/// O(min(|a|, |b|) * limit) at most: thousands of undefined names among thousands of candidates,
/// or megabyte identifiers, stay fast.
size_t boundedEditDistance(std::string_view a, std::string_view b, size_t limit) {
  size_t gap = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (gap > limit)
    return limit + 1;
  // Only cells within `limit` of the diagonal can stay within the limit.
  const size_t inf = limit + 1;
  std::vector<size_t> row(b.size() + 1, inf);
  for (size_t j = 0; j <= std::min(b.size(), limit); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t lo = i > limit ? i - limit : 1, hi = std::min(b.size(), i + limit);
    size_t diag = row[lo - 1];
    row[lo - 1] = lo == 1 && i <= limit ? i : inf;
    size_t best = row[lo - 1];
    for (size_t j = lo; j <= hi; ++j) {
      size_t up = row[j];
      row[j] = std::min({up + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      row[j] = std::min(row[j], inf);
      diag = up;
      best = std::min(best, row[j]);
    }
    if (hi < b.size())
      row[hi + 1] = inf;
    if (best > limit)
      return inf;
  }
  return row[b.size()];
}

} // namespace

std::string nearestName(const std::string &name, const std::vector<std::string> &candidates) {
  size_t limit = std::min<size_t>(2, (name.size() + 1) / 3);
  std::string best;
  size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    if (c == name)
      continue;
    size_t d = boundedEditDistance(name, c, bestDistance - 1);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

} // namespace tdsl
