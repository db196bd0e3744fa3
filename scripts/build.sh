#!/usr/bin/env bash
# Configures and builds tdsl in build/ (or $TDSL_BUILD_DIR) with ninja and ccache.
# Extra arguments go to cmake, e.g. -DTDSL_SANITIZE=address,undefined.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TDSL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${TDSL_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
ninja -C "$build_dir"
