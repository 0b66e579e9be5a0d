#!/usr/bin/env bash
# Installs everything DriftWatch needs to build, test and benchmark: Debian 12's packages (the
# PostgreSQL server among them: the tests start their own, tests/postgres/), and the npm packages
# the test suite runs: the OpenAPI linter (@redocly/cli, pinned in tests/openapi/package.json) and
# the OpenTelemetry JS exporters (tests/otlp/js/package.json).
# `libprotobuf-dev`, `protobuf-compiler` and `zlib1g-dev` are for OTLP ingest (protobuf, gzip).
# `prometheus` gives the metrics tests promtool and a real Prometheus server (tests/metrics);
# `prometheus-alertmanager` the notification tests a real Alertmanager (tests/notify).
# dpkg-dev and file build the Debian packages (dpkg-shlibdeps computes their Depends); adduser is
# what the package's postinst needs; libsystemd-dev gives sd_notify (readiness under systemd) and
# systemd gives systemd-analyze, which tests/package runs on the unit. `chromium` is the browser the
# dashboard's test drives (tests/browser) with npm's playwright-core; the dashboard's chart library
# (npm's uplot, which the build embeds into the binary) and playwright-core are pinned in
# ui/package.json.
# Idempotent, and quick when everything is there; run as root (or with sudo) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libpistache-dev libsoci-dev libsqlite3-dev sqlite3
  libpq-dev postgresql
  libboost-dev libboost-filesystem-dev libyaml-cpp-dev rapidjson-dev
  libprotobuf-dev protobuf-compiler zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  curl wrk python3
  prometheus prometheus-alertmanager
  dpkg-dev file adduser systemd libsystemd-dev
  chromium
)
# Node.js and npm for the npm packages above: the machine's own when it has npm, else Debian's.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: every Debian package is installed"
else
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The npm packages, each `npm ci` in its folder with a package-lock.json: the OpenAPI linter
# (tests/openapi), the OpenTelemetry JS exporters (tests/otlp/js), and the dashboard's chart library
# and browser driver (ui/). Skipped while a folder's node_modules is the one installed from its
# package-lock.json now (the stamp file holds that file's checksum).
for npm_dir in tests/openapi tests/otlp/js ui; do
  stamp=$npm_dir/node_modules/.driftwatch-lock.sha256
  lock_sum=$(sha256sum "$npm_dir/package-lock.json" | cut -d' ' -f1)
  if [ -d "$npm_dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock_sum" ]; then
    echo "install-deps: the npm packages of $npm_dir are installed"
  else
    echo "install-deps: npm ci in $npm_dir"
    (cd "$npm_dir" && npm ci --no-audit --no-fund)
    echo "$lock_sum" >"$stamp"
  fi
done
node_major=$(node --version | sed 's/^v\([0-9]*\).*/\1/')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: warning: Node.js $(node --version) is older than the 20.19 that" \
    "@redocly/cli needs; the test OpenApiLint.* may fail" >&2
fi
