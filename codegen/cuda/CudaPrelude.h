// The CUDA C that precedes a kernel's functions: a self-contained prelude (no CUDA headers, so
// NVRTC needs no include paths) with the scalar semantics shared with the interpreter and the
// LLVM backend (wrapping integer arithmetic, Python floor division and modulo, NaN-propagating
// min/max, saturating float-to-int casts, bit-level f16/bf16 conversions) and the mma.sync
// helpers; and, for kernels that use them, the swizzled-tile, cp.async and wgmma helpers.
#pragma once

#include <string>

namespace tdsl::codegen {

/// The prelude every kernel's CUDA C starts with; it ends with "// ---- end of prelude ----" (as
/// do the wgmma helpers that follow it in a kernel that uses them).
const char *cudaPrelude();

/// The strided copies of ahead-of-time CUDA kernels (runtime/AotCuda.cpp): kernels
/// tdsl_strided_copy_1, _2, _4 and _8 (element bytes) taking (contiguous, view, args), where
/// args is a tdsl_strided_copy_args by value: the view's rank (at most 8), shape and strides in
/// elements, the element count, and the direction (to_view: contiguous -> view, else view ->
/// contiguous). Element i of the contiguous side is the view's element at row-major index i.
/// A self-contained CUDA C unit (its own prelude).
const char *stridedCopyKernels();

/// The helpers of the swizzled-tile, cp.async and wgmma ops (ir::GpuOp), for sm_90a kernels.
std::string wgmmaHelpers();

/// One warpgroup MMA statement (CUDA C inline PTX, sm_90a): D += A * B for a 64x256 tile of f32
/// accumulators `acc`[0..127] (an array of this thread's 128 floats) from 64x16 and 16x256
/// factors of `type` ("bf16" or "f16") in shared memory, given by the 64-bit descriptor
/// expressions `descA` and `descB`; B is read k-major, or j-major (transposed) when
/// `transposeB`.
std::string wgmmaStatement(const std::string &type, bool transposeB, const std::string &acc,
                           const std::string &descA, const std::string &descB);

/// The 64-bit wgmma matrix descriptor (a C expression) of a tile at the shared-memory address
/// `address` (an expression) in 128-byte swizzled rows, with wgmma's leading and stride byte
/// offsets (multiples of 16).
std::string wgmmaDescriptor(const std::string &address, int leadingBytes, int strideBytes);

/// Statements declaring `unsigned name`: the shared-memory address of `array` rounded up to
/// 1024 bytes, where the 128-byte swizzle's pattern starts (it is a function of the address).
std::string alignedSharedBase(const std::string &name, const std::string &array);

} // namespace tdsl::codegen
