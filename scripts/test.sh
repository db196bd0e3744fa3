#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, end-to-end, golden) with ctest.
# Warnings are errors here, as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DTDSL_WERROR=ON "$@"
ctest --test-dir "${TDSL_BUILD_DIR:-build}" --output-on-failure -j"$(nproc)"
