"""PyTorch tensors in and out through DLPack (skipped without torch): CPU here; CUDA tensors on a
non-default stream on a machine with a GPU."""
import numpy as np
import pytest

import tdsl
from conftest import softmax_reference

torch = pytest.importorskip("torch")


def test_torch_in_torch_out(nn):
    x = torch.randn(6, 9)
    y = nn.softmax(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (6, 9)
    torch.testing.assert_close(y, torch.softmax(x, dim=1))


def test_torch_out_in_place_and_strided(nn):
    x = torch.randn(5, 7)
    y = torch.full((7, 5), float("nan")).T
    pointer = y.data_ptr()
    assert nn.softmax(x, out=y) is y and y.data_ptr() == pointer
    torch.testing.assert_close(y, torch.softmax(x, dim=1))


def test_torch_non_contiguous_input(nn):
    x = torch.randn(8, 12)[:, ::3]
    torch.testing.assert_close(nn.softmax(x), torch.softmax(x, dim=1))


def test_torch_bfloat16_round_trips():
    nn = tdsl.compile("kernel twice(x: bf16[N]) -> y: bf16[N] {\n    y[i] = x[i] * 2\n}")
    x = torch.randn(33).to(torch.bfloat16)
    y = nn.twice(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, x * 2, rtol=0, atol=0)


def test_numpy_and_torch_share_memory(nn):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    y = torch.empty(3, 4)
    nn.softmax(torch.from_numpy(x), out=y)
    np.testing.assert_allclose(y.numpy(), softmax_reference(x), rtol=1e-5, atol=1e-6)
