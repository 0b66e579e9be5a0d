#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy) over the product's own sources, using a configured build's
# compile_commands.json: scripts/check-tidy.sh [BUILD_DIR]. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
[ -f "$build_dir/compile_commands.json" ] || { echo "check-tidy: configure $build_dir first" >&2; exit 2; }
mapfile -t files < <(git ls-files 'core/*.cc' 'api/*.cc' 'plugins/*.cc' 'simulator/*.cc' \
  'http_client/*.cc' 'replay/*.cc' 'notify/*.cc')
printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build_dir" --quiet 2> >(grep -v "warnings generated" >&2)
echo "check-tidy: ${#files[@]} files clean"
