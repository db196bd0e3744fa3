"""tdsl on PyTorch tensors, through DLPack: tensors in, tensors out, no copies; on a GPU, CUDA
tensors on the current stream (compile with target="cuda").

    PYTHONPATH=build/python .venv/bin/python examples/python/torch_example.py
"""
import torch

import tdsl

source = """
kernel gelu(x: f32[N, D], bias: f32[D]) -> y: f32[N, D] {
    h[i, j] = x[i, j] + bias[j]
    y[i, j] = 0.5 * h[i, j] * (1.0 + tanh(0.7978845608 * (h[i, j] + 0.044715 * h[i, j] * h[i, j] * h[i, j])))
}
"""
nn = tdsl.compile(source)
x, bias = torch.randn(64, 256), torch.randn(256)
y = nn.gelu(x, bias)  # A torch.Tensor sharing tdsl's result memory.
torch.testing.assert_close(y, torch.nn.functional.gelu(x + bias, approximate="tanh"))

out = torch.empty(64, 256)
nn.gelu(x, bias, out=out)  # Into the caller's tensor.
print("max |tdsl - torch|:", (out - torch.nn.functional.gelu(x + bias, approximate="tanh")).abs().max().item())
