"""Kernel calls on NumPy arrays: results, in-place outputs of any strides, inputs read in place,
Python scalars, multiple outputs, and calls from several threads at once."""
import threading
import time

import numpy as np
import pytest

import tdsl
from conftest import softmax_reference


def random(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (64, 33), (0, 5)])
def test_softmax_returns_a_new_numpy_array(nn, shape):
    x = random(shape)
    y = nn.softmax(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, softmax_reference(x), rtol=1e-5, atol=1e-6)


def test_kernel_by_name_is_the_same_kernel(nn):
    x = random((4, 8))
    np.testing.assert_array_equal(nn.kernel("softmax")(x), nn.softmax(x))
    assert nn.softmax.name == "softmax" and nn.softmax.inputs == ["x"] and nn.softmax.outputs == ["y"]
    assert "softmax(x: f32[N, D]) -> y: f32" in repr(nn.softmax)


def test_out_is_written_in_place(nn):
    x = random((5, 12))
    y = np.full((5, 12), np.nan, np.float32)
    address = y.ctypes.data
    result = nn.softmax(x, out=y)
    assert result is y and y.ctypes.data == address
    np.testing.assert_allclose(y, softmax_reference(x), rtol=1e-5, atol=1e-6)


def test_out_may_be_a_strided_view(nn):
    x = random((6, 10))
    z = np.full((10, 6), np.nan, np.float32)  # y.T of a (6, 10) result: column-major.
    nn.softmax(x, out=z.T)
    np.testing.assert_allclose(z.T, softmax_reference(x), rtol=1e-5, atol=1e-6)
    wide = np.full((6, 20), -1.0, np.float32)  # Every other column.
    nn.softmax(x, out=wide[:, ::2])
    np.testing.assert_allclose(wide[:, ::2], softmax_reference(x), rtol=1e-5, atol=1e-6)
    assert (wide[:, 1::2] == -1).all(), "the elements between the view's were written"


def test_inputs_are_read_in_place_and_left_unchanged(nn):
    x = random((7, 9))
    before, address = x.copy(), x.ctypes.data
    nn.softmax(x)
    assert x.ctypes.data == address
    np.testing.assert_array_equal(x, before)


def test_read_only_inputs_and_an_output_that_is_an_input(nn):
    x = random((4, 9))
    expected = softmax_reference(x)
    x.flags.writeable = False
    np.testing.assert_allclose(nn.softmax(x), expected, rtol=1e-5, atol=1e-6)
    y = x.copy()
    nn.softmax(y, out=y)  # In place: the kernel computes into fresh memory, then copies.
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("view", ["transpose", "step", "reversed", "fortran"])
def test_non_contiguous_inputs_give_the_right_answer(nn, view):
    base = random((12, 16), seed=3)
    x = {"transpose": base.T, "step": base[::2, 1::3], "reversed": base[::-1, ::-1],
         "fortran": np.asfortranarray(base)}[view]
    assert not x.flags.c_contiguous or view == "fortran"
    np.testing.assert_allclose(nn.softmax(x), softmax_reference(x), rtol=1e-5, atol=1e-6)


def test_explain_call_says_what_is_copied(nn):
    x = random((6, 10))
    assert "in place" in nn.softmax.explain_call(x)
    strided = nn.softmax.explain_call(x.T, out=np.empty((6, 10), np.float32).T)
    assert "input x" in strided and "output y" in strided, strided


def test_matmul_of_transposed_views(nn):
    a, b = random((9, 5), 1), random((7, 9), 2)
    c = nn.matmul(a.T, b.T)
    np.testing.assert_allclose(c, a.T @ b.T, rtol=1e-5, atol=1e-5)


def test_python_scalars_feed_scalar_parameters(nn):
    x = random(11)
    np.testing.assert_allclose(nn.scale(x, 2.5), x * np.float32(2.5), rtol=1e-6)
    np.testing.assert_allclose(nn.scale(x, 3), x * 3, rtol=1e-6)
    np.testing.assert_allclose(nn.scale(x, np.float32(0.5)), x * 0.5, rtol=1e-6)
    n = np.arange(5, dtype=np.int32)
    np.testing.assert_array_equal(nn.shift(n, -7), n - 7)
    np.testing.assert_array_equal(nn.shift(n, np.array(4, np.int32)), n + 4)


def test_scalars_that_do_not_fit_are_errors_with_codes(nn):
    n = np.arange(3, dtype=np.int32)
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.shift(n, 2**31)
    assert error.value.code == "E090" and "out of the range of i32" in str(error.value)
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.shift(n, 1.5)
    assert error.value.code == "E090"
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax(2.0)
    assert error.value.code == "E081"


def test_several_outputs_come_back_as_a_tuple(nn):
    x = random(100, 4)
    total, biggest = nn.moments(x)
    assert total.shape == () and biggest.shape == ()
    np.testing.assert_allclose(total, x.sum(), rtol=1e-4, atol=1e-4)
    assert biggest == x.max()
    outs = (np.zeros((), np.float32), np.zeros((), np.float32))
    assert nn.moments(x, out=outs) is outs
    assert outs[1] == x.max()


def test_interpret_is_the_reference(nn):
    x = random((3, 5))
    np.testing.assert_allclose(nn.softmax.interpret(x), softmax_reference(x.astype(np.float64)),
                               rtol=1e-6)


def test_threads_call_one_kernel_at_once(nn):
    inputs = [random((33, 70), seed) for seed in range(8)]
    expected = [softmax_reference(x) for x in inputs]
    failures = []

    def worker(t):
        out = np.empty((33, 70), np.float32)
        for _ in range(25):
            nn.softmax(inputs[t], out=out)
            if not np.allclose(out, expected[t], rtol=1e-5, atol=1e-6):
                failures.append(t)
            if not np.allclose(nn.softmax(inputs[t]), expected[t], rtol=1e-5, atol=1e-6):
                failures.append(t)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_the_gil_is_released_while_a_kernel_runs(nn):
    matmul = nn.matmul.with_threads(1)
    a, b = random((2000, 2000), 1), random((2000, 2000), 2)  # A call of ~0.1 s.
    matmul(a, b)  # Compiled before timing.
    start = time.perf_counter()
    matmul(a, b)
    call = time.perf_counter() - start
    worker = threading.Thread(target=lambda: [matmul(a, b) for _ in range(2)])
    longest_pause, last = 0.0, time.perf_counter()
    worker.start()
    while worker.is_alive():  # Python code of this thread, while the other one's calls run.
        now = time.perf_counter()
        longest_pause, last = max(longest_pause, now - last), now
    worker.join()
    assert longest_pause < call / 2, f"this thread stopped {longest_pause:.3f} s (a call: {call:.3f} s)"
