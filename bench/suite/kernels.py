"""The suite's kernels in one table: which file and class each is in, its inputs (shapes in the
kernel's symbols), and the sizes it is timed at (full, --quick) and checked at (small, odd).

Shared by bench/run_suite.py, the peers (peers_numpy.py, peers_halide.py) and the test that runs
every kernel small with `tdsl run --check` (tests/suite/check_suite.py). Standard library only.
"""
import os

SUITE_DIR = os.path.dirname(os.path.abspath(__file__))

CLASSES = ["elementwise", "rows", "columns", "permutations", "stencils", "contractions",
           "pooling", "losses"]

TITLES = {
    "elementwise": "Elementwise",
    "rows": "Rows (a reduction along each row)",
    "columns": "Columns (a reduction down each column)",
    "permutations": "Permutations of axes",
    "stencils": "Stencils and image pipelines",
    "contractions": "Contractions and contraction chains",
    "pooling": "Pooling",
    "losses": "Losses",
}


class Kernel:
    def __init__(self, name, cls, inputs, full, quick, small):
        self.name = name
        self.cls = cls
        self.file = os.path.join(SUITE_DIR, cls + ".tdsl")
        self.inputs = inputs    # [(param name, (dim, ...))]; a dim is a symbol or an int
        self.full = full        # symbol -> size, as timed by run_suite.py
        self.quick = quick      # symbol -> size, as timed by run_suite.py --quick
        self.small = small      # symbol -> size, odd where the kernel allows: the --check test

    def input_shapes(self, sizes):
        return [tuple(d if isinstance(d, int) else sizes[d] for d in dims)
                for _, dims in self.inputs]

    def shape_arg(self, sizes):
        """The `--shape` argument of tdsl run / bench: every symbol of the inputs."""
        symbols = sorted({d for _, dims in self.inputs for d in dims if isinstance(d, str)})
        return ",".join("%s=%d" % (s, sizes[s]) for s in symbols)

    def describe(self, sizes):
        """The sizes in words, as the table prints them: `x f32[4096, 4096]`, ..."""
        return ", ".join("%s[%s]" % (name, ", ".join(map(str, shape)))
                         for (name, _), shape in zip(self.inputs, self.input_shapes(sizes)))


def _k(name, cls, inputs, full, quick, small):
    return Kernel(name, cls, inputs, full, quick, small)


# Sizes: 16M elements or 4096 x 4096 f32 (64 MiB an input, twice the 32 MiB L3 of the machine
# in docs/performance.md) unless a kernel says otherwise.
_N = dict(full={"N": 1 << 24}, quick={"N": 1 << 20}, small={"N": 1001})
_RC = dict(full={"R": 4096, "C": 4096}, quick={"R": 1024, "C": 1024}, small={"R": 37, "C": 53})
_HW = dict(full={"H": 4096, "W": 4096}, quick={"H": 1024, "W": 1024}, small={"H": 29, "W": 43})
_NC = dict(full={"N": 4096, "C": 4096}, quick={"N": 1024, "C": 1024}, small={"N": 37, "C": 53})
_X, _RCX = [("x", ("N",))], [("x", ("R", "C"))]
_IMG = [("x", ("H", "W"))]
_POOL6 = [("x", ("B", "C", "P", 2, "Q", 2))]
_POOL_SIZES = dict(full={"B": 16, "C": 64, "P": 64, "Q": 64},
                   quick={"B": 4, "C": 32, "P": 32, "Q": 32},
                   small={"B": 3, "C": 5, "P": 7, "Q": 9})
_PAIR = [("p", ("N", "C")), ("t", ("N", "C"))]

KERNELS = [
    _k("gelu", "elementwise", _X, **_N),
    _k("silu", "elementwise", _X, **_N),
    _k("bias_relu", "elementwise", _RCX + [("b", ("C",))], **_RC),
    _k("adam", "elementwise", [(n, ("N",)) for n in "pgmv"], **_N),

    _k("softmax", "rows", _RCX, **_RC),
    _k("layernorm", "rows", _RCX + [("g", ("C",)), ("b", ("C",))], **_RC),
    _k("rmsnorm", "rows", _RCX + [("g", ("C",))], **_RC),
    _k("l2_normalize", "rows", _RCX, **_RC),

    _k("colsum", "columns", _RCX, **_RC),
    _k("standardize", "columns", _RCX, **_RC),
    _k("atx", "columns", [("a", ("R", "C")), ("x", ("R",))], **_RC),
    _k("softmax_cols", "columns", _RCX, **_RC),

    _k("transpose", "permutations", _RCX, **_RC),
    _k("nchw_to_nhwc", "permutations", [("x", ("B", "C", "H", "W"))],
       full={"B": 8, "C": 64, "H": 128, "W": 128}, quick={"B": 2, "C": 32, "H": 64, "W": 64},
       small={"B": 3, "C": 5, "H": 7, "W": 9}),
    _k("split_heads", "permutations", [("x", ("B", "S", "H", "D"))],
       full={"B": 8, "S": 1024, "H": 16, "D": 64}, quick={"B": 2, "S": 256, "H": 8, "D": 64},
       small={"B": 3, "S": 7, "H": 5, "D": 9}),
    _k("symmetrize", "permutations", [("x", ("N", "N"))],
       full={"N": 4096}, quick={"N": 1024}, small={"N": 37}),

    _k("blur3x3", "stencils", _IMG, **_HW),
    _k("unsharp", "stencils", _IMG, **_HW),
    _k("harris", "stencils", [("x", (3, "H", "W"))], **_HW),
    _k("laplacian", "stencils", _IMG, **_HW),
    _k("sobel", "stencils", _IMG, **_HW),

    _k("matvec", "contractions", [("a", ("R", "C")), ("x", ("C",))], **_RC),
    _k("batched_matmul", "contractions", [("a", ("B", "M", "K")), ("b", ("B", "K", "N"))],
       full={"B": 256, "M": 64, "K": 64, "N": 64}, quick={"B": 64, "M": 64, "K": 64, "N": 64},
       small={"B": 3, "M": 7, "K": 5, "N": 9}),
    _k("gram", "contractions", [("x", ("R", "C"))],
       full={"R": 4096, "C": 256}, quick={"R": 1024, "C": 128}, small={"R": 37, "C": 11}),
    _k("attention", "contractions", [(n, ("B", "T", "E")) for n in "qkv"],
       full={"B": 8, "T": 1024, "E": 64}, quick={"B": 2, "T": 256, "E": 64},
       small={"B": 3, "T": 13, "E": 7}),
    _k("mlp", "contractions", [("x", ("M", "D")), ("w1", ("D", "F")), ("w2", ("F", "D"))],
       full={"M": 1024, "D": 512, "F": 2048}, quick={"M": 256, "D": 128, "F": 512},
       small={"M": 11, "D": 7, "F": 13}),

    _k("maxpool2x2", "pooling", _POOL6, **_POOL_SIZES),
    _k("avgpool2x2", "pooling", _POOL6, **_POOL_SIZES),
    _k("global_avgpool", "pooling", [("x", ("B", "C", "H", "W"))],
       full={"B": 64, "C": 256, "H": 32, "W": 32}, quick={"B": 8, "C": 64, "H": 32, "W": 32},
       small={"B": 3, "C": 5, "H": 7, "W": 9}),
    _k("conv_relu_pool", "pooling",
       [("x", ("B", "C", "H", "W")), ("w", ("O", "C", 3, 3)), ("bias", ("O",)),
        ("pos", ("P", "Q"))],
       full={"B": 8, "C": 32, "O": 32, "H": 128, "W": 128, "P": 64, "Q": 64},
       quick={"B": 2, "C": 16, "O": 16, "H": 64, "W": 64, "P": 32, "Q": 32},
       small={"B": 3, "C": 5, "O": 7, "H": 15, "W": 11, "P": 7, "Q": 5}),

    _k("cross_entropy", "losses", [("logits", ("N", "C")), ("target", ("N", "C"))], **_NC),
    _k("mse", "losses", _PAIR, **_NC),
    _k("bce_logits", "losses", [("x", ("N", "C")), ("t", ("N", "C"))], **_NC),
    _k("huber", "losses", _PAIR, **_NC),
]

BY_NAME = {k.name: k for k in KERNELS}
