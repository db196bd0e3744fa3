// DLPack interop: tdsl tensors from and to the DLPack capsules of PyTorch, NumPy, JAX, CuPy and
// any other library that speaks DLPack, without copying. Needs <dlpack/dlpack.h> (Debian:
// libdlpack-dev); find_package(tdsl) brings it along (the dlpack::dlpack target).
#pragma once

#include "tdsl/tdsl.h"

#include <dlpack/dlpack.h>

#include <cstdint>

// Headers older than DLPack 1.0 (Debian 12 ships 0.6) lack the versioned capsule. Its layout is
// fixed by the DLPack 1.0 ABI, so it is declared here, with the same names, where it is missing.
#ifndef DLPACK_MAJOR_VERSION
extern "C" {
/// The DLPack ABI version of a versioned capsule.
typedef struct {
  uint32_t major;
  uint32_t minor;
} DLPackVersion;

/// A tensor with its owner's deleter, a version and flags (DLPack 1.0).
typedef struct DLManagedTensorVersioned {
  DLPackVersion version;
  void *manager_ctx;
  void (*deleter)(struct DLManagedTensorVersioned *self);
  uint64_t flags;
  DLTensor dl_tensor;
} DLManagedTensorVersioned;
}
#define DLPACK_FLAG_BITMASK_READ_ONLY (UINT64_C(1) << UINT64_C(0))
#define DLPACK_FLAG_BITMASK_IS_COPIED (UINT64_C(1) << UINT64_C(1))
#endif

namespace tdsl {

/// The DLPack major version that tdsl reads and writes.
constexpr uint32_t kDLPackMajorVersion = 1;
/// DLPack 1.0's type code for bool (one byte, 0 or 1), absent from older headers.
constexpr uint8_t kDLPackBoolCode = 6;

/// The DLPack data type of `dtype` (one lane): f16/f32/f64 kDLFloat, bf16 kDLBfloat, the
/// integers kDLInt / kDLUInt, bool kDLPackBoolCode with 8 bits.
DLDataType toDLDataType(DType dtype);
/// The tdsl dtype of a DLPack data type; throws RuntimeError naming it for one tdsl lacks
/// (complex, u16/u32/u64, fp8, vector lanes).
DType fromDLDataType(DLDataType type);

/// A host tensor viewing a capsule's memory (kDLCPU or kDLCUDAHost, pinned host memory), with
/// its shape, strides and byte offset; a versioned capsule flagged READ_ONLY gives a read-only
/// view. On success the tensor owns the capsule: its deleter runs exactly once, when the last
/// Tensor sharing the memory is destroyed. On error (RuntimeError: a device, dtype, lane count
/// or byte offset tdsl cannot read, a newer major version) nothing is taken and the caller still
/// owns the capsule.
Tensor fromDLPack(DLManagedTensor *capsule);
Tensor fromDLPack(DLManagedTensorVersioned *capsule);
/// The same for a capsule of CUDA device memory (kDLCUDA, or kDLCUDAManaged): a DeviceTensor of
/// the capsule's device_id.
DeviceTensor deviceFromDLPack(DLManagedTensor *capsule);
DeviceTensor deviceFromDLPack(DLManagedTensorVersioned *capsule);

/// A versioned capsule (DLPack 1.0) viewing `tensor`'s memory with its shape and strides, flagged
/// READ_ONLY for a read-only view. The capsule keeps the tensor's storage alive (an owned
/// tensor's memory, or a view's owner) until its deleter runs, which the consumer must call
/// once; a plain view's memory remains the caller's to keep alive.
DLManagedTensorVersioned *toDLPack(const Tensor &tensor);
/// The same for device memory (kDLCUDA, the tensor's device ordinal).
DLManagedTensorVersioned *toDLPack(const DeviceTensor &tensor);

} // namespace tdsl
