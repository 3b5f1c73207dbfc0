#!/usr/bin/env python3
"""Room list latency with unread counts (BENCHMARKS.md, scenario 8).

A reader belongs to ROOMS rooms (500) holding MESSAGES messages in all
(1,000,000) from a writer, 1% of them mentioning the reader. The rooms, users
and memberships are made through the REST API of a running parley; the
messages are written straight into its database (through parley's own
sqlx: `examples/bench_sql.rs`), through the real schema, so every index is
maintained as in production. Then GET /api/v1/rooms is timed, REQUESTS (200)
times sequentially, with the reader's markers (a) at the start (every message
unread: the worst case) and (b) near the end (10 unread per room: the usual
case). Prints one JSON line.

    PARLEY=http://127.0.0.1:18080 DATABASE_URL=postgres://… python3 scripts/bench/roomlist.py
    PARLEY=… DATABASE_URL=sqlite:///tmp/x.db?mode=rwc python3 scripts/bench/roomlist.py
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

BASE = urllib.parse.urlparse(os.environ.get("PARLEY", "http://127.0.0.1:18080"))
DATABASE_URL = os.environ["DATABASE_URL"]
ROOMS = int(os.environ.get("ROOMS", "500"))
MESSAGES = int(os.environ.get("MESSAGES", "1000000"))
REQUESTS = int(os.environ.get("REQUESTS", "200"))
BENCH_SQL = os.environ["BENCH_SQL"]

conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=120)


def call(method, path, token=None, body=None, ok=(200, 201, 204)):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    global conn
    for attempt in range(2):
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            payload = r.read()
            break
        except (ConnectionError, http.client.HTTPException):
            # The server closes a keep-alive connection left idle (the fill).
            conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=120)
            if attempt == 1:
                raise
    if r.status not in ok:
        raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
    return json.loads(payload) if payload else None


def signup(name):
    body = {"username": name, "password": "bench-password-1"}
    answer = call("POST", "/api/v1/auth/signup", body=body)
    return answer["access_token"], answer["user"]["id"]


def run_sql(sql):
    """Through parley's own sqlx and SQLite (`examples/bench_sql.rs`): a
    system sqlite3 may not read the FTS5 index format of the migrations."""
    subprocess.run([BENCH_SQL, DATABASE_URL], input=sql.encode(), check=True)


def fill_sql(room_ids, writer_id, reader_name, per_room):
    """One INSERT … SELECT per backend: per_room messages in each room."""
    mention = json.dumps([reader_name])
    ids = ",".join(str(r) for r in room_ids)
    if DATABASE_URL.startswith("postgres"):
        run_sql(f"""
        INSERT INTO messages (room_id, seq, kind, sender_id, body, mentions)
        SELECT r, s, 'message', {writer_id}, 'message ' || s || ' in ' || r,
               CASE WHEN s % 100 = 0 THEN '{mention}' ELSE '[]' END
        FROM unnest(ARRAY[{ids}]::int8[]) AS r, generate_series(1, {per_room}) AS s;
        UPDATE rooms SET last_seq = {per_room} WHERE id IN ({ids});
        """)
        run_sql("VACUUM ANALYZE messages")
    else:
        now = int(time.time() * 1000)
        run_sql(f"""
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {per_room})
        INSERT INTO messages (room_id, seq, kind, sender_id, body, mentions, created_at)
        SELECT r.id, s.n, 'message', {writer_id}, 'message ' || s.n || ' in ' || r.id,
               CASE WHEN s.n % 100 = 0 THEN '{mention}' ELSE '[]' END, {now}
        FROM rooms r, s WHERE r.id IN ({ids});
        UPDATE rooms SET last_seq = {per_room} WHERE id IN ({ids});
        ANALYZE;
        """)


def time_list(token, expect_unread):
    timings = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        rooms = call("GET", "/api/v1/rooms", token)["rooms"]
        timings.append((time.perf_counter() - t) * 1000)
    mine = [r for r in rooms if r["membership"]]
    assert len(mine) == ROOMS, len(mine)
    unread = sum(r["membership"]["unread"] for r in mine)
    assert unread == expect_unread, (unread, expect_unread)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "unread_total": unread,
        "mentions_total": sum(r["membership"]["mentions"] for r in mine),
    }


def main():
    run = f"{int(time.time()) % 100000}"
    writer, writer_id = signup(f"w{run}")
    reader, _ = signup(f"r{run}")
    reader_name = f"r{run}"
    room_ids = []
    for i in range(ROOMS):
        room = call("POST", "/api/v1/rooms", writer, {"name": f"list-{run}-{i}"})
        call("POST", f"/api/v1/rooms/{room['name']}/join", reader)
        room_ids.append(room["id"])
    per_room = MESSAGES // ROOMS
    t0 = time.time()
    fill_sql(room_ids, writer_id, reader_name, per_room)
    fill_secs = time.time() - t0
    worst = time_list(reader, per_room * ROOMS)
    for i in range(ROOMS):
        call("PUT", f"/api/v1/rooms/list-{run}-{i}/read", reader, {"seq": per_room - 10})
    usual = time_list(reader, 10 * ROOMS)
    print(json.dumps({
        "scenario": "room-list",
        "database": DATABASE_URL.split(":")[0],
        "rooms": ROOMS,
        "messages": per_room * ROOMS,
        "fill_secs": round(fill_secs, 1),
        "requests": REQUESTS,
        "all_unread": worst,
        "ten_unread_per_room": usual,
    }))


if __name__ == "__main__":
    sys.exit(main())
