#!/usr/bin/env bash
# Builds the Debian packages driftwatch and driftwatch-sdk (CPack; cmake/DriftWatchPackaging.cmake)
# from a build of only what they hold: no tests, no benchmarks.
#   scripts/package.sh            # into build-package/: driftwatch_VERSION_ARCH.deb, driftwatch-sdk_...
#   BUILD_DIR=b scripts/package.sh
# Needs dpkg-dev (dpkg-shlibdeps computes Depends) and file; scripts/install-deps.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build-package}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DDRIFTWATCH_BUILD_TESTS=OFF -DDRIFTWATCH_BUILD_BENCH=OFF ${CMAKE_ARGS:-}
cmake --build "$build_dir" -j"$(nproc)" --target driftwatch driftwatch-sim bundled_plugins
(cd "$build_dir" && cpack -G DEB)
ls -1 "$build_dir"/*.deb
