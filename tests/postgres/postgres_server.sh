#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, shared by every suite that needs one (ctest fixture
# `postgres`, tests/CMakeLists.txt):
#   postgres_server.sh start STATE_DIR   # initdb + pg_ctl start on a free loopback port
#   postgres_server.sh stop STATE_DIR    # pg_ctl stop, and removes its data
# STATE_DIR/url gets the libpq URI the tests connect to (STATE_DIR/conninfo the same in libpq's
# keyword form, which SOCI takes); STATE_DIR/data names the server's
# temporary directory. PostgreSQL refuses to run as root (CI runs as root), so then the server runs
# as `nobody`, in a directory it owns.
set -euo pipefail
action=${1:?start or stop}
state=${2:?state directory}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || {
  echo "postgres_server: no PostgreSQL server (Debian's postgresql; scripts/install-deps.sh)" >&2
  exit 1
}
as_server=()
if [ "$(id -u)" -eq 0 ]; then as_server=(setpriv --reuid=nobody --regid=nogroup --clear-groups); fi

stop() {
  local data
  data=$(cat "$state/data" 2>/dev/null) || return 0
  if [ -d "$data/pgdata" ]; then
    "${as_server[@]}" "$bindir/pg_ctl" -D "$data/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  rm -f "$state/data" "$state/url" "$state/conninfo"
}

case $action in
start)
  mkdir -p "$state"
  stop  # a server a crashed run left behind
  data=$(mktemp -d /tmp/driftwatch-pg-XXXXXX)
  echo "$data" >"$state/data"
  chmod 755 "$data"
  [ ${#as_server[@]} -eq 0 ] || chown nobody:nogroup "$data"
  "${as_server[@]}" "$bindir/initdb" -D "$data/pgdata" -U driftwatch --auth=trust -E UTF8 \
    --no-instructions >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log" >&2; exit 1; }
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # In the server's own config, so that a test can stop and start it with plain pg_ctl (the last
    # setting of a key wins). Small buffers: CI is small. synchronous_commit off saves a disk flush
    # per commit (four times faster here) and keeps what the tests count on: they kill DriftWatch,
    # never the server, which still writes every commit it confirmed; its restarts are clean ones.
    cat >>"$data/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
shared_buffers = 32MB
max_connections = 200
synchronous_commit = off
CONF
    if "${as_server[@]}" "$bindir/pg_ctl" -D "$data/pgdata" -l "$data/server.log" -w -t 60 \
      start >/dev/null; then
      echo "postgresql://driftwatch@127.0.0.1:$port/postgres" >"$state/url"
      echo "host=127.0.0.1 port=$port user=driftwatch dbname=postgres" >"$state/conninfo"
      echo "postgres_server: PostgreSQL on 127.0.0.1:$port (data in $data)"
      exit 0
    fi
    echo "postgres_server: start on port $port failed (attempt $attempt):" >&2
    tail -n 5 "$data/server.log" >&2 || true
  done
  exit 1
  ;;
stop) stop ;;
*) echo "postgres_server: unknown action '$action'" >&2; exit 2 ;;
esac
