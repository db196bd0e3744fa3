// Outlining parallel loops: which values a loop body captures, the closure and runtime call at the
// loop, and the two outlined functions (see ParallelFor.h for the shape of the code).
#include "codegen/llvm/ParallelFor.h"

#include "ir/IRVisitor.h"
#include "runtime/KernelAbi.h"
#include "support/Check.h"

#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/Mangling.h>
#include <llvm/IR/Attributes.h>
#include <llvm/IR/ConstantRange.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace tdsl::codegen {
namespace {

/// Walks a loop body keeping track of what is bound inside it; whatever else it uses is captured.
class CaptureFinder final : public ir::IRVisitor {
public:
  LoopCaptures captures;

  void bind(const ir::Var &v) { ++boundVars[v.get()]; }
  void unbind(const ir::Var &v) { --boundVars[v.get()]; }

protected:
  void visitVarRef(const ir::VarRef *n) override {
    auto it = boundVars.find(n->var.get());
    if ((it == boundVars.end() || it->second == 0) && seenVars.insert(n->var.get()).second)
      captures.vars.push_back(n->var);
  }
  void visitLoad(const ir::Load *n) override {
    useBuffer(n->buffer);
    IRVisitor::visitLoad(n);
  }
  void visitStore(const ir::Store *n) override {
    useBuffer(n->buffer);
    IRVisitor::visitStore(n);
  }
  void visitFor(const ir::For *n) override {
    visit(n->extent);
    bind(n->var);
    visit(n->body);
    unbind(n->var);
  }
  void visitLetStmt(const ir::LetStmt *n) override {
    visit(n->value);
    bind(n->var);
    visit(n->body);
    unbind(n->var);
  }
  void visitAllocate(const ir::Allocate *n) override {
    for (const ir::Expr &dim : n->buffer->shape) // The size is computed inside the body.
      visit(dim);
    ++boundBuffers[n->buffer.get()];
    visit(n->body);
    --boundBuffers[n->buffer.get()];
  }

private:
  void useBuffer(const ir::Buffer &buffer) {
    auto it = boundBuffers.find(buffer.get());
    if ((it == boundBuffers.end() || it->second == 0) && seenBuffers.insert(buffer.get()).second)
      captures.buffers.push_back(buffer);
  }

  std::unordered_map<const ir::VarNode *, int> boundVars;
  std::unordered_map<const ir::BufferNode *, int> boundBuffers;
  std::unordered_set<const ir::VarNode *> seenVars;
  std::unordered_set<const ir::BufferNode *> seenBuffers;
};

/// Copies the function attributes (target, vector width, nounwind...) of `from` to `to`.
void copyFunctionAttributes(llvm::Function *from, llvm::Function *to) {
  llvm::AttrBuilder attrs(from->getContext(), from->getAttributes().getFnAttrs());
  to->addFnAttrs(attrs);
}

/// [0, INT64_MAX): loop bounds, counters and shape symbols are never negative.
llvm::ConstantRange nonNegative() {
  return llvm::ConstantRange(llvm::APInt(64, 0),
                             llvm::APInt(64, std::numeric_limits<int64_t>::max()));
}

} // namespace

LoopCaptures findCaptures(const ir::For &loop) {
  CaptureFinder finder;
  finder.bind(loop.var);
  finder.visit(loop.body);
  return std::move(finder.captures);
}

namespace {

/// The fields of an outlined loop's closure, which are also its body function's leading
/// parameters: the buffers, the values, the runtime handle (for parallel loops nested in it).
std::vector<llvm::Type *> closureFields(llvm::IRBuilderBase &b,
                                        const std::vector<llvm::Value *> &bufferValues,
                                        const std::vector<llvm::Value *> &varValues) {
  std::vector<llvm::Type *> fields(bufferValues.size(), b.getPtrTy());
  for (llvm::Value *v : varValues)
    fields.push_back(v->getType());
  fields.push_back(b.getPtrTy());
  return fields;
}

/// NAME.body(buffers..., vars..., runtime, begin, end), without blocks.
OutlinedLoop createBody(llvm::IRBuilderBase &b, const std::string &name,
                        const LoopCaptures &captures,
                        const std::vector<llvm::Value *> &bufferValues,
                        const std::vector<llvm::Value *> &varValues) {
  TDSL_CHECK(bufferValues.size() == captures.buffers.size() &&
             varValues.size() == captures.vars.size())
      << "captured values do not match the captures of " << name;
  llvm::LLVMContext &ctx = b.getContext();
  llvm::Function *parent = b.GetInsertBlock()->getParent();
  llvm::Module &module = *parent->getParent();
  llvm::Type *i64Ty = b.getInt64Ty();
  const size_t numBuffers = bufferValues.size(), numVars = varValues.size();
  std::vector<llvm::Type *> params = closureFields(b, bufferValues, varValues);
  params.push_back(i64Ty);
  params.push_back(i64Ty);
  llvm::Function *body =
      llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), params, false),
                             llvm::GlobalValue::InternalLinkage, name + ".body", module);
  copyFunctionAttributes(parent, body);
  OutlinedLoop out;
  out.body = body;
  for (size_t i = 0; i < numBuffers; ++i) {
    llvm::Argument *arg = body->getArg(static_cast<unsigned>(i));
    arg->setName(captures.buffers[i]->name);
    // As for the kernel's body function: inputs are never written, and every buffer written is
    // distinct memory. Not nocapture: a nested parallel loop stores them in its closure.
    arg->addAttr(llvm::Attribute::NoAlias);
    if (captures.buffers[i]->role == ir::BufferRole::Input)
      arg->addAttr(llvm::Attribute::ReadOnly);
    out.buffers.push_back(arg);
  }
  for (size_t i = 0; i < numVars; ++i) {
    llvm::Argument *arg = body->getArg(static_cast<unsigned>(numBuffers + i));
    arg->setName(captures.vars[i]->name);
    out.vars.push_back(arg);
  }
  unsigned runtimeIndex = static_cast<unsigned>(numBuffers + numVars);
  out.runtime = body->getArg(runtimeIndex);
  out.begin = body->getArg(runtimeIndex + 1);
  out.end = body->getArg(runtimeIndex + 2);
  out.runtime->setName("runtime");
  out.begin->setName("begin");
  out.end->setName("end");
  for (unsigned i : {runtimeIndex + 1, runtimeIndex + 2})
    body->addParamAttr(i, llvm::Attribute::get(ctx, llvm::Attribute::Range, nonNegative()));
  return out;
}

} // namespace

OutlinedLoop emitParallelCall(llvm::IRBuilderBase &b, llvm::BasicBlock *allocaBlock,
                              const std::string &name, const LoopCaptures &captures,
                              const std::vector<llvm::Value *> &bufferValues,
                              const std::vector<llvm::Value *> &varValues, llvm::Value *runtime,
                              llvm::Value *extent) {
  OutlinedLoop out = createBody(b, name, captures, bufferValues, varValues);
  llvm::Function *body = out.body;
  body->addFnAttr(llvm::Attribute::AlwaysInline); // Into NAME, its only caller.
  llvm::LLVMContext &ctx = b.getContext();
  llvm::Function *parent = b.GetInsertBlock()->getParent();
  llvm::Module &module = *parent->getParent();
  llvm::Type *ptrTy = b.getPtrTy();
  llvm::Type *i64Ty = b.getInt64Ty();
  const size_t numBuffers = bufferValues.size(), numVars = varValues.size();
  std::vector<llvm::Type *> fields = closureFields(b, bufferValues, varValues);
  llvm::StructType *closureTy = llvm::StructType::get(ctx, fields);

  // NAME(closure, begin, end): unpacks the closure. The ABI's tdsl_loop_body.
  llvm::Function *trampoline =
      llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), {ptrTy, i64Ty, i64Ty}, false),
                             llvm::GlobalValue::InternalLinkage, name, module);
  copyFunctionAttributes(parent, trampoline);
  trampoline->removeFnAttr(llvm::Attribute::AlwaysInline); // Called through a pointer.
  llvm::Argument *closureArg = trampoline->getArg(0);
  closureArg->setName("closure");
  trampoline->getArg(1)->setName("begin");
  trampoline->getArg(2)->setName("end");
  // Nothing writes the closure while the loop runs: its owner waits in tdsl_parallel_for.
  closureArg->addAttr(llvm::Attribute::NoAlias);
  closureArg->addAttr(llvm::Attribute::NoCapture);
  closureArg->addAttr(llvm::Attribute::ReadOnly);
  {
    llvm::IRBuilder<> tb(llvm::BasicBlock::Create(ctx, "entry", trampoline));
    llvm::MDNode *range =
        llvm::MDBuilder(ctx).createRange(nonNegative().getLower(), nonNegative().getUpper());
    std::vector<llvm::Value *> args;
    for (size_t i = 0; i < fields.size(); ++i) {
      llvm::Value *slot = tb.CreateStructGEP(closureTy, closureArg, static_cast<unsigned>(i));
      llvm::LoadInst *value = tb.CreateLoad(fields[i], slot);
      if (i >= numBuffers && i < numBuffers + numVars) {
        const ir::Var &var = captures.vars[i - numBuffers];
        value->setName(var->name);
        bool counterOrSymbol = var->kind == ir::VarKind::Symbol || var->kind == ir::VarKind::Loop;
        if (counterOrSymbol && fields[i] == i64Ty)
          value->setMetadata(llvm::LLVMContext::MD_range, range);
      } else if (i < numBuffers) {
        value->setName(captures.buffers[i]->name);
      }
      args.push_back(value);
    }
    args.push_back(trampoline->getArg(1));
    args.push_back(trampoline->getArg(2));
    tb.CreateCall(body, args);
    tb.CreateRetVoid();
  }

  // At the loop: fill the closure (a fixed slot in the caller's entry block) and call the runtime.
  llvm::IRBuilder<> entry(allocaBlock, allocaBlock->getFirstInsertionPt());
  llvm::AllocaInst *closure = entry.CreateAlloca(closureTy, nullptr, name + ".closure");
  b.CreateLifetimeStart(closure);
  for (size_t i = 0; i < fields.size(); ++i) {
    llvm::Value *value = i < numBuffers             ? bufferValues[i]
                         : i < numBuffers + numVars ? varValues[i - numBuffers]
                                                    : runtime;
    b.CreateStore(value, b.CreateStructGEP(closureTy, closure, static_cast<unsigned>(i)));
  }
  llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
      "tdsl_parallel_for",
      llvm::FunctionType::get(b.getVoidTy(), {ptrTy, i64Ty, ptrTy, ptrTy}, false));
  if (auto *declaration = llvm::dyn_cast<llvm::Function>(parallelFor.getCallee()))
    declaration->addFnAttr(llvm::Attribute::NoUnwind);
  b.CreateCall(parallelFor, {runtime, extent, trampoline, closure});
  b.CreateLifetimeEnd(closure);
  return out;
}

OutlinedLoop emitOutlinedCall(llvm::IRBuilderBase &b, const std::string &name,
                              const LoopCaptures &captures,
                              const std::vector<llvm::Value *> &bufferValues,
                              const std::vector<llvm::Value *> &varValues, llvm::Value *runtime,
                              llvm::Value *extent) {
  OutlinedLoop out = createBody(b, name, captures, bufferValues, varValues);
  out.body->removeFnAttr(llvm::Attribute::AlwaysInline);
  out.body->addFnAttr(llvm::Attribute::NoInline);
  std::vector<llvm::Value *> args = bufferValues;
  args.insert(args.end(), varValues.begin(), varValues.end());
  args.push_back(runtime);
  args.push_back(b.getInt64(0));
  args.push_back(extent);
  b.CreateCall(out.body, args);
  return out;
}

void defineRuntimeSymbols(llvm::orc::LLJIT &jit) {
  llvm::orc::MangleAndInterner mangle(jit.getExecutionSession(), jit.getDataLayout());
  llvm::orc::SymbolMap symbols;
  auto define = [&](const char *name, auto *function) {
    symbols[mangle(name)] = {llvm::orc::ExecutorAddr::fromPtr(function),
                             llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  };
  define("tdsl_parallel_for", &tdsl_parallel_for);
  define("tdsl_scratch_acquire", &tdsl_scratch_acquire);
  define("tdsl_scratch_acquire_panels", &tdsl_scratch_acquire_panels);
  define("tdsl_scratch_release", &tdsl_scratch_release);
  if (llvm::Error error = jit.getMainJITDylib().define(llvm::orc::absoluteSymbols(symbols)))
    TDSL_CHECK(false) << "cannot define the runtime's symbols in the JIT: "
                      << llvm::toString(std::move(error));
}

} // namespace tdsl::codegen
