#!/usr/bin/env python3
"""Fits the polynomial coefficients of the inline f32 math (codegen/llvm/InlineMath.cpp).

Each fit is a weighted minimax one (Lawson's iteration over weighted least squares on a dense
grid), for the error the coefficients leave in the final f32 result. The coefficients are then
rounded to f32 one at a time, from the lowest order, and the ones not yet rounded are refitted,
so that the rounding of the early (large) ones is compensated by the later ones.

    python3 scripts/fit_inline_math.py tanh|log|erf-small|erf-large

prints the coefficients (lowest order first) and, on stderr, the weighted error after each
rounding. Needs numpy and mpmath (for the reference values).
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 40


def f32(v):
    return float(np.float32(v))


def lawson(basis, target, weight, iterations=400):
    """Coefficients minimizing max |weight * (basis @ c - target)|."""
    lam = np.full(len(target), 1.0 / len(target))
    for _ in range(iterations):
        w = np.sqrt(lam) * weight
        c, *_ = np.linalg.lstsq(basis * w[:, None], target * w, rcond=None)
        err = np.abs(weight * (basis @ c - target))
        lam = lam * err
        lam /= lam.sum()
    return c, err.max()


def fit(nodes, target, weight, degree):
    """c_0..c_degree of sum c_i nodes^i ~ target, rounded to f32 one by one."""
    coeffs = []
    while len(coeffs) <= degree:
        n = len(coeffs)
        basis = np.stack([nodes**i for i in range(n, degree + 1)], axis=1)
        rest = target - sum(c * nodes**i for i, c in enumerate(coeffs))
        c, err = lawson(basis, rest, weight)
        coeffs.append(f32(c[0]))
        print(f"c{n} = {coeffs[-1]!r}  (weighted error {err:.3e})", file=sys.stderr)
    return coeffs


def grid(lo, hi, n=4000):
    """Uniform and Chebyshev-clustered points of [lo, hi]."""
    cheb = lo + (hi - lo) * (1 - np.cos(np.linspace(0, np.pi, n))) / 2
    return np.unique(np.concatenate([np.linspace(lo, hi, n), cheb]))


def values(fn, xs):
    return np.array([float(fn(mp.mpf(float(v)))) for v in xs])


def tanh_expm1():
    # exp(r) - 1 = r + r^2 (1/2 + r Q(r)) on |r| <= ln2/2, relative error: Q of degree 3.
    r = grid(-0.3466, 0.3466)
    r = r[np.abs(r) > 1e-5]
    q = values(lambda v: (mp.expm1(v) - v - v**2 / 2) / v**3, r)
    return fit(r, q, np.abs(r**3 / np.expm1(r)), 3)


def log1p():
    # log1p(f) = f - f^2/2 + f^3 P(f) on [sqrt(1/2) - 1, sqrt(2) - 1], relative error: degree 7.
    f = grid(-0.2929, 0.4143)
    f = f[np.abs(f) > 1e-5]
    p = values(lambda v: (mp.log1p(v) - v + v**2 / 2) / v**3, f)
    return fit(f, p, np.abs(f**3 / np.log1p(f)), 7)


def erf_small():
    # erf(a) = a + a R(a^2) on [0, 1], relative error: R of degree 6.
    a = grid(1e-4, 1.0)
    r = values(lambda v: mp.erf(v) / v - 1, a)
    return fit(a * a, r, a / values(mp.erf, a), 6)


def erf_large():
    # erf(a) = 1 - exp(L(a)) on [1, 3.92]: L ~ log(erfc(a)), weighted by erfc(a) / erf(a).
    a = grid(1.0, 3.92, 3000)
    target = values(lambda v: mp.log(mp.erfc(v)), a)
    return fit(a, target, values(lambda v: mp.erfc(v) / mp.erf(v), a), 8)


if __name__ == "__main__":
    fits = {"tanh": tanh_expm1, "log": log1p, "erf-small": erf_small, "erf-large": erf_large}
    if len(sys.argv) != 2 or sys.argv[1] not in fits:
        sys.exit("usage: fit_inline_math.py " + "|".join(fits))
    print(fits[sys.argv[1]]())
