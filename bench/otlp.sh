#!/usr/bin/env bash
# OTLP ingest against batch ingest, the same samples in the same run (docs/performance.md,
# section 11): for each repetition, a fresh service and database take the rows of bench_rows.h as
# POST /v1/telemetry/batch JSON bodies, then another fresh one takes the same rows as 512-span
# OTLP protobuf requests to POST /v1/traces; bench/batch_ingest.cc times each until committed.
# Prints one JSON line per run.
#
#   bench/otlp.sh [BUILD_DIR (default build-bench)] [REPETITIONS (default 3)] [SAMPLES (default 307200)]
set -euo pipefail
build=${1:-build-bench}
reps=${2:-3}
samples=${3:-307200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # format: json or otlp
  rm -f "$work/out"  # the banner must be this run's
  "$build/bin/driftwatch" --host 127.0.0.1 --port 0 --db "$work/$1.db" >"$work/out" 2>&1 &
  local pid=$! url="" tries=0
  until url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" 2>/dev/null); do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || { echo "otlp.sh: driftwatch did not start" >&2; cat "$work/out" >&2; exit 1; }
    sleep 0.1
  done
  "$build/bin/batch_ingest" --url "$url" --samples "$samples" --services 100 --batch 512 \
    --format "$1"
  kill -TERM "$pid"
  wait "$pid"
  rm -f "$work/$1".db*
}

for _ in $(seq "$reps"); do
  run json
  run otlp
done
