"""The suite's kernels in Halide 21 (the `halide` package from PyPI), each with a hand-written
schedule in the manner of Halide's own apps: strips of rows in parallel, 16-lane vectors
(AVX-512 f32), producers computed per row inside a strip and kept in a sliding window
(apps/harris, apps/unsharp), loads transposed in registers tile by tile (the block transpose of
test/performance), products accumulated in a register tile of 16-lane vectors with the reduction
outside it (test/performance/matrix_multiplication, apps/linear_algebra), and reductions along
rows split into 16 lanes that are summed at the end.

`build(name, inputs)` takes the NumPy inputs (the kernel's parameters, in order) and returns a
`Peer`: `run()` realizes the pipeline into output buffers allocated once, `outputs()` gives them
as NumPy arrays, in the kernel's order and shapes. The thread count is Halide's: set
HL_NUM_THREADS before the first pipeline runs (bench/suite/peer_worker.py is started so).

Math functions are Halide's accurate ones (exp, log, sqrt), not fast_exp and friends, so that
the peers compute to the accuracy tdsl and NumPy do; tanh is written with exp (see
tanh_by_exp). Reductions of floats are reassociated into 16 lanes, as tdsl does.
"""
import numpy as np
import halide as hl

VEC = 16          # f32 lanes of an AVX-512 vector
STRIP = 32        # rows per parallel strip of the stencils (as apps/harris)

x, y, z, w = hl.Var("x"), hl.Var("y"), hl.Var("z"), hl.Var("w")
xo, xi, yo, yi = hl.Var("xo"), hl.Var("xi"), hl.Var("yo"), hl.Var("yi")


class Peer:
    def __init__(self, funcs, shapes):
        """`funcs`: the output Funcs (or one Func whose Tuple fills several outputs);
        `shapes`: the NumPy shape of each output."""
        self.shapes = shapes
        # Halide's dims are NumPy's reversed; a 0-d output is a scalar loss.
        self.buffers = [hl.Buffer(hl.Float(32), list(reversed(s))) for s in shapes]
        self.pipeline = hl.Pipeline(funcs)
        self.pipeline.compile_jit(hl.get_jit_target_from_environment())

    def run(self):
        if len(self.buffers) == 1:
            self.pipeline.realize(self.buffers[0])
        else:
            self.pipeline.realize(self.buffers)

    def outputs(self):
        return [np.asarray(b).copy() for b in self.buffers]


def buf(a):
    return hl.Buffer(np.ascontiguousarray(a))


def fconst(v):
    return hl.f32(v)


# ---------------------------------------------------------------------------------------------
# Reductions along the innermost dim, in 16 lanes.

def lane_reduce(fn, width, outer_vars, op, name):
    """A Func over `outer_vars` holding the reduction (`op` "sum" or "max") of fn(x, *outer)
    for x in [0, width). The lanes, `part`, are returned too, to be scheduled by the caller:
    `part.compute_at(consumer, var)` (the default here is inline, which Halide refuses for an
    update, so every caller schedules it)."""
    lane = hl.Var(name + "_l")
    part = hl.Func(name + "_part")
    red = hl.Func(name)
    init = fconst(0.0) if op == "sum" else fconst(float("-inf"))
    if width % VEC == 0 and width >= VEC:
        r = hl.RDom([(0, width // VEC)], name + "_r")
        part[[lane] + outer_vars] = init
        value = fn(r.x * VEC + lane, *outer_vars)
        if op == "sum":
            part[[lane] + outer_vars] = part[[lane] + outer_vars] + value
        else:
            part[[lane] + outer_vars] = hl.max(part[[lane] + outer_vars], value)
        rl = hl.RDom([(0, VEC)], name + "_rl")
        lanes = part[[rl.x] + outer_vars]
        red[outer_vars] = hl.sum(lanes) if op == "sum" else hl.maximum(lanes)
        part.vectorize(lane)
        part.update().vectorize(lane)
    else:
        # A width that 16 does not divide (small shapes): one lane, serial.
        r = hl.RDom([(0, width)], name + "_r")
        part[[lane] + outer_vars] = init
        value = fn(r.x, *outer_vars)
        if op == "sum":
            part[[lane] + outer_vars] = part[[lane] + outer_vars] + value
        else:
            part[[lane] + outer_vars] = hl.max(part[[lane] + outer_vars], value)
        red[outer_vars] = part[[0] + outer_vars]
    return red, part


def column_reduce(fn, rows, cols, op, name):
    """s(x) = reduction of fn(x, r) over rows r, vectorized across columns. The rows are cut in
    8 blocks reduced in parallel (by hand, as rfactor would): each task streams down its rows
    in order, adding each to one row of accumulators that stays in L1; then the 8 partial rows
    are combined. Rows that 8 does not divide (small shapes): one block."""
    blocks = 8 if rows % 8 == 0 else 1
    per = rows // blocks
    part, s = hl.Func(name + "_part"), hl.Func(name)
    r = hl.RDom([(0, per)], name + "_r")
    part[x, y] = fconst(0.0) if op == "sum" else fconst(float("-inf"))
    value = fn(x, y * per + r.x)
    part[x, y] = part[x, y] + value if op == "sum" else hl.max(part[x, y], value)
    rb = hl.RDom([(0, blocks)], name + "_rb")
    s[x] = hl.sum(part[x, rb.x]) if op == "sum" else hl.maximum(part[x, rb.x])
    part.compute_root().vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y)
    part.update().reorder(x, r.x, y).vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y)
    s.vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    return s


# ---------------------------------------------------------------------------------------------
# Elementwise.

def schedule_flat(f):
    f.split(x, xo, xi, 1 << 14, hl.TailStrategy.GuardWithIf).parallel(xo) \
        .vectorize(xi, VEC, hl.TailStrategy.GuardWithIf)


def tanh_by_exp(u):
    """tanh(u) = 1 - 2 / (exp(2u) + 1): Halide's tanh calls libm's tanhf lane by lane, its exp
    is vectorized. Within a few ulp of tanhf except an absolute error of ~1e-7 near 0."""
    return fconst(1.0) - fconst(2.0) / (hl.exp(fconst(2.0) * u) + fconst(1.0))


def gelu_expr(v):
    return fconst(0.5) * v * (fconst(1.0) + tanh_by_exp(
        fconst(0.7978845608) * (v + fconst(0.044715) * v * v * v)))


def k_gelu(a):
    b, out = buf(a), hl.Func("gelu")
    out[x] = gelu_expr(b[x])
    schedule_flat(out)
    return Peer(out, [a.shape])


def k_silu(a):
    b, out = buf(a), hl.Func("silu")
    out[x] = b[x] / (fconst(1.0) + hl.exp(-b[x]))
    schedule_flat(out)
    return Peer(out, [a.shape])


def k_bias_relu(a, bias):
    b, c, out = buf(a), buf(bias), hl.Func("bias_relu")
    out[x, y] = hl.max(b[x, y] + c[x], fconst(0.0))
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y, 8)
    return Peer(out, [a.shape])


def k_adam(p, g, m, v):
    P, G, M, V = map(buf, (p, g, m, v))
    step = hl.Func("adam")
    m2 = fconst(0.9) * M[x] + fconst(0.1) * G[x]
    v2 = fconst(0.999) * V[x] + fconst(0.001) * G[x] * G[x]
    p2 = P[x] - fconst(0.001) * m2 / (hl.sqrt(v2) + fconst(1e-8))
    step[x] = hl.Tuple([p2, m2, v2])   # one loop writes all three outputs
    schedule_flat(step)
    return Peer(step, [p.shape] * 3)


# ---------------------------------------------------------------------------------------------
# Rows: each parallel task owns rows; a row's reductions and its output pass stay in cache.

def row_schedule(out, parts, rows_buffered=()):
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y, 4)
    for p in parts:
        p.compute_at(out, y)
    for f in rows_buffered:
        f.compute_at(out, y).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)


def k_softmax(a):
    b, cols = buf(a), a.shape[1]
    mx, mxp = lane_reduce(lambda i, j: b[i, j], cols, [y], "max", "mx")
    e, out = hl.Func("e"), hl.Func("softmax")
    e[x, y] = hl.exp(b[x, y] - mx[y])
    s, sp = lane_reduce(lambda i, j: e[i, j], cols, [y], "sum", "s")
    inv = hl.Func("inv")
    inv[y] = fconst(1.0) / s[y]
    out[x, y] = e[x, y] * inv[y]
    row_schedule(out, [mx, mxp, s, sp, inv], [e])
    return Peer(out, [a.shape])


def k_layernorm(a, g, bias):
    b, G, B, cols = buf(a), buf(g), buf(bias), a.shape[1]
    mu_s, mup = lane_reduce(lambda i, j: b[i, j], cols, [y], "sum", "mu")
    mu = hl.Func("mean")
    mu[y] = mu_s[y] / cols
    var_s, varp = lane_reduce(lambda i, j: (b[i, j] - mu[j]) * (b[i, j] - mu[j]), cols, [y],
                              "sum", "var")
    rstd, out = hl.Func("rstd"), hl.Func("layernorm")
    rstd[y] = fconst(1.0) / hl.sqrt(var_s[y] / cols + fconst(1e-5))
    out[x, y] = (b[x, y] - mu[y]) * rstd[y] * G[x] + B[x]
    row_schedule(out, [mu_s, mup, mu, var_s, varp, rstd])
    return Peer(out, [a.shape])


def k_rmsnorm(a, g):
    b, G, cols = buf(a), buf(g), a.shape[1]
    ss, ssp = lane_reduce(lambda i, j: b[i, j] * b[i, j], cols, [y], "sum", "ss")
    scale, out = hl.Func("scale"), hl.Func("rmsnorm")
    scale[y] = fconst(1.0) / hl.sqrt(ss[y] / cols + fconst(1e-6))
    out[x, y] = b[x, y] * scale[y] * G[x]
    row_schedule(out, [ss, ssp, scale])
    return Peer(out, [a.shape])


def k_l2_normalize(a):
    b, cols = buf(a), a.shape[1]
    ss, ssp = lane_reduce(lambda i, j: b[i, j] * b[i, j], cols, [y], "sum", "ss")
    scale, out = hl.Func("scale"), hl.Func("l2_normalize")
    scale[y] = fconst(1.0) / hl.max(hl.sqrt(ss[y]), fconst(1e-12))
    out[x, y] = b[x, y] * scale[y]
    row_schedule(out, [ss, ssp, scale])
    return Peer(out, [a.shape])


# ---------------------------------------------------------------------------------------------
# Columns: the column statistics computed first (column_reduce), then one pass over rows.

def k_colsum(a):
    b = buf(a)
    return Peer(column_reduce(lambda i, j: b[i, j], a.shape[0], a.shape[1], "sum", "colsum"),
                [(a.shape[1],)])


def k_standardize(a):
    b, rows, cols = buf(a), a.shape[0], a.shape[1]
    s = column_reduce(lambda i, j: b[i, j], rows, cols, "sum", "colsum")
    mu = hl.Func("mu")
    mu[x] = s[x] / rows
    mu.compute_root().vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    var = column_reduce(lambda i, j: (b[i, j] - mu[i]) * (b[i, j] - mu[i]), rows, cols, "sum",
                        "var")
    scale = hl.Func("scale")
    scale[x] = fconst(1.0) / hl.sqrt(var[x] / rows + fconst(1e-5))
    scale.compute_root().vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    s.compute_root()
    var.compute_root()
    out = hl.Func("standardize")
    out[x, y] = (b[x, y] - mu[x]) * scale[x]
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y, 8)
    return Peer(out, [a.shape])


def k_atx(a, v):
    A, V = buf(a), buf(v)
    return Peer(column_reduce(lambda i, j: A[i, j] * V[j], a.shape[0], a.shape[1], "sum",
                              "atx"), [(a.shape[1],)])


def k_softmax_cols(a):
    b, rows, cols = buf(a), a.shape[0], a.shape[1]
    mx = column_reduce(lambda i, j: b[i, j], rows, cols, "max", "colmax")
    s = column_reduce(lambda i, j: hl.exp(b[i, j] - mx[i]), rows, cols, "sum", "colsum")
    mx.compute_root()
    s.compute_root()
    out = hl.Func("softmax_cols")
    out[x, y] = hl.exp(b[x, y] - mx[x]) / s[x]
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).parallel(y, 8)
    return Peer(out, [a.shape])


# ---------------------------------------------------------------------------------------------
# Permutations: 16 x 16 blocks, 16 vector loads transposed in registers.

def transposed_tiles(out, block):
    """128 x 128 tiles (fewer pages in flight on both sides; 40-45 ms against 74 for 16 x 16
    alone on a 4096 x 4096 transpose here), each made of 16 x 16 blocks."""
    xt, yt = hl.Var("xt"), hl.Var("yt")
    out.tile(x, y, xt, yt, x, y, 128, 128, hl.TailStrategy.GuardWithIf) \
        .tile(x, y, xi, yi, VEC, VEC, hl.TailStrategy.GuardWithIf) \
        .vectorize(xi).unroll(yi).parallel(yt)
    block.compute_at(out, x).vectorize(block.args()[0]).unroll(block.args()[1])


def k_transpose(a):
    b, block, out = buf(a), hl.Func("block"), hl.Func("transpose")
    block[x, y] = b[x, y]
    out[x, y] = block[y, x]
    transposed_tiles(out, block)
    return Peer(out, [(a.shape[1], a.shape[0])])


def k_nchw_to_nhwc(a):
    # NumPy [B, C, H, W] is Halide (w, h, c, n); the output [B, H, W, C] is (c, w, h, n).
    b, block, out = buf(a), hl.Func("block"), hl.Func("nchw_to_nhwc")
    block[x, y, z, w] = b[x, y, z, w]
    out[x, y, z, w] = block[y, z, x, w]     # out(c, w, h, n) = in(w, h, c, n)
    out.tile(x, y, xi, yi, VEC, VEC, hl.TailStrategy.GuardWithIf).vectorize(xi).unroll(yi) \
        .fuse(z, w, z).parallel(z)
    block.compute_at(out, x).vectorize(x).unroll(z)
    bb, cc, hh, ww = a.shape
    return Peer(out, [(bb, hh, ww, cc)])


def k_split_heads(a):
    # [B, S, H, D] -> [B, H, S, D]: whole rows of D move; no transposition inside a vector.
    b, out = buf(a), hl.Func("split_heads")
    out[x, y, z, w] = b[x, z, y, w]         # out(d, s, h, b) = in(d, h, s, b)
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).fuse(z, w, z).parallel(z)
    bb, s, h, d = a.shape
    return Peer(out, [(bb, h, s, d)])


def k_symmetrize(a):
    b, block, out = buf(a), hl.Func("block"), hl.Func("symmetrize")
    block[x, y] = b[x, y]
    out[x, y] = fconst(0.5) * (b[x, y] + block[y, x])
    transposed_tiles(out, block)
    return Peer(out, [a.shape])


# ---------------------------------------------------------------------------------------------
# Stencils: strips of 32 rows in parallel; within a strip, each producer is computed one row
# at a time just before the output row that needs it and kept in a sliding window of rows.

def strip_schedule(out, producers):
    out.split(y, yo, yi, STRIP, hl.TailStrategy.GuardWithIf).parallel(yo) \
        .vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    for p in producers:
        p.store_at(out, yo).compute_at(out, yi).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)


def k_blur3x3(a):
    b, bx, out = buf(a), hl.Func("bx"), hl.Func("blur3x3")
    bx[x, y] = (b[x, y] + b[x + 1, y] + b[x + 2, y]) / fconst(3.0)
    out[x, y] = (bx[x, y] + bx[x, y + 1] + bx[x, y + 2]) / fconst(3.0)
    strip_schedule(out, [bx])
    h, wd = a.shape
    return Peer(out, [(h - 2, wd - 2)])


def k_unsharp(a):
    b, by, bl, out = buf(a), hl.Func("by"), hl.Func("bl"), hl.Func("unsharp")
    c = [1.0, 4.0, 6.0, 4.0, 1.0]
    by[x, y] = sum(fconst(c[k]) * b[x, y + k] for k in range(5)) / fconst(16.0)
    bl[x, y] = sum(fconst(c[k]) * by[x + k, y] for k in range(5)) / fconst(16.0)
    out[x, y] = b[x + 2, y + 2] + fconst(1.5) * (b[x + 2, y + 2] - bl[x, y])
    strip_schedule(out, [by])
    h, wd = a.shape
    return Peer(out, [(h - 4, wd - 4)])


def sobel_pair(g):
    gx, gy = hl.Func("gx"), hl.Func("gy")
    two = fconst(2.0)
    gx[x, y] = ((g[x + 2, y] - g[x, y]) + two * (g[x + 2, y + 1] - g[x, y + 1])
                + (g[x + 2, y + 2] - g[x, y + 2]))
    gy[x, y] = ((g[x, y + 2] - g[x, y]) + two * (g[x + 1, y + 2] - g[x + 1, y])
                + (g[x + 2, y + 2] - g[x + 2, y]))
    return gx, gy


def k_harris(a):
    b = buf(a)     # Halide (x, y, c)
    g = hl.Func("gray")
    g[x, y] = fconst(0.299) * b[x, y, 0] + fconst(0.587) * b[x, y, 1] + fconst(0.114) * b[x, y, 2]
    ix, iy = sobel_pair(g)

    def box(f):
        return sum(f(x + r, y + s) for r in range(3) for s in range(3))

    sxx = box(lambda p, q: ix[p, q] * ix[p, q])
    syy = box(lambda p, q: iy[p, q] * iy[p, q])
    sxy = box(lambda p, q: ix[p, q] * iy[p, q])
    out = hl.Func("harris")
    out[x, y] = sxx * syy - sxy * sxy - fconst(0.04) * (sxx + syy) * (sxx + syy)
    strip_schedule(out, [g, ix, iy])
    ix.compute_with(iy, x)
    _, h, wd = a.shape
    return Peer(out, [(h - 4, wd - 4)])


def k_laplacian(a):
    b = buf(a)
    h, wd = a.shape
    p = hl.BoundaryConditions.constant_exterior(b, fconst(0.0))
    out = hl.Func("laplacian")
    out[x, y] = p[x, y - 1] + p[x, y + 1] + p[x - 1, y] + p[x + 1, y] - fconst(4.0) * b[x, y]
    out.split(y, yo, yi, STRIP, hl.TailStrategy.GuardWithIf).parallel(yo) \
        .vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    return Peer(out, [(h, wd)])


def k_sobel(a):
    b = buf(a)
    gx, gy = sobel_pair(b)
    out = hl.Func("sobel")
    out[x, y] = hl.sqrt(gx[x, y] * gx[x, y] + gy[x, y] * gy[x, y])
    out.split(y, yo, yi, STRIP, hl.TailStrategy.GuardWithIf).parallel(yo) \
        .vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    h, wd = a.shape
    return Peer(out, [(h - 2, wd - 2)])


# ---------------------------------------------------------------------------------------------
# Contractions: C(x, y) = sum_k A(k, y) B(x, k) with B's rows contiguous in x. The output is
# split in 32 x 8 tiles; each tile's products accumulate in 2 x 8 vectors of 16 lanes (16
# registers) while k runs outside the tile, as the matrix-multiplication test does.

def matmul_tiles(a_fn, b_fn, k_extent, name, outer=()):
    """Returns (prod, out): out(x, y, *outer) = sum over k of a_fn(k, y, *outer) *
    b_fn(x, k, *outer), scheduled; `out` is a plain copy of `prod` that the caller may wrap."""
    outer = list(outer)
    prod = hl.Func(name + "_prod")
    k = hl.RDom([(0, k_extent)], name + "_k")
    prod[[x, y] + outer] = fconst(0.0)
    prod[[x, y] + outer] = prod[[x, y] + outer] + a_fn(k.x, y, *outer) * b_fn(x, k.x, *outer)
    return prod, k


def schedule_matmul(out, prod, k, outer=(), tx=32, ty=8):
    out.tile(x, y, xi, yi, tx, ty, hl.TailStrategy.GuardWithIf) \
        .vectorize(xi, VEC, hl.TailStrategy.GuardWithIf).unroll(yi)
    if outer:
        out.fuse(y, outer[0], y)
    out.parallel(y)
    prod.compute_at(out, x).vectorize(x, VEC, hl.TailStrategy.GuardWithIf).unroll(y)
    prod.update().reorder(x, y, k.x).vectorize(x, VEC, hl.TailStrategy.GuardWithIf) \
        .unroll(x).unroll(y)


def k_matvec(a, v):
    A, V = buf(a), buf(v)
    dot, part = lane_reduce(lambda i, j: A[i, j] * V[i], a.shape[1], [y], "sum", "dot")
    out = hl.Func("matvec")
    out[y] = dot[y]
    out.parallel(y, 16)
    dot.compute_at(out, y)
    part.compute_at(out, y)
    return Peer(out, [(a.shape[0],)])


def k_batched_matmul(a, b):
    A, B = buf(a), buf(b)     # Halide A(k, m, batch), B(n, k, batch)
    prod, k = matmul_tiles(lambda kk, m, bt: A[kk, m, bt], lambda n, kk, bt: B[n, kk, bt],
                           a.shape[2], "bmm", [z])
    out = hl.Func("batched_matmul")
    out[x, y, z] = prod[x, y, z]
    schedule_matmul(out, prod, k, [z])
    return Peer(out, [(a.shape[0], a.shape[1], b.shape[2])])


def k_gram(a):
    X = buf(a)                # Halide X(col, row); g(x, y) = sum_i X(y, i) X(x, i)
    xt = hl.Func("xt")        # X^T, so that the A operand's reads run along rows
    xt[x, y] = X[y, x]
    xt.compute_root()
    blk = hl.Func("blk")
    blk[x, y] = X[x, y]
    xt.tile(x, y, xi, yi, VEC, VEC, hl.TailStrategy.GuardWithIf).vectorize(xi).unroll(yi) \
        .parallel(y)
    blk.compute_at(xt, x).vectorize(x).unroll(y)
    prod, k = matmul_tiles(lambda i, j: xt[i, j], lambda c, i: X[c, i], a.shape[0], "gram")
    out = hl.Func("gram")
    out[x, y] = prod[x, y]
    schedule_matmul(out, prod, k)
    return Peer(out, [(a.shape[1], a.shape[1])])


def k_mlp(a, w1, w2):
    X, W1, W2 = buf(a), buf(w1), buf(w2)
    prod1, k1 = matmul_tiles(lambda kk, m: X[kk, m], lambda n, kk: W1[n, kk], a.shape[1], "h")
    act = hl.Func("act")      # GELU applied as each tile of x @ w1 is finished
    act[x, y] = gelu_expr(prod1[x, y])
    act.compute_root()
    schedule_matmul(act, prod1, k1)
    prod2, k2 = matmul_tiles(lambda kk, m: act[kk, m], lambda n, kk: W2[n, kk], w1.shape[1], "y")
    out = hl.Func("mlp")
    out[x, y] = prod2[x, y]
    schedule_matmul(out, prod2, k2)
    return Peer(out, [(a.shape[0], w2.shape[1])])


def k_attention(q, k, v):
    Q, K, V = buf(q), buf(k), buf(v)  # Halide (e, t, b)
    bsz, t_len, e_len = q.shape
    kt = hl.Func("kt")                # K^T per head: kt(u, e, b), rows of u contiguous
    kt[x, y, z] = K[y, x, z]
    kblk = hl.Func("kblk")
    kblk[x, y, z] = K[x, y, z]
    kt.compute_root().tile(x, y, xi, yi, VEC, VEC, hl.TailStrategy.GuardWithIf) \
        .vectorize(xi).unroll(yi).fuse(y, z, y).parallel(y)
    kblk.compute_at(kt, x).vectorize(x).unroll(y)
    scale = fconst(1.0 / np.sqrt(e_len))
    s_prod, ks = matmul_tiles(lambda e, t, b: Q[e, t, b], lambda u, e, b: kt[u, e, b], e_len,
                              "s", [z])
    s = hl.Func("s")                  # s(u, t, b), scaled scores
    s[x, y, z] = s_prod[x, y, z] * scale
    mx, mxp = lane_reduce(lambda u, t, b: s[u, t, b], t_len, [y, z], "max", "mx")
    p = hl.Func("p")
    p[x, y, z] = hl.exp(s[x, y, z] - mx[y, z])
    l, lp = lane_reduce(lambda u, t, b: p[u, t, b], t_len, [y, z], "sum", "l")
    o_prod, ko = matmul_tiles(lambda u, t, b: p[u, t, b], lambda e, u, b: V[e, u, b], t_len,
                              "o", [z])
    out = hl.Func("attention")
    out[x, y, z] = o_prod[x, y, z] / l[y, z]
    # Per head and block of 8 query rows: the scores of those rows (8 x T), their max and
    # exponentials, then o = p v over the block; everything of a block stays in L2.
    out.split(y, yo, yi, 8, hl.TailStrategy.GuardWithIf).reorder(x, yi, yo, z) \
        .fuse(yo, z, yo).parallel(yo).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    o_prod.compute_at(out, yo).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    o_prod.update().reorder(x, y, ko.x).vectorize(x, VEC, hl.TailStrategy.GuardWithIf) \
        .unroll(y)
    for f in (s, p):
        f.compute_at(out, yo).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    for f in (mx, mxp, l, lp):
        f.compute_at(out, yo)
    s_prod.compute_at(out, yo).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    s_prod.update().reorder(x, y, ks.x).vectorize(x, VEC, hl.TailStrategy.GuardWithIf) \
        .unroll(y)
    return Peer(out, [q.shape])


# ---------------------------------------------------------------------------------------------
# Pooling.

def k_maxpool2x2(a):
    # NumPy [B, C, P, 2, Q, 2] is Halide (s, q, r, p, c, b): six dims, read as four plus r, s.
    b = buf(a)
    out = hl.Func("maxpool2x2")
    out[x, y, z, w] = hl.max(hl.max(b[0, x, 0, y, z, w], b[1, x, 0, y, z, w]),
                             hl.max(b[0, x, 1, y, z, w], b[1, x, 1, y, z, w]))
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).fuse(z, w, z).parallel(z)
    bb, c, p, _, q, _ = a.shape
    return Peer(out, [(bb, c, p, q)])


def k_avgpool2x2(a):
    b = buf(a)
    out = hl.Func("avgpool2x2")
    out[x, y, z, w] = (b[0, x, 0, y, z, w] + b[1, x, 0, y, z, w] + b[0, x, 1, y, z, w]
                       + b[1, x, 1, y, z, w]) * fconst(0.25)
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).fuse(z, w, z).parallel(z)
    bb, c, p, _, q, _ = a.shape
    return Peer(out, [(bb, c, p, q)])


def k_global_avgpool(a):
    bb, c, h, wd = a.shape
    flat = buf(a.reshape(bb, c, h * wd))   # a free view: (hw, c, b)
    s, part = lane_reduce(lambda i, cc, n: flat[i, cc, n], h * wd, [x, y], "sum", "s")
    out = hl.Func("global_avgpool")
    out[x, y] = s[x, y] / (h * wd)
    # Parallel over images, one channel at a time (a fused (c, n) loop would make Halide bound
    # each task's lanes by a box over every channel).
    out.parallel(y)
    s.compute_at(out, x)
    part.compute_at(out, x)
    return Peer(out, [(bb, c)])


def k_conv_relu_pool(a, wt, bias, pos):
    # Halide dims: x (W, w, c, n), weights (s, r, c, o), output (q, p, o, n).
    X, Wt, Bs, Pos = buf(a), buf(wt), buf(bias), buf(pos)
    _, chans, h, wd = a.shape
    p, q = pos.shape
    xp = hl.Func("xpad")         # zero padding of the "same" convolution
    inside = (x >= 0) & (x < wd) & (y >= 0) & (y < h)
    xp[x, y, z, w] = hl.select(inside, X[hl.clamp(x, 0, wd - 1), hl.clamp(y, 0, h - 1), z, w],
                               fconst(0.0))
    r = hl.RDom([(0, 3), (0, 3), (0, chans)], "r")
    conv = hl.Func("conv")
    conv[x, y, z, w] = Bs[z]
    conv[x, y, z, w] = conv[x, y, z, w] + xp[x + r.x - 1, y + r.y - 1, r.z, w] * Wt[r.x, r.y,
                                                                                   r.z, z]
    act = hl.Func("act")
    act[x, y, z, w] = hl.select((x < wd) & (y < h),
                                hl.max(conv[hl.min(x, wd - 1), hl.min(y, h - 1), z, w],
                                       fconst(0.0)), fconst(0.0))
    out = hl.Func("conv_relu_pool")
    out[x, y, z, w] = hl.max(hl.max(act[2 * x, 2 * y, z, w], act[2 * x + 1, 2 * y, z, w]),
                             hl.max(act[2 * x, 2 * y + 1, z, w],
                                    act[2 * x + 1, 2 * y + 1, z, w])) + Pos[x, y]
    # The padded input once (a copy, so the inner loop has no selects); then one task per
    # (image, output channel): per pooled row, the two convolution rows it needs are
    # accumulated over (c, r, s) in 16-lane vectors along the row, then pooled.
    out.vectorize(x, VEC, hl.TailStrategy.GuardWithIf).fuse(z, w, z).parallel(z)
    xp.compute_root().vectorize(x, VEC, hl.TailStrategy.GuardWithIf).fuse(z, w, z).parallel(z)
    conv.compute_at(out, y).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    conv.update().reorder(x, y, r.x, r.y, r.z).vectorize(x, VEC, hl.TailStrategy.GuardWithIf)
    return Peer(out, [(a.shape[0], wt.shape[0], p, q)])


# ---------------------------------------------------------------------------------------------
# Losses: one partial result per row (rows in parallel, each in 16 lanes), then their sum.

def row_partials_loss(fn, rows, cols, name, extra=()):
    row, part = lane_reduce(fn, cols, [y], "sum", name + "_row")
    row.compute_root().parallel(y, 8)
    part.compute_at(row, y)
    for f in extra:
        f.compute_at(row, y)
    total = hl.Func(name)
    r = hl.RDom([(0, rows)], name + "_rows")
    total[()] = hl.sum(row[r.x]) / fconst(float(rows * cols))
    return total


def k_mse(p, t):
    P, T = buf(p), buf(t)
    loss = row_partials_loss(lambda i, j: (P[i, j] - T[i, j]) * (P[i, j] - T[i, j]),
                             p.shape[0], p.shape[1], "mse")
    return Peer(loss, [()])


def k_bce_logits(a, t):
    X, T = buf(a), buf(t)

    def term(i, j):
        v = X[i, j]
        return hl.max(v, fconst(0.0)) - v * T[i, j] + hl.log(fconst(1.0) + hl.exp(-hl.abs(v)))

    return Peer(row_partials_loss(term, a.shape[0], a.shape[1], "bce"), [()])


def k_huber(p, t):
    P, T = buf(p), buf(t)

    def term(i, j):
        d = hl.abs(P[i, j] - T[i, j])
        return hl.select(d < fconst(1.0), fconst(0.5) * d * d, d - fconst(0.5))

    return Peer(row_partials_loss(term, p.shape[0], p.shape[1], "huber"), [()])


def k_cross_entropy(logits, target):
    L, T = buf(logits), buf(target)
    rows, cols = logits.shape
    mx, mxp = lane_reduce(lambda i, j: L[i, j], cols, [y], "max", "mx")
    se, sep = lane_reduce(lambda i, j: hl.exp(L[i, j] - mx[j]), cols, [y], "sum", "se")
    lse = hl.Func("lse")
    lse[y] = mx[y] + hl.log(se[y])
    row, part = lane_reduce(lambda i, j: T[i, j] * (lse[j] - L[i, j]), cols, [y], "sum", "row")
    row.compute_root().parallel(y, 8)
    for f in (mx, mxp, se, sep, lse, part):
        f.compute_at(row, y)
    total = hl.Func("cross_entropy")
    r = hl.RDom([(0, rows)], "rows")
    total[()] = hl.sum(row[r.x]) / fconst(float(rows))
    return Peer(total, [()])


PEERS = {name[2:]: fn for name, fn in globals().items() if name.startswith("k_")}


def build(name, inputs):
    return PEERS[name](*inputs)
