#!/usr/bin/env python3
"""What synchronous=FULL costs SQLite here: commits per second in WAL mode
with synchronous=NORMAL and FULL, one row per transaction and 100 rows per
transaction (the shape of Parley's group commit), on a file in $TMPDIR.

    python3 scripts/bench/sqlite-sync-ceiling.py [seconds-per-case]

Prints one JSON line per case. Parley's messages table shape: an integer
room, seq, sender, a ~100-byte body, an optional client id, a timestamp,
with the same unique indexes (room, seq) and (room, sender, client_id).
"""
import json
import os
import sqlite3
import sys
import tempfile
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
BODY = "x" * 100


def run(sync: str, rows_per_tx: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "bench.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync}")
        db.execute(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, room_id INTEGER NOT NULL, "
            "seq INTEGER NOT NULL, sender_id INTEGER NOT NULL, body TEXT NOT NULL, "
            "client_id TEXT, created_at INTEGER NOT NULL)"
        )
        db.execute("CREATE UNIQUE INDEX m_room_seq ON messages (room_id, seq)")
        db.execute(
            "CREATE UNIQUE INDEX m_client ON messages (room_id, sender_id, client_id)"
        )
        seq = 0
        txs = 0
        start = time.monotonic()
        while time.monotonic() - start < SECONDS:
            db.execute("BEGIN IMMEDIATE")
            rows = []
            for _ in range(rows_per_tx):
                seq += 1
                rows.append((seq % 200, seq, seq % 32, BODY, f"c-{seq}", seq))
            db.executemany(
                "INSERT INTO messages (room_id, seq, sender_id, body, client_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
            txs += 1
        elapsed = time.monotonic() - start
        db.close()
        return {
            "synchronous": sync,
            "rows_per_tx": rows_per_tx,
            "commits_per_s": round(txs / elapsed),
            "rows_per_s": round(txs * rows_per_tx / elapsed),
        }


for rows in (1, 100):
    for sync in ("NORMAL", "FULL"):
        print(json.dumps(run(sync, rows)), flush=True)
