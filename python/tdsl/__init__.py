"""tdsl from Python: compile .tdsl kernels and call them on NumPy arrays, PyTorch tensors or any
array with ``__dlpack__``, reading and writing the caller's memory in place.

    import numpy as np, tdsl
    nn = tdsl.compile("softmax.tdsl")             # a path, or the source text itself
    y = nn.softmax(np.random.rand(4, 8).astype(np.float32))
    nn.softmax(x, out=y)                          # into the caller's array (any strides)
    print(nn.softmax.explain())

A kernel object (``nn.softmax``, or ``nn.kernel("softmax")``) is callable from any thread; the
GIL is released while it runs. Errors raise ``tdsl.CompileError`` (with ``code``, ``line``,
``column`` and the rendered text) and ``tdsl.RuntimeError`` (with ``code``). docs/api.md,
"Python", says more.
"""

import os
import threading

from . import _tdsl
from ._tdsl import CompileError, Kernel, RuntimeError, calibrate

# tdsl.RuntimeError (a subclass of the built-in) stays out of `import *`, which would shadow it.
__all__ = ["compile", "Module", "Kernel", "CompileError", "calibrate", "bfloat16_bits",
           "bfloat16_values"]

_jits = {}
_jits_lock = threading.Lock()


def _jit(target, threads, tiering, cuda_device):
    """One Jit per set of options, kept for the life of the process: a Jit owns the kernel cache
    and the background compiler thread that its kernels share."""
    key = (target, threads, tiering, cuda_device)
    with _jits_lock:
        jit = _jits.get(key)
        if jit is None:
            jit = _jits[key] = _tdsl.Jit(target=target, threads=threads, tiering=tiering,
                                         cuda_device=cuda_device)
        return jit


class Module:
    """Every kernel of one source: ``module.NAME`` or ``module.kernel(NAME)``."""

    def __init__(self, native, jit):
        self._native = native
        self._jit = jit  # Kept alive with its kernels.
        self._kernels = {name: native.kernel(name) for name in native.kernel_names()}
        for name, kernel in self._kernels.items():
            if not hasattr(type(self), name):
                setattr(self, name, kernel)

    def kernel(self, name):
        """The kernel called ``name``; tdsl.RuntimeError (E074) names the ones there are."""
        kernel = self._kernels.get(name)
        return kernel if kernel is not None else self._native.kernel(name)

    def kernel_names(self):
        return list(self._kernels)

    def explain(self):
        """Every kernel's fusion and schedule decisions (the text of ``tdsl explain FILE``)."""
        return self._native.explain()

    def __repr__(self):
        return f"<tdsl.Module kernels={self.kernel_names()}>"


def compile(source_or_path, *, target="cpu", threads=0, tiering="tiered", cuda_device=-1):
    """Compiles a .tdsl program: a path (str or os.PathLike; a one-line string naming an
    existing file or ending in .tdsl), else the source text itself.

    target: "cpu" or "cuda". threads: the threads each call may use (0: every hardware thread).
    tiering: "tiered" (fast code first, optimized code swapped in), "optimized" or "fast".
    cuda_device: the GPU of target="cuda" kernels (-1: $TDSL_CUDA_DEVICE, else 0); modules of
    different devices may be used side by side. Called on CUDA tensors (torch), a kernel runs on
    torch's current stream without synchronizing; tensors on another GPU than the kernel's raise
    tdsl.RuntimeError.
    Raises tdsl.CompileError when the program has errors.
    """
    jit = _jit(target, threads, tiering, cuda_device)
    if isinstance(source_or_path, os.PathLike) or (
        isinstance(source_or_path, str)
        and "\n" not in source_or_path
        and (source_or_path.endswith(".tdsl") or os.path.isfile(source_or_path))
    ):
        return Module(jit.compile_file(os.fspath(source_or_path)), jit)
    if not isinstance(source_or_path, str):
        raise TypeError(f"tdsl.compile takes source text or a path, not {type(source_or_path).__name__}")
    return Module(jit.compile(source_or_path), jit)


def bfloat16_bits(values):
    """The bf16 bits (a NumPy uint16 array) of float values, rounded to nearest even: what a bf16
    parameter takes from NumPy, which has no bfloat16."""
    import numpy as np

    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    quiet_nan = ((bits >> 16) | 0x40).astype(np.uint16)
    return np.where(np.isnan(np.asarray(values, dtype=np.float32)), quiet_nan, rounded)


def bfloat16_values(bits):
    """The float32 values of bf16 bits (a uint16 array, as a bf16 result comes back to NumPy)."""
    import numpy as np

    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
