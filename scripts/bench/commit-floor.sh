#!/usr/bin/env bash
# The floor under a quiet message's commit (scenario 3's `commit_transaction`
# stage, issue #29's latency target): what one durable row costs Postgres
# itself, on the same cluster, at the rates scenario 3 sends. pgbench, one
# client, RATES (100 and 500) transactions a second for DURATION (15) s each:
#
#   - `select1`: `SELECT 1`, a round trip to an idle backend;
#   - `insert1`: one row of a message's shape (a SIZE-byte body, one of 200
#     rooms) into `pgb_messages`, a copy of `messages` with every index and
#     trigger (pgb-messages.sql), autocommitted: one round trip and one WAL
#     flush, as Parley's one-statement batch of one plain message.
#
# Prints one JSON line per statement and rate: latency p50/p90/p99/max in ms
# (pgbench's per-transaction log, schedule lag taken off). Run it on a
# database Parley has migrated (it starts the server once to make sure),
# on a cluster with fsync on:
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch scripts/bench/commit-floor.sh
#   DATABASE_URL=… RATES="100" DURATION=5 scripts/bench/commit-floor.sh
source "$(dirname "$0")/lib.sh"
if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "set DATABASE_URL=postgres://… (a database parley may migrate)" >&2
    exit 1
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
DURATION="${DURATION:-15}"
SIZE="${SIZE:-100}"

# The server migrates the database on start.
build
start_server
stop_server

psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$HERE/pgb-messages.sql" >/dev/null
psql -q "$DATABASE_URL" -c "SET client_min_messages = warning" -c "DROP SEQUENCE IF EXISTS pgb_seq" -c "CREATE SEQUENCE pgb_seq" >/dev/null
trap 'psql -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS pgb_messages; DROP SEQUENCE IF EXISTS pgb_seq" >/dev/null 2>&1 || true; cleanup' EXIT

echo "SELECT 1;" >"$WORK/select1.sql"
cat >"$WORK/insert1.sql" <<SQL
INSERT INTO pgb_messages (room_id, seq, kind, sender_id, body, created_at)
SELECT n.room, n.seq, 'message', n.room % 32 + 1,
       rpad(format('%s:%s:%s:', (random() * 2e10)::bigint, n.room, n.seq), $SIZE, 'x'),
       date_trunc('milliseconds', clock_timestamp())
FROM (SELECT floor(random() * 200)::bigint + 1 AS room, nextval('pgb_seq') AS seq) n;
SQL

for rate in ${RATES:-100 500}; do
    for statement in select1 insert1; do
        rm -f "$WORK"/floor.log*
        pgbench -n -c 1 -j 1 -R "$rate" -T "$DURATION" -M prepared -f "$WORK/$statement.sql" \
            -l --log-prefix="$WORK/floor.log" "$DATABASE_URL" >"$WORK/pgbench.out" 2>&1 || {
            cat "$WORK/pgbench.out" >&2
            exit 1
        }
        python3 - "$statement" "$rate" "$WORK"/floor.log* <<'PY'
import json, sys
statement, rate, logs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
# client_id transaction_no time script_no time_epoch time_us schedule_lag
ms = []
for path in logs:
    for line in open(path):
        f = line.split()
        if len(f) >= 7 and f[2] != "skipped":
            ms.append((int(f[2]) - int(f[6])) / 1000)
ms.sort()
q = lambda p: round(ms[min(len(ms) - 1, int(p * len(ms)))], 3)
print(json.dumps({"statement": statement, "rate": rate, "transactions": len(ms),
                  "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": ms[-1]}))
PY
    done
done
