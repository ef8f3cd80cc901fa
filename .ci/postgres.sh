#!/usr/bin/env bash
# Start/stop a throw-away PostgreSQL server on 127.0.0.1 for the tests (initdb/pg_ctl refuse root,
# so they run as the postgres user). Writes XASREPO_TEST_PG_URL to .ci/pg.env.
set -euo pipefail
cd "$(dirname "$0")/.."
PGPORT=${PGPORT:-54329}
PGDATA=${PGDATA_DIR:-/tmp/xasrepo-pg}
case "$1" in
start)
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) || exit 1
    fi
    BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then RUN="runuser -u postgres --"; else RUN=""; fi
    if [ -f "$PGDATA/postmaster.pid" ]; then $RUN "$BIN/pg_ctl" -D "$PGDATA" -m fast stop || true; fi
    rm -rf "$PGDATA"; mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    $RUN "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust >/dev/null
    $RUN "$BIN/pg_ctl" -D "$PGDATA" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" -l "$PGDATA/log" -w start >/dev/null
    echo "export XASREPO_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PGPORT/postgres" > .ci/pg.env
    echo "PostgreSQL running on 127.0.0.1:$PGPORT"
    ;;
stop)
    BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -n "$BIN" ] && [ -f "$PGDATA/postmaster.pid" ]; then
        if [ "$(id -u)" = 0 ]; then RUN="runuser -u postgres --"; else RUN=""; fi
        $RUN "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null || true
    fi
    rm -f .ci/pg.env
    ;;
esac
