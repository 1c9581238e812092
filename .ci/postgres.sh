#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (Debian's packages) on 127.0.0.1:$PGPORT for the tests
# and prints its admin URL. Usage: .ci/postgres.sh start|stop
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA_DIR:-/tmp/dango-ci-pg}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      mkdir -p "$PGDATA"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
      as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_postgres "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_postgres "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
    fi
    # Databases the tests created in an earlier run of this cluster.
    for db in $(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'dango_test_%'" postgres); do
      psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "DROP DATABASE \"$db\"" postgres >/dev/null
    done
    echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
