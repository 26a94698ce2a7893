#!/usr/bin/env bash
# Builds qstore (Release, with tests and benchmarks) and runs the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps.sh"
# QSTORE_WERROR=ON (set by CI) makes every warning an error.
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DQSTORE_BUILD_BENCH=ON \
  -DQSTORE_WERROR="${QSTORE_WERROR:-OFF}" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)"
