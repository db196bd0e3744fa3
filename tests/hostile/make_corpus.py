#!/usr/bin/env python3
"""Writes the hostile-input corpus: inputs that must each give a clean non-zero exit with a
message (never a crash, a hang or a stack overflow). Files named valid_* are valid (empty) files:
`tdsl check` accepts them, `tdsl run` says there is no kernel to run.

    make_corpus.py OUT_DIR

The small cases are also checked in next to this script (*.tdsl); the large ones (megabytes) are
only generated, deterministically, so the repository stays small.
"""
import os
import random
import sys


def cases():
    rng = random.Random(7)
    yield "junk_binary.tdsl", bytes(rng.randrange(256) for _ in range(65536))
    yield "junk_printable.tdsl", "".join(rng.choice("()[]{}<>=+-*/%@?#;:,.\n \tkernelforsumx0123456789")
                                         for _ in range(65536)).encode()
    yield "nested_parens_100k.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = " +
                                      b"(" * 100000 + b"x" + b")" * 100000 + b"\n}\n")
    yield "nested_parens_unclosed.tdsl", b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = " + b"(" * 100000
    yield "nested_brackets_100k.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y[i] = x" +
                                        b"[" * 100000 + b"i" + b"]" * 100000 + b"\n}\n")
    yield "nested_unary_100k.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = " + b"-" * 100000 +
                                     b"x\n}\n")
    yield "nested_not_100k.tdsl", (b"kernel k(x: bool[N]) -> y: bool[N] {\n    y = " +
                                   b"not " * 100000 + b"x\n}\n")
    yield "long_chain_100k.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x" + b" + x" * 100000 +
                                   b"\n}\n")
    yield "long_pow_chain.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x" + b" ** x" * 50000 +
                                  b"\n}\n")
    yield "nested_calls_100k.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = " + b"exp(" * 100000 +
                                     b"x" + b")" * 100000 + b"\n}\n")
    # Shape arithmetic nested near the parser's limit: printing, comparing and bounding these
    # forms must cost time polynomial in their depth (each is an unprovable access: E055).
    nested = "i"
    for _ in range(240):
        nested = f"({nested} // W)"
    yield "nested_floor_divisions.tdsl", (f"kernel k(x: f32[H, W]) -> y: f32[H * W] {{\n"
                                          f"    y[i] = x[{nested}, i % W]\n}}\n").encode()
    nested = "i"
    for k in range(120):
        nested = f"({nested} % (W + {k}) + H // 2)"
    yield "nested_remainders.tdsl", (f"kernel k(x: f32[H, W]) -> y: f32[H * W] {{\n"
                                     f"    y[i] = x[{nested}, i % W]\n}}\n").encode()
    dim = "H"
    for _ in range(120):
        dim = f"({dim} // 3 + W % 2)"
    yield "nested_dim_divisions.tdsl", (f"kernel k(x: f32[H, W]) -> y: f32[{dim}] {{\n"
                                        f"    y[i] = x[i // W, i % W]\n}}\n").encode()
    yield "nested_reductions.tdsl", (b"kernel k(x: f32[N]) -> y: f32 {\n    y = " +
                                     b"".join(b"sum(x[i%d] * " % d for d in range(3000)) + b"1.0" +
                                     b"".join(b" for i%d)" % d for d in range(3000)) + b"\n}\n")
    ident = b"a" * (1 << 20)
    yield "megabyte_identifier.tdsl", (b"kernel " + ident + b"(x: f32[N]) -> y: f32[N] {\n    y = " +
                                       ident + b"\n}\n")
    yield "megabyte_identifier_undefined.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x + " +
                                                 ident + b"\n}\n")
    yield "megabyte_line_comment.tdsl", b"#" + b"c" * (1 << 20) + b"\nkernel k(x: f32[N]) -> y: f32[N] {\n  y = q\n}\n"
    # Errors far into one megabyte line: each diagnostic must cost no more than a window of it.
    yield "megabyte_line_error_in_middle.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = " +
                                                 b" " * (1 << 20) + b"x + undefined_q +" +
                                                 b" " * (1 << 20) + b"x\n}\n")
    yield "megabyte_line_many_errors.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] { " +
                                             b"t = x + * ; " * 100000 + b"y = x }\n")
    yield "megabyte_line_many_sema_errors.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] { " +
                                                  b"".join(b"t%d = q%d ; " % (i, i) for i in range(60000)) +
                                                  b"y = x }\n")
    yield "huge_int_literal.tdsl", (b"kernel k(x: i64[N]) -> y: i64[N] {\n    y = x + " + b"9" * 100000 +
                                    b"\n}\n")
    yield "huge_float_literal.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x + 1e" + b"9" * 100000 +
                                      b" + undefined_name\n}\n")
    yield "huge_extent.tdsl", (b"kernel k(x: f32[N]) -> y: f32 {\n    y = sum(x[0] ?? 0.0 for k < " +
                               b"9" * 1000 + b") + q\n}\n")
    yield "huge_shape_literal.tdsl", (b"kernel k(x: f32[99999999999999999999999999]) -> y: f32[N] {\n"
                                      b"    y = x\n}\n")
    yield "nul_bytes.tdsl", b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x\x00 + 1\n}\n"
    yield "all_nul.tdsl", b"\x00" * 100000
    yield "invalid_utf8.tdsl", b"kernel k(x: f32[N]) -> y: f32[N] {\n    y = x \xff\xfe\xc3\x28 + 1\n}\n"
    yield "invalid_utf8_in_comment.tdsl", b"# \xed\xa0\x80 surrogate \xc0\xaf overlong\nkernel k(x: f32[N]) -> y: f32[N] { y = x }\n"
    yield "utf8_identifier.tdsl", "kernel k(x: f32[N]) -> y: f32[N] {\n    ψ = x\n    y = ψ\n}\n".encode()
    yield "valid_bom_only.tdsl", b"\xef\xbb\xbf"
    yield "valid_empty.tdsl", b""
    yield "valid_only_comment.tdsl", b"# nothing here\n"
    yield "thousands_of_syntax_errors.tdsl", b"".join(
        b"kernel k%d(x: f32[N]) -> y: f32[N] { y = x + * ; z = ) }\n" % i for i in range(5000))
    yield "thousands_of_sema_errors.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n" + b"".join(
        b"    t%d = x + undefined%d\n" % (i, i) for i in range(5000)) + b"    y = x\n}\n")
    yield "thousands_of_kernels_errors.tdsl", b"".join(
        b"kernel k%d(x: f32[N]) -> y: i32[N] {\n    y = x * 2.0\n}\n" % i for i in range(3000))
    yield "many_statements_unterminated.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n" +
                                                b"    t = x\n" * 20000)
    yield "unterminated_header.tdsl", b"kernel k(x: f32[N"
    yield "crlf_and_cr.tdsl", b"kernel k(x: f32[N]) -> y: f32[N] {\r\n    y = x +\r    z\r\n}\r\n"
    yield "many_params.tdsl", (b"kernel k(" + b", ".join(b"p%d: f32[N%d]" % (i, i) for i in range(20000)) +
                               b") -> y: f32[Q] {\n    y = p0\n}\n")
    yield "many_subscripts.tdsl", (b"kernel k(x: f32[N]) -> y: f32[N] {\n    y[i] = x[" +
                                   b", ".join(b"i" for _ in range(50000)) + b"]\n}\n")
    yield "tab_and_control_chars.tdsl", b"kernel k(x: f32[N]) -> y: f32[N] {\n\t\x01\x02\x1b[31m y = x\n}\n"


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in cases():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
