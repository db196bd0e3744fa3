"""Every dtype of tdsl round-trips through NumPy arrays, in and out, bit for bit. NumPy has no
bfloat16: a bf16 parameter takes, and a bf16 result is, a uint16 array of the bf16 bits
(tdsl.bfloat16_bits and tdsl.bfloat16_values convert)."""
import numpy as np
import pytest

import tdsl

NUMPY_DTYPES = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32, "f64": np.float64,
                "i32": np.int32, "i64": np.int64, "bool": np.bool_, "u8": np.uint8,
                "i8": np.int8, "i16": np.int16}


@pytest.fixture(scope="module")
def copies():
    source = "\n".join(f"kernel copy_{t}(x: {t}[N]) -> y: {t}[N] {{\n    y[i] = x[i]\n}}"
                       for t in NUMPY_DTYPES)
    return tdsl.compile(source)


def values(dtype, n=37):
    rng = np.random.default_rng(7)
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    return rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("name", NUMPY_DTYPES)
def test_round_trip(copies, name):
    dtype = NUMPY_DTYPES[name]
    x = values(dtype) if name != "bf16" else tdsl.bfloat16_bits(values(np.float32))
    kernel = copies.kernel(f"copy_{name}")
    y = kernel(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    out = np.zeros_like(x)
    kernel(x, out=out)
    np.testing.assert_array_equal(out, x)


def test_bfloat16_helpers_round_to_nearest_even():
    f = np.array([1.0, -2.5, 1 + 2**-8, 1 + 3 * 2**-8, np.inf, np.finfo(np.float32).max], np.float32)
    bits = tdsl.bfloat16_bits(f)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(tdsl.bfloat16_values(bits),
                                  np.array([1.0, -2.5, 1.0, 1 + 2**-6, np.inf, np.inf], np.float32))
    assert np.isnan(tdsl.bfloat16_values(tdsl.bfloat16_bits(np.array([np.nan], np.float32))))[0]


def test_bf16_arithmetic_through_uint16_bits():
    nn = tdsl.compile("kernel twice(x: bf16[N]) -> y: bf16[N] {\n    y[i] = x[i] * 2\n}")
    x = np.array([0.5, -3.0, 1.0078125], np.float32)
    y = nn.twice(tdsl.bfloat16_bits(x))
    np.testing.assert_array_equal(tdsl.bfloat16_values(y), x * 2)


def test_uint16_is_not_taken_for_other_dtypes(copies):
    with pytest.raises(tdsl.RuntimeError) as error:
        copies.copy_i16(np.zeros(3, np.uint16))
    assert error.value.code == "E081"
