// tdsl-difftest: every kernel of every given program, compiled for the CPU and run on seeded
// random inputs at several small shapes (size 1 and odd sizes included), must match the
// reference interpreter, and two runs must give the same bits.
//
//   tdsl-difftest [--threads N] [--checks=bounds] [--quiet] FILE.tdsl...
//
// Prints one line per problem: "INVALID file: <first diagnostic>" (the program does not
// compile), "MISMATCH file kernel output: <error>", "NONDETERMINISTIC file kernel output",
// "ERROR file kernel: <message>" (a run-time error on valid inputs), then a summary. An output
// outside the tolerance whose interpreted result itself moves past it when the inputs move by a
// few ulps, or that the interpreter rounding each f32 operation to f32 reproduces
// (api/Numerics.h, excuseForMismatch), is reported as "EXCUSED file kernel output (why)" and
// is no problem: f32 arithmetic, not the compiler. Exit status: 0 all good, 1 a mismatch or
// error, 2 only invalid programs.
#include "api/Numerics.h"
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
};

void testFile(const std::string &path, const Jit &jit, Counts &counts, bool quiet) {
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
  const std::vector<int64_t> sizes = {1, 2, 3, 4, 5, 7, 8, 16, 17, 33, 64};
  std::mt19937 rng(12345);
  for (const std::string &name : module.kernelNames()) {
    Kernel kernel = module.kernel(name);
    ++counts.kernels;
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
        std::vector<Tensor> actual = kernel(inputs);
        std::vector<Tensor> again = kernel(inputs);
        std::vector<Tensor> reference = kernel.interpret(inputs);
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
        std::cout << "ERROR " << path << " " << name << " inputs " << shapesOf(inputs) << ": "
                  << error.what() << std::endl;
      }
    }
  }
  if (!quiet)
    std::cout << "ok " << path << std::endl;
}

} // namespace

int main(int argc, char **argv) {
  int threads = 1;
  bool quiet = false, boundsChecks = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (arg == "--checks=bounds")
      boundsChecks = true;
    else if (arg == "--quiet")
      quiet = true;
    else if (arg == "-h" || arg == "--help") {
      std::cout << "usage: tdsl-difftest [--threads N] [--checks=bounds] [--quiet] FILE.tdsl...\n";
      return 0;
    } else
      files.push_back(arg);
  }
  JitOptions options;
  options.threads = threads;
  options.boundsChecks = boundsChecks; // A violation aborts with its report on stderr.
  Jit jit(options);
  Counts counts;
  for (const std::string &file : files)
    testFile(file, jit, counts, quiet);
  std::cout << "programs " << counts.programs << " invalid " << counts.invalid << " kernels "
            << counts.kernels << " runs " << counts.runs << " problems " << counts.problems
            << " excused " << counts.excused << std::endl;
  if (counts.problems)
    return 1;
  return counts.invalid ? 2 : 0;
}
