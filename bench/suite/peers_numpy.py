"""The suite's kernels as a user writes them in NumPy: the obvious code, float32 throughout,
single-threaded (bench/run_suite.py sets the BLAS thread count to 1 before NumPy loads).

Each function takes the kernel's inputs in the order of its parameters and returns its output,
or a tuple of outputs in the order of the kernel's outputs.
"""
import numpy as np

f = np.float32


def gelu(x):
    return f(0.5) * x * (f(1) + np.tanh(f(0.7978845608) * (x + f(0.044715) * x * x * x)))


def silu(x):
    return x / (f(1) + np.exp(-x))


def bias_relu(x, b):
    return np.maximum(x + b, f(0))


def adam(p, g, m, v):
    m2 = f(0.9) * m + f(0.1) * g
    v2 = f(0.999) * v + f(0.001) * g * g
    p2 = p - f(0.001) * m2 / (np.sqrt(v2) + f(1e-8))
    return p2, m2, v2


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def layernorm(x, g, b):
    mu = x.mean(axis=1, keepdims=True)
    d = x - mu
    var = (d * d).mean(axis=1, keepdims=True)
    return d / np.sqrt(var + f(1e-5)) * g + b


def rmsnorm(x, g):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + f(1e-6)) * g


def l2_normalize(x):
    return x / np.maximum(np.sqrt((x * x).sum(axis=1, keepdims=True)), f(1e-12))


def colsum(x):
    return x.sum(axis=0)


def standardize(x):
    mu = x.mean(axis=0)
    d = x - mu
    return d / np.sqrt((d * d).mean(axis=0) + f(1e-5))


def atx(a, x):
    return a.T @ x


def softmax_cols(x):
    e = np.exp(x - x.max(axis=0))
    return e / e.sum(axis=0)


def transpose(x):
    return np.ascontiguousarray(x.T)


def nchw_to_nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def split_heads(x):
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3))


def symmetrize(x):
    return f(0.5) * (x + x.T)


def blur3x3(x):
    bx = (x[:, :-2] + x[:, 1:-1] + x[:, 2:]) / f(3)
    return (bx[:-2] + bx[1:-1] + bx[2:]) / f(3)


def unsharp(x):
    h, w = x.shape
    by = (x[0:h - 4] + f(4) * x[1:h - 3] + f(6) * x[2:h - 2] + f(4) * x[3:h - 1] + x[4:h]) / f(16)
    b = (by[:, 0:w - 4] + f(4) * by[:, 1:w - 3] + f(6) * by[:, 2:w - 2] + f(4) * by[:, 3:w - 1]
         + by[:, 4:w]) / f(16)
    c = x[2:h - 2, 2:w - 2]
    return c + f(1.5) * (c - b)


def _sobel(g):
    gx = ((g[:-2, 2:] - g[:-2, :-2]) + f(2) * (g[1:-1, 2:] - g[1:-1, :-2])
          + (g[2:, 2:] - g[2:, :-2]))
    gy = ((g[2:, :-2] - g[:-2, :-2]) + f(2) * (g[2:, 1:-1] - g[:-2, 1:-1])
          + (g[2:, 2:] - g[:-2, 2:]))
    return gx, gy


def _box3(a):
    h, w = a.shape
    s = a[:, 0:w - 2] + a[:, 1:w - 1] + a[:, 2:w]
    return s[0:h - 2] + s[1:h - 1] + s[2:h]


def harris(x):
    g = f(0.299) * x[0] + f(0.587) * x[1] + f(0.114) * x[2]
    ix, iy = _sobel(g)
    sxx, syy, sxy = _box3(ix * ix), _box3(iy * iy), _box3(ix * iy)
    tr = sxx + syy
    return sxx * syy - sxy * sxy - f(0.04) * tr * tr


def laplacian(x):
    p = np.pad(x, 1)
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - f(4) * x


def sobel(x):
    gx, gy = _sobel(x)
    return np.sqrt(gx * gx + gy * gy)


def matvec(a, x):
    return a @ x


def batched_matmul(a, b):
    return a @ b


def gram(x):
    return x.T @ x


def attention(q, k, v):
    s = (q @ k.transpose(0, 2, 1)) * f(1 / np.sqrt(q.shape[2]))
    p = np.exp(s - s.max(axis=2, keepdims=True))
    return (p @ v) / p.sum(axis=2, keepdims=True)


def mlp(x, w1, w2):
    return gelu(x @ w1) @ w2


def maxpool2x2(x):
    return x.max(axis=(3, 5))


def avgpool2x2(x):
    return x.mean(axis=(3, 5))


def global_avgpool(x):
    return x.mean(axis=(2, 3))


def conv_relu_pool(x, w, bias, pos):
    b, c, h, wd = x.shape
    o = w.shape[0]
    p, q = pos.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    a = np.zeros((b, o, h, wd), dtype=np.float32)
    for r in range(3):
        for s in range(3):
            # [B, C, H, W] x [O, C] -> [B, O, H, W], as one matrix product per tap.
            a += np.einsum("bchw,oc->bohw", xp[:, :, r:r + h, s:s + wd], w[:, :, r, s],
                           optimize=True)
    a = np.maximum(a + bias[:, None, None], f(0))
    a = np.pad(a, ((0, 0), (0, 0), (0, max(0, 2 * p - h)), (0, max(0, 2 * q - wd))))
    return a[:, :, :2 * p, :2 * q].reshape(b, o, p, 2, q, 2).max(axis=(3, 5)) + pos


def cross_entropy(logits, target):
    m = logits.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return (target * (lse - logits)).sum(axis=1).mean()


def mse(p, t):
    d = p - t
    return (d * d).mean()


def bce_logits(x, t):
    return (np.maximum(x, f(0)) - x * t + np.log1p(np.exp(-np.abs(x)))).mean()


def huber(p, t):
    d = np.abs(p - t)
    return np.where(d < f(1), f(0.5) * d * d, d - f(0.5)).mean()
