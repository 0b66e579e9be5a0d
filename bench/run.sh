#!/usr/bin/env bash
# Builds DriftWatch in Release, runs every benchmark and writes docs/performance.md.
#
#   bench/run.sh [--quick] [--build-dir DIR] [--output FILE] [--only SECTIONS]
#
#   --quick        one run of each benchmark at smaller sizes, no scaling matrix (~2 min)
#   --build-dir    the Release build directory (default: build-bench in the repository)
#   --output       the report (default: docs/performance.md)
#   --only         only these sections, comma-separated (replay, metrics, postgresql), and only
#                  their part of the report in --output (give it another file than
#                  docs/performance.md); replay also runs core_bench's BM_ServiceMonitorProcess, its
#                  reference
#
# Needs wrk (Debian package `wrk`), curl, python3 and the project's build dependencies; the
# PostgreSQL section also needs Debian's `postgresql` (server and psql) and is skipped without it.
# The machine should be otherwise idle: the report records the load average, and every figure that
# matters is a ratio against a reference measured in the same run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${repo}/build-bench"
output="${repo}/docs/performance.md"
quick=()
only=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

for tool in wrk curl python3 cmake; do
  command -v "${tool}" >/dev/null || { echo "run.sh: '${tool}' is required" >&2; exit 1; }
done

generator=()
command -v ninja >/dev/null && [[ ! -f "${build_dir}/Makefile" ]] && generator=(-G Ninja)
cmake -S "${repo}" -B "${build_dir}" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DDRIFTWATCH_BUILD_BENCH=ON -DDRIFTWATCH_BUILD_TESTS=OFF >/dev/null
cmake --build "${build_dir}" --parallel "$(nproc)" --target driftwatch_benchmarks

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
exec python3 "${repo}/bench/run_bench.py" --build-dir "${build_dir}" --output "${output}" \
  "${quick[@]}" "${only[@]}"
