#!/usr/bin/env bash
# The durable-insert ceiling of the Postgres that scenario 5 runs on: the
# same rows as Parley's messages table (same columns and unique indexes),
# inserted by pgbench one per statement, then 100 per statement; every
# transaction committed with the server's default durability (fsync on,
# synchronous_commit on). Prints rows/s for each.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench scripts/bench/pgbench-ceiling.sh
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL=postgres://… (a scratch database)}"
CLIENTS="${CLIENTS:-16}"
DURATION="${DURATION:-15}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

psql -q "$DATABASE_URL" <<'SQL'
DROP TABLE IF EXISTS pgb_messages;
DROP SEQUENCE IF EXISTS pgb_seq;
CREATE SEQUENCE pgb_seq;
CREATE TABLE pgb_messages (
    id bigserial PRIMARY KEY,
    room_id bigint NOT NULL,
    seq bigint NOT NULL,
    sender_id bigint NOT NULL,
    body text NOT NULL,
    client_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (room_id, seq),
    UNIQUE (room_id, sender_id, client_id)
);
SQL
cat >"$WORK/single.sql" <<'SQL'
INSERT INTO pgb_messages (room_id, seq, sender_id, body)
VALUES (floor(random() * 200)::bigint + 1, nextval('pgb_seq'), 1, repeat('x', 100));
SQL
cat >"$WORK/batch100.sql" <<'SQL'
INSERT INTO pgb_messages (room_id, seq, sender_id, body)
SELECT floor(random() * 200)::bigint + 1, nextval('pgb_seq'), 1, repeat('x', 100)
FROM generate_series(1, 100);
SQL
for script in single batch100; do
    rows=1
    [[ $script == batch100 ]] && rows=100
    tps=$(pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$WORK/$script.sql" "$DATABASE_URL" 2>/dev/null \
        | awk '/^tps/ {print $3; exit}')
    printf '{"script":"%s","clients":%s,"tps":%s,"rows_per_s":%.0f}\n' \
        "$script" "$CLIENTS" "$tps" "$(echo "$tps * $rows" | bc -l)"
done
