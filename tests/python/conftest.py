"""Shared set-up of the Python package's tests: the package under test is the one on PYTHONPATH
(ctest points it at <build>/python), its kernels compiled once per session."""
import numpy as np
import pytest

import tdsl

NN = """
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel scale(x: f32[N], a: f32) -> y: f32[N] {
    y[i] = x[i] * a
}
kernel shift(x: i32[N], n: i32) -> y: i32[N] {
    y[i] = x[i] + n
}
kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
kernel moments(x: f32[N]) -> (total: f32, biggest: f32) {
    total = sum(x[i] for i)
    biggest = max(x[i] for i)
}
"""


@pytest.fixture(scope="session")
def nn():
    return tdsl.compile(NN)


def softmax_reference(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
