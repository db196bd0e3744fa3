// Parallel loops on the CPU: a `For(kind = Parallel)` becomes a call to the runtime's
// `tdsl_parallel_for` (runtime/KernelAbi.h) with the loop body outlined into a function of
// (closure, begin, end). Internal to codegen/llvm: it exposes LLVM types.
//
// The outlined code is three pieces:
//   - at the loop: a stack closure struct holding every value the body uses from outside (buffer
//     pointers, symbols, let-bound values, outer loop counters, the runtime handle), then the call
//     `tdsl_parallel_for(runtime, extent, @NAME, &closure)`;
//   - `void NAME(ptr closure, i64 begin, i64 end)`, which loads the closure's fields and calls
//   - `void NAME.body(ptr noalias buffers..., values..., ptr runtime, i64 begin, i64 end)`, which
//     CodeGenLlvm fills with the loop over [begin, end). Its buffer parameters are `noalias` like
//     the kernel's own body function's, so once the optimizer inlines it the loads and stores get
//     alias scopes and vectorize as well as serial code does.
#pragma once

#include "ir/IR.h"

#include <string>
#include <vector>

namespace llvm {
class BasicBlock;
class Function;
class IRBuilderBase;
class Value;
namespace orc {
class LLJIT;
}
} // namespace llvm

namespace tdsl::codegen {

/// What the body of a loop uses from outside it, each in order of first use.
struct LoopCaptures {
  std::vector<ir::Var> vars;       // Symbols, outer loop counters, let-bound values.
  std::vector<ir::Buffer> buffers; // Buffers loaded or stored but not allocated in the body.
};

/// The captures of `loop.body` (the loop's own variable is bound inside, its extent outside).
LoopCaptures findCaptures(const ir::For &loop);

/// The values to bind in an outlined body, and the function to fill.
struct OutlinedLoop {
  llvm::Function *body = nullptr;     // Has no blocks yet.
  std::vector<llvm::Value *> buffers; // Its parameters for LoopCaptures::buffers, in order.
  std::vector<llvm::Value *> vars;    // Its parameters for LoopCaptures::vars, in order.
  llvm::Value *runtime = nullptr, *begin = nullptr, *end = nullptr;
};

/// Emits the closure and the runtime call at the builder's insertion point (the closure's
/// alloca goes to `allocaBlock`, the caller's entry block), creates the two outlined functions
/// named after `name`, with the function attributes of the function being emitted into, and
/// returns the body function for the caller to fill. `bufferValues` and `varValues` are the
/// current values of `captures`.
OutlinedLoop emitParallelCall(llvm::IRBuilderBase &b, llvm::BasicBlock *allocaBlock,
                              const std::string &name, const LoopCaptures &captures,
                              const std::vector<llvm::Value *> &bufferValues,
                              const std::vector<llvm::Value *> &varValues, llvm::Value *runtime,
                              llvm::Value *extent);

/// A serial loop outlined like a parallel one's body, NAME.body (same parameters), but never
/// inlined and called here once over [0, extent): a function of its own, whose registers no
/// value live around the call takes. Returns the body function for the caller to fill.
OutlinedLoop emitOutlinedCall(llvm::IRBuilderBase &b, const std::string &name,
                              const LoopCaptures &captures,
                              const std::vector<llvm::Value *> &bufferValues,
                              const std::vector<llvm::Value *> &varValues, llvm::Value *runtime,
                              llvm::Value *extent);

/// Makes the runtime functions that generated code calls (runtime/KernelAbi.h) resolvable in the
/// JIT's main library, by address: no need for the executable to export them.
void defineRuntimeSymbols(llvm::orc::LLJIT &jit);

} // namespace tdsl::codegen
