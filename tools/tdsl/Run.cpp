// `tdsl run`: the inputs come from files first, whose shapes give the shape symbols' sizes, then
// from numbers and random data, whose shapes those sizes and --shape give.
#include "Run.h"
#include "Usage.h"

#include "api/Numerics.h"
#include "runtime/Convert.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <iostream>
#include <optional>
#include <sstream>

namespace tdsl::tool {

namespace {

constexpr const char *kRandom = "random"; // `--in x=random`.

std::pair<std::string, std::string> splitAssignment(const std::string &text, const char *flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(ErrorCode::BadFlag,
                     std::string(flag) + " expects NAME=VALUE, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::optional<double> parseNumber(const std::string &text) {
  if (text.empty())
    return std::nullopt;
  char *end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size())
    return std::nullopt;
  return value;
}

Kernel selectKernel(const Module &module, const std::string &requested, const std::string &file) {
  if (!requested.empty())
    return module.kernel(requested);
  std::vector<std::string> names = module.kernelNames();
  if (names.size() == 1)
    return module.kernel(names[0]);
  throw UsageError(ErrorCode::BadFlag, file + " defines " + std::to_string(names.size()) +
                                           " kernels (" + listWords(names) +
                                           "); choose one with --kernel");
}

/// Every input needs data: a file, a number or `random`, or --random for those left out (E087).
void checkEveryInputGiven(const Kernel &kernel, const std::map<std::string, std::string> &given,
                          bool random) {
  std::vector<std::string> missing;
  for (const std::string &name : kernel.inputNames())
    if (!given.count(name))
      missing.push_back(name);
  if (missing.empty() || random)
    return;
  const std::string &x = missing.front();
  throw UsageError(ErrorCode::MissingInput,
                   (missing.size() == 1
                        ? "input " + x + " of kernel " + kernel.name() + " is"
                        : "inputs " + listWords(missing) + " of kernel " + kernel.name() + " are") +
                       " not given",
                   "pass --in " + x + "=FILE.npy, --in " + x + "=NUMBER (every element) or --in " +
                       x + "=random; --random fills every input left out with seeded random data");
}

std::string numpyName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "float32"; // NumPy has no bf16; f32 data is rounded.
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  case DType::I16:
    return "int16";
  case DType::I8:
    return "int8";
  case DType::U8:
    return "uint8";
  case DType::Bool:
    return "bool_";
  }
  return "float32";
}

Tensor loadInput(const std::string &name, const std::string &path, DType dtype) {
  Tensor loaded = readNpy(path);
  if (loaded.dtype() == dtype)
    return loaded;
  // NumPy has no bf16: a bf16 parameter accepts f32 data, rounded.
  if (dtype == DType::BF16 && loaded.dtype() == DType::F32)
    return runtime::convertTo(loaded, DType::BF16);
  throw RuntimeError(ErrorCode::NpyDTypeMismatch,
                     "--in " + name + ": " + path + " holds " + loaded.typeString() +
                         " but the parameter is " + std::string(dtypeName(dtype)) +
                         "; convert it first (e.g. x.astype(np." + numpyName(dtype) + "))");
}

/// Records the sizes input `index`'s file gives its shape symbols; a --shape that says otherwise
/// is E088. A file of the wrong rank, or two files disagreeing, the kernel call reports (E081).
void bindSymbols(const Kernel &kernel, size_t index, const Tensor &data, const std::string &path,
                 const std::map<std::string, int64_t> &shapes,
                 std::map<std::string, int64_t> &sizes) {
  const std::vector<std::string> dims = kernel.inputDims()[index];
  if (static_cast<size_t>(data.rank()) != dims.size())
    return;
  std::vector<std::string> symbols = kernel.symbolNames();
  for (size_t d = 0; d < dims.size(); ++d) {
    if (std::find(symbols.begin(), symbols.end(), dims[d]) == symbols.end())
      continue; // A literal dim.
    int64_t size = data.shape()[d];
    auto given = shapes.find(dims[d]);
    if (given != shapes.end() && given->second != size)
      throw UsageError(ErrorCode::ShapeContradictsInput,
                       "--shape " + dims[d] + "=" + std::to_string(given->second) +
                           " contradicts input " + kernel.inputNames()[index] + ": " + path +
                           " is " + data.typeString() + ", so " + dims[d] + " is " +
                           std::to_string(size),
                       "leave --shape " + dims[d] + " out (the file gives it), or pass a file " +
                           "of the shape you mean");
    sizes.emplace(dims[d], size);
  }
}

std::vector<int64_t> inputShape(const Kernel &kernel, size_t index,
                                const std::map<std::string, int64_t> &sizes) {
  try {
    return kernel.inputShape(index, sizes);
  } catch (const RuntimeError &e) {
    std::string name = kernel.inputNames()[index];
    throw UsageError(e.code(), e.what(),
                     "pass --shape SYMBOL=SIZE, or --in " + name + "=FILE.npy so that the file " +
                         "gives it");
  }
}

/// Input `name` of `dtype` with every element `text`, which must be a value of `dtype` (E090):
/// an integer in range for an integer dtype (0 or 1 for bool); for a float dtype the nearest
/// value, as a literal in the source gets, but not a finite number that overflows or a non-zero
/// one that rounds to 0.
Tensor numberInput(const std::string &name, const std::string &text, double value, DType dtype,
                   const std::vector<int64_t> &shape) {
  Tensor filled = Tensor::zeros(shape, dtype);
  auto inexact = [&](const std::string &why, const std::string &hint) {
    return UsageError(ErrorCode::InexactScalar,
                      "--in " + name + "=" + text + ": input " + name + " is " +
                          std::string(dtypeName(dtype)) + ", which cannot hold " + text + why,
                      hint);
  };
  if (isFloat(dtype)) {
    Tensor probe = Tensor::zeros({1}, dtype);
    probe.set(0, value);
    if (std::isfinite(value) && !std::isfinite(probe.at(0)))
      throw inexact(" (it would become inf)",
                    "give a number within the range of " + std::string(dtypeName(dtype)));
    if (value != 0 && probe.at(0) == 0)
      throw inexact(" (it would become 0)",
                    "give a number within the range of " + std::string(dtypeName(dtype)));
    for (int64_t e = 0; e < filled.numel(); ++e)
      filled.set(e, value);
    return filled;
  }
  const int64_t lo = dtype == DType::Bool ? 0 : intMin(dtype);
  const int64_t hi = dtype == DType::Bool ? 1 : intMax(dtype);
  // Digits are read exactly (a double rounds integers beyond 2^53); `1e3` goes through value.
  int64_t integer = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), integer);
  bool digits = error == std::errc() && end == text.data() + text.size();
  bool integral = digits || (std::trunc(value) == value && value >= -0x1p63 && value < 0x1p63);
  if (!digits && integral)
    integer = static_cast<int64_t>(value);
  if (!integral || integer < lo || integer > hi)
    throw inexact("", dtype == DType::Bool ? "give 0 or 1"
                                           : "give an integer from " + std::to_string(lo) + " to " +
                                                 std::to_string(hi));
  for (int64_t e = 0; e < filled.numel(); ++e)
    filled.setInt(e, integer);
  return filled;
}

} // namespace

void checkShapeSymbols(const std::vector<Kernel> &kernels,
                       const std::map<std::string, int64_t> &shapes) {
  std::vector<std::string> symbols, names;
  for (const Kernel &kernel : kernels) {
    names.push_back(kernel.name());
    for (const std::string &symbol : kernel.symbolNames())
      if (std::find(symbols.begin(), symbols.end(), symbol) == symbols.end())
        symbols.push_back(symbol);
  }
  for (const auto &[name, size] : shapes) {
    if (std::find(symbols.begin(), symbols.end(), name) != symbols.end())
      continue;
    std::string whose = names.size() == 1 ? "its" : "their";
    std::string known = symbols.empty() ? "every dim of " + whose + " inputs is a number"
                                        : whose + " shape symbols are " + listWords(symbols);
    throw UsageError(ErrorCode::UnknownShapeSymbol,
                     "--shape " + name + "=" + std::to_string(size) + ": kernel" +
                         (names.size() == 1 ? " " : "s ") + listWords(names) +
                         (names.size() == 1 ? " has" : " have") + " no shape symbol " + name,
                     didYouMean(name, symbols, known));
  }
}

std::map<std::string, int64_t> parseShapes(const std::vector<std::string> &specs) {
  std::map<std::string, int64_t> shapes;
  for (const std::string &spec : specs) {
    std::stringstream parts(spec);
    std::string part;
    while (std::getline(parts, part, ',')) {
      if (part.empty())
        continue;
      auto [name, value] = splitAssignment(part, "--shape");
      char *end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0)
        throw UsageError(ErrorCode::BadFlag, "--shape " + name +
                                                 ": expected a non-negative integer, got '" +
                                                 value + "'");
      shapes[name] = n;
    }
  }
  return shapes;
}

CLI::App *addRunCommand(CLI::App &app, RunOptions &opts) {
  CLI::App *cmd = app.add_subcommand("run", "compile and run a kernel");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.kernel, "kernel to run (optional with one kernel)");
  cmd->add_option("--in", opts.inputs,
                  "NAME=PATH.npy, NAME=NUMBER (every element) or NAME=random; every input needs "
                  "one unless --random is given")
      ->take_all();
  cmd->add_flag("--random", opts.random,
                "fill each input not given with --in with seeded random data (see --seed)");
  cmd->add_option("--out", opts.outputs, "NAME=PATH.npy")->take_all();
  cmd->add_option("--shape", opts.shapes,
                  "SYM=INT,... sizes of shape symbols (those no input file gives)")
      ->take_all();
  cmd->add_option("--target", opts.target, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--check", opts.check, "compare every output with the reference interpreter");
  cmd->add_option("--seed", opts.seed, "seed of the random inputs (--random, --in NAME=random)");
  cmd->add_option("--threads", opts.threads, "threads to use (default 0: every hardware thread)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--checks", opts.checks,
                  "bounds: the CPU code checks every load and store (a debug mode)")
      ->check(CLI::IsMember({"none", "bounds"}));
  cmd->add_option("-O,--opt", opts.opt,
                  "LLVM optimization: 3 (default: the fast tier first, the optimized one swapped "
                  "in once compiled) or 0 (only the fast tier: no LLVM passes, fast instruction "
                  "selection; tdsl's passes run either way)")
      ->check(CLI::IsMember({0, 3}));
  return cmd;
}

int runCommand(const RunOptions &opts) {
  JitOptions jitOptions;
  jitOptions.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  jitOptions.threads = opts.threads;
  jitOptions.boundsChecks = opts.checks == "bounds";
  jitOptions.tiering = opts.opt == 0 ? Tiering::FastOnly : Tiering::Tiered;
  Jit jit(jitOptions);
  Module module = jit.compileFile(opts.file);
  Kernel kernel = selectKernel(module, opts.kernel, opts.file);
  std::map<std::string, int64_t> shapes = parseShapes(opts.shapes);
  checkShapeSymbols({kernel}, shapes);

  std::vector<std::string> inputNames = kernel.inputNames();
  std::map<std::string, std::string> given;
  for (const std::string &spec : opts.inputs) {
    auto [name, value] = splitAssignment(spec, "--in");
    if (std::find(inputNames.begin(), inputNames.end(), name) == inputNames.end())
      throw UsageError(ErrorCode::BadFlag,
                       "--in " + name + ": kernel " + kernel.name() + " has no input named " + name,
                       didYouMean(name, inputNames, "its inputs are " + listWords(inputNames)));
    given[name] = value;
  }
  checkEveryInputGiven(kernel, given, opts.random);
  std::vector<std::string> outputNames = kernel.outputNames();
  std::map<std::string, std::string> saved;
  for (const std::string &spec : opts.outputs) {
    auto [name, path] = splitAssignment(spec, "--out");
    if (std::find(outputNames.begin(), outputNames.end(), name) == outputNames.end())
      throw UsageError(ErrorCode::BadFlag,
                       "--out " + name + ": kernel " + kernel.name() + " has no output named " +
                           name,
                       didYouMean(name, outputNames, "its outputs are " + listWords(outputNames)));
    saved[name] = path;
  }

  // Files first: the sizes their shapes give are those of the numbers and random inputs too.
  std::vector<std::optional<Tensor>> loaded(inputNames.size());
  std::map<std::string, int64_t> sizes = shapes;
  for (size_t i = 0; i < inputNames.size(); ++i) {
    auto it = given.find(inputNames[i]);
    if (it == given.end() || it->second == kRandom || parseNumber(it->second))
      continue;
    loaded[i] = loadInput(inputNames[i], it->second, kernel.inputDType(i));
    bindSymbols(kernel, i, *loaded[i], it->second, shapes, sizes);
  }
  std::vector<Tensor> inputs;
  std::vector<Tensor> random; // Kernel::randomInputs: a gather's index input holds valid indices.
  for (size_t i = 0; i < inputNames.size(); ++i) {
    auto it = given.find(inputNames[i]);
    std::optional<double> number = it == given.end() ? std::nullopt : parseNumber(it->second);
    if (loaded[i]) {
      inputs.push_back(*loaded[i]);
    } else if (number) {
      inputs.push_back(numberInput(inputNames[i], it->second, *number, kernel.inputDType(i),
                                   inputShape(kernel, i, sizes)));
    } else {                        // `--in x=random`, or left out with --random.
      inputShape(kernel, i, sizes); // Names a missing size (E082) first.
      if (random.empty())
        random = kernel.randomInputs(sizes, opts.seed);
      inputs.push_back(random[i]);
    }
  }

  std::vector<Tensor> outputs = kernel(inputs);
  int status = kSuccess;
  std::vector<Tensor> reference;
  if (opts.check)
    reference = kernel.interpret(inputs);
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto it = saved.find(outputNames[i]);
    if (it != saved.end())
      writeNpy(it->second, outputs[i]);
    else
      std::cout << outputNames[i] << ": " << runtime::summarize(outputs[i]) << "\n";
    if (opts.check) {
      runtime::ErrorStats stats = runtime::compare(outputs[i], reference[i]);
      bool ok = withinTolerance(outputs[i], reference[i]);
      std::cout << "check " << outputNames[i] << ": " << describe(stats, outputs[i].shape())
                << (ok ? "  ok" : "  MISMATCH") << " (tolerance "
                << describeTolerance(outputs[i], reference[i]) << ")\n";
      if (!ok)
        status = kProgramError;
    }
  }
  // The results are out. The optimized tier, compiling meanwhile, goes to the disk cache before
  // the process ends, so that the next run of this kernel loads it and never tiers.
  if (jitOptions.tiering == Tiering::Tiered && opts.target == "cpu" && !jitOptions.boundsChecks) {
    std::cout.flush();
    kernel.waitForFinalTier();
  }
  return status;
}

} // namespace tdsl::tool
