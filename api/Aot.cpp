// Ahead-of-time compilation: the JIT's pipeline (frontend, lowering for a CPU level, the LLVM
// backend) run at build time, once per kernel and CPU level, into one object file with a C
// function per kernel; its header; and a static library around the object. The calls are
// checked at run time by the kernel runtime from each kernel's description (runtime/AotKernel.h).
#include "tdsl/Aot.h"

#include "api/Inspect.h"
#include "frontend/Frontend.h"
#include "ir/IRPrinter.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"
#include "runtime/AotKernel.h"
#include "runtime/ThreadPool.h"
#include "tdsl/tdsl.h"
#ifdef TDSL_HAVE_LLVM
#include "codegen/llvm/AotObject.h"
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
  if (const auto *u = e->as<ir::Unary>(); u && u->op == ir::UnaryOp::Neg) {
    out.push_back({Token::Op::Neg, 0});
    return appendProgram(u->a, symbols, kernel, out);
  }
  if (const auto *b = e->as<ir::Binary>()) {
    static const std::pair<ir::BinaryOp, Token::Op> ops[] = {
        {ir::BinaryOp::Add, Token::Op::Add}, {ir::BinaryOp::Sub, Token::Op::Sub},
        {ir::BinaryOp::Mul, Token::Op::Mul}, {ir::BinaryOp::FloorDiv, Token::Op::FloorDiv},
        {ir::BinaryOp::Mod, Token::Op::Mod}, {ir::BinaryOp::Min, Token::Op::Min},
        {ir::BinaryOp::Max, Token::Op::Max}};
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

runtime::aot::TensorDescription describe(const ir::Buffer &b, const ir::Kernel &k) {
  if (b->shape.size() > kMaxBuffers)
    throw RuntimeError(ErrorCode::BadFlag, "kernel " + k.name + ": " + b->name + " has rank " +
                                               std::to_string(b->shape.size()) +
                                               "; ahead-of-time kernels take at most 64");
  runtime::aot::TensorDescription t{b->name, ir::typeString(b), {}};
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

/// The header's declaration of one kernel's C function, with the signature as a comment.
std::string declaration(const ir::Kernel &k, const std::string &function) {
  std::string text = "/* kernel " + k.name + "(";
  for (size_t i = 0; i < k.inputs.size(); ++i)
    text += (i ? ", " : "") + k.inputs[i]->name + ": " + ir::typeString(k.inputs[i]);
  text += ") -> ";
  for (size_t o = 0; o < k.outputs.size(); ++o)
    text += (o ? ", " : "") + k.outputs[o]->name + ": " + ir::typeString(k.outputs[o]);
  text += " */\nint " + function + "(";
  std::string indent(function.size() + 5, ' ');
  std::vector<std::string> params;
  for (const ir::Buffer &b : k.inputs)
    params.push_back("const " + std::string(cType(b->dtype)) + " *" + b->name +
                     ", const int64_t *" + b->name + "_shape");
  for (const ir::Buffer &b : k.outputs)
    params.push_back(std::string(cType(b->dtype)) + " *" + b->name + ", const int64_t *" + b->name +
                     "_shape");
  for (const ir::Var &s : k.symbols)
    params.push_back("int64_t " + s->name);
  params.push_back("const tdsl_call_options *options");
  for (size_t p = 0; p < params.size(); ++p)
    text += (p ? ",\n" + indent : "") + params[p];
  return text + ");\n";
}

std::string header(const std::string &name, const std::string &source,
                   const std::vector<const ir::Kernel *> &kernels, const AotOptions &options) {
  std::string guard = name;
  std::transform(guard.begin(), guard.end(), guard.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string cpus;
  for (const std::string &cpu : options.cpus)
    cpus += (cpus.empty() ? "" : ",") + cpu;
  std::string text =
      "/* Kernels of " + std::filesystem::path(source).filename().string() +
      " compiled ahead of time by\n * `tdsl aot --cpu " + cpus +
      "`. Generated: do not edit.\n"
      " *\n"
      " * Each function takes its inputs' then its outputs' data (contiguous, row-major), each\n"
      " * followed by its shape (rank elements, checked against the symbols; NULL: not checked),\n"
      " * then the shape symbols' values and the call's options (NULL: every hardware thread on\n"
      " * tdsl's pool). It returns 0 (TDSL_OK) or a tdsl_status, with the message in\n"
      " * tdsl_last_error(). Outputs must not overlap inputs. Link libtdsl_kernel_runtime.a. */\n"
      "#ifndef " +
      guard + "_H\n#define " + guard +
      "_H\n\n#include <stdint.h>\n#include <tdsl/AotRuntime.h>\n\n" +
      "#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
  std::string table = "\n/* Every kernel of this library as X(function, kernel). */\n#define " +
                      guard + "_KERNELS(X)";
  for (const ir::Kernel *k : kernels) {
    text += "\n" + declaration(*k, name + "_" + k->name);
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
      for (size_t at = 0; at < version.options.features.size();) {
        size_t end =
            std::min(version.options.features.find(',', at), version.options.features.size());
        if (version.options.features[at] == '+')
          version.features += (version.features.empty() ? "" : ",") +
                              version.options.features.substr(at + 1, end - at - 1);
        at = end + 1;
      }
      kc.versions.push_back(std::move(version));
    }
    code.push_back(std::move(kc));
  }
  std::string object = codegen::compileAotObject(code);

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
