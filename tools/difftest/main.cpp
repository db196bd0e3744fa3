// tdsl-difftest: every kernel of every given program, compiled for the CPU or the GPU and run on
// seeded random inputs at several small shapes (size 1 and odd sizes included), must match the
// reference interpreter, and two runs must give the same bits.
//
//   tdsl-difftest [--target cpu|cuda] [--threads N] [--checks=bounds] [--quiet] FILE.tdsl...
//
// Prints one line per problem: "INVALID file: <first diagnostic>" (the program does not
// compile), "MISMATCH file kernel output: <error>", "NONDETERMINISTIC file kernel output",
// "ERROR file kernel: <message>" (a run-time error on valid inputs, or CUDA that NVRTC rejects,
// its log on the lines after), then a summary. An output outside the tolerance whose interpreted
// result itself moves past it when the inputs move by a few ulps, or that the interpreter
// rounding each f32 operation to f32 reproduces (api/Numerics.h, excuseForMismatch), is reported
// as "EXCUSED file kernel output (why)" and is no problem: f32 arithmetic, not the compiler. A
// run in which a gather's index is out of range must fail (E093) with the interpreter's message
// in both compiled calls; the summary counts those runs as gather_errors.
//
// --target cuda runs every kernel on the GPU. Without a GPU (CI) it compiles each kernel's CUDA
// to PTX with NVRTC instead, so that code generation is still checked everywhere, and runs it on
// the CPU's model of the GPU when TDSL_CUDA_EMULATE=1 (codegen/cuda/CudaEmulator.h); a line
// "NOTE no GPU ..." says once which of the two it did. --checks=bounds checks CPU
// code only, so it goes with --target cpu alone.
//
// Exit status: 0 all good, 1 a mismatch or error, 2 only invalid programs, 3 a usage error,
// 77 --target cuda where NVRTC cannot be loaded (nothing was checked; "SKIP" says why).
#include "api/Numerics.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaEmulator.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

namespace {

using namespace tdsl;

/// Seeded random inputs, each shape symbol taking one size drawn from `sizes`.
std::vector<Tensor> randomInputs(const Kernel &kernel, std::mt19937 &rng,
                                 const std::vector<int64_t> &sizes, uint64_t seed) {
  std::map<std::string, int64_t> chosen;
  for (const std::string &symbol : kernel.symbolNames())
    chosen[symbol] = sizes[rng() % sizes.size()];
  return kernel.randomInputs(chosen, seed);
}

std::string shapesOf(const std::vector<Tensor> &inputs) {
  std::string s;
  for (const Tensor &t : inputs)
    s += (s.empty() ? "" : " ") + t.typeString();
  return s;
}

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         (a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

struct Counts {
  int programs = 0, invalid = 0, kernels = 0, runs = 0, problems = 0, excused = 0;
  int gatherErrors = 0; // Runs where both failed with the same index out of range (E093).
};

/// `message` without the warnings of an NVRTC log in it (blocks of lines, separated by blank
/// lines, that start "file.cu(line): warning #", and the remark after them): the prelude's unused
/// helpers draw dozens, which bury the error.
std::string withoutNvrtcWarnings(const std::string &message) {
  std::string kept, block, line;
  std::istringstream lines(message);
  auto flush = [&] {
    if (!block.empty() && block.find("): warning #") == std::string::npos &&
        block.rfind("Remark: ", 0) != 0)
      kept += (kept.empty() ? "" : "\n") + block;
    block.clear();
  };
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) {
      flush();
      continue;
    }
    block += (block.empty() ? "" : "\n") + line;
  }
  flush();
  return kept;
}

/// "ERROR file kernel<where>: <message>", a message of several lines (NVRTC's log) indented
/// under it so that every line of this output that starts with a keyword is one problem.
void reportError(const std::string &path, const std::string &name, const std::string &where,
                 const std::string &message) {
  std::cout << "ERROR " << path << " " << name << where << ": ";
  for (char c : withoutNvrtcWarnings(message)) {
    std::cout << c;
    if (c == '\n')
      std::cout << "    ";
  }
  std::cout << std::endl;
}

/// Runs `kernel` at up to three random shapes the kernel accepts, twice each, and compares
/// every output with the interpreter's.
void runAndCompare(const std::string &path, const Kernel &kernel, std::mt19937 &rng,
                   Counts &counts) {
  const std::vector<int64_t> sizes = {1, 2, 3, 4, 5, 7, 8, 16, 17, 33, 64};
  const std::string &name = kernel.name();
  int ran = 0;
  for (int attempt = 0; attempt < 20 && ran < 3; ++attempt) {
    std::vector<Tensor> inputs = randomInputs(kernel, rng, sizes, attempt * 100 + 7);
    try {
      kernel.outputShapes(inputs);
    } catch (const RuntimeError &) {
      continue;
    }
    ++ran;
    ++counts.runs;
    try {
      // A gather's index out of range (E093) must fail the compiled call and the interpreter
      // with the same message.
      std::string failed, failedAgain, expectedFailure;
      auto outcome = [](std::string &failure, auto &&call) -> std::vector<Tensor> {
        try {
          return call();
        } catch (const RuntimeError &e) {
          if (e.code() != ErrorCode::IndexOutOfRange)
            throw;
          failure = e.what();
          return {};
        }
      };
      std::vector<Tensor> actual = outcome(failed, [&] { return kernel(inputs); });
      std::vector<Tensor> again = outcome(failedAgain, [&] { return kernel(inputs); });
      std::vector<Tensor> reference =
          outcome(expectedFailure, [&] { return kernel.interpret(inputs); });
      if (failed != expectedFailure || failedAgain != failed) {
        ++counts.problems;
        std::cout << "MISMATCH " << path << " " << name << " inputs " << shapesOf(inputs)
                  << ": the compiled call says '" << (failed.empty() ? "ok" : failed)
                  << "', again '" << (failedAgain.empty() ? "ok" : failedAgain)
                  << "', the interpreter '" << (expectedFailure.empty() ? "ok" : expectedFailure)
                  << "'" << std::endl;
        continue;
      }
      if (!failed.empty()) {
        ++counts.gatherErrors;
        continue;
      }
      for (size_t o = 0; o < actual.size(); ++o) {
        const std::string out = kernel.outputNames()[o]; // A copy: the vector is a temporary.
        if (!withinTolerance(actual[o], reference[o])) {
          std::string excuse = excuseForMismatch(kernel, inputs, actual[o], reference, o);
          ++(excuse.empty() ? counts.problems : counts.excused);
          std::cout << (excuse.empty() ? "MISMATCH " : "EXCUSED ") << path << " " << name << " "
                    << out << (excuse.empty() ? "" : " (" + excuse + ")") << " inputs "
                    << shapesOf(inputs) << ": "
                    << describe(runtime::compare(actual[o], reference[o]), actual[o].shape())
                    << std::endl;
        } else if (!sameBits(actual[o], again[o])) {
          ++counts.problems;
          std::cout << "NONDETERMINISTIC " << path << " " << name << " " << out << std::endl;
        }
      }
    } catch (const std::exception &error) {
      ++counts.problems;
      reportError(path, name, " inputs " + shapesOf(inputs), error.what());
    }
  }
}

/// Without a GPU: the kernel's CUDA must still compile (the PTX does not depend on the shapes).
void compileToPtx(const std::string &path, const Kernel &kernel, Counts &counts) {
  try {
    (void)kernel.dump(Stage::Ptx);
  } catch (const std::exception &error) {
    ++counts.problems;
    reportError(path, kernel.name(), "", error.what());
  }
}

/// `launch`: run each kernel (on the GPU, or its model); `ptx`: compile each one's CUDA to PTX.
void testFile(const std::string &path, const Jit &jit, bool launch, bool ptx, Counts &counts,
              bool quiet) {
  ++counts.programs;
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  Module module;
  try {
    module = jit.compile(buffer.str(), path);
  } catch (const CompileError &error) {
    ++counts.invalid;
    std::string first =
        error.diagnostics().empty() ? error.what() : error.diagnostics().front().render();
    std::cout << "INVALID " << path << ": " << first.substr(0, first.find('\n')) << std::endl;
    return;
  }
  std::mt19937 rng(12345);
  for (const std::string &name : module.kernelNames()) {
    ++counts.kernels;
    Kernel kernel = module.kernel(name);
    if (ptx)
      compileToPtx(path, kernel, counts);
    if (launch)
      runAndCompare(path, kernel, rng, counts);
  }
  if (!quiet)
    std::cout << "ok " << path << std::endl;
}

int usageError(const std::string &message) {
  std::cerr << "tdsl-difftest: " << message << " (see --help)\n";
  return 3;
}

} // namespace

int main(int argc, char **argv) {
  int threads = 1;
  bool quiet = false, boundsChecks = false;
  std::string target = "cpu";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (arg == "--target" && i + 1 < argc)
      target = argv[++i];
    else if (arg == "--checks=bounds")
      boundsChecks = true;
    else if (arg == "--quiet")
      quiet = true;
    else if (arg == "-h" || arg == "--help") {
      std::cout << "usage: tdsl-difftest [--target cpu|cuda] [--threads N] [--checks=bounds] "
                   "[--quiet] FILE.tdsl...\n";
      return 0;
    } else
      files.push_back(arg);
  }
  if (target != "cpu" && target != "cuda")
    return usageError("unknown target '" + target + "' (cpu or cuda)");
  bool cuda = target == "cuda";
  if (cuda && boundsChecks)
    return usageError("--checks=bounds checks CPU code; it cannot go with --target cuda");
  // The GPU runs what NVRTC compiles, and without a GPU NVRTC is all there is to check.
  bool launch = !cuda, ptx = false;
  if (cuda) {
    if (codegen::NvrtcStatus nvrtc = codegen::nvrtcStatus(); !nvrtc.available) {
      std::cout << "SKIP --target cuda needs NVRTC: " << nvrtc.reason << std::endl;
      return 77;
    }
    const runtime::cuda::Status &gpu = runtime::cuda::status();
    launch = gpu.available || codegen::cudaEmulationRequested();
    ptx = !gpu.available;
    if (!gpu.available)
      std::cout << "NOTE no GPU (" << gpu.reason << "): "
                << (launch ? "each kernel runs on the CPU's model of the GPU (TDSL_CUDA_EMULATE=1) "
                             "and its CUDA is compiled to PTX"
                           : "launches skipped; each kernel's CUDA compiled to PTX only")
                << std::endl;
  }
  JitOptions options;
  options.target = cuda ? Target::cuda() : Target::cpu();
  options.threads = threads;
  options.boundsChecks = boundsChecks; // A violation aborts with its report on stderr.
  Jit jit(options);
  Counts counts;
  for (const std::string &file : files)
    testFile(file, jit, launch, ptx, counts, quiet);
  std::cout << "programs " << counts.programs << " invalid " << counts.invalid << " kernels "
            << counts.kernels << " runs " << counts.runs << " problems " << counts.problems
            << " excused " << counts.excused << " gather_errors " << counts.gatherErrors
            << std::endl;
  if (counts.problems)
    return 1;
  return counts.invalid ? 2 : 0;
}
