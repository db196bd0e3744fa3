"""tdsl on NumPy arrays: compile a file, call its kernels, write into arrays of your own (any
strides), and look at what the compiler made of them.

    PYTHONPATH=build/python .venv/bin/python examples/python/numpy_example.py   # the build tree
    python examples/python/numpy_example.py                                  # after pip install .
"""
import os

import numpy as np

import tdsl

here = os.path.dirname(os.path.abspath(__file__))
nn = tdsl.compile(os.path.join(here, "..", "softmax.tdsl"))  # A path, or the source text.

x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
y = nn.softmax(x)  # A new NumPy array.
print("row sums:", y.sum(axis=1))

out = np.empty((8, 4), np.float32)
nn.softmax(x, out=out.T)  # Written in place, into a transposed view.
assert np.allclose(out.T, y)
assert np.allclose(nn.softmax(x.T.copy().T), y)  # Inputs of any strides.

# Python numbers feed scalar parameters; errors carry their codes.
scale = tdsl.compile("kernel scale(x: f32[N], a: f32) -> y: f32[N] {\n    y[i] = x[i] * a\n}")
print("scaled:", scale.scale(np.arange(4, dtype=np.float32), 0.5))
try:
    nn.softmax(np.zeros((2, 3), np.float64))
except tdsl.RuntimeError as e:
    print(f"error[{e.code}]: {e}")

print(nn.softmax.explain())
print(nn.softmax.dump("loops"))
profile = nn.softmax.profile(np.ones((1024, 1024), np.float32), runs=10, roofline=False)
print(f"softmax 1024 x 1024: {profile['median_seconds'] * 1e6:.0f} us, {profile['gbps']:.1f} GB/s")
