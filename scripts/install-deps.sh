#!/usr/bin/env bash
# Installs tdsl's build and test dependencies from Debian's packages, and the Python package's
# (nanobind, scikit-build-core, NumPy, pytest) from PyPI into the venv .venv. Idempotent:
# packages already present are skipped, so a second run costs one dpkg query and one import.
set -euo pipefail

packages=(
  cmake ninja-build ccache g++ pkg-config
  llvm-19-dev llvm-19-tools libzstd-dev zlib1g-dev libxml2-dev libedit-dev libffi-dev libcurl4-openssl-dev
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev libdlpack-dev
  clang-format python3 python3-numpy libopenblas-dev
  python3-dev python3-venv # The Python package (python/): its module's headers, and .venv.
  chromium # Renders the roofline plot in tests/lit/explain/roofline.tdsl.
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Python package's build and test tools, in a venv of Debian's Python that the CMake build
# finds (python/CMakeLists.txt); PyPI has nanobind and scikit-build-core, Debian 12 does not.
cd "$(dirname "$0")/.."
python_packages=(nanobind scikit-build-core numpy pytest)
if ! .venv/bin/python -c "import nanobind, scikit_build_core, numpy, pytest" 2>/dev/null; then
  /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "${python_packages[@]}"
fi
