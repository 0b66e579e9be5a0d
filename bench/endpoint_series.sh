#!/usr/bin/env bash
# Batch ingest with endpoint series on: the same samples sent with 10 endpoints per service and
# without endpoints, to a fresh DriftWatch (series.per_endpoint: true) each round, interleaved
# (docs/performance.md, section 12). Prints each round's samples/s and the ratio of the medians.
# Then the heap per series, endpoint series against services (in process, below).
#
#   bench/endpoint_series.sh [BUILD_DIR] [ROUNDS]     (defaults: build-bench, 3)
#   WARM=1 bench/endpoint_series.sh ...   each server first takes as many samples, unmeasured, so
#                                         that the run measures series that exist already (it
#                                         sends the rows that follow those, timestamps rising)
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

# The server's CPU by thread (HTTP, engine, writer), in clock ticks, from /proc: "http=N engine=N
# writer=N".
threads_cpu() {
  for task in /proc/"$1"/task/*; do awk '{gsub(/[()]/, "", $2); print $2, $14 + $15}' "$task/stat"; done |
    awk '{sub(/^dw-engine-.*/, "dw-engine", $1); cpu[$1] += $2}
         END {printf "http=%d engine=%d writer=%d", cpu["dw-http"], cpu["dw-engine"], cpu["dw-writer"]}'
}

# ticks_since "http=A engine=B writer=C" "http=D engine=E writer=F" -> "http=D-A engine=E-B writer=F-C"
ticks_since() {
  paste -d' ' <(tr ' ' '\n' <<<"$1") <(tr ' ' '\n' <<<"$2") |
    awk -F'[= ]' '{printf "%s%s=%d", (NR > 1 ? " " : ""), $1, $4 - $2}'
}

run() {  # run ENDPOINTS -> prints samples/s, the server's peak RSS in KiB, 503 retries, thread CPU
  # The old logs go first: the server's redirections happen in its own process, which may not
  # have run yet when the port is first looked for below.
  rm -f "$work"/db* "$work/out" "$work/err"
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
  local json cpu_before="http=0 engine=0 writer=0"
  if [[ "${WARM:-0}" == 1 ]]; then  # the series made and their first samples taken, unmeasured
    "$bin/batch_ingest" --url "http://127.0.0.1:$port" --samples "$samples" \
      --services "$services" --endpoints "$1" > /dev/null
    cpu_before=$(threads_cpu "$server")
  fi
  json=$("$bin/batch_ingest" --url "http://127.0.0.1:$port" --samples "$samples" \
    --services "$services" --endpoints "$1" --first-row $(( ${WARM:-0} == 1 ? samples : 0 )))
  local rss cpu
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  cpu=$(ticks_since "$cpu_before" "$(threads_cpu "$server")")
  kill "$server"; wait "$server" || true
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["samples_per_second"], sys.argv[2], d["retries_503"], sys.argv[3])' "$json" "$rss" "$cpu"
}

total_ticks() { sed 's/[a-z]*=//g' <<<"$1" | awk '{print $1 + $2 + $3}'; }

without=(); with=(); ticks_without=(); ticks_with=()
if [[ "${WARM:-0}" == 1 ]]; then
  echo "WARM=1: each server takes $samples samples unmeasured first; figures are for the next $samples"
fi
for round in $(seq "$rounds"); do
  read -r a rss_a retries_a cpu_a < <(run 0)
  read -r b rss_b retries_b cpu_b < <(run 10)
  without+=("$a"); with+=("$b")
  ticks_without+=("$(total_ticks "$cpu_a")"); ticks_with+=("$(total_ticks "$cpu_b")")
  echo "round $round: without endpoints $a samples/s (peak RSS $rss_a KiB, $retries_a requests retried after 503, CPU ticks $cpu_a)"
  echo "         with 10 per service $b samples/s (peak RSS $rss_b KiB, $((services * 11)) series, $retries_b retried, CPU ticks $cpu_b)"
done
python3 - "${without[*]}" "${with[*]}" "${ticks_without[*]}" "${ticks_with[*]}" <<'PY'
import statistics, sys
a, b, ta, tb = ([float(x) for x in arg.split()] for arg in sys.argv[1:5])
ratios = [y / x for x, y in zip(a, b)]
print(f"median samples/s: without {statistics.median(a):.0f}, with 10 endpoints {statistics.median(b):.0f}; "
      f"ratio of medians {statistics.median(b) / statistics.median(a):.0%} "
      f"(rounds: {', '.join(f'{r:.0%}' for r in ratios)})")
# The same samples, so the server's CPU without / with is the throughput ratio that the CPU alone
# would allow; steadier than samples/s on a shared machine.
cpu = [x / y for x, y in zip(ta, tb)]
print(f"server CPU for the samples (HTTP + engine + writer threads): without / with "
      f"{statistics.median(ta) / statistics.median(tb):.0%} of medians "
      f"(rounds: {', '.join(f'{r:.0%}' for r in cpu)})")
PY

# Memory per series, in process (bench/memory_bench.cc, a store that keeps nothing): the heap of
# 1,000 services with 10 endpoint series each against that of 11,000 services, every series with a
# full window. The services' ids are padded to the length of an endpoint series' key
# ("bench-svc-000001#GET /api/e0", 28 characters), so that what is compared is the series, not the
# length of its name; the unpadded run is shown too.
[[ -x "$bin/memory_bench" ]] || { echo "endpoint_series: no $bin/memory_bench" >&2; exit 1; }
heap() {  # heap ARGS... -> the engine's heap in bytes (every series' full window included)
  "$bin/memory_bench" --values measured "$@" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["full_windows"] == d["series"]; print(round(d["heap_bytes_per_series"] * d["series"]))'
}
endpoint_heap=(); service_heap=(); short_heap=()
for round in $(seq "$rounds"); do
  endpoint_heap+=("$(heap --services "$services" --endpoints 10)")
  service_heap+=("$(heap --services $((services * 11)) --id-padding 12)")
  short_heap+=("$(heap --services $((services * 11)))")
  echo "memory round $round: $((services * 11)) series: endpoint series ${endpoint_heap[-1]} B," \
    "services with ids as long ${service_heap[-1]} B, services with their own ids ${short_heap[-1]} B"
done
python3 - "$((services * 11))" "${endpoint_heap[*]}" "${service_heap[*]}" "${short_heap[*]}" <<'PY'
import statistics, sys
series = int(sys.argv[1])
e, s, short = (statistics.median(float(x) for x in arg.split()) for arg in sys.argv[2:5])
print(f"median heap per series: {e / series:.0f} B with endpoint series, {s / series:.0f} B for services "
      f"with ids as long ({e / s:.1%}), {short / series:.0f} B for services with their own ids ({e / short:.1%})")
PY
