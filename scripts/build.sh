#!/usr/bin/env bash
# Configures and builds tdsl in build/ (or $TDSL_BUILD_DIR) with ninja and ccache.
# Extra arguments go to cmake, e.g. -DTDSL_SANITIZE=address,undefined. The settings match
# CMakePresets.json: `dev` is this with -DTDSL_WERROR=ON (scripts/test.sh), `asan` this with
# TDSL_BUILD_DIR=build-asan TDSL_BUILD_TYPE=Debug and -DTDSL_SANITIZE=address,undefined (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TDSL_BUILD_DIR:-build}
# Paths relative to the tree in ccache's keys, so that another build folder of the same tree
# (pip's, tests/python/pip_install.sh) hits what this one compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${TDSL_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
ninja -C "$build_dir"
