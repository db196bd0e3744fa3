// Small string helpers shared by every layer (header-only: the ahead-of-time run-time library
// uses them too).
#pragma once

#include <string_view>
#include <vector>

namespace tdsl {

/// The non-empty items of a list separated by `separator`: "+avx2,,+fma" gives "+avx2", "+fma".
/// The views point into `list`.
inline std::vector<std::string_view> splitList(std::string_view list, char separator = ',') {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    size_t end = list.find(separator);
    if (end != 0)
      items.push_back(list.substr(0, end));
    list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
  }
  return items;
}

} // namespace tdsl
