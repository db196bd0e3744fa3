// NVRTC's fixed options, in one place: the compiler calls (Nvrtc.cpp) pass them, and the kernel
// cache's key (api/KernelCache.cpp) names them, so a cached binary is keyed by what made it.
#pragma once

#include <array>

namespace tdsl::codegen {

/// The options every program is compiled with, after its --gpu-architecture.
inline constexpr std::array<const char *, 2> kNvrtcOptions = {"-default-device", "--std=c++17"};

} // namespace tdsl::codegen
