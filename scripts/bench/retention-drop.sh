#!/usr/bin/env bash
# Retention on Postgres, the two ways rows go (docs/SCALING.md,
# "Retention: the room log in time partitions"): the same 100,000 events of
# one day, out of 500,000 in 50 rooms spread over five daily partitions,
# removed (a) by dropping their partition the way the pruner does (read the
# rooms and their highest seqs, move the horizons under the rooms' locks
# and look for events left below them in newer partitions,
# DETACH … CONCURRENTLY, DROP, delete their reactions and mentions) and
# (b) by the row-by-row batches of `RETENTION_MAX_EVENTS_PER_ROOM` (1,000
# per transaction). Prints psql's timing of each statement.
#
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:55432/postgres scripts/bench/retention-drop.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ADMIN="${PG_ADMIN_URL:-${TEST_DATABASE_URL:?set PG_ADMIN_URL=postgres://… (an admin URL)}}"
PSQL="${PSQL:-$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)}"
DB="parley_retention_drop_$$"
URL="${ADMIN%/*}/$DB"
run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() { [[ -n "${KEEP:-}" ]] || run "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true; }
trap cleanup EXIT
run "$ADMIN" -c "CREATE DATABASE $DB TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
for f in "$ROOT"/migrations/postgres/*.sql; do run "$URL" -f "$f"; done

run "$URL" <<'SQL'
SELECT messages_add_partitions('1 day', '6 days');
INSERT INTO users (username, password_hash) VALUES ('writer', 'x'), ('reader', 'x');
INSERT INTO rooms (name, private, owner_id, last_seq)
SELECT 'room' || r, false, 1, 10000 FROM generate_series(1, 50) r;
-- 10,000 events per room, 2,000 of them in each daily partition (the first
-- starts with the legacy partition's end); 1% mention the reader, 10% have
-- a reaction.
INSERT INTO messages (room_id, seq, sender_id, body, mentions, created_at)
SELECT r.id, s, 1, 'message ' || s || ' of the day ' || ((s - 1) / 2000),
       CASE WHEN s % 100 = 0 THEN '["reader"]' ELSE '[]' END,
       messages_row_pruned_before() + ((s - 1) / 2000) * interval '1 day' + s * interval '1 ms'
FROM rooms r, generate_series(1, 10000) s;
INSERT INTO reactions (room_id, target_seq, reaction_key, user_id, seq)
SELECT room_id, seq, 'ok', 2, seq FROM messages WHERE seq % 10 = 0;
VACUUM ANALYZE;
SELECT name, starts_at, ends_at FROM messages_partitions();
SQL

echo "== (a) one day dropped as a partition"
read -r FIRST FIRST_END < <(run "$URL" -At -F ' ' -c "SELECT name, extract(epoch FROM ends_at) FROM messages_partitions() WHERE starts_at IS NOT NULL ORDER BY starts_at LIMIT 1")
run "$URL" <<SQL
\\timing on
CREATE TEMP TABLE contents AS
SELECT room_id, max(seq) AS max_seq, count(*) AS n, min(id) AS min_id, max(id) AS max_id
FROM $FIRST GROUP BY room_id;
BEGIN;
SELECT count(*) FROM (SELECT id FROM rooms WHERE id IN (SELECT room_id FROM contents) ORDER BY id FOR UPDATE) l;
UPDATE rooms r SET horizon_seq = GREATEST(r.horizon_seq, LEAST(c.max_seq, r.last_seq))
FROM contents c WHERE r.id = c.room_id;
SELECT count(*) AS stragglers FROM rooms r WHERE r.id IN (SELECT room_id FROM contents)
  AND (SELECT x.seq FROM messages x
       WHERE x.room_id = r.id AND x.created_at >= to_timestamp($FIRST_END)
       ORDER BY x.seq LIMIT 1) <= r.horizon_seq;
COMMIT;
ALTER TABLE messages DETACH PARTITION $FIRST CONCURRENTLY;
DROP TABLE $FIRST;
DELETE FROM reactions x USING rooms r
WHERE r.id IN (SELECT room_id FROM contents) AND x.room_id = r.id AND x.target_seq <= r.horizon_seq;
DELETE FROM mentions x
WHERE x.message_id BETWEEN (SELECT min(min_id) FROM contents) AND (SELECT max(max_id) FROM contents)
  AND x.room_id IN (SELECT room_id FROM contents)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = x.message_id);
\\timing off
SELECT sum(n) AS events_dropped FROM contents;
SQL

echo "== (b) the next day deleted row by row, 1,000 per transaction"
run "$URL" <<'SQL'
\timing on
DO $$
DECLARE
    room record;
    h bigint;
BEGIN
    FOR room IN SELECT id FROM rooms ORDER BY id LOOP
        FOR b IN 1..2 LOOP
            SELECT horizon_seq INTO h FROM rooms WHERE id = room.id FOR UPDATE;
            WITH reacted AS (DELETE FROM reactions
                             WHERE room_id = room.id AND target_seq > h AND target_seq <= h + 1000),
                 mentioned AS (DELETE FROM mentions WHERE message_id IN
                               (SELECT id FROM messages
                                WHERE room_id = room.id AND seq > h AND seq <= h + 1000))
            DELETE FROM messages WHERE room_id = room.id AND seq > h AND seq <= h + 1000;
            UPDATE rooms SET horizon_seq = h + 1000 WHERE id = room.id;
            COMMIT;
        END LOOP;
    END LOOP;
END
$$;
VACUUM messages;
\timing off
SELECT count(*) AS events_left FROM messages;
SQL
