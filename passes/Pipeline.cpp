// The target-neutral lowering as one straight-line function, with a verifier after every pass. A
// pass that breaks the IR is named in the error, with the IR it was given.
#include "passes/Pipeline.h"

#include "passes/Contraction.h"
#include "passes/GpuSchedule.h"
#include "passes/HoistAllocations.h"
#include "passes/HoistGatherIndices.h"
#include "passes/Transpose.h"
#include "passes/Vectorize.h"

#include "ir/IRPrinter.h"
#include "ir/Verifier.h"
#include "support/Check.h"

namespace tdsl::passes {
namespace {

/// Verifies what `pass` produced; on failure rethrows naming the pass and showing its input.
template <typename After, typename Before>
void verifyAfter(const std::string &pass, const After &after, const Before &before) {
  try {
    ir::verify(after);
  } catch (const InternalError &e) {
    throw InternalError("IR invalid after pass '" + pass + "': " + e.what() + "\n--- IR before '" +
                        pass + "' ---\n" + ir::toString(before));
  }
}

} // namespace

ir::LoweredFunc lowerKernel(const ir::Kernel &kernel, const PassLog &log) {
  try {
    ir::verify(kernel);
  } catch (const InternalError &e) {
    throw InternalError(std::string("invalid tensor IR given to lowerKernel: ") + e.what());
  }

  ir::Kernel normalized = normalize(kernel);
  if (log.afterTensorPass)
    log.afterTensorPass("normalize", normalized);
  verifyAfter("normalize", normalized, kernel);

  // The CPU's inlining decisions: a producer the CPU computes inside its readers is not a nest
  // (and a GPU kernel) of its own either. Without the schedule's windows, a cheap stencil
  // producer is recomputed at its reads.
  ir::Kernel inlined = fuse(normalized, StencilWindows::Off).kernel;
  if (log.afterTensorPass)
    log.afterTensorPass("fuse", inlined);
  verifyAfter("fuse", inlined, normalized);

  ir::LoweredFunc func = buildLoopNest(inlined);
  if (log.afterLoopPass)
    log.afterLoopPass("build-loop-nest", func);
  verifyAfter("build-loop-nest", func, inlined);

  ir::LoweredFunc simplified = func;
  simplified.body = simplify(func.body);
  if (log.afterLoopPass)
    log.afterLoopPass("simplify", simplified);
  verifyAfter("simplify", simplified, func);
  return simplified;
}

ir::LoweredFunc lowerForGpu(const ir::LoweredFunc &plain, const GpuTarget &target,
                            const PassLog &log) {
  ir::LoweredFunc gpu = scheduleForGpu(plain, target);
  if (log.afterLoopPass)
    log.afterLoopPass("gpu-schedule", gpu);
  verifyAfter("gpu-schedule", gpu, plain);
  return gpu;
}

ir::LoweredFunc lowerForGpu(const ir::Kernel &kernel, const GpuTarget &target, const PassLog &log) {
  return lowerForGpu(lowerKernel(kernel, log), target, log);
}

ScheduledKernel scheduleKernel(const ir::Kernel &kernel, const CpuTarget &target) {
  ir::Kernel normalized = normalize(kernel);
  FusedKernel fused = tileContractionConsumers(fuseStencils(isolateContractions(fuse(normalized))));
  Schedule sched = schedule(fused, target);
  return ScheduledKernel{std::move(fused), std::move(sched)};
}

ir::LoweredFunc lowerKernel(const ir::Kernel &kernel, const CpuTarget &target, const PassLog &log) {
  try {
    ir::verify(kernel);
  } catch (const InternalError &e) {
    throw InternalError(std::string("invalid tensor IR given to lowerKernel: ") + e.what());
  }

  ir::Kernel normalized = normalize(kernel);
  if (log.afterTensorPass)
    log.afterTensorPass("normalize", normalized);
  verifyAfter("normalize", normalized, kernel);

  FusedKernel fused = tileContractionConsumers(fuseStencils(isolateContractions(fuse(normalized))));
  if (log.afterTensorPass)
    log.afterTensorPass("fuse", fused.kernel);
  verifyAfter("fuse", fused.kernel, normalized);

  Schedule sched = schedule(fused, target);
  ir::LoweredFunc func = lowerScheduled(fused, sched);
  if (log.afterLoopPass)
    log.afterLoopPass("lower-scheduled", func);
  verifyAfter("lower-scheduled", func, fused.kernel);

  // Each loop pass: run, log, verify against its input.
  auto loopPass = [&](const std::string &name, ir::Stmt (*pass)(const ir::Stmt &)) {
    ir::LoweredFunc next = func;
    next.body = pass(func.body);
    if (log.afterLoopPass)
      log.afterLoopPass(name, next);
    verifyAfter(name, next, func);
    func = std::move(next);
  };
  loopPass("simplify", [](const ir::Stmt &s) { return simplify(s); });
  loopPass("vectorize", [](const ir::Stmt &s) { return vectorize(s); });
  loopPass("simplify", [](const ir::Stmt &s) { return simplify(s); });
  loopPass("hoist-gather-indices", [](const ir::Stmt &s) { return hoistGatherIndices(s); });
  loopPass("hoist-allocations", [](const ir::Stmt &s) { return hoistAllocations(s); });
  loopPass("transpose-in-registers", [](const ir::Stmt &s) { return transposeInRegisters(s); });
  loopPass("simplify", [](const ir::Stmt &s) { return simplify(s); });
  return func;
}

} // namespace tdsl::passes
