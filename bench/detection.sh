#!/usr/bin/env bash
# Builds DriftWatch in Release and writes docs/detection.md: NAB scores through
# `driftwatch replay --labels` and the synthetic suite of bench/detection_quality.
#
#   bench/detection.sh [--quick] [--nab DIR] [--build-dir DIR] [--output FILE] [--seeds N]
#
#   --nab          NAB's directory with data/, labels/ and final_results.json
#                  (default: ../shared/nab beside the repository)
#   --quick        a smaller parameter grid and 20 seeds (a few minutes)
#   --build-dir    the Release build directory (default: build-bench in the repository)
#   --output       the report (default: docs/detection.md)
#   --seeds        seeds per synthetic scenario (default 200)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nab="${repo}/../shared/nab"
build_dir="${repo}/build-bench"
output="${repo}/docs/detection.md"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) extra+=(--quick); shift ;;
    --nab) nab="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --seeds) extra+=(--seeds "$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "detection.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ -f "${nab}/labels/combined_windows.json" ]] || {
  echo "detection.sh: no NAB corpus at ${nab} (get it from github.com/numenta/NAB; --nab DIR)" >&2
  exit 1
}
generator=()
command -v ninja >/dev/null && [[ ! -f "${build_dir}/Makefile" ]] && generator=(-G Ninja)
cmake -S "${repo}" -B "${build_dir}" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DDRIFTWATCH_BUILD_BENCH=ON -DDRIFTWATCH_BUILD_TESTS=OFF >/dev/null
cmake --build "${build_dir}" --parallel "${DRIFTWATCH_JOBS:-$(nproc)}" --target driftwatch \
  detection_quality
exec python3 "${repo}/bench/detection.py" --build-dir "${build_dir}" --nab "${nab}" \
  --jobs "${DRIFTWATCH_JOBS:-$(nproc)}" \
  --output "${output}" "${extra[@]}"
