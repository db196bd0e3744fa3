"""PyTorch CUDA tensors in and out, on the caller's non-default stream, without synchronizing
(skipped without torch or without a GPU; run on the GPU machine)."""
import pytest

import tdsl
from conftest import NN

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

# About 0.5 s of GPU time at ~2 GHz: long enough to see whether a call waits for it.
SLEEP_CYCLES = 1_000_000_000


@pytest.fixture(scope="module")
def gpu():
    return tdsl.compile(NN, target="cuda")


def test_cuda_tensors_in_and_out(gpu):
    x = torch.randn(37, 129, device="cuda")
    y = gpu.softmax(x)
    assert isinstance(y, torch.Tensor) and y.device == x.device and y.dtype == torch.float32
    torch.testing.assert_close(y, torch.softmax(x, dim=1))
    out = torch.full_like(x, float("nan"))
    assert gpu.softmax(x, out=out) is out
    torch.testing.assert_close(out, torch.softmax(x, dim=1))
    torch.testing.assert_close(gpu.scale(x[0].contiguous(), 2.5), x[0] * 2.5)


def test_a_non_default_stream_is_used_and_not_synchronized(gpu):
    base = torch.randn(64, 1000, device="cuda")
    gpu.softmax(base)  # Compiled before timing anything.
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(SLEEP_CYCLES)
        slept = torch.cuda.Event()
        slept.record(stream)
        x = base * 2  # Written on `stream` after the sleep: read too early, it is garbage.
        y = gpu.softmax(x)
        out = torch.empty_like(x)
        gpu.softmax(x, out=out)
        returned_before_the_sleep_ended = not slept.query()
        done = torch.cuda.Event()
        done.record(stream)
    done.synchronize()
    assert returned_before_the_sleep_ended, "the call waited for the stream's earlier work"
    expected = torch.softmax(base * 2, dim=1)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(out, expected)


def test_host_and_device_arrays_do_not_mix(gpu):
    with pytest.raises(tdsl.RuntimeError) as error:
        gpu.matmul(torch.randn(2, 3, device="cuda"), torch.randn(3, 4))
    assert error.value.code == "E081"


def test_strided_cuda_tensors_in_and_out(gpu):
    x = torch.randn(129, 37, device="cuda")
    torch.testing.assert_close(gpu.softmax(x.T), torch.softmax(x.T, dim=1))
    out = torch.full((129, 74), float("nan"), device="cuda")
    view = out[:, ::2].T
    assert gpu.softmax(x.T, out=view) is view
    torch.testing.assert_close(view, torch.softmax(x.T, dim=1))
    assert torch.isnan(out[:, 1::2]).all()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="fewer than 2 CUDA devices")
def test_kernels_of_two_devices_take_their_own_tensors():
    gpu0 = tdsl.compile(NN, target="cuda", cuda_device=0)
    gpu1 = tdsl.compile(NN, target="cuda", cuda_device=1)
    torch.cuda.set_device(0)
    x1 = torch.randn(37, 129, device="cuda:1")
    y1 = gpu1.softmax(x1)
    assert y1.device == x1.device
    torch.testing.assert_close(y1, torch.softmax(x1, dim=1))
    assert torch.cuda.current_device() == 0, "a call on device 1 moved torch to it"
    x0 = x1.to("cuda:0")
    torch.testing.assert_close(gpu0.softmax(x0), torch.softmax(x0, dim=1))
    with pytest.raises(tdsl.RuntimeError) as error:
        gpu0.softmax(x1)
    assert error.value.code == "E081"
    assert "is on cuda:1, but the kernel runs on cuda:0" in str(error.value)
