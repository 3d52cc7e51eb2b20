#!/usr/bin/env bash
# A database outage under steady load (issue 13, point 2): starts a throwaway Postgres cluster
# (initdb into a temporary directory, its own port), runs the soak benchmark against it at a fixed
# rate, stops that cluster for a few seconds mid-run and starts it again, then reports errors per
# second against the outage window. Expected: errors (503 with Retry-After) only while the
# database is down, and good answers again within 2 s of it coming back.
#
#   crates/portcullis-server/benches/outage.sh [SOAK ARGS...]
#
# Environment: OUTAGE_PG_PORT (55432), OUTAGE_SECONDS (60, the whole run), OUTAGE_AT (25),
# OUTAGE_DOWN (5, seconds the database is down), OUTAGE_RATE (40 operations/s), OUTAGE_MODE
# (fast: pg_ctl's shutdown mode; immediate is a crash), PG_BIN (the newest
# /usr/lib/postgresql/*/bin). Extra arguments go to the soak (for example --csv PATH).
#
# It only ever starts and stops the cluster it created; it refuses to run if something already
# answers on its port. Exit status: 0 when the run met both rules.
set -euo pipefail

port=${OUTAGE_PG_PORT:-55432}
seconds=${OUTAGE_SECONDS:-60}
at=${OUTAGE_AT:-25}
down=${OUTAGE_DOWN:-5}
rate=${OUTAGE_RATE:-40}
mode=${OUTAGE_MODE:-fast}
pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [[ ! -x "$pg_bin/initdb" ]]; then
    echo "outage: no initdb in ${pg_bin:-/usr/lib/postgresql/*/bin} (set PG_BIN)" >&2
    exit 2
fi
if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "outage: something already answers on 127.0.0.1:$port; set OUTAGE_PG_PORT" >&2
    exit 2
fi

dir=$(mktemp -d /tmp/portcullis-outage.XXXXXX)
# Postgres refuses to run as root: run the cluster as the postgres user then.
as_pg=""
if [[ $(id -u) == 0 ]]; then
    chown postgres: "$dir"
    as_pg="runuser -u postgres --"
fi
pg_ctl="$as_pg $pg_bin/pg_ctl -D $dir/data"
start="$pg_ctl -l $dir/postgres.log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1' start"
stop="$pg_ctl -m $mode -w stop"

cleanup() {
    $as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

$as_pg "$pg_bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
sh -c "$start" >/dev/null
echo "outage: throwaway cluster on 127.0.0.1:$port ($dir), mode $mode" >&2

cd "$(dirname "$0")/.."
TEST_PG_URL="postgres://postgres@127.0.0.1:$port" cargo bench --bench soak -- \
    --seconds "$seconds" --rate "$rate" --sample-secs 1 \
    --outage-at "$at" --outage-secs "$down" --outage-stop "$stop" --outage-start "$start" "$@"
