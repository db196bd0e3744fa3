"""Errors as exceptions with codes: compile errors with their location and rendered text,
argument count, dtype, shape and layout mismatches of calls."""
import numpy as np
import pytest

import tdsl


def test_compile_error_has_code_location_and_rendered_text():
    source = "kernel f(x: f32[N]) -> y: f32[N] {\n    y[i] = x[i] + z[i]\n}\n"
    with pytest.raises(tdsl.CompileError) as error:
        tdsl.compile(source)
    e = error.value
    assert e.code.startswith("E") and e.line == 2 and e.column > 1
    assert "error[" + e.code + "]" in str(e) and "^" in str(e)
    assert e.diagnostics[0]["code"] == e.code and e.diagnostics[0]["line"] == 2


def test_compile_of_a_missing_file_names_it():
    with pytest.raises(tdsl.RuntimeError) as error:
        tdsl.compile("no/such/file.tdsl")
    assert error.value.code == "E080" and "no/such/file.tdsl" in str(error.value)


def test_runtime_error_is_a_runtime_error():
    assert issubclass(tdsl.RuntimeError, RuntimeError)


def test_wrong_dtype(nn):
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax(np.zeros((2, 3), np.float64))
    assert error.value.code == "E081" and "f32" in str(error.value)


@pytest.mark.parametrize("shape", [(6,), (2, 3, 4)])
def test_wrong_rank(nn, shape):
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax(np.zeros(shape, np.float32))
    assert error.value.code == "E081"


def test_shapes_that_disagree(nn):
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.matmul(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32))
    assert error.value.code == "E081" and "K" in str(error.value)


def test_wrong_output_shape_or_dtype(nn):
    x = np.zeros((2, 3), np.float32)
    for out in [np.zeros((3, 2), np.float32), np.zeros((2, 3), np.float64)]:
        with pytest.raises(tdsl.RuntimeError) as error:
            nn.softmax(x, out=out)
        assert error.value.code == "E081"


def test_read_only_output(nn):
    x = np.zeros((2, 3), np.float32)
    out = np.zeros((2, 3), np.float32)
    out.flags.writeable = False
    with pytest.raises(tdsl.RuntimeError, match="read-only") as error:
        nn.softmax(x, out=out)
    assert error.value.code == "E081"


def test_argument_count_and_kind(nn):
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax()
    assert error.value.code == "E081" and "takes 1 inputs (x), got 0" in str(error.value)
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.softmax([[1.0, 2.0]])
    assert error.value.code == "E081" and "got list" in str(error.value)
    with pytest.raises(TypeError):
        nn.softmax(np.zeros((1, 1), np.float32), output=None)


def test_unknown_kernel_and_stage(nn):
    with pytest.raises(tdsl.RuntimeError) as error:
        nn.kernel("softmx")
    assert error.value.code == "E074" and "softmax" in str(error.value)
    with pytest.raises(ValueError):
        nn.softmax.dump("nope")
