#!/usr/bin/env bash
# Installs the dependencies, builds everything and runs every test (ctest).
#   scripts/test.sh                 # RelWithDebInfo build in ./build
#   BUILD_DIR=b SANITIZE=thread scripts/test.sh   # a sanitizer build: address,undefined | thread
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DDRIFTWATCH_SANITIZE="${SANITIZE:-}" ${CMAKE_ARGS:-}
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" --timeout 600 ${CTEST_ARGS:-}
# The default pipeline's NAB scores, when the NAB corpus is at hand (it is not in the repository;
# DRIFTWATCH_NAB_DIR, default ../shared/nab): docs/replay.md, docs/detection.md.
nab_dir=${DRIFTWATCH_NAB_DIR:-../shared/nab}
if [ -f "$nab_dir/labels/combined_windows.json" ]; then
  echo "NAB, default pipeline (driftwatch replay --labels ...):"
  "$build_dir/bin/driftwatch" replay --labels "$nab_dir/labels/combined_windows.json" \
    "$nab_dir/data" | tail -n 1
fi
