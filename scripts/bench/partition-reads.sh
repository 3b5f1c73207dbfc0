#!/usr/bin/env bash
# What time partitions cost the reads that cannot name a time range
# (docs/SCALING.md, "Retention: the room log in time partitions"): the same
# 500,000 messages of 500 rooms (1,000 each), once in one partition and once
# spread over ten (each room's log cut in ten by time, as retention leaves
# it), and pgbench timing, one client, for DURATION (10) seconds each:
#   history  a page of 200 events before a random seq of a random room
#            (the history query's core: `(room_id, seq)`, the room's horizon);
#   unread   the unread and mention counts of a reader in all 500 rooms,
#            10 unread per room (the room list's read-state query, LATERAL
#            as the server runs it).
#
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:55432/postgres scripts/bench/partition-reads.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ADMIN="${PG_ADMIN_URL:-${TEST_DATABASE_URL:?set PG_ADMIN_URL=postgres://… (an admin URL)}}"
PG_BIN="${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}"
DURATION="${DURATION:-10}"
WORK="$(mktemp -d)"
DBS=()
run() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    [[ -n "${KEEP:-}" ]] || for db in "${DBS[@]}"; do run "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/history.sql" <<'SQL'
\set room random(1, 500)
\set before random(201, 1001)
SELECT m.id, m.seq, m.kind, m.body, m.created_at, r.horizon_seq
FROM messages m JOIN rooms r ON r.id = m.room_id
WHERE m.room_id = :room AND m.seq < :before AND m.seq > r.horizon_seq
ORDER BY m.seq DESC LIMIT 200;
SQL
cat >"$WORK/unread.sql" <<'SQL'
SELECT ms.room_id, ms.role, ms.last_read_seq, c.unread, c.mentions
FROM memberships ms
CROSS JOIN LATERAL
    (SELECT count(*) AS unread, count(*) FILTER (WHERE x.mentions LIKE '%"reader"%') AS mentions
     FROM messages x
     WHERE x.room_id = ms.room_id AND x.seq > ms.last_read_seq
       AND x.kind = 'message' AND NOT x.deleted AND x.sender_id <> 2
       AND x.sender_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = 2)) c
WHERE ms.user_id = 2;
SQL

for parts in 1 10; do
    db="parley_partition_reads_${parts}_$$"
    DBS+=("$db")
    url="${ADMIN%/*}/$db"
    run "$ADMIN" -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
    for f in "$ROOT"/migrations/postgres/*.sql; do run "$url" -f "$f"; done
    run "$url" <<SQL
SELECT messages_add_partitions(interval '10 days' / $parts, interval '10 days');
INSERT INTO users (username, password_hash) VALUES ('writer', 'x'), ('reader', 'x');
INSERT INTO rooms (name, private, owner_id, last_seq)
SELECT 'room' || r, false, 1, 1000 FROM generate_series(1, 500) r;
INSERT INTO memberships (room_id, user_id, role, last_read_seq)
SELECT id, 2, 'member', 990 FROM rooms;
INSERT INTO messages (room_id, seq, sender_id, body, mentions, created_at)
SELECT r.id, s, 1, 'message number ' || s || ' in room ' || r.id,
       CASE WHEN s % 100 = 0 THEN '["reader"]' ELSE '[]' END,
       messages_row_pruned_before() + (s - 1) * interval '10 days' / 1000
FROM rooms r, generate_series(1, 1000) s;
VACUUM ANALYZE;
SQL
    n="$(run "$url" -At -c "SELECT count(*) FROM messages_partitions() p WHERE EXISTS (SELECT 1 FROM messages m WHERE m.tableoid = p.name::regclass)")"
    for q in history unread; do
        lat="$("$PG_BIN/pgbench" -n -c 1 -T "$DURATION" -f "$WORK/$q.sql" "$url" 2>/dev/null | awk '/latency average/ {print $4}')"
        echo "{\"partitions_with_rows\": $n, \"query\": \"$q\", \"latency_avg_ms\": $lat}"
    done
done
