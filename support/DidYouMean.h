// "Did you mean" suggestions: the name nearest to a misspelt one by edit distance, for names in
// programs (sema) and for commands and flags on the command line (tools/tdsl).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl {

/// Levenshtein distance.
size_t editDistance(std::string_view a, std::string_view b);

/// The candidate other than `name` nearest to it within min(2, (|name| + 1) / 3) edits (a likely
/// typo: `rn` finds `run`, `M` finds nothing), or empty. Cheap among thousands of candidates and
/// for megabyte names (a bounded edit distance).
std::string nearestName(const std::string &name, const std::vector<std::string> &candidates);

} // namespace tdsl
