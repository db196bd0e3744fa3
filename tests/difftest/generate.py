#!/usr/bin/env python3
"""Random valid .tdsl programs for differential testing (compiled code vs the interpreter).

Each program has one or two kernels: sometimes a helper kernel that the main kernel calls, then
the main kernel, built from random statements over a few inputs with the shape symbols N, M, K:
elementwise whole-array expressions with broadcasting, index-form definitions with stencils
(`??` defaults; chains, and sibling box sums over two producers), reversed and strided reads,
every reduction, contractions (index form and `@`), scalar reductions, calls, shape arithmetic
(pooling, flattening, `%` wrap-around), triangular reductions and prefix scans (`for r <= j`,
lagged bounds, along either dim), and gathers through an index input `ix` (with and without
`??`, indices in and out of range).
`argmax`/`argmin` along either dim (over a triangular bound too).
dtypes: f32, f64, f16, bf16, i32, i64, and the small integers u8, i8, i16 (NumPy's wrapping
arithmetic, literals past the middle of their range, saturating casts from floats); bool
intermediates.

    generate.py --seed S --count N --out DIR     # writes DIR/prog_<seed>_<k>.tdsl
    generate.py --seed S                         # one program on stdout

The generator only writes programs the language accepts; the driver (tdsl-difftest) reports a
program that does not compile as INVALID, which is a generator bug or a compiler bug to look at.
"""
import argparse
import os
import random

FLOATS = ["f32", "f64", "f16", "bf16"]
INTS = ["i32", "i64"]
SMALL_INTS = ["u8", "i8", "i16"]
# Literals that wrap when added or multiplied, one per small integer dtype (in its range).
LARGE_LITERAL = {"u8": "200", "i8": "100", "i16": "30000"}

# Input templates: name -> dims.
INPUT_TEMPLATES = [
    ("x", ("N", "M")),
    ("y", ("M",)),
    ("z", ("N", "1")),
    ("w", ("M", "K")),
    ("v", ("N",)),
    ("s", ()),
    ("u", ("N", "M")),
    ("ch", ("N", "3")),
]


def broadcast(a, b):
    """NumPy broadcasting of two shapes of symbols; None when incompatible."""
    out = []
    for i in range(max(len(a), len(b))):
        da = a[len(a) - 1 - i] if i < len(a) else "1"
        db = b[len(b) - 1 - i] if i < len(b) else "1"
        if da == db or db == "1":
            out.append(da)
        elif da == "1":
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


class Gen:
    def __init__(self, rng, dtype):
        self.rng = rng
        self.dtype = dtype
        self.is_float = dtype in FLOATS
        self.counter = 0

    def fresh(self, prefix="t"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def lit(self):
        r = self.rng
        if self.is_float:
            return r.choice(["0.5", "2.0", "1.5", "-0.25", "3.0", "0.0", "1e-3", "7.0", "1"])
        if self.dtype == "u8":  # A negative literal is out of u8's range (E062).
            return r.choice(["1", "2", "3", "5", "0", "7", "4", LARGE_LITERAL["u8"]])
        large = [LARGE_LITERAL[self.dtype]] if self.dtype in LARGE_LITERAL else []
        return r.choice(["1", "2", "3", "-1", "5", "0", "7", "-4"] + large)

    def low(self):
        """A small literal below most values, in every dtype's range."""
        return "3" if self.dtype == "u8" else "-3"

    def costly(self, e):
        """A value of `e` too costly to inline at several reads (a stencil's producer)."""
        if self.is_float:
            return f"({e} * {e} + 1.0) / ({self.unary(e)} * {e} + 3.0)"
        return f"({e} * {e} + {e} * 3 - 7) // 5 + ({e} % 7) * {e}"

    # ---- scalar-valued (per element) expressions built from "leaf" strings -------------------
    def unary(self, e):
        r = self.rng
        if self.is_float:
            # No erf and no cast to int: erf saturates to exactly 1.0 in f32 but not in f64, and
            # a discontinuous function after it (floor, i32 truncation) then differs by 1
            # between compiled f32 code and the f64 interpreter: false mismatches.
            f = r.choice(["exp", "tanh", "sigmoid", "sin", "cos", "abs", "relu", "floor", "ceil",
                          "round", "sqrt_abs", "log_abs", "rsqrt_abs", "exp2", "log2_abs",
                          "neg", "square"])
            if f == "sqrt_abs":
                return f"sqrt(abs({e}))"
            if f == "log_abs":
                return f"log(abs({e}) + 1.0)"
            if f == "log2_abs":
                return f"log2(abs({e}) + 0.5)"
            if f == "rsqrt_abs":
                return f"rsqrt(abs({e}) + 1.0)"
            if f == "exp":
                return f"exp(clamp({e}, -5.0, 5.0))"
            if f == "exp2":
                return f"exp2(clamp({e}, -5.0, 5.0))"
            if f == "neg":
                return f"(-{e})"
            if f == "square":
                return f"({e}) ** 2"
            if f == "cast_i32":
                return f"{self.dtype}(i32({e} * 4.0))"
            return f"{f}({e})"
        f = r.choice(["abs", "neg", "relu", "pow2", "pow3", "cast_f", "cast_other"])
        if f == "neg":
            return f"(-{e})"
        if f == "pow2":
            return f"({e}) ** 2"
        if f == "pow3":
            return f"({e}) ** 3"
        if f == "cast_f" and self.dtype in SMALL_INTS:
            # f32 holds every small integer and its product by 2.5 exactly; the cast back
            # saturates at the dtype's range.
            return f"{self.dtype}(f32({e}) * 2.5)"
        if f == "cast_f":
            # Clamped so that f32 holds the value and its product by 2.5 exactly: the interpreter
            # multiplies in f64, compiled code in f32, and the cast back to an integer would
            # expose the f32 rounding of larger values (seeds 500231 and 500663, see
            # findings/f32_rounding_before_int_cast.md).
            return f"{self.dtype}(f32(min(max({e}, -1000000), 1000000)) * 2.5)"
        if f == "cast_other":
            other = "i64" if self.dtype == "i32" else "i32"
            return f"{self.dtype}({other}({e}) * 3)"
        return f"{f}({e})"

    def binary(self, a, b):
        r = self.rng
        # Functions of literals alone are typed f32 / i64 by sema (they do not adopt the other
        # operand's dtype like a bare literal does), so literals are folded here instead.
        lit = None
        try:
            lit = float(b)
        except ValueError:
            pass
        if self.is_float:
            op = r.choice(["+", "-", "*", "*", "/", "max", "min", "where", "pow", "//", "%"])
            if op == "/":
                return f"({a} / {abs(lit) + 0.5!r})" if lit is not None else \
                    f"({a} / (abs({b}) + 0.5))"
            if op == "pow":
                e = repr(min(max(lit, -2.0), 2.0)) if lit is not None else f"clamp({b}, -2.0, 2.0)"
                return f"pow(abs({a}) + 0.5, {e})"
            if op in ("//", "%"):
                # The divisor is kept small: a % d of a negative a is a + d, whose absolute
                # error grows with d (a prod of 64 terms, computed in f32 here and in f64 by the
                # interpreter, reached 445 in seed 510588 and missed the tolerance by 8x after
                # a further % 1.75; findings/float_mod_large_divisor.md).
                return f"({a} {op} {min(abs(lit), 8.0) + 0.75!r})" if lit is not None else \
                    f"({a} {op} (abs(clamp({b}, -8.0, 8.0)) + 0.75))"
        else:
            op = r.choice(["+", "-", "*", "*", "//", "%", "max", "min", "where", "clamp"])
            if op == "clamp":
                return f"clamp({a}, {self.low()}, {b})"
        if op in ("max", "min"):
            return f"{op}({a}, {b})"
        if op == "where":
            cmp = r.choice(["<", ">", "<=", ">=", "==", "!="])
            return f"where({a} {cmp} {b}, {a}, {b})"
        return f"({a} {op} {b})"

    def combine(self, leaves, depth):
        """A random expression tree over the given leaf strings (each used at least once)."""
        r = self.rng
        items = list(leaves)
        r.shuffle(items)
        while len(items) > 1:
            a = items.pop()
            if r.random() < 0.2:
                items.insert(0, self.binary(a, self.lit()))
                continue
            b = items.pop()
            items.append(self.binary(a, b))
        e = items[0]
        for _ in range(r.randint(0, depth)):
            if r.random() < 0.5:
                e = self.unary(e)
            else:
                e = self.binary(e, self.lit())
        return e


def gen_kernel(rng, name, dtype, inputs, n_stmts, helper=None, index_input=None):
    """Returns (source, outputs) of one kernel. inputs: list of (name, dims). index_input: None or
    the dtype (i32 or i64) of an input `ix: [N]` that gathers read their row indices from."""
    g = Gen(rng, dtype)
    env = {n: d for n, d in inputs}  # name -> dims
    stmts = []
    index_vars = {"N": "i", "M": "j", "K": "k"}
    lhs_nm = "i < N, j < M"  # Explicit extents: a stencil or reversed read alone infers none.

    def by_dims(pred):
        return [n for n, d in env.items() if pred(d)]

    def access(nm, dims, idx, allow_stencil=True):
        """t[...] with the index variables for each dim; '1' dims read 0; maybe offsets."""
        subs = []
        stencil = False
        for d in dims:
            if d == "1":
                subs.append("0")
                continue
            v = idx[d]
            kind = rng.random()
            if allow_stencil and kind < 0.15:
                off = rng.choice([-2, -1, 1, 2])
                subs.append(f"{v} + {off}" if off > 0 else f"{v} - {-off}")
                stencil = True
            elif allow_stencil and kind < 0.22:
                subs.append(f"{d} - 1 - {v}")
            else:
                subs.append(v)
        s = f"{nm}[{', '.join(subs)}]" if dims else nm
        if stencil:
            dflt = rng.choice(["0.0", "1.0", "-inf", "(2.0 * 0.5)"] if g.is_float else
                              ["0", "1", g.low()])
            if g.is_float and dflt == "-inf":
                dflt = "-1.0"  # keep values finite so tolerances stay meaningful
            s = f"{s} ?? {dflt}"
        return s

    for _ in range(n_stmts):
        kind = rng.choices(["elementwise", "index", "reduce_row", "contract", "matmul", "scalar",
                            "call", "bool", "transpose", "stencil_chain", "short_reduce",
                            "shape_arith", "scan", "gather", "stencil_siblings", "arg"],
                           weights=[4, 4, 3, 2, 1, 1, 2 if helper else 0, 1, 2, 2, 1, 2, 2,
                                    4 if index_input else 0, 2, 2])[0]
        target = g.fresh()
        if kind == "elementwise":
            names = list(env)
            rng.shuffle(names)
            chosen, shape = [], ()
            for n in names:
                b = broadcast(shape, env[n])
                if b is not None and len(chosen) < 3:
                    chosen.append(n)
                    shape = b
            if not chosen:
                continue
            expr = g.combine(chosen, 2)
            stmts.append(f"{target} = {expr}")
            env[target] = shape
        elif kind == "index" or kind == "bool":
            # Over [N, M]: read anything whose dims are a subset in order of (N, M) or with 1s.
            cands = by_dims(lambda d: all(x in ("N", "M", "1") for x in d) and
                            list(x for x in d if x != "1") in (["N", "M"], ["N"], ["M"], []))
            if not cands:
                continue
            chosen = rng.sample(cands, min(len(cands), rng.randint(1, 3)))
            leaves = [access(n, env[n], index_vars) for n in chosen]
            if rng.random() < 0.3:
                leaves.append(f"{dtype}(i - j)")
            expr = g.combine(leaves, 2)
            if kind == "bool":
                # A bool intermediate, then used through where.
                cmp = rng.choice(["<", ">", ">="])
                # Not against 1 or 0 for floats: tanh and sigmoid reach exactly 1 (and 0) in f32
                # long before they do in the interpreter's f64 (seed 600617,
                # findings/float_compare_saturated_tanh.md).
                bound = rng.choice(["0.5", "2.0", "-0.25", "0.75"]) if g.is_float else g.lit()
                stmts.append(f"{target}[{lhs_nm}] = {expr} {cmp} {bound}")  # bool: not in env
                t2 = g.fresh()
                a = access(chosen[0], env[chosen[0]], index_vars, allow_stencil=False)
                red = rng.choice(["", "max", "min"])
                if red:
                    stmts.append(f"{t2}[i] = {dtype}({red}({target}[i, j] for j < M))")
                    env[t2] = ("N",)
                else:
                    # The same for the equality: sigmoid is exactly 1 in f32 where f64 is not
                    # (seed 700108).
                    equal = rng.choice(["0.5", "2.0", "-0.25", "7.0"]) if g.is_float else g.lit()
                    stmts.append(f"{t2}[{lhs_nm}] = where({target}[i, j] and not ({a} == {equal}), "
                                 f"{a}, {g.lit()})")
                    env[t2] = ("N", "M")
                continue
            stmts.append(f"{target}[{lhs_nm}] = {expr}")
            env[target] = ("N", "M")
        elif kind == "gather":
            # Rows read through ix (random inputs read as a subscript hold valid row indices):
            # plain, inside a reduction, along the vector axis; with `??` at shifted indices
            # that leave the range; rarely shifted without one, so that the call fails (E093)
            # and must fail alike compiled and interpreted.
            cands = by_dims(lambda d: d in (("N", "M"), ("N",), ("N", "1")))
            if not cands:
                continue
            src = rng.choice(cands)
            dims = env[src]
            form = rng.random()
            if form < 0.4:
                row = "ix[i]"
            elif form < 0.85:
                row = rng.choice(["i64(ix[i]) + 1", "ix[i] - 2", "2 * ix[i] - 3",
                                  "i64(ix[N - 1 - i]) * i"])
            else:
                row = rng.choice(["ix[i] + 1", "N - i64(ix[i])"])
            rest = "".join(", 0" if d == "1" else ", j" for d in dims[1:])
            read = f"{src}[{row}{rest}]"
            if 0.4 <= form < 0.85:
                read = f"{read} ?? {g.lit()}"
            if rng.random() < 0.3:
                # Reduced over the gathered rows: [M] (or a scalar).
                red = rng.choice(["sum", "max", "min"])
                body = read.replace("ix[i]", "ix[k]").replace("ix[N - 1 - i]) * i",
                                                              "ix[N - 1 - k]) * k")
                body = body.replace("[i]", "[k]")
                if "j" in rest:
                    stmts.append(f"{target}[j < M] = {red}({body} for k < N)")
                    env[target] = ("M",)
                else:
                    stmts.append(f"{target} = {red}({body} for k < N)")
                    env[target] = ()
            else:
                other = [access(n, env[n], index_vars) for n in by_dims(lambda d: d == ("N", "M"))]
                leaves = [read] + rng.sample(other, min(len(other), rng.randint(0, 1)))
                stmts.append(f"{target}[{lhs_nm}] = {g.combine(leaves, 1)}")
                env[target] = ("N", "M")
        elif kind == "transpose":
            # Written [M, N] from reads at [i, j] (strided along the stores: locality tiles and
            # the in-register transpose), then sometimes read back across into [N, M].
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            chosen = rng.sample(cands, min(len(cands), rng.randint(1, 2)))
            expr = g.combine([access(n, env[n], index_vars) for n in chosen], 1)
            stmts.append(f"{target}[j < M, i < N] = {expr}")
            env[target] = ("M", "N")
            if rng.random() < 0.5:
                back = g.fresh()
                other = access(rng.choice(cands), ("N", "M"), index_vars)
                stmts.append(f"{back}[{lhs_nm}] = {g.binary(f'{target}[j, i]', other)}")
                env[back] = ("N", "M")
        elif kind == "stencil_chain":
            # A producer too costly to inline, read by the next statement at rows i + c: computed
            # per block of the reader's rows with its halo (a window).
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = access(rng.choice(cands), ("N", "M"), index_vars)
            stmts.append(f"{target}[{lhs_nm}] = {g.costly(src)}")
            env[target] = ("N", "M")
            offsets = sorted(rng.sample([-2, -1, 0, 1, 3], rng.randint(2, 3)))
            reads = []
            for off in offsets:
                row = "i" if off == 0 else (f"i + {off}" if off > 0 else f"i - {-off}")
                col = rng.choice(["j", "j", f"M - 1 - j"])
                read = f"{target}[{row}, {col}]"
                reads.append(read if off == 0 else f"{read} ?? {g.lit()}")
            chain = g.fresh()
            stmts.append(f"{chain}[{lhs_nm}] = {g.combine(reads, 1)}")
            env[chain] = ("N", "M")
        elif kind == "stencil_siblings":
            # Two costly producers of one group (they read the same rows), each read by its own
            # box sum over rows i + r + c: the sums are siblings, and both producers are computed
            # per block of the sums' rows into windows.
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = access(rng.choice(cands), ("N", "M"), index_vars, allow_stencil=False)
            producers = [target, g.fresh()]
            for producer in producers:
                stmts.append(f"{producer}[{lhs_nm}] = {g.costly(src)}")
                env[producer] = ("N", "M")
            sums = []
            for producer in producers:
                low = rng.choice([-2, -1, 0])
                row = "i + r" if low == 0 else f"i + r - {-low}"
                total = g.fresh()
                extent = rng.randint(1, 3)
                stmts.append(f"{total}[{lhs_nm}] = sum({producer}[{row}, j] ?? {g.lit()} * "
                             f"{producer}[i, j] for r < {extent})")
                env[total] = ("N", "M")
                sums.append(total)
            both = g.fresh()
            stmts.append(f"{both}[{lhs_nm}] = {g.combine([f'{t}[i, j]' for t in sums], 1)}")
            env[both] = ("N", "M")
        elif kind == "shape_arith":
            # Shape arithmetic: rows pooled by 2 into N // 2, strided into (N + 1) // 2, [N, M]
            # flattened into N * M (and read back at M * i + j), rows and columns wrapped by %.
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = rng.choice(cands)
            form = rng.choice(["pool", "stride", "flatten", "wrap"])
            if form == "pool":
                red = rng.choice(["sum", "max", "min"])
                stmts.append(f"{target}[i < N // 2, j < M] = {red}({src}[2 * i + r, j] for r < 2)")
                env[target] = ("N // 2", "M")
            elif form == "stride":
                odd = f"{src}[2 * i + 1, M - 1 - j] ?? {g.lit()}"
                stmts.append(f"{target}[i < (N + 1) // 2, j < M] = "
                             f"{g.binary(f'{src}[2 * i, j]', odd)}")
                env[target] = ("(N + 1) // 2", "M")
            elif form == "flatten":
                stmts.append(f"{target}[p < N * M] = {g.unary(f'{src}[p // M, p % M]')}")
                env[target] = ("N * M",)
                if rng.random() < 0.6:
                    back = g.fresh()
                    other = access(rng.choice(cands), ("N", "M"), index_vars)
                    stmts.append(f"{back}[{lhs_nm}] = {g.binary(f'{target}[M * i + j]', other)}")
                    env[back] = ("N", "M")
            else:
                wrapped = g.binary(f"{src}[i, (j + 1) % M]", f"{src}[(i + N - 1) % N, j]")
                stmts.append(f"{target}[{lhs_nm}] = {wrapped}")
                env[target] = ("N", "M")
        elif kind == "short_reduce":
            # Over the 3 channels of each row: vectorized along i, the strided reads of the
            # channels read together as contiguous vectors split by shuffles.
            cands = by_dims(lambda d: d == ("N", "3"))
            if not cands:
                continue
            red = rng.choice(["sum", "max", "min"] + (["mean"] if g.is_float else []))
            inner = g.unary(f"{rng.choice(cands)}[i, c]") if rng.random() < 0.5 else \
                f"{rng.choice(cands)}[i, c]"
            stmts.append(f"{target}[i < N] = {red}({inner} for c)")
            env[target] = ("N",)
        elif kind == "reduce_row":
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = rng.choice(cands)
            reds = ["sum", "prod", "max", "min"] + (["mean"] if g.is_float else [])
            red = rng.choice(reds)
            inner = access(src, env[src], {"N": "i", "M": "r"})
            if red == "prod" and g.is_float:
                inner = f"(1.0 + 0.1 * tanh({inner}))"
            elif rng.random() < 0.5:
                inner = g.unary(inner)
            axis = rng.random()
            if axis < 0.6:
                stmts.append(f"{target}[i < N] = {red}({inner} for r < M)")
                env[target] = ("N",)
            else:
                inner = access(src, env[src], {"N": "r", "M": "j"})
                if red == "prod" and g.is_float:
                    inner = f"(1.0 + 0.1 * tanh({inner}))"
                stmts.append(f"{target}[j < M] = {red}({inner} for r < N)")
                env[target] = ("M",)
            # Use it in a normalization-like step sometimes.
            if rng.random() < 0.5 and env[target] == ("N",):
                t2 = g.fresh()
                stmts.append(f"{t2}[{lhs_nm}] = {g.binary(access(src, env[src], index_vars), target + '[i]')}")
                env[t2] = ("N", "M")
        elif kind == "scan":
            # A triangular bound: a prefix scan along either dim, sometimes lagged (no points at
            # the start), or a triangular reduction whose body reads the bounding index.
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = rng.choice(cands)
            red = rng.choice(["sum", "prod", "max", "min"] + (["mean"] if g.is_float else []))
            bound = rng.choice(["<= {v}", "< {v} + 1", "< {v}", "< {v} - 2", "<= {v} - 1"])
            along_first = rng.random() < 0.3
            v = "i" if along_first else "j"
            inner = access(src, env[src], {"N": "r", "M": "j"} if along_first else
                           {"N": "i", "M": "r"}, allow_stencil=False)
            if rng.random() < 0.3:
                inner = g.binary(inner, access(src, env[src], index_vars, allow_stencil=False))
            elif rng.random() < 0.5:
                inner = g.unary(inner)
            if red == "prod" and g.is_float:
                inner = f"(1.0 + 0.1 * tanh({inner}))"
            stmts.append(f"{target}[{lhs_nm}] = {red}({inner} for r {bound.format(v=v)})")
            env[target] = ("N", "M")
        elif kind == "arg":
            # argmax / argmin along a row, a column or a triangular prefix of the row; floor and
            # round in the body make ties (the first position wins), a row of zero points gives
            # -1 (a wrapped 255 in u8). The i64 position is cast to the kernel's dtype.
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            src = rng.choice(cands)
            op = rng.choice(["argmax", "argmin"])
            form = rng.choice(["row", "row", "column", "prefix"])
            idx = {"N": "r", "M": "j"} if form == "column" else {"N": "i", "M": "r"}
            inner = access(src, env[src], idx)
            if g.is_float and rng.random() < 0.4:
                inner = f"{rng.choice(['floor', 'round'])}({inner} * 2.0)"
            elif rng.random() < 0.4:
                inner = g.unary(inner)
            if form == "row":
                stmts.append(f"{target}[i < N] = {dtype}({op}({inner} for r < M))")
                env[target] = ("N",)
            elif form == "column":
                stmts.append(f"{target}[j < M] = {dtype}({op}({inner} for r < N))")
                env[target] = ("M",)
            else:
                bound = rng.choice(["<= j", "< j"])
                stmts.append(f"{target}[{lhs_nm}] = {dtype}({op}({inner} for r {bound}))")
                env[target] = ("N", "M")
        elif kind == "contract":
            a = by_dims(lambda d: d == ("N", "M"))
            b = by_dims(lambda d: d == ("M", "K"))
            if not a or not b:
                continue
            aa, bb = rng.choice(a), rng.choice(b)
            red = rng.choice(["sum", "sum", "max", "min"])
            stmts.append(f"{target}[i, k] = {red}({aa}[i, r] * {bb}[r, k] for r < M)")
            env[target] = ("N", "K")
        elif kind == "matmul":
            a = by_dims(lambda d: d == ("N", "M"))
            b = by_dims(lambda d: d == ("M", "K"))
            c = by_dims(lambda d: d == ("M",))
            if a and b:
                stmts.append(f"{target} = {rng.choice(a)} @ {rng.choice(b)}")
                env[target] = ("N", "K")
            elif a and c:
                stmts.append(f"{target} = {rng.choice(a)} @ {rng.choice(c)}")
                env[target] = ("N",)
            else:
                continue
        elif kind == "scalar":
            cands = by_dims(lambda d: d == ("N", "M"))
            if not cands:
                continue
            red = rng.choice(["sum", "max", "min"] + (["mean"] if g.is_float else []))
            src = rng.choice(cands)
            stmts.append(f"{target} = {red}({src}[p, q] for p < N, q < M)")
            env[target] = ()
        elif kind == "call":
            hname, hparams, hout_dims = helper
            args = []
            ok = True
            for pdims in hparams:
                c = by_dims(lambda d, pdims=pdims: d == pdims)
                if not c:
                    ok = False
                    break
                args.append(rng.choice(c))
            if not ok:
                continue
            stmts.append(f"{target} = {hname}({', '.join(args)})")
            env[target] = hout_dims
    # Outputs: the last one or two definitions (distinct), plus maybe a pass-through expression.
    defined = [s.split("[")[0].split("=")[0].strip() for s in stmts]
    defined = [d for d in defined if d in env]  # Bool intermediates are not outputs.
    if not defined:
        src = rng.choice(list(env))
        stmts.append(f"t0 = {g.unary(src)}")
        defined = ["t0"]
        env["t0"] = env[src]
    outs = [defined[-1]]
    if len(defined) > 1 and rng.random() < 0.4:
        outs.append(rng.choice(defined[:-1]))
    outs = list(dict.fromkeys(outs))
    out_decls = []
    # Outputs are assigned from their definitions at the end (a definition may be read later).
    body = stmts + [f"out{k} = {o}" for k, o in enumerate(outs)]
    for k, o in enumerate(outs):
        dims = env[o]
        out_decls.append(f"out{k}: {dtype}[{', '.join(dims)}]" if dims else f"out{k}: {dtype}")
    params = ", ".join(f"{n}: {dtype}[{', '.join(d)}]" if d else f"{n}: {dtype}"
                       for n, d in inputs)
    if index_input:
        params += f", ix: {index_input}[N]"
    outs_s = out_decls[0] if len(out_decls) == 1 else "(" + ", ".join(out_decls) + ")"
    src = f"kernel {name}({params}) -> {outs_s} {{\n"
    src += "".join(f"    {s}\n" for s in body)
    src += "}\n"
    return src, [env[o] for o in outs]


def gen_program(seed):
    rng = random.Random(seed)
    dtype = rng.choice(["f32", "f32", "f32", "f64", "f16", "bf16", "i32", "i32", "i64"] +
                       SMALL_INTS)
    out = f"# generated by tests/difftest/generate.py --seed {seed}\n"
    helper = None
    if rng.random() < 0.35:
        hin = [INPUT_TEMPLATES[0]] + rng.sample(INPUT_TEMPLATES[1:3], rng.randint(0, 2))
        hsrc, houts = gen_kernel(rng, "helper", dtype, hin, rng.randint(1, 3))
        if len(houts) == 1:
            out += hsrc + "\n"
            helper = ("helper", [d for _, d in hin], houts[0])
    n_in = rng.randint(1, 4)
    inputs = [INPUT_TEMPLATES[0]] + rng.sample(INPUT_TEMPLATES[1:], n_in - 1)
    index_input = rng.choice(INTS) if rng.random() < 0.35 else None
    src, _ = gen_kernel(rng, "main", dtype, inputs, rng.randint(1, 8), helper, index_input)
    return out + src


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    if not args.out:
        for k in range(args.count):
            print(gen_program(args.seed + k))
        return
    os.makedirs(args.out, exist_ok=True)
    for k in range(args.count):
        with open(os.path.join(args.out, f"prog_{args.seed + k}.tdsl"), "w") as f:
            f.write(gen_program(args.seed + k))


if __name__ == "__main__":
    main()
