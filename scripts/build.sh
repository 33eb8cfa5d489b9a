#!/usr/bin/env bash
# Installs what is missing, then configures and builds Strata in build/.
# Extra arguments go to CMake's configure step (e.g. -DSTRATA_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build
