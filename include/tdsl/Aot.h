// Ahead-of-time compilation (`tdsl aot`): the kernels of a .tdsl file compiled into an object
// file, a static library and a C header, for programs that link neither LLVM nor tdsl's compiler.
#pragma once

#include <string>
#include <vector>

namespace tdsl {

struct AotOptions {
  /// The kernels to compile; empty: every kernel of the file.
  std::vector<std::string> kernels;
  /// "cpu", or "cuda": PTX and a cubin per GPU architecture of `gpus`, launched through the
  /// CUDA driver on the caller's stream.
  std::string target = "cpu";
  /// The GPU architectures for target "cuda": "sm_80", "sm_86", "sm_89", "sm_90".
  std::vector<std::string> gpus{"sm_80", "sm_90"};
  /// The CPU levels, each kernel compiled once per level: "x86-64-v3" (AVX2), "x86-64-v4"
  /// (AVX-512) or "host" (this machine's CPU). The first call picks the best the CPU runs.
  std::vector<std::string> cpus{"host"};
  /// Threads the schedules are chosen for (JitOptions::threads: 0 means this machine's). Any
  /// count runs the code; this decides which loops are parallel.
  int threads = 0;
  /// NAME in NAME.h, NAME.o, libNAME.a and the functions NAME_KERNEL; empty: the file's name
  /// without its extension.
  std::string name;
  /// The folder the files go to (created if missing).
  std::string outputDir = ".";
};

/// The files compileAheadOfTime wrote.
struct AotFiles {
  std::string header, object, library;
};

/// Compiles `path` as `options` says and writes the files. Throws CompileError for errors in
/// the source and RuntimeError for bad options, unknown kernels, kernels a C function cannot
/// take, files that cannot be written, or (target "cuda") NVRTC missing or failing.
AotFiles compileAheadOfTime(const std::string &path, const AotOptions &options);

} // namespace tdsl
