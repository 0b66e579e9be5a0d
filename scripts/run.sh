#!/usr/bin/env bash
# Installs the dependencies, builds DriftWatch and starts the service with the zero-config default
# (0.0.0.0:8000, ./driftwatch.db, the bundled plugins). Extra arguments go to `driftwatch`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target driftwatch driftwatch-sim bundled_plugins
exec build/bin/driftwatch "$@"
