#!/usr/bin/env bash
# verify_unit.sh UNIT BINARY: `systemd-analyze verify` on UNIT, which must pass with no output at
# all (systemd-analyze only warns about an unknown or misspelt setting, and exits 0). verify checks
# that ExecStart's program exists, so a copy whose /usr/bin/driftwatch is BINARY is verified when
# BINARY is not the installed /usr/bin/driftwatch.
set -euo pipefail
unit=$1
binary=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$binary" != /usr/bin/driftwatch ]; then
  sed "s|/usr/bin/driftwatch|$binary|g" "$unit" >"$work/driftwatch.service"
  unit=$work/driftwatch.service
fi
if ! output=$(cd "$work" && systemd-analyze verify "$unit" 2>&1) || [ -n "$output" ]; then
  echo "systemd-analyze verify $unit:" >&2
  echo "$output" >&2
  exit 1
fi
echo "verify_unit: $unit passes systemd-analyze verify"
