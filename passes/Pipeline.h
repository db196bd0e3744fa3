// The target-neutral middle of the compiler: tensor IR -> normalized tensor IR -> loop IR.
#pragma once

#include "ir/Kernel.h"
#include "passes/Fuse.h"
#include "passes/Schedule.h"
#include "passes/Target.h"

#include <functional>
#include <string>
#include <vector>

namespace tdsl::passes {

/// Called after each pass with its name and the IR it produced (for --print-after and for
/// naming the pass that broke the IR). May be empty.
struct PassLog {
  std::function<void(const std::string &pass, const ir::Kernel &)> afterTensorPass;
  std::function<void(const std::string &pass, const ir::LoweredFunc &)> afterLoopPass;
};

/// Hoists every reduction into a definition of its own (computed once per distinct value of its
/// free indices), so each definition's value is either reduction-free or one top-level Reduce
/// whose body is reduction-free. Keeps: the kernel's meaning.
[[nodiscard]] ir::Kernel normalize(const ir::Kernel &kernel);

/// Constant folding and algebraic identities that are exact in IEEE arithmetic.
[[nodiscard]] ir::Expr simplify(const ir::Expr &e);
[[nodiscard]] ir::Stmt simplify(const ir::Stmt &s);

/// One serial loop nest per definition; intermediates allocated on the heap; reductions
/// accumulate in a stack scalar; `??` becomes a predicated load. Requires: normalized kernel.
[[nodiscard]] ir::LoweredFunc buildLoopNest(const ir::Kernel &kernel);

/// A fused kernel under its schedule: one nest per fused group, parallel and vectorized loops
/// as scheduled, group-local values in lets and slices. Requires: `schedule` made for `fused`.
[[nodiscard]] ir::LoweredFunc lowerScheduled(const FusedKernel &fused, const Schedule &schedule);

/// The plain lowering (the GPU schedules map its nests onto the GPU): normalize, the CPU's
/// inlining (fuse's kernel: a producer computed inside its readers is no nest of its own), build
/// loop nest, simplify, with verifiers between.
[[nodiscard]] ir::LoweredFunc lowerKernel(const ir::Kernel &kernel, const PassLog &log = {});

/// The CPU lowering: normalize, fuse, schedule for `target`, lower, simplify, vectorize,
/// simplify, transpose in registers, simplify, with verifiers between.
[[nodiscard]] ir::LoweredFunc lowerKernel(const ir::Kernel &kernel, const CpuTarget &target,
                                          const PassLog &log = {});

/// The GPU lowering, the CPU lowering's twin: the plain lowering (above), then the GPU schedules
/// for `target` (passes/GpuSchedule.h, pass "gpu-schedule"), verified: a func whose body is its
/// kernels in launch order, GpuLaunch nodes (ir/GpuFunc.h reads what a launch needs off them).
[[nodiscard]] ir::LoweredFunc lowerForGpu(const ir::Kernel &kernel, const GpuTarget &target,
                                          const PassLog &log = {});
/// The same from the kernel's plain lowering.
[[nodiscard]] ir::LoweredFunc lowerForGpu(const ir::LoweredFunc &plain, const GpuTarget &target,
                                          const PassLog &log = {});

/// The fusion and schedule lowerKernel(kernel, target) uses, for printing and explaining.
struct ScheduledKernel {
  FusedKernel fused;
  Schedule schedule;
};
[[nodiscard]] ScheduledKernel scheduleKernel(const ir::Kernel &kernel, const CpuTarget &target);

} // namespace tdsl::passes
