#!/usr/bin/env bash
# Batch ingest with endpoint series on: the same samples sent with 10 endpoints per service and
# without endpoints, to a fresh DriftWatch (series.per_endpoint: true) each round, interleaved
# (docs/performance.md, section 12). Prints each round's samples/s and the ratio of the medians.
#
#   bench/endpoint_series.sh [BUILD_DIR] [ROUNDS]     (defaults: build-bench, 3)
set -euo pipefail
build=${1:-build-bench}
rounds=${2:-3}
bin="$build/bin"
samples=${SAMPLES:-400000}
services=${SERVICES:-1000}
for tool in driftwatch batch_ingest; do
  [[ -x "$bin/$tool" ]] || { echo "endpoint_series: no $bin/$tool (build the bench first)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'series:\n  per_endpoint: true\n' > "$work/config.yaml"

run() {  # run ENDPOINTS -> prints samples/s and the server's peak RSS in KiB
  rm -f "$work"/db*
  "$bin/driftwatch" --host 127.0.0.1 --port 0 --db "$work/db" --config "$work/config.yaml" \
    > "$work/out" 2> "$work/err" &
  server=$!
  local port=""
  for _ in $(seq 100); do
    port=$(grep -o 'listening on [^ ]*:[0-9]*' "$work/out" "$work/err" 2>/dev/null | grep -o '[0-9]*$' | head -1 || true)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "endpoint_series: the server did not start" >&2; cat "$work/err" >&2; exit 1; }
  local json
  json=$("$bin/batch_ingest" --url "http://127.0.0.1:$port" --samples "$samples" \
    --services "$services" --endpoints "$1")
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  kill "$server"; wait "$server" || true
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["samples_per_second"], sys.argv[2])' "$json" "$rss"
}

without=(); with=()
for round in $(seq "$rounds"); do
  read -r a rss_a < <(run 0)
  read -r b rss_b < <(run 10)
  without+=("$a"); with+=("$b")
  echo "round $round: without endpoints $a samples/s (peak RSS $rss_a KiB), with 10 per service $b samples/s (peak RSS $rss_b KiB, $((services * 11)) series)"
done
python3 - "${without[*]}" "${with[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ratios = [y / x for x, y in zip(a, b)]
print(f"median samples/s: without {statistics.median(a):.0f}, with 10 endpoints {statistics.median(b):.0f}; "
      f"ratio of medians {statistics.median(b) / statistics.median(a):.0%} "
      f"(rounds: {', '.join(f'{r:.0%}' for r in ratios)})")
PY
