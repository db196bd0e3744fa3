"""A kernel's stages, explanation and profile from Python, and the machine's ceilings."""
import numpy as np

import tdsl


def test_dump_and_explain(nn):
    assert "for " in nn.softmax.dump("loops")
    assert "define" in nn.softmax.dump("llvm")
    assert "softmax" in nn.softmax.explain()
    assert "softmax" in nn.explain()
    assert "# after" in nn.softmax.dump_after("simplify")


def test_profile(nn):
    x = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)
    p = nn.softmax.profile(x, runs=5, warmup=1, roofline=False)
    assert p["kernel"] == "softmax" and p["runs"] == 5 and len(p["times"]) == 5
    assert p["median_seconds"] > 0 and p["shape"] == {"N": 64, "D": 128}
    assert p["bytes"] == 2 * 64 * 128 * 4


def test_calibrate():
    c = tdsl.calibrate()
    assert c["peak_gflops_1"] > 0 and c["bandwidth_gbps_1"] > 0 and c["isa"]


def test_compile_from_a_path(tmp_path):
    path = tmp_path / "add.tdsl"
    path.write_text("kernel add(a: f32[N], b: f32[N]) -> c: f32[N] {\n    c[i] = a[i] + b[i]\n}\n")
    for source in (path, str(path)):
        m = tdsl.compile(source)
        np.testing.assert_array_equal(m.add(np.ones(3, np.float32), np.ones(3, np.float32)),
                                      np.full(3, 2, np.float32))
