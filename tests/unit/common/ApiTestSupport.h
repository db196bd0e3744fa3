// What the API tests (tests/unit/api) share: fresh cache directories and the softmax program
// that the cache and fast-mode tests compile.
#pragma once

#include <filesystem>
#include <string>
#include <unistd.h>

namespace tdsl::testing_support {

/// A fresh, empty directory <tmp>/tdsl-<suite>-test-<pid>-<name>, mode 0700 whatever the umask
/// (the kernel cache refuses a directory that group or others can write).
inline std::string freshTestDir(const std::string &suite, const std::string &name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("tdsl-" + suite + "-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  return dir.string();
}

/// Softmax with the maximum inside the exponent's definition: two definitions, two reductions.
inline constexpr const char *kSoftmaxSource = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

} // namespace tdsl::testing_support
