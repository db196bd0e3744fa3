// Bounds checks on every load and store (see BoundsChecks.h).
#include "codegen/llvm/BoundsChecks.h"

#include "support/Check.h"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <cstdio>
#include <cstdlib>

extern "C" void tdsl_bounds_violation(const char *kernel, const char *buffer, int64_t index,
                                      int64_t bound) {
  std::fprintf(stderr,
               "tdsl: bounds check failed: kernel %s, buffer %s: index %lld is outside [0, %lld)\n",
               kernel, buffer, static_cast<long long>(index), static_cast<long long>(bound));
  std::fflush(stderr);
  std::abort();
}

namespace tdsl::codegen {

void emitBoundsCheck(llvm::IRBuilderBase &b, llvm::Module &module, const std::string &kernel,
                     const std::string &buffer, llvm::Value *index, llvm::Value *bound,
                     llvm::Value *predicate) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *i64 = b.getInt64Ty();
  llvm::Value *lo = llvm::Constant::getNullValue(index->getType());
  llvm::Value *hi = bound;
  if (auto *vecTy = llvm::dyn_cast<llvm::FixedVectorType>(index->getType()))
    hi = b.CreateVectorSplat(vecTy->getNumElements(), bound);
  llvm::Value *bad = b.CreateOr(b.CreateICmpSLT(index, lo), b.CreateICmpSGE(index, hi));
  if (predicate) {
    if (predicate->getType() != bad->getType()) // A scalar predicate over a vector access.
      predicate = b.CreateVectorSplat(
          llvm::cast<llvm::FixedVectorType>(bad->getType())->getNumElements(), predicate);
    bad = b.CreateAnd(bad, predicate);
  }
  llvm::Value *reported = index;
  llvm::Value *anyBad = bad;
  if (auto *vecTy = llvm::dyn_cast<llvm::FixedVectorType>(index->getType())) {
    anyBad = b.CreateOrReduce(bad);
    unsigned lanes = vecTy->getNumElements();
    reported = b.CreateExtractElement(index, lanes - 1);
    for (unsigned lane = lanes - 1; lane-- > 0;)
      reported = b.CreateSelect(b.CreateExtractElement(bad, lane),
                                b.CreateExtractElement(index, lane), reported);
  }

  llvm::Function *function = b.GetInsertBlock()->getParent();
  llvm::BasicBlock *fail = llvm::BasicBlock::Create(ctx, "bounds.fail", function);
  llvm::BasicBlock *ok = llvm::BasicBlock::Create(ctx, "bounds.ok", function);
  llvm::MDBuilder weights(ctx);
  b.CreateCondBr(anyBad, fail, ok, weights.createBranchWeights(1, 1 << 20));

  b.SetInsertPoint(fail);
  llvm::Type *ptr = b.getPtrTy();
  llvm::FunctionCallee hook = module.getOrInsertFunction(
      "tdsl_bounds_violation", llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64}, false));
  if (auto *f = llvm::dyn_cast<llvm::Function>(hook.getCallee())) {
    f->setDoesNotReturn();
    f->setCannotDuplicate();
  }
  b.CreateCall(hook, {b.CreateGlobalStringPtr(kernel, "bounds.kernel"),
                      b.CreateGlobalStringPtr(buffer, "bounds.buffer"), reported, bound});
  b.CreateUnreachable();

  b.SetInsertPoint(ok);
}

void defineBoundsCheckSymbols(llvm::orc::LLJIT &jit) {
  llvm::orc::MangleAndInterner mangle(jit.getExecutionSession(), jit.getDataLayout());
  llvm::orc::SymbolMap symbols;
  symbols[mangle("tdsl_bounds_violation")] = {
      llvm::orc::ExecutorAddr::fromPtr(&tdsl_bounds_violation),
      llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  if (llvm::Error error = jit.getMainJITDylib().define(llvm::orc::absoluteSymbols(symbols)))
    TDSL_CHECK(false) << "cannot define the bounds-check hook in the JIT: "
                      << llvm::toString(std::move(error));
}

} // namespace tdsl::codegen
