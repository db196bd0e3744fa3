// `tdsl --version`: what this tdsl is and what it can use here, for bug reports.
#pragma once

#include <string>

namespace tdsl::tool {

/// The version and git commit, the LLVM the CPU backend was built with, and whether NVRTC and a
/// CUDA device were found (and if not, why), one per line.
std::string versionText();

} // namespace tdsl::tool
