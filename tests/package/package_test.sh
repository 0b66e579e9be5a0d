#!/usr/bin/env bash
# package_test.sh BUILD_DIR: the Debian packages as an operator uses them
# (docs/operations.md, Installing the package).
#  1. cpack builds driftwatch and driftwatch-sdk from BUILD_DIR; their version is the one
#     `driftwatch --version` prints, Depends comes from the shared libraries, the config is a
#     conffile.
#  2. They are installed: `dpkg -i` when run as root on a machine with no driftwatch package
#     installed (CI), else `dpkg-deb -x` into a temporary root (a developer's machine; or
#     DRIFTWATCH_PACKAGE_TEST_MODE=extract).
#  3. Every file is where docs/operations.md says; the installed unit passes systemd-analyze
#     verify; the example detector builds against the installed SDK alone.
#  4. The installed service runs with the installed config, its plugins found with no flag, on a
#     free port (--port 0): as the driftwatch user in /var/lib/driftwatch, like the unit, when
#     installed with dpkg. It tells systemd it is ready (sd_notify READY=1 on NOTIFY_SOCKET) only
#     once it answers, and stops gracefully on SIGTERM.
#  5. dpkg -r removes the programs and keeps the database and the config; dpkg -P deletes them.
set -euo pipefail
build_dir=$(cd "$1" && pwd)
work=$(mktemp -d)
chmod 0755 "$work"
mode=extract
installed=""
service_pid=""
listener_pid=""

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}

cleanup() {
  [ -z "$service_pid" ] || kill -KILL "$service_pid" 2>/dev/null || true
  [ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null || true
  if [ -n "$installed" ]; then
    dpkg -P driftwatch driftwatch-sdk >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build the packages.
version=$("$build_dir/bin/driftwatch" --version | cut -d' ' -f2)
(cd "$build_dir" && cpack -G DEB -B "$work/packages" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log" >&2; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
deb=$work/packages/driftwatch_${version}_${arch}.deb
sdk_deb=$work/packages/driftwatch-sdk_${version}_all.deb
[ -f "$deb" ] || fail "no $deb (cpack wrote: $(ls "$work/packages"))"
[ -f "$sdk_deb" ] || fail "no $sdk_deb"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "package version is not $version"
depends=$(dpkg-deb -f "$deb" Depends)
for dependency in libpistache0 libsoci-core4.0 libyaml-cpp0.7 libsystemd0 adduser; do
  [[ "$depends" == *"$dependency"* ]] || fail "Depends lacks $dependency: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/driftwatch/driftwatch.yaml ||
  fail "/etc/driftwatch/driftwatch.yaml is not a conffile"
echo "package_test: built $(basename "$deb") and $(basename "$sdk_deb")"

# 2. Install. Two runs of this test on one machine take turns (dpkg itself would refuse the second).
if [ "$(id -u)" -eq 0 ] && [ -d /run/lock ]; then
  exec 9>/run/lock/driftwatch-package-test.lock
  flock 9
fi
if [ "$(id -u)" -eq 0 ] && [ "${DRIFTWATCH_PACKAGE_TEST_MODE:-}" != extract ] &&
  ! dpkg-query -W -f='${Status}' driftwatch 2>/dev/null | grep -q installed; then
  mode=dpkg
fi
if [ "$mode" = dpkg ]; then
  root=""
  installed=yes
  dpkg -i "$deb" "$sdk_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
  getent passwd driftwatch >/dev/null || fail "the postinst did not create the driftwatch user"
  [ "$(stat -c %U:%a /var/lib/driftwatch)" = driftwatch:750 ] ||
    fail "/var/lib/driftwatch is $(stat -c %U:%a /var/lib/driftwatch), not driftwatch:750"
  [ "$(stat -c %U:%G:%a /etc/driftwatch/driftwatch.yaml)" = root:driftwatch:640 ] ||
    fail "the config is $(stat -c %U:%G:%a /etc/driftwatch/driftwatch.yaml), not root:driftwatch:640"
  # What the operator does next (offline here: systemctl only makes the link).
  systemctl enable driftwatch.service >/dev/null 2>&1 || fail "systemctl enable driftwatch"
else
  root=$work/root
  dpkg-deb -x "$deb" "$root"
  dpkg-deb -x "$sdk_deb" "$root"
fi
echo "package_test: installed with $mode"

# 3. The files.
for file in /usr/bin/driftwatch /usr/bin/driftwatch-sim /etc/driftwatch/driftwatch.yaml \
  /lib/systemd/system/driftwatch.service /usr/share/doc/driftwatch/README.md \
  /usr/share/doc/driftwatch/operations.md /usr/include/driftwatch/plugin.h \
  /usr/include/driftwatch/plugin.hpp /usr/lib/cmake/DriftWatchSDK/DriftWatchSDKConfig.cmake \
  /usr/share/doc/driftwatch-sdk/plugin-guide.md \
  /usr/share/doc/driftwatch-sdk/examples/cusum_detector/cusum.cc; do
  [ -f "$root$file" ] || fail "$file is not installed"
done
for plugin in zscore_severe moderate_window recovery sqlite memory postgresql cusum ewma median_z; do
  [ -f "$root/usr/lib/driftwatch/plugins/$plugin.so" ] || fail "plugin $plugin is not installed"
done
[ "$("$root/usr/bin/driftwatch" --version)" = "driftwatch $version" ] || fail "--version"
bash "$(dirname "$0")/verify_unit.sh" "$root/lib/systemd/system/driftwatch.service" \
  "$root/usr/bin/driftwatch"

# The SDK package is enough to build the example detector it ships.
cp -r "$root/usr/share/doc/driftwatch-sdk/examples/cusum_detector" "$work/example"
(cmake -S "$work/example" -B "$work/example/build" -DCMAKE_PREFIX_PATH="$root/usr" &&
  cmake --build "$work/example/build") >"$work/example.log" 2>&1 ||
  { cat "$work/example.log" >&2; fail "the example detector does not build against the SDK package"; }
[ -f "$work/example/build/cusum.so" ] || fail "the example detector built no cusum.so"
echo "package_test: the example detector builds against driftwatch-sdk"

# 4. Run it as the unit would: the installed config, no other flag than a free port.
python3 - "$work/notify.sock" "$work/notify.log" <<'EOF' &
# Plays systemd's side of sd_notify: logs each message, stops at STOPPING=1.
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
sock.settimeout(60)
with open(sys.argv[2], "a") as log:
    while True:
        message = sock.recv(4096).decode()
        log.write(message.replace("\n", " ") + "\n")
        log.flush()
        if "STOPPING=1" in message:
            break
EOF
listener_pid=$!
for _ in $(seq 100); do [ -S "$work/notify.sock" ] && break; sleep 0.05; done
[ -S "$work/notify.sock" ] || fail "the notify listener did not start"
chmod 0777 "$work/notify.sock"
if [ "$mode" = dpkg ]; then
  run_dir=/var/lib/driftwatch
  run_as=(setpriv --reuid=driftwatch --regid=driftwatch --init-groups)
else
  run_dir=$work/state
  mkdir "$run_dir"
  run_as=()
fi
(cd "$run_dir" && NOTIFY_SOCKET=$work/notify.sock exec "${run_as[@]}" "$root/usr/bin/driftwatch" \
  --config "$root/etc/driftwatch/driftwatch.yaml" --port 0 >"$work/out.log" 2>"$work/err.log") &
service_pid=$!
for _ in $(seq 300); do
  grep -q "READY=1" "$work/notify.log" 2>/dev/null && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$work/err.log" >&2; fail "driftwatch exited"; }
  sleep 0.1
done
grep -q "READY=1" "$work/notify.log" || fail "no READY=1 within 30 s"
# Ready means answering: no retry here.
port=$(sed -n 's|.*API listening on http://[^:]*:\([0-9]*\).*|\1|p' "$work/out.log")
[ -n "$port" ] || fail "no port in the banner: $(cat "$work/out.log")"
curl -sf "http://127.0.0.1:$port/health" >/dev/null || fail "GET /health right after READY=1"
status=$(curl -sf "http://127.0.0.1:$port/v1/system/status")
for plugin in zscore_severe moderate_window recovery sqlite; do
  [[ "$status" == *"\"path\":\"$root/usr/lib/driftwatch/plugins/$plugin.so\""* ]] ||
    fail "plugin $plugin not loaded from $root/usr/lib/driftwatch/plugins: $status"
done
curl -sf -X POST "http://127.0.0.1:$port/v1/telemetry" -H 'Content-Type: application/json' \
  -d '{"service_id": "package-test", "latency_ms": 12.5}' >/dev/null || fail "POST /v1/telemetry"
kill -TERM "$service_pid"
wait "$service_pid" || fail "driftwatch exited with status $? after SIGTERM: $(cat "$work/err.log")"
service_pid=""
wait "$listener_pid" || fail "no STOPPING=1 after SIGTERM"
listener_pid=""
grep -q "STATUS=API listening on" "$work/notify.log" || fail "no STATUS with the address"
[ -f "$run_dir/driftwatch.db" ] || fail "no database in $run_dir"
echo "package_test: the installed service ran on port $port and stopped on SIGTERM"

# 5. Remove, then purge.
if [ "$mode" = dpkg ]; then
  dpkg -r driftwatch driftwatch-sdk >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
  [ ! -e /usr/bin/driftwatch ] || fail "dpkg -r left /usr/bin/driftwatch"
  [ ! -e /usr/lib/driftwatch/plugins/sqlite.so ] || fail "dpkg -r left the plugins"
  [ ! -e /usr/include/driftwatch/plugin.h ] || fail "dpkg -r left the SDK"
  [ -f /var/lib/driftwatch/driftwatch.db ] || fail "dpkg -r deleted the database"
  [ -f /etc/driftwatch/driftwatch.yaml ] || fail "dpkg -r deleted the config"
  dpkg -P driftwatch driftwatch-sdk >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P"; }
  installed=""
  [ ! -e /var/lib/driftwatch ] || fail "dpkg -P left /var/lib/driftwatch"
  [ ! -e /etc/driftwatch ] || fail "dpkg -P left /etc/driftwatch"
  [ ! -L /etc/systemd/system/multi-user.target.wants/driftwatch.service ] ||
    fail "dpkg -P left the link of systemctl enable"
  ! dpkg-query -W driftwatch >/dev/null 2>&1 || fail "dpkg -P left driftwatch known to dpkg"
  echo "package_test: dpkg -r kept the database and the config, dpkg -P deleted them"
fi
echo "package_test: passed ($mode)"
