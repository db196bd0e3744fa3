#!/usr/bin/env python3
"""Runs every program of the language spec through `tdsl run` with .npy inputs and outputs,
and compares each result with the same computation written in NumPy (in float64)."""
import os
import subprocess
import sys
import tempfile

import numpy as np


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def conv2d(x, w):
    b, c, h, wd = x.shape
    o, _, r, s = w.shape
    y = np.zeros((b, o, h - r + 1, wd - s + 1))
    for dr in range(r):
        for ds in range(s):
            patch = x[:, :, dr:dr + h - r + 1, ds:ds + wd - s + 1]
            y += np.einsum("bchw,oc->bohw", patch, w[:, :, dr, ds])
    return y


def blur3(x):
    p = np.pad(x, ((1, 1), (0, 0)))
    return (p[:-2] + p[1:-1] + p[2:]) / 3.0


def attention(q, k, v):
    return softmax(q @ k.T / np.sqrt(q.shape[1])) @ v


def layernorm(x, g, b):
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def gelu(x, bias):
    t = x + bias
    return 0.5 * t * (1 + np.tanh(0.7978845608 * (t + 0.044715 * t ** 3)))


def normalize(img, mean, std):
    return ((img / 255.0 - mean) / std).transpose(2, 0, 1)


def causal_mask(s):
    t = s.shape[0]
    return np.where(np.tril(np.ones((t, t), dtype=bool)), s, -np.inf)


def maxpool2(x):
    b, c, h, w = x.shape
    x = x[:, :, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


CASES = {
    "softmax": (softmax, [("x", (7, 33))]),
    "matmul": (lambda a, b: a @ b, [("a", (5, 17)), ("b", (17, 9))]),
    "gelu": (gelu, [("x", (6, 19)), ("bias", (19,))]),
    "layernorm": (layernorm, [("x", (5, 31)), ("g", (31,)), ("b", (31,))]),
    "conv2d": (conv2d, [("x", (2, 3, 9, 8)), ("w", (4, 3, 3, 2))]),
    "blur3": (blur3, [("x", (11, 6))]),
    "attention": (attention, [("q", (5, 8)), ("k", (7, 8)), ("v", (7, 8))]),
    "causal_mask": (causal_mask, [("s", (9, 9))]),
    "maxpool2": (maxpool2, [("x", (2, 3, 7, 9))]),
    "flatten": (lambda x: x.reshape(-1), [("x", (5, 7))]),
    "normalize": (normalize, [("img", (7, 13, 3), np.uint8), ("mean", (3,)), ("std", (3,))]),
}

OUTPUT_NAMES = {"matmul": "c", "attention": "o"}


def main():
    tdsl, source = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(7)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kernel, (reference, params) in CASES.items():
            args, values = [], []
            for name, shape, *dtype in params:
                if dtype:  # Integers over the dtype's whole range.
                    info = np.iinfo(dtype[0])
                    value = rng.integers(info.min, info.max, shape, dtype=dtype[0], endpoint=True)
                else:
                    value = rng.standard_normal(shape).astype(np.float32)
                path = os.path.join(tmp, f"{kernel}_{name}.npy")
                np.save(path, value)
                args += ["--in", f"{name}={path}"]
                values.append(value.astype(np.float64))
            out = os.path.join(tmp, f"{kernel}_out.npy")
            proc = subprocess.run([tdsl, "run", source, "--kernel", kernel, *args,
                                   "--out", f"{OUTPUT_NAMES.get(kernel, 'y')}={out}"],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                print(f"FAIL {kernel}: tdsl exited {proc.returncode}\n{proc.stderr}")
                failures += 1
                continue
            got = np.load(out)
            want = reference(*values)
            ok = got.dtype == np.float32 and got.shape == want.shape and np.allclose(
                got, want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(want[np.isfinite(want)]).max()))
            err = np.nanmax(np.abs(np.where(np.isfinite(want), got - want, 0))) if got.shape == want.shape else "shape"
            print(f"{'ok  ' if ok else 'FAIL'} {kernel}: shape {got.shape}, max abs error vs NumPy {err}")
            failures += not ok
    print(f"{len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
