// The CPU backend's driver: host target description, LLVM's O3 pipeline (without its loop
// unrolling), textual IR, assembly and object code, and linking through ORC. Compiling is a pure
// function of the loop IR: each compile builds its module in an LLVMContext of its own and emits
// object code with a TargetMachine taken from a pool (one thread at a time per machine; creating
// one costs more than reusing it). The pool keys machines by CPU, features and code generation
// level: LlvmCodeGenOptions::optimize picks CodeGenOptLevel::Aggressive (after the O3 pipeline)
// or None (FastISel, after EarlyCSE, the only IR pass), so the fast mode needs no JIT of its own:
// the LLJIT only links object code, whatever level made it. Linking goes through one LLJIT per
// process, created on first use, with a JITDylib per kernel: creating an LLJIT per kernel cost
// ~0.45 ms, 1/3 of a disk-cache hit. Dropping the kernel removes its JITDylib, which frees its
// code. ORC's ExecutionSession is thread-safe; nothing else is shared.
#include "codegen/llvm/LlvmBackend.h"

#include "codegen/llvm/AotObject.h"
#include "codegen/llvm/BoundsChecks.h"
#include "codegen/llvm/CodeGenLlvm.h"
#include "codegen/llvm/LlvmOptions.h"
#include "codegen/llvm/ParallelFor.h"
#include "codegen/llvm/VectorMath.h"
#include "support/Check.h"
#include "support/Strings.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DiagnosticHandler.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Object/ArchiveWriter.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/X86TargetParser.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>

namespace tdsl::codegen {
namespace {

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string errorText(llvm::Error error) { return llvm::toString(std::move(error)); }

/// Whether LLVM feature list `features` ("+avx2,-avx512f,...") turns `feature` on.
bool hasFeature(const std::string &features, const std::string &feature) {
  const std::vector<std::string_view> list = splitList(features);
  return std::ranges::find(list, "+" + feature) != list.end();
}

int vectorBitsOf(const std::string &features) {
  return hasFeature(features, "avx512f") ? 512 : hasFeature(features, "avx2") ? 256 : 128;
}

/// The host's features, computed once (the answer never changes within a process).
const CpuInfo &cachedHostCpuInfo() {
  static const CpuInfo info = [] {
    CpuInfo result;
    result.cpuName = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    std::vector<std::string> list;
    for (const auto &entry : features)
      list.push_back((entry.getValue() ? "+" : "-") + entry.getKey().str());
    std::sort(list.begin(), list.end()); // StringMap iterates in no particular order.
    for (const std::string &f : list)
      result.features += (result.features.empty() ? "" : ",") + f;
    result.vectorBits = vectorBitsOf(result.features);
    return result;
  }();
  return info;
}

LlvmTargetInfo targetInfo(const LlvmCodeGenOptions &options) {
  const CpuInfo &host = cachedHostCpuInfo();
  LlvmTargetInfo target;
  target.cpu = options.cpu.empty() ? host.cpuName : options.cpu;
  target.features = options.cpu.empty() ? host.features : options.features;
  target.vectorBits = vectorBitsOf(target.features);
  target.hardwareHalf = options.hardwareHalf && hasFeature(target.features, "f16c");
  target.boundsChecks = options.boundsChecks;
  return target;
}

/// LLVM's instruction selection and register allocation level for these options.
llvm::CodeGenOptLevel codeGenLevel(const LlvmCodeGenOptions &options) {
  return options.optimize ? llvm::CodeGenOptLevel::Aggressive : llvm::CodeGenOptLevel::None;
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const LlvmTargetInfo &info,
                                                         llvm::CodeGenOptLevel level) {
  initializeNativeTarget();
  std::string triple = llvm::sys::getProcessTriple();
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  TDSL_CHECK(target) << "no LLVM target for " << triple << ": " << error;
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, info.cpu, info.features, options, llvm::Reloc::PIC_, std::nullopt, level));
  TDSL_CHECK(machine) << "LLVM cannot create a target machine for " << triple;
  return machine;
}

/// Target machines kept for reuse, by CPU, features and code generation level. A machine is used by
/// one thread at a time (taken out of the pool while in use); a few are kept per CPU, enough for
/// the threads that compile at once in practice.
class MachinePool {
public:
  /// A machine lent out by the pool; given back when the lease ends.
  class Lease {
  public:
    Lease(MachinePool &pool, std::string key, std::unique_ptr<llvm::TargetMachine> machine)
        : pool(&pool), key(std::move(key)), machine(std::move(machine)) {}
    Lease(Lease &&) = default;
    Lease &operator=(Lease &&) = default;
    ~Lease() {
      if (machine)
        pool->giveBack(std::move(key), std::move(machine));
    }
    llvm::TargetMachine &operator*() const { return *machine; }
    llvm::TargetMachine *operator->() const { return machine.get(); }

  private:
    MachinePool *pool;
    std::string key;
    std::unique_ptr<llvm::TargetMachine> machine;
  };

  Lease take(const LlvmTargetInfo &info, llvm::CodeGenOptLevel level) {
    std::string key =
        info.cpu + "\n" + info.features + "\n" + std::to_string(static_cast<int>(level));
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = idle.find(key);
      if (it != idle.end()) {
        std::unique_ptr<llvm::TargetMachine> machine = std::move(it->second);
        idle.erase(it);
        return Lease(*this, std::move(key), std::move(machine));
      }
    }
    return Lease(*this, std::move(key), createTargetMachine(info, level)); // Outside the lock.
  }

private:
  void giveBack(std::string key, std::unique_ptr<llvm::TargetMachine> machine) {
    std::lock_guard<std::mutex> lock(mutex);
    if (idle.count(key) < kIdlePerKey)
      idle.emplace(std::move(key), std::move(machine));
  }

  static constexpr size_t kIdlePerKey = 4;
  std::mutex mutex;
  std::multimap<std::string, std::unique_ptr<llvm::TargetMachine>> idle;
};

MachinePool &machinePool() {
  static MachinePool *pool = new MachinePool; // Never destroyed: leases may end at exit.
  return *pool;
}

/// Letters, digits and '_' only, not starting with a digit.
std::string sanitizeName(const std::string &name) {
  std::string out;
  for (char c : name)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "k_" + out;
  return out;
}

void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  // tdsl unrolls where it pays itself (vector accumulators, the tiled micro-kernel). LLVM's
  // unrolling on top made the code it generates larger and a cold compile of softmax ~20%
  // slower (46.6 -> 36.2 ms of CPU time), for no measurable run-time gain on bench/cpu.tdsl and
  // bench/gemm.tdsl (docs/performance.md, "Compile latency").
  tuning.LoopUnrolling = false;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager passes =
      builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  passes.run(module, mam);
}

/// The fast tier's only IR pass: EarlyCSE removes the address arithmetic that the code generator
/// repeats per access (a tiled micro-kernel recomputes each row's base), a quarter of what
/// instruction selection at CodeGenOptLevel::None had to do on a tiled matmul, for less than it
/// saves on softmax and layernorm too. It removes only computations that repeat an earlier one,
/// so the floating-point results keep their bits.
void simplifyForFastCodeGen(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::FunctionAnalysisManager fam;
  llvm::PassBuilder builder(&machine);
  builder.registerFunctionAnalyses(fam);
  llvm::FunctionPassManager passes;
  passes.addPass(llvm::EarlyCSEPass());
  for (llvm::Function &function : module)
    if (!function.isDeclaration())
      passes.run(function, fam);
}

/// Keeps LLVM's warnings and remarks off stderr (a library does not print) and records its
/// errors, which LLVM's default handler would answer by exiting the process.
class QuietDiagnostics final : public llvm::DiagnosticHandler {
public:
  explicit QuietDiagnostics(std::shared_ptr<std::string> errors) : errors(std::move(errors)) {}
  bool handleDiagnostics(const llvm::DiagnosticInfo &info) override {
    if (info.getSeverity() == llvm::DS_Error) {
      llvm::raw_string_ostream os(*errors);
      llvm::DiagnosticPrinterRawOStream printer(os);
      info.print(printer);
      os << "\n";
    }
    return true;
  }

private:
  std::shared_ptr<std::string> errors;
};

/// One kernel's module, generated and (when asked, and options.optimize) optimized, with its
/// context and the machine that emits its code.
struct BuiltModule {
  explicit BuiltModule(MachinePool::Lease machine) : machine(std::move(machine)) {}
  MachinePool::Lease machine;
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  std::shared_ptr<std::string> errors = std::make_shared<std::string>(); // From LLVM, if any.

  void checkNoErrors(const ir::LoweredFunc &func) const {
    TDSL_CHECK(errors->empty()) << "LLVM failed on " << func.name << ": " << *errors;
  }
};

/// Whether a module is built to be read (textual IR, assembly: its values keep their names) or
/// only compiled (names cost time to make unique and are dropped from the object anyway).
enum class ValueNames { Keep, Discard };

BuiltModule buildModule(const ir::LoweredFunc &func, const std::string &symbol, bool optimized,
                        const LlvmCodeGenOptions &options, ValueNames names) {
  LlvmTargetInfo target = targetInfo(options);
  BuiltModule built(machinePool().take(target, codeGenLevel(options)));
  built.context = std::make_unique<llvm::LLVMContext>();
  built.context->setDiagnosticHandler(std::make_unique<QuietDiagnostics>(built.errors));
  built.context->setDiscardValueNames(names == ValueNames::Discard);
  built.module = generateLlvmModule(func, symbol, *built.context, *built.machine, target);
  if (optimized && options.optimize)
    optimizeModule(*built.module, *built.machine);
  else if (optimized)
    simplifyForFastCodeGen(*built.module, *built.machine);
  built.checkNoErrors(func);
  return built;
}

/// A fresh LLJIT for the host whose code can call the process's libm and tdsl's runtime.
std::unique_ptr<llvm::orc::LLJIT> makeHostJit() {
  initializeNativeTarget();
  auto machineBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  TDSL_CHECK(machineBuilder) << "LLVM cannot describe the host: "
                             << errorText(machineBuilder.takeError());
  // libm (expf, tanhf, fmodf, ...), aligned_alloc and free come from the running process,
  // through a JITDylib that the main one links against. (An LLVM callback: it must not throw.)
  auto processSymbols = [](llvm::orc::LLJIT &jit) -> llvm::Expected<llvm::orc::JITDylibSP> {
    auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit.getDataLayout().getGlobalPrefix());
    if (!generator)
      return generator.takeError();
    llvm::orc::JITDylib &dylib = jit.getExecutionSession().createBareJITDylib("<process>");
    dylib.addGenerator(std::move(*generator));
    return &dylib;
  };
  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(std::move(*machineBuilder))
                 .setProcessSymbolsJITDylibSetup(processSymbols)
                 .create();
  TDSL_CHECK(jit) << "cannot create the JIT: " << errorText(jit.takeError());
  defineRuntimeSymbols(**jit);     // tdsl_parallel_for, tdsl_scratch_*
  defineBoundsCheckSymbols(**jit); // tdsl_bounds_violation
  // A damaged object (a cache entry) fails to link: the caller gets the error and recompiles;
  // LLVM must not print it.
  (*jit)->getExecutionSession().setErrorReporter(
      [](llvm::Error error) { llvm::consumeError(std::move(error)); });
  return std::move(*jit);
}

/// The process's JIT: kernels are linked into JITDylibs of their own in it. Created on first
/// use and never destroyed (kernels held by static objects outlive static destruction).
llvm::orc::LLJIT &processJit() {
  static llvm::orc::LLJIT *jit = makeHostJit().release();
  return *jit;
}

void removeDylib(llvm::orc::JITDylib &dylib) {
  llvm::consumeError(processJit().getExecutionSession().removeJITDylib(dylib));
}

class JitKernel final : public CompiledCpuKernel {
public:
  JitKernel(llvm::orc::JITDylib &dylib, KernelEntry fn) : dylib(dylib), fn(fn) {}
  ~JitKernel() override { removeDylib(dylib); } // Frees the code `fn` points into.
  KernelEntry entry() const override { return fn; }

private:
  llvm::orc::JITDylib &dylib;
  KernelEntry fn;
};

/// Links `object` into a fresh JITDylib of the process's JIT (which links against the main
/// JITDylib: tdsl's runtime; and the process's symbols: libm, libmvec); null when it cannot be
/// linked or lacks `symbol`.
std::unique_ptr<CompiledCpuKernel> linkObject(const std::string &object,
                                              const std::string &symbol) {
  libmvecAvailable(); // The object may call libmvec: load it into the process, as codegen does.
  llvm::orc::LLJIT &jit = processJit();
  static std::atomic<uint64_t> serial{0};
  auto created = jit.createJITDylib("<tdsl kernel " + std::to_string(serial++) + ">");
  TDSL_CHECK(created) << "cannot create a JITDylib: " << errorText(created.takeError());
  llvm::orc::JITDylib &dylib = *created;
  dylib.addToLinkOrder(jit.getMainJITDylib());
  if (llvm::orc::JITDylibSP process = jit.getProcessSymbolsJITDylib())
    dylib.addToLinkOrder(*process); // Normally among LLJIT's default links already.
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object, symbol + ".o");
  if (llvm::Error error = jit.addObjectFile(dylib, std::move(buffer))) {
    llvm::consumeError(std::move(error));
    removeDylib(dylib);
    return nullptr;
  }
  auto address = jit.lookup(dylib, symbol);
  if (!address) {
    llvm::consumeError(address.takeError());
    removeDylib(dylib);
    return nullptr;
  }
  return std::make_unique<JitKernel>(dylib, address->toPtr<KernelEntry>());
}

/// Object code of `module`, emitted by `machine`.
std::string emitModuleObject(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::SmallString<0> object;
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager passes;
  bool unsupported =
      machine.addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile);
  TDSL_CHECK(!unsupported) << "the host target cannot emit object files";
  passes.run(module);
  return std::string(object.str());
}

/// The two C functions of an ahead-of-time kernel: `function` takes (data, shape) per tensor and
/// passes null strides; `function`_strided takes (data, shape, strides). Both take the symbols
/// and a last pointer (the call's options, or the CUDA stream), and return
/// `call`(state, tensors, shapes, strides, symbols, last) (runtime/AotKernel.h).
void addAotFunctions(llvm::Module &module, llvm::FunctionCallee call, llvm::Value *state,
                     const std::string &function, size_t numTensors, size_t numSymbols) {
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *ptrTy = llvm::PointerType::getUnqual(context);
  llvm::Type *i64Ty = llvm::Type::getInt64Ty(context);
  llvm::Type *i32Ty = llvm::Type::getInt32Ty(context);
  for (size_t perTensor : {2, 3}) {
    std::vector<llvm::Type *> params(perTensor * numTensors, ptrTy);
    params.insert(params.end(), numSymbols, i64Ty);
    params.push_back(ptrTy);
    auto *fn = llvm::Function::Create(llvm::FunctionType::get(i32Ty, params, false),
                                      llvm::GlobalValue::ExternalLinkage,
                                      function + (perTensor == 3 ? "_strided" : ""), module);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", fn));
    auto array = [&](llvm::Type *type, size_t count) {
      return b.CreateAlloca(llvm::ArrayType::get(type, std::max<size_t>(count, 1)));
    };
    llvm::Value *tensors = array(ptrTy, numTensors);
    llvm::Value *shapes = array(ptrTy, numTensors);
    llvm::Value *strides = llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(context));
    if (perTensor == 3)
      strides = array(ptrTy, numTensors);
    llvm::Value *symbols = array(i64Ty, numSymbols);
    for (size_t t = 0; t < numTensors; ++t) {
      b.CreateStore(fn->getArg(perTensor * t), b.CreateConstGEP1_64(ptrTy, tensors, t));
      b.CreateStore(fn->getArg(perTensor * t + 1), b.CreateConstGEP1_64(ptrTy, shapes, t));
      if (perTensor == 3)
        b.CreateStore(fn->getArg(perTensor * t + 2), b.CreateConstGEP1_64(ptrTy, strides, t));
    }
    for (size_t s = 0; s < numSymbols; ++s)
      b.CreateStore(fn->getArg(perTensor * numTensors + s),
                    b.CreateConstGEP1_64(i64Ty, symbols, s));
    b.CreateRet(b.CreateCall(
        call, {state, tensors, shapes, strides, symbols, fn->getArg(params.size() - 1)}));
  }
}

/// Adds to `module` the kernel's versions table, its tdsl_aot_kernel and its C function, which
/// hands the call to tdsl_aot_call (runtime/AotKernel.h has the layouts).
void addAotEntry(llvm::Module &module, const AotKernelCode &kernel,
                 const std::vector<llvm::Function *> &versions) {
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *ptrTy = llvm::PointerType::getUnqual(context);
  llvm::Type *i64Ty = llvm::Type::getInt64Ty(context);
  llvm::Type *i32Ty = llvm::Type::getInt32Ty(context);
  auto string = [&](const std::string &text, const std::string &name) {
    llvm::Constant *data = llvm::ConstantDataArray::getString(context, text);
    return new llvm::GlobalVariable(module, data->getType(), /*isConstant=*/true,
                                    llvm::GlobalValue::PrivateLinkage, data, name);
  };
  auto *versionTy = llvm::StructType::get(ptrTy, ptrTy);
  std::vector<llvm::Constant *> rows;
  for (size_t v = 0; v < versions.size(); ++v)
    rows.push_back(llvm::ConstantStruct::get(
        versionTy,
        {string(kernel.versions[v].features, kernel.function + ".features"), versions[v]}));
  auto *tableTy = llvm::ArrayType::get(versionTy, rows.size());
  auto *table = new llvm::GlobalVariable(module, tableTy, true, llvm::GlobalValue::PrivateLinkage,
                                         llvm::ConstantArray::get(tableTy, rows),
                                         kernel.function + ".versions");
  auto *kernelTy = llvm::StructType::get(ptrTy, ptrTy, i64Ty, ptrTy);
  auto *state = new llvm::GlobalVariable(
      module, kernelTy, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
      llvm::ConstantStruct::get(
          kernelTy, {string(kernel.description, kernel.function + ".description"), table,
                     llvm::ConstantInt::get(i64Ty, rows.size()),
                     llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(context))}),
      kernel.function + ".kernel");

  llvm::FunctionCallee call = module.getOrInsertFunction(
      "tdsl_aot_call",
      llvm::FunctionType::get(i32Ty, {ptrTy, ptrTy, ptrTy, ptrTy, ptrTy, ptrTy}, false));
  addAotFunctions(module, call, state, kernel.function, kernel.numTensors, kernel.numSymbols);
}

/// Object code of the module (optimized unless options.optimize is off).
std::string emitObject(const ir::LoweredFunc &func, const std::string &symbol,
                       const LlvmCodeGenOptions &options) {
  BuiltModule built = buildModule(func, symbol, /*optimized=*/true, options, ValueNames::Discard);
  std::string object = emitModuleObject(*built.module, *built.machine);
  built.checkNoErrors(func);
  return object;
}

} // namespace

CpuInfo hostCpuInfo() { return cachedHostCpuInfo(); }

std::string emitLlvmIr(const ir::LoweredFunc &func, bool optimized,
                       const LlvmCodeGenOptions &options) {
  BuiltModule built =
      buildModule(func, sanitizeName(func.name), optimized, options, ValueNames::Keep);
  std::string text;
  llvm::raw_string_ostream os(text);
  built.module->print(os, nullptr);
  return os.str();
}

std::string emitLlvmIr(const ir::LoweredFunc &func, bool optimized) {
  return emitLlvmIr(func, optimized, LlvmCodeGenOptions{});
}

std::string emitAssembly(const ir::LoweredFunc &func, const LlvmCodeGenOptions &options) {
  BuiltModule built =
      buildModule(func, sanitizeName(func.name), /*optimized=*/true, options, ValueNames::Keep);
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream os(text);
  llvm::legacy::PassManager passes;
  bool unsupported =
      built.machine->addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::AssemblyFile);
  TDSL_CHECK(!unsupported) << "the host target cannot emit assembly";
  passes.run(*built.module);
  built.checkNoErrors(func);
  return std::string(text.str());
}

std::string emitAssembly(const ir::LoweredFunc &func) {
  return emitAssembly(func, LlvmCodeGenOptions{});
}

std::unique_ptr<CompiledCpuKernel> compileForHost(const ir::LoweredFunc &func,
                                                  const LlvmCodeGenOptions &options) {
  // A unique symbol per compiled module keeps profiles and JIT debug listings unambiguous.
  static std::atomic<uint64_t> counter{0};
  std::string symbol = sanitizeName(func.name) + "_jit" + std::to_string(counter++);
  std::unique_ptr<CompiledCpuKernel> kernel = linkObject(emitObject(func, symbol, options), symbol);
  TDSL_CHECK(kernel) << "cannot link " << func.name;
  return kernel;
}

std::unique_ptr<CompiledCpuKernel> compileForHost(const ir::LoweredFunc &func) {
  return compileForHost(func, LlvmCodeGenOptions{});
}

std::string compileToObject(const ir::LoweredFunc &func, const std::string &symbol,
                            const LlvmCodeGenOptions &options) {
  return emitObject(func, symbol, options);
}

std::string compileToObject(const ir::LoweredFunc &func, const std::string &symbol) {
  return emitObject(func, symbol, LlvmCodeGenOptions{});
}

std::unique_ptr<CompiledCpuKernel> loadObject(const std::string &object,
                                              const std::string &symbol) {
  return linkObject(object, symbol);
}

std::string compileAotObject(const std::vector<AotKernelCode> &kernels) {
  // One context and module for every kernel and version: each version is generated and
  // optimized for its own CPU (its functions carry their target-cpu and target-features), then
  // linked in; the C entries and tables need only the x86-64 baseline.
  auto context = std::make_unique<llvm::LLVMContext>();
  auto errors = std::make_shared<std::string>();
  context->setDiagnosticHandler(std::make_unique<QuietDiagnostics>(errors));
  LlvmCodeGenOptions baseline;
  baseline.cpu = "x86-64";
  MachinePool::Lease machine = machinePool().take(targetInfo(baseline), codeGenLevel(baseline));
  auto module = std::make_unique<llvm::Module>("tdsl_aot", *context);
  module->setTargetTriple(machine->getTargetTriple().str());
  module->setDataLayout(machine->createDataLayout());
  for (const AotKernelCode &kernel : kernels) {
    std::vector<llvm::Function *> entries;
    for (size_t v = 0; v < kernel.versions.size(); ++v) {
      const AotVersion &version = kernel.versions[v];
      LlvmTargetInfo target = targetInfo(version.options);
      MachinePool::Lease versionMachine = machinePool().take(target, codeGenLevel(version.options));
      std::string symbol = kernel.function + ".v" + std::to_string(v);
      std::unique_ptr<llvm::Module> code =
          generateLlvmModule(*version.func, symbol, *context, *versionMachine, target);
      if (version.options.optimize)
        optimizeModule(*code, *versionMachine);
      TDSL_CHECK(!llvm::Linker::linkModules(*module, std::move(code)))
          << "cannot link version " << v << " of " << kernel.function;
      llvm::Function *entry = module->getFunction(symbol);
      entry->setLinkage(llvm::GlobalValue::InternalLinkage); // Reached through the table only.
      entries.push_back(entry);
    }
    addAotEntry(*module, kernel, entries);
  }
  std::string broken;
  llvm::raw_string_ostream brokenOs(broken);
  TDSL_CHECK(!llvm::verifyModule(*module, &brokenOs)) << "bad AOT module: " << broken;
  std::string object = emitModuleObject(*module, *machine);
  TDSL_CHECK(errors->empty()) << "LLVM failed on the AOT module: " << *errors;
  return object;
}

std::string compileAotCudaObject(const std::vector<AotCudaKernelCode> &kernels) {
  auto context = std::make_unique<llvm::LLVMContext>();
  LlvmCodeGenOptions baseline;
  baseline.cpu = "x86-64";
  MachinePool::Lease machine = machinePool().take(targetInfo(baseline), codeGenLevel(baseline));
  llvm::Module module("tdsl_aot_cuda", *context);
  module.setTargetTriple(machine->getTargetTriple().str());
  module.setDataLayout(machine->createDataLayout());
  llvm::Type *ptrTy = llvm::PointerType::getUnqual(*context);
  llvm::Type *i64Ty = llvm::Type::getInt64Ty(*context);
  llvm::Type *i32Ty = llvm::Type::getInt32Ty(*context);
  llvm::Constant *null = llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(*context));
  auto bytes = [&](const std::string &data, bool terminated, const std::string &name) {
    llvm::Constant *init = llvm::ConstantDataArray::getString(*context, data, terminated);
    return new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                    llvm::GlobalValue::PrivateLinkage, init, name);
  };
  auto int64 = [&](int64_t v) { return llvm::ConstantInt::get(i64Ty, v); };
  llvm::FunctionCallee call = module.getOrInsertFunction(
      "tdsl_aot_cuda_call",
      llvm::FunctionType::get(i32Ty, {ptrTy, ptrTy, ptrTy, ptrTy, ptrTy, ptrTy}, false));
  for (const AotCudaKernelCode &kernel : kernels) {
    auto *imageTy = llvm::StructType::get(ptrTy, i64Ty, i64Ty, ptrTy, ptrTy, i64Ty, ptrTy);
    std::vector<llvm::Constant *> rows;
    for (const AotCudaImage &image : kernel.images) {
      std::string prefix = kernel.function + "." + image.arch;
      rows.push_back(llvm::ConstantStruct::get(
          imageTy, {bytes(image.arch, true, prefix + ".arch"), int64(image.computeCapability),
                    int64(image.archSpecific), bytes(image.ptx, true, prefix + ".ptx"),
                    image.cubin.empty() ? null : bytes(image.cubin, false, prefix + ".cubin"),
                    int64(static_cast<int64_t>(image.cubin.size())),
                    bytes(image.launches, true, prefix + ".launches")}));
    }
    auto *tableTy = llvm::ArrayType::get(imageTy, rows.size());
    auto *table = new llvm::GlobalVariable(module, tableTy, true, llvm::GlobalValue::PrivateLinkage,
                                           llvm::ConstantArray::get(tableTy, rows),
                                           kernel.function + ".images");
    auto *kernelTy = llvm::StructType::get(ptrTy, ptrTy, i64Ty, ptrTy);
    auto *state = new llvm::GlobalVariable(
        module, kernelTy, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
        llvm::ConstantStruct::get(
            kernelTy, {bytes(kernel.description, true, kernel.function + ".description"), table,
                       int64(static_cast<int64_t>(rows.size())), null}),
        kernel.function + ".kernel");

    addAotFunctions(module, call, state, kernel.function, kernel.numTensors, kernel.numSymbols);
  }
  std::string broken;
  llvm::raw_string_ostream brokenOs(broken);
  TDSL_CHECK(!llvm::verifyModule(module, &brokenOs)) << "bad AOT CUDA module: " << broken;
  return emitModuleObject(module, *machine);
}

std::string staticLibrary(const std::string &object, const std::string &memberName) {
  std::vector<llvm::NewArchiveMember> members(1);
  members[0].Buf = llvm::MemoryBuffer::getMemBufferCopy(object, memberName);
  members[0].MemberName = memberName;
  auto archive = llvm::writeArchiveToBuffer(members, llvm::SymtabWritingMode::NormalSymtab,
                                            llvm::object::Archive::K_GNU,
                                            /*Deterministic=*/true, /*Thin=*/false);
  TDSL_CHECK(archive) << "cannot write an archive: " << errorText(archive.takeError());
  return std::string((*archive)->getBuffer());
}

std::pair<std::string, std::string> cpuForLevel(const std::string &level) {
  if (level == "host")
    return {cachedHostCpuInfo().cpuName, cachedHostCpuInfo().features};
  // The level's own features, then everything they imply (avx512f under avx512bw, avx under
  // avx2, ...), which getFeaturesForCPU leaves out and vector width and math choices read.
  llvm::SmallVector<llvm::StringRef, 64> features;
  llvm::X86::getFeaturesForCPU(level, features);
  llvm::StringMap<bool> enabled;
  for (llvm::StringRef f : features) {
    enabled[f] = true;
    llvm::X86::updateImpliedFeatures(f, true, enabled);
  }
  std::vector<std::string> sorted;
  for (const auto &entry : enabled)
    if (entry.getValue())
      sorted.push_back("+" + entry.getKey().str());
  std::sort(sorted.begin(), sorted.end());
  std::string list;
  for (const std::string &f : sorted)
    list += (list.empty() ? "" : ",") + f;
  return {level, list};
}

std::pair<std::string, std::string> cpuForCode(const std::string &level) {
  if (level != "x86-64-v3" && level != "x86-64-v4")
    return {};
  std::pair<std::string, std::string> code = cpuForLevel(level);
  // The host's list names every feature LLVM knows, "+" or "-": a level's feature it turns off
  // is one this machine lacks.
  const std::string &hostFeatures = cachedHostCpuInfo().features;
  const std::vector<std::string_view> host = splitList(hostFeatures), own = splitList(code.second);
  auto owns = [&](std::string_view f) { return std::ranges::find(own, f) != own.end(); };
  for (std::string_view plus : own)
    if (std::ranges::find(host, "-" + std::string(plus.substr(1))) != host.end())
      return {};
  // The host's CPU for instruction scheduling (it does not change results), with the level's
  // features and none of the host's vector extensions beyond them (AVX-512 for x86-64-v3; VNNI,
  // BF16, VBMI... for x86-64-v4).
  std::string features = code.second;
  for (std::string_view f : host) {
    bool vector = f.starts_with("+avx") || f.starts_with("+amx") || f == "+evex512";
    if (vector && !owns(f))
      features += ",-" + std::string(f.substr(1));
  }
  return {cachedHostCpuInfo().cpuName, features};
}

std::string llvmVersion() { return LLVM_VERSION_STRING; }

} // namespace tdsl::codegen
