#!/usr/bin/env bash
# `pip install` as a user runs it, from this source tree into a fresh venv: pip builds the wheel
# (scikit-build-core and nanobind from PyPI, in pip's isolated build environment), installs it,
# and a kernel runs from another folder against NumPy. One build: the wheel pip builds is the
# one installed. Its build folder is SOURCE/build-wheel, at the depth of build/, and it compiles
# with build/'s compilers and flags, so that ccache (paths relative to the tree, as
# scripts/build.sh sets it) serves the C++ library that build/ compiled.
#   pip_install.sh SOURCE_DIR WORK_DIR CXX_COMPILER C_COMPILER
set -euo pipefail
source_dir=$(cd "$1" && pwd)
rm -rf "$2"
mkdir -p "$2"
work_dir=$(cd "$2" && pwd)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$source_dir} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
/usr/bin/python3 -m venv "$work_dir/venv"
pip=("$work_dir/venv/bin/pip" --disable-pip-version-check -q)
start=$(date +%s)
# The compilers and flags of scripts/build.sh's build (RelWithDebInfo rather than the package's
# Release, -Werror).
"${pip[@]}" wheel --no-deps -w "$work_dir/dist" --config-settings=build-dir="$source_dir/build-wheel" \
  --config-settings=cmake.build-type=RelWithDebInfo --config-settings=cmake.define.TDSL_WERROR=ON \
  --config-settings=cmake.define.CMAKE_CXX_COMPILER="$3" \
  --config-settings=cmake.define.CMAKE_C_COMPILER="$4" "$source_dir"
built=$(date +%s)
"${pip[@]}" install "$work_dir"/dist/tdsl-*.whl
echo "pip wheel: $((built - start)) s, pip install of the wheel: $(($(date +%s) - built)) s"
cd "$work_dir"
"$work_dir/venv/bin/python" - <<'PY'
import numpy as np
import tdsl

assert tdsl.__file__.startswith(__import__("os").getcwd()), tdsl.__file__
nn = tdsl.compile("kernel softmax(x: f32[N, D]) -> y: f32[N, D] {\n"
                  "    e[i, j] = exp(x[i, j] - max(x[i, k] for k))\n"
                  "    y[i, j] = e[i, j] / sum(e[i, k] for k)\n}")
x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
e = np.exp(x - x.max(axis=1, keepdims=True))
np.testing.assert_allclose(nn.softmax(x), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
print("installed tdsl runs softmax from", tdsl.__file__)
PY
