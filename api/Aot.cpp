// Ahead-of-time compilation: the JIT's pipeline (frontend, lowering for a CPU level, the LLVM
// backend) run at build time, once per kernel and CPU level, into one object file with a C
// function per kernel; its header; and a static library around the object. The calls are
// checked at run time by the kernel runtime from each kernel's description (runtime/AotKernel.h).
#include "tdsl/Aot.h"

#include "api/CudaProgram.h"
#include "api/Inspect.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaPrelude.h"
#include "frontend/Frontend.h"
#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"
#include "runtime/AotKernel.h"
#include "runtime/ThreadPool.h"
#include "support/Strings.h"
#include "tdsl/tdsl.h"
#ifdef TDSL_HAVE_LLVM
#include "codegen/llvm/AotObject.h"
#include "codegen/llvm/LlvmBackend.h"
#endif

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace tdsl {
namespace {

using runtime::aot::ShapeProgram;
using runtime::aot::Token;

constexpr size_t kMaxBuffers = 64; // runtime/AotCall.cpp: tensors and checks, and a rank.

#ifdef TDSL_HAVE_LLVM
/// `e`, an i64 expression over `symbols`, as a shape program.
void appendProgram(const ir::Expr &e, const std::vector<ir::Var> &symbols,
                   const std::string &kernel, ShapeProgram &out) {
  if (const auto *imm = e->as<ir::IntImm>()) {
    out.push_back({Token::Op::Const, imm->value});
    return;
  }
  if (const auto *ref = e->as<ir::VarRef>()) {
    auto it = std::find(symbols.begin(), symbols.end(), ref->var);
    if (it != symbols.end()) {
      out.push_back({Token::Op::Symbol, it - symbols.begin()});
      return;
    }
  }
  if (const auto *u = e->as<ir::Unary>();
      u && (u->op == ir::UnaryOp::Neg || u->op == ir::UnaryOp::Not)) {
    out.push_back({u->op == ir::UnaryOp::Neg ? Token::Op::Neg : Token::Op::Not, 0});
    return appendProgram(u->a, symbols, kernel, out);
  }
  if (const auto *select = e->as<ir::Select>()) {
    out.push_back({Token::Op::Select, 0});
    appendProgram(select->cond, symbols, kernel, out);
    appendProgram(select->a, symbols, kernel, out);
    return appendProgram(select->b, symbols, kernel, out);
  }
  if (const auto *b = e->as<ir::Binary>()) {
    static const std::pair<ir::BinaryOp, Token::Op> ops[] = {
        {ir::BinaryOp::Add, Token::Op::Add}, {ir::BinaryOp::Sub, Token::Op::Sub},
        {ir::BinaryOp::Mul, Token::Op::Mul}, {ir::BinaryOp::FloorDiv, Token::Op::FloorDiv},
        {ir::BinaryOp::Mod, Token::Op::Mod}, {ir::BinaryOp::Min, Token::Op::Min},
        {ir::BinaryOp::Max, Token::Op::Max}, {ir::BinaryOp::Eq, Token::Op::Eq},
        {ir::BinaryOp::Ne, Token::Op::Ne},   {ir::BinaryOp::Lt, Token::Op::Lt},
        {ir::BinaryOp::Le, Token::Op::Le},   {ir::BinaryOp::Gt, Token::Op::Gt},
        {ir::BinaryOp::Ge, Token::Op::Ge},   {ir::BinaryOp::And, Token::Op::And},
        {ir::BinaryOp::Or, Token::Op::Or}};
    for (const auto &[op, token] : ops)
      if (b->op == op) {
        out.push_back({token, 0});
        appendProgram(b->a, symbols, kernel, out);
        return appendProgram(b->b, symbols, kernel, out);
      }
  }
  throw RuntimeError(ErrorCode::BadFlag, "kernel " + kernel + ": the extent " + ir::toString(e) +
                                             " cannot be checked by ahead-of-time code");
}

ShapeProgram program(const ir::Expr &e, const ir::Kernel &k) {
  ShapeProgram p;
  appendProgram(e, k.symbols, k.name, p);
  return p;
}

/// What the CUDA launcher needs of `gpu`, kernel `k` lowered for one GPU: each launch's lets,
/// geometry and shared memory, and the heap intermediates' bytes, as programs over the symbols
/// (then the launch's lets).
runtime::aot::GpuDescription describeLaunches(const ir::LoweredFunc &gpu, const ir::Kernel &k) {
  runtime::aot::GpuDescription d;
  std::vector<const ir::GpuLaunch *> launches = ir::gpuLaunches(gpu);
  std::vector<std::vector<ir::Var>> scopes; // Each launch's symbols and lets.
  for (const ir::GpuLaunch *l : launches) {
    runtime::aot::LaunchDescription launch;
    launch.name = l->name;
    std::vector<ir::Var> vars = gpu.symbols;
    for (const auto &[var, value] : ir::launchLets(l)) {
      launch.lets.emplace_back();
      appendProgram(value, vars, k.name, launch.lets.back());
      vars.push_back(var);
    }
    appendProgram(ir::launchBlocks(l), vars, k.name, launch.blocks);
    appendProgram(ir::launchThreads(l), vars, k.name, launch.threads);
    appendProgram(ir::dynamicSharedBytes(ir::blockLoop(l)), vars, k.name, launch.sharedBytes);
    if (l->condition)
      appendProgram(l->condition, vars, k.name, launch.condition);
    d.launches.push_back(std::move(launch));
    scopes.push_back(std::move(vars));
  }
  for (const ir::Buffer &b : ir::gpuHeapBuffers(gpu)) {
    runtime::aot::HeapDescription heap;
    for (size_t i = 0; i < launches.size(); ++i)
      if (std::vector<ir::Buffer> used = ir::launchHeap(launches[i]);
          std::find(used.begin(), used.end(), b) != used.end()) {
        heap.launch = i;
        break;
      }
    // byteSize * max(0, d0) * max(0, d1) * ..., as the JIT's launcher sizes it.
    for (size_t d = 0; d < b->shape.size(); ++d)
      heap.bytes.push_back({Token::Op::Mul, 0});
    heap.bytes.push_back({Token::Op::Const, byteSize(b->dtype)});
    for (const ir::Expr &dim : b->shape) {
      heap.bytes.push_back({Token::Op::Max, 0});
      heap.bytes.push_back({Token::Op::Const, 0});
      appendProgram(dim, scopes.empty() ? gpu.symbols : scopes[heap.launch], k.name, heap.bytes);
    }
    d.heap.push_back(std::move(heap));
  }
  return d;
}

/// The GPU `arch` names ("sm_80", "sm_90") as the JIT schedules and compiles for it: Hopper's
/// warpgroup MMA needs the architecture-specific sm_90a.
detail::GpuDevice gpuNamed(const std::string &arch) {
  passes::GpuTarget target = passes::gpuTargetForArch(arch);
  if (target.name.empty())
    throw RuntimeError(ErrorCode::BadFlag, "--gpu: unknown GPU architecture '" + arch +
                                               "' (expected sm_80, sm_86, sm_89 or sm_90)");
  return detail::GpuDevice{target.name, arch == "sm_90" ? "sm_90a" : arch, target};
}

runtime::aot::TensorDescription describe(const ir::Buffer &b, const ir::Kernel &k) {
  if (b->shape.size() > kMaxBuffers)
    throw RuntimeError(ErrorCode::BadFlag, "kernel " + k.name + ": " + b->name + " has rank " +
                                               std::to_string(b->shape.size()) +
                                               "; ahead-of-time kernels take at most 64");
  runtime::aot::TensorDescription t{
      b->name, ir::typeString(b), static_cast<int64_t>(byteSize(b->dtype)), {}};
  for (const ir::Expr &dim : b->shape)
    t.dims.push_back(program(dim, k));
  return t;
}

runtime::aot::KernelDescription describe(const ir::Kernel &k) {
  if (k.inputs.size() + k.outputs.size() + k.checks.size() > kMaxBuffers)
    throw RuntimeError(ErrorCode::BadFlag,
                       "kernel " + k.name +
                           " has more than 64 tensors and gather checks for ahead-of-time code");
  runtime::aot::KernelDescription d;
  d.name = k.name;
  for (const ir::Var &s : k.symbols)
    d.symbols.push_back(s->name);
  for (const ir::Buffer &b : k.inputs)
    d.inputs.push_back(describe(b, k));
  for (const ir::Buffer &b : k.outputs)
    d.outputs.push_back(describe(b, k));
  for (const ir::Expr &e : ir::nonlinearExtents(k))
    d.extents.push_back(program(e, k));
  for (const ir::GatherCheck &c : k.checks)
    d.checks.push_back({program(c.gathered->shape.at(c.dim), k),
                        ir::gatherErrorMessage(k, c, "{index}", "{size}")});
  return d;
}

/// Kernel `k` for each GPU of `gpus`: its CUDA C scheduled for that GPU, NVRTC's PTX for the
/// architecture and a cubin where NVRTC makes one, and the launches' description.
codegen::AotCudaKernelCode compileForGpus(const ir::Kernel &k, const std::string &function,
                                          const std::vector<std::string> &gpus) {
  codegen::AotCudaKernelCode code;
  code.function = function;
  code.numTensors = k.inputs.size() + k.outputs.size();
  code.numSymbols = k.symbols.size();
  code.description = describe(k).encode();
  ir::LoweredFunc plain = passes::lowerKernel(k);
  for (const std::string &arch : gpus) {
    detail::GpuDevice device = gpuNamed(arch);
    detail::CudaProgram program = detail::buildCudaProgram(plain, device);
    codegen::AotCudaImage image;
    image.arch = device.arch;
    image.computeCapability = device.target.computeCapability;
    image.archSpecific = device.arch.back() == 'a';
    image.launches = describeLaunches(program.gpu, k).encode();
    std::string virtualArch = "compute_" + device.arch.substr(3);
    // The strided functions' copies (runtime/AotCuda.cpp) in the same image.
    std::string source = program.source + codegen::stridedCopyKernels();
    image.ptx = codegen::compileToPtx(source, k.name, virtualArch);
    try {
      image.cubin = codegen::compileToCubin(source, k.name, device.arch);
    } catch (const RuntimeError &) {
      // No cubin from this NVRTC for the architecture: the driver will compile the PTX.
    }
    code.images.push_back(std::move(image));
  }
  return code;
}

bool isIdentifier(const std::string &name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

const char *cType(DType dtype) {
  switch (dtype) {
  case DType::F16: // IEEE binary16 bits.
  case DType::BF16:
    return "uint16_t";
  case DType::F32:
    return "float";
  case DType::F64:
    return "double";
  case DType::I32:
    return "int32_t";
  case DType::I64:
    return "int64_t";
  case DType::Bool: // One byte, 0 or 1.
  case DType::U8:
    return "uint8_t";
  case DType::I8:
    return "int8_t";
  case DType::I16:
    return "int16_t";
  }
  return "void";
}

/// The header's declarations of one kernel's C functions, with the signature as a comment: for
/// contiguous and strided, the last parameter the call's options (CPU) or a stream (CUDA).
std::string declarations(const ir::Kernel &k, const std::string &function, bool cuda) {
  std::string text = "/* kernel " + k.name + "(";
  for (size_t i = 0; i < k.inputs.size(); ++i)
    text += (i ? ", " : "") + k.inputs[i]->name + ": " + ir::typeString(k.inputs[i]);
  text += ") -> ";
  for (size_t o = 0; o < k.outputs.size(); ++o)
    text += (o ? ", " : "") + k.outputs[o]->name + ": " + ir::typeString(k.outputs[o]);
  text += " */\n";
  for (bool strided : {false, true}) {
    std::string name = function + (strided ? "_strided" : "");
    text += "int " + name + "(";
    std::string indent(name.size() + 5, ' ');
    std::vector<std::string> params;
    auto tensor = [&](const ir::Buffer &b, bool input) {
      params.push_back((input ? "const " : "") + std::string(cType(b->dtype)) + " *" + b->name +
                       ", const int64_t *" + b->name + "_shape" +
                       (strided ? ", const int64_t *" + b->name + "_strides" : ""));
    };
    for (const ir::Buffer &b : k.inputs)
      tensor(b, true);
    for (const ir::Buffer &b : k.outputs)
      tensor(b, false);
    for (const ir::Var &s : k.symbols)
      params.push_back("int64_t " + s->name);
    params.push_back(cuda ? "void *stream" : "const tdsl_call_options *options");
    for (size_t p = 0; p < params.size(); ++p)
      text += (p ? ",\n" + indent : "") + params[p];
    text += ");\n";
  }
  return text;
}

/// The header's description of the functions' ABI, for the CPU and for CUDA.
constexpr const char *kCpuAbi =
    R"( * Each kernel K has two functions. NAME_K takes its inputs' then its outputs' data
 * (contiguous, row-major), each followed by its shape (rank elements, checked against the
 * symbols; NULL: not checked), then the shape symbols' values and the call's options (NULL:
 * every hardware thread on tdsl's pool). NAME_K_strided takes as well, after each shape, the
 * tensor's strides: rank elements, counted in elements (not bytes), as DLPack's
 * DLTensor::strides; element [i0, i1, ...] is at data[i0 * strides[0] + i1 * strides[1] + ...].
 * Strides may be negative, and an input's zero (a broadcast); NULL strides mean contiguous. A
 * contiguous layout runs the compiled code on the data itself; any other is copied into
 * contiguous scratch first (an input) or from it after a successful call (an output). Both
 * return 0 (TDSL_OK) or a tdsl_status, with the message in tdsl_last_error(). Outputs must not
 * overlap inputs, and an output's strides must not put two elements at one address
 * (TDSL_BAD_STRIDES). Link libtdsl_kernel_runtime.a. */
)";
constexpr const char *kCudaAbi =
    R"( * Each kernel K has two functions. NAME_K takes its inputs' then its outputs' data as
 * device pointers (CUdeviceptr values cast to pointers; contiguous, row-major), each followed
 * by its shape (rank elements, checked against the symbols; NULL: not checked), then the shape
 * symbols' values and the CUstream to launch on (NULL: the default stream). NAME_K_strided
 * takes as well, after each shape, the tensor's strides in elements, as the CPU's functions do
 * (NULL: contiguous); a layout that is not contiguous is copied on the stream into device
 * scratch first (an input) or out of it after the launches (an output; at most 8 dims). Both
 * return once the launches are queued, except for a kernel with gather checks, which waits for
 * the stream to read their results. A call runs in the calling thread's current context (device 0's
 * primary context, made current, if none); the first call in each context loads the driver
 * (libcuda.so.1) and the image for that context's device into it: the cubin of its
 * architecture, else PTX that the driver compiles. It returns 0 (TDSL_OK) or a tdsl_status,
 * with the message in tdsl_last_error(). Outputs must not
 * overlap inputs. Link libtdsl_kernel_runtime.a. */
)";

std::string header(const std::string &name, const std::string &source,
                   const std::vector<const ir::Kernel *> &kernels, const AotOptions &options) {
  std::string guard = name;
  std::transform(guard.begin(), guard.end(), guard.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  bool cuda = options.target == "cuda";
  auto joined = [](const std::vector<std::string> &list) {
    std::string text;
    for (const std::string &item : list)
      text += (text.empty() ? "" : ",") + item;
    return text;
  };
  std::string text =
      "/* Kernels of " + std::filesystem::path(source).filename().string() +
      " compiled ahead of time by\n * `tdsl aot " +
      (cuda ? "--target cuda --gpu " + joined(options.gpus) : "--cpu " + joined(options.cpus)) +
      "`. Generated: do not edit.\n"
      " *\n" +
      (cuda ? kCudaAbi : kCpuAbi) + "#ifndef " + guard + "_H\n#define " + guard +
      "_H\n\n#include <stdint.h>\n#include <tdsl/AotRuntime.h>\n\n" +
      "#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
  std::string table = "\n/* Every kernel of this library as X(function, kernel). */\n#define " +
                      guard + "_KERNELS(X)";
  for (const ir::Kernel *k : kernels) {
    text += "\n" + declarations(*k, name + "_" + k->name, cuda);
    table += " X(" + name + "_" + k->name + ", " + k->name + ")";
  }
  text += table + "\n";
  return text + "\n#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n#endif /* " + guard +
         "_H */\n";
}

void writeFile(const std::filesystem::path &path, const std::string &bytes) {
  std::filesystem::path partial = path;
  partial += ".partial";
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  std::error_code error;
  if (out)
    std::filesystem::rename(partial, path, error);
  if (!out || error)
    throw RuntimeError("cannot write " + path.string());
}

/// The versions' order: the most specific CPU first, as the dispatch takes the first it can run.
int levelRank(const std::string &level) {
  return level == "host" ? 0 : level == "x86-64-v4" ? 1 : 2;
}

/// The object of `kernels` compiled for the CPU levels of `options`.
std::string cpuObject(const std::vector<const ir::Kernel *> &kernels, const std::string &name,
                      const AotOptions &options) {
  if (options.cpus.empty())
    throw RuntimeError(ErrorCode::BadFlag, "no CPU level given (--cpu)");
  std::vector<std::string> levels = options.cpus;
  std::stable_sort(levels.begin(), levels.end(), [](const std::string &a, const std::string &b) {
    return levelRank(a) < levelRank(b);
  });
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());

  if (options.threads < 0)
    throw RuntimeError(ErrorCode::BadFlag, "the thread count must be at least 0 (0: every "
                                           "hardware thread), got " +
                                               std::to_string(options.threads));
  int hardware = runtime::ThreadPool::hardwareThreads();
  int threads = options.threads == 0 ? hardware : std::min(options.threads, hardware);
  std::vector<std::unique_ptr<ir::LoweredFunc>> lowered; // Alive until the object is made.
  std::vector<codegen::AotKernelCode> code;
  for (const ir::Kernel *k : kernels) {
    codegen::AotKernelCode kc;
    kc.function = name + "_" + k->name;
    kc.numTensors = k->inputs.size() + k->outputs.size();
    kc.numSymbols = k->symbols.size();
    kc.description = describe(*k).encode();
    for (const std::string &level : levels) {
      Target target = Target::cpu();
      target.cpuLevel = level;
      lowered.push_back(std::make_unique<ir::LoweredFunc>(
          passes::lowerKernel(*k, detail::cpuTargetFor(target, threads))));
      codegen::AotVersion version;
      version.func = lowered.back().get();
      std::tie(version.options.cpu, version.options.features) = codegen::cpuForLevel(level);
      for (std::string_view feature : splitList(version.options.features))
        if (feature.starts_with('+'))
          version.features +=
              (version.features.empty() ? "" : ",") + std::string(feature.substr(1));
      kc.versions.push_back(std::move(version));
    }
    code.push_back(std::move(kc));
  }
  return codegen::compileAotObject(code);
}

/// The object of `kernels` compiled for the GPUs of `options`.
std::string cudaObject(const std::vector<const ir::Kernel *> &kernels, const std::string &name,
                       const AotOptions &options) {
  if (options.gpus.empty())
    throw RuntimeError(ErrorCode::BadFlag, "no GPU architecture given (--gpu)");
  codegen::NvrtcStatus nvrtc = codegen::nvrtcStatus();
  if (!nvrtc.available)
    throw RuntimeError("--target cuda needs NVRTC at build time: " + nvrtc.reason);
  std::vector<codegen::AotCudaKernelCode> code;
  for (const ir::Kernel *k : kernels)
    code.push_back(compileForGpus(*k, name + "_" + k->name, options.gpus));
  return codegen::compileAotCudaObject(code);
}
#endif

} // namespace

AotFiles compileAheadOfTime(const std::string &path, const AotOptions &options) {
#ifndef TDSL_HAVE_LLVM
  (void)path;
  (void)options;
  throw RuntimeError("this tdsl was built without the LLVM backend");
#else
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto file = std::make_shared<const SourceFile>(SourceFile{path, text.str()});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  if (!module || diags.hasErrors())
    throw CompileError(diags.diagnostics());

  std::string name =
      options.name.empty() ? std::filesystem::path(path).stem().string() : options.name;
  if (!isIdentifier(name))
    throw RuntimeError(ErrorCode::BadFlag, "the library name '" + name +
                                               "' is not a C identifier (letters, digits, _); "
                                               "choose one with --name");
  std::vector<const ir::Kernel *> kernels;
  for (const ir::Kernel &k : module->kernels)
    if (options.kernels.empty() ||
        std::find(options.kernels.begin(), options.kernels.end(), k.name) != options.kernels.end())
      kernels.push_back(&k);
  for (const std::string &wanted : options.kernels)
    if (!module->find(wanted))
      throw RuntimeError(ErrorCode::NoSuchKernel, "no kernel named '" + wanted + "' in " + path);
  for (const ir::Kernel *k : kernels)
    for (const ir::Kernel *other : kernels)
      if (other->name == k->name + "_strided")
        throw RuntimeError(ErrorCode::BadFlag,
                           "kernels " + k->name + " and " + other->name + " would both define " +
                               name + "_" + other->name + " (the strided form of " + k->name +
                               "); rename one or compile them into separate libraries");
  std::string object;
  if (options.target == "cuda")
    object = cudaObject(kernels, name, options);
  else if (options.target == "cpu")
    object = cpuObject(kernels, name, options);
  else
    throw RuntimeError(ErrorCode::BadFlag,
                       "unknown target '" + options.target + "' (expected cpu or cuda)");

  std::filesystem::path dir(options.outputDir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  AotFiles files{(dir / (name + ".h")).string(), (dir / (name + ".o")).string(),
                 (dir / ("lib" + name + ".a")).string()};
  writeFile(files.object, object);
  writeFile(files.library, codegen::staticLibrary(object, name + ".o"));
  writeFile(files.header, header(name, path, kernels, options));
  return files;
#endif
}

} // namespace tdsl
