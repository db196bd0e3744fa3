// A func lowered for the GPU (passes::lowerForGpu): its body is its kernels, GpuLaunch nodes in
// launch order. Everything the CUDA printer and the launcher need beyond the IR's own nodes is
// derived here: each kernel's grid, lets, heap intermediates and tensor-core use, and the one
// rule by which a kernel's dynamic shared memory is laid out (each buffer's place, read by the
// printer; the bytes to ask for, read by the launcher).
#pragma once

#include "ir/IR.h"
#include "ir/Kernel.h"

#include <utility>
#include <vector>

namespace tdsl::ir {

/// The kernels of `gpu` in launch order. Throws tdsl::InternalError when a top-level statement
/// of its body is not a GpuLaunch.
std::vector<const GpuLaunch *> gpuLaunches(const LoweredFunc &gpu);

/// The kernel's gpu_block For, after its lets and heap Allocates; null when the body has another
/// shape (the verifier's check).
Stmt blockLoop(const GpuLaunch *launch);
/// Its blocks: the gpu_block loop's extent, an i64 over the symbols and the lets.
Expr launchBlocks(const GpuLaunch *launch);
/// Its threads a block: the extent of the gpu_thread loop inside the gpu_block loop.
Expr launchThreads(const GpuLaunch *launch);
/// The LetStmts around its gpu_block loop, outermost first: the launcher evaluates them before
/// the blocks, and the kernel recomputes them.
std::vector<std::pair<Var, Expr>> launchLets(const GpuLaunch *launch);
/// The heap intermediates it uses (the Allocates around its gpu_block loop), outermost first.
std::vector<Buffer> launchHeap(const GpuLaunch *launch);

/// The heap intermediates of `gpu` (the union of its kernels', in order of first appearance).
/// Every emitted kernel takes them as pointer parameters after the func's buffers and before the
/// symbols; the runtime allocates them on the device for each call.
std::vector<Buffer> gpuHeapBuffers(const LoweredFunc &gpu);

/// The 16-bit type (bf16 or f16) of the tensor-core products of `s` (its mma.sync and wgmma
/// intrinsics), or F32 when it has none.
DType tensorCoreType(const Stmt &s);
/// Whether `s` uses Hopper's warpgroup MMA (wgmma, sm_90a).
bool usesWgmma(const Stmt &s);

/// The most bytes of static `__shared__` arrays a block may have (CUDA's limit without opt-in).
constexpr int64_t kStaticSharedLimit = 48 * 1024;

/// Whether `a` lives in the kernel's dynamic shared memory: a shared allocation whose size is
/// known only at run time or is past kStaticSharedLimit (a smaller constant size is a static
/// `__shared__` array).
bool isDynamicShared(const Allocate *a);

/// Whether `buffer` is a swizzled tile in `s` (ir/IR.h, GpuOp): a Shared buffer that a wgmma
/// reads or st_swizzled writes. Other shared tiles, those of ldmatrix and mma.sync among them,
/// are plain row-major arrays.
bool isSwizzledTile(const Stmt &s, const Buffer &buffer);

/// The dynamic shared allocations of `nest` (a gpu_block loop) in program order, each with its
/// byte offset: each starts at the next 16-byte boundary after the one before, from 0. The sizes
/// must be free of the kernel's loop and let variables (the launcher evaluates them).
std::vector<std::pair<Buffer, Expr>> dynamicSharedLayout(const Stmt &nest);

/// The bytes of dynamic shared memory `nest` needs (0 when none), an i64 over the symbols.
Expr dynamicSharedBytes(const Stmt &nest);

} // namespace tdsl::ir
