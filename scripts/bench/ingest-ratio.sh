#!/usr/bin/env bash
# Durable ingest against what Postgres alone can take, on one cluster in one
# run (issue #29's measure): first scenario 5
# (`5-durable-postgres.sh`: 200 rooms, a RECEIPT per SEND), then pgbench
# inserting rows of the same shape into a copy of Parley's `messages` table
# in the same database: the same columns, partitioned the same way, with
# every index and trigger the table has today (read from the catalog after
# scenario 5 has migrated the database: the `(room_id, seq)` index, the
# client-id, target, thread and sender indexes, the `pg_trgm` GIN on the
# lowered body, the primary key, the mentions trigger), 100 rows per
# statement, CLIENTS (8) clients, every transaction committed with the
# cluster's own durability (run it on a cluster with fsync on). Each row is
# what the generator sends: a 100-byte body `<ns>:<publisher>:<counter>:`
# padded with `x`, one of 200 rooms, no client id, no mentions.
#
# Prints one JSON object: scenario 5's line (`parley`), pgbench's figures
# (`pgbench`), `parley_messages_per_s` (receipts per second),
# `pgbench_rows_per_s` and their `ratio`. With POSTGRES_PID (the cluster's
# postmaster), also the cluster's CPU per stored row in each half
# (`postgres_cpu_us_per_row`: the postmaster and all its children, from
# /proc) and Parley's CPU per message (`parley_cpu_us_per_message`).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch scripts/bench/ingest-ratio.sh
#   DATABASE_URL=… POSTGRES_PID=$(head -1 $PGDATA/postmaster.pid) DURATION=10 scripts/bench/ingest-ratio.sh
#
# Knobs: DURATION (15 s, both halves), WARMUP (3 s, scenario 5), CLIENTS (8,
# pgbench), SIZE (100-byte bodies, both), and scenario 5's own
# (PARLEY_UNDER_TEST, PROFILE, ROOMS, MAX_INFLIGHT…; lib.sh). Exits 2 if
# scenario 5 reported an error, a loss or a missing receipt.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL=postgres://… (a scratch database parley may migrate)}"
HERE="$(cd "$(dirname "$0")" && pwd)"
CLIENTS="${CLIENTS:-8}"
DURATION="${DURATION:-15}"
SIZE="${SIZE:-100}"
ROOMS="${ROOMS:-200}"
export DURATION SIZE ROOMS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ingest-ratio.XXXXXX")"
trap 'psql -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS pgb_messages" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

# CPU seconds (utime + stime + cutime + cstime) of PID and all its live
# descendants: a Postgres cluster's postmaster and its backends.
tree_cpu() {
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
parent, times = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    parent[int(d)] = int(fields[1])
    times[int(d)] = sum(int(x) for x in fields[11:15])
def under(p):
    while p > 1:
        if p == root:
            return True
        p = parent.get(p, 0)
    return False
ticks = sum(t for p, t in times.items() if under(p))
print(ticks / os.sysconf("SC_CLK_TCK"))
PY
}

# Rows in `messages` (what scenario 5 stored, warm-up included).
count_messages() {
    psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM messages"
}

# 1. Scenario 5 (it migrates the database on its first run).
cpu_before=""
if [[ -n "${POSTGRES_PID:-}" ]]; then
    BENCH_ARGS="${BENCH_ARGS:-} --cpu-pid postgres=$POSTGRES_PID"
    export BENCH_ARGS
fi
rc=0
"$HERE/5-durable-postgres.sh" >"$WORK/parley.json" || rc=$?
parley_json="$(tail -n 1 "$WORK/parley.json")"
[[ -n "$parley_json" ]] || { echo "scenario 5 printed nothing (exit $rc)" >&2; exit 1; }

# 2. The same table, empty, under another name (pgb-messages.sql).
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$HERE/pgb-messages.sql" >/dev/null
psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM pg_indexes WHERE tablename = 'pgb_messages'" \
    >"$WORK/indexes"

# 100 rows per statement, like a group commit of 100 messages.
cat >"$WORK/batch100.sql" <<SQL
INSERT INTO pgb_messages (room_id, seq, kind, sender_id, body, created_at)
SELECT n.room, n.seq, 'message', n.room % 32 + 1,
       rpad(format('%s:%s:%s:', (random() * 2e10)::bigint, n.room, n.seq), $SIZE, 'x'),
       date_trunc('milliseconds', statement_timestamp())
FROM (SELECT floor(random() * $ROOMS)::bigint + 1 AS room, nextval('pgb_seq') AS seq
      FROM generate_series(1, 100)) n;
SQL
psql -q "$DATABASE_URL" -c "DROP SEQUENCE IF EXISTS pgb_seq; CREATE SEQUENCE pgb_seq" >/dev/null

if [[ -n "${POSTGRES_PID:-}" ]]; then
    cpu_before="$(tree_cpu "$POSTGRES_PID")"
fi
pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$WORK/batch100.sql" "$DATABASE_URL" \
    >"$WORK/pgbench.out" 2>"$WORK/pgbench.err" || {
    cat "$WORK/pgbench.err" >&2
    exit 1
}
pg_cpu=""
if [[ -n "${POSTGRES_PID:-}" ]]; then
    pg_cpu="$(echo "$(tree_cpu "$POSTGRES_PID") - $cpu_before" | bc -l)"
fi
rows="$(psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM pgb_messages")"

python3 - "$parley_json" "$WORK/pgbench.out" "$rows" "$DURATION" "$CLIENTS" \
    "$(cat "$WORK/indexes")" "${pg_cpu:-}" <<'PY'
import json, re, sys
parley = json.loads(sys.argv[1])
out = open(sys.argv[2]).read()
rows, duration, clients, indexes = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
pg_cpu = float(sys.argv[7]) if sys.argv[7] else None
tps = float(re.search(r"^tps = ([0-9.]+)", out, re.M).group(1))
pgbench = {
    "clients": clients,
    "rows_per_statement": 100,
    "indexes": indexes,
    "tps": tps,
    "rows": rows,
    "rows_per_s": round(tps * 100),
}
if pg_cpu is not None:
    pgbench["postgres_cpu_seconds"] = round(pg_cpu, 2)
    pgbench["postgres_cpu_us_per_row"] = round(pg_cpu * 1e6 / rows, 1)
parley_rate = parley.get("receipts_per_s") or 0.0
result = {
    "parley_messages_per_s": round(parley_rate),
    "pgbench_rows_per_s": pgbench["rows_per_s"],
    "ratio": round(parley_rate / pgbench["rows_per_s"], 3),
}
receipts = parley.get("receipts") or 0
if receipts and parley.get("server_cpu_seconds") is not None:
    result["parley_cpu_us_per_message"] = round(parley["server_cpu_seconds"] * 1e6 / receipts, 1)
pg = (parley.get("processes") or {}).get("postgres")
if receipts and pg:
    result["postgres_cpu_us_per_message"] = round(pg["cpu_seconds"] * 1e6 / receipts, 1)
result["pgbench"] = pgbench
result["parley"] = parley
print(json.dumps(result))
bad = any(parley.get(k) for k in ("lost", "errors", "receipts_missing", "duplicated"))
sys.exit(2 if bad else 0)
PY
