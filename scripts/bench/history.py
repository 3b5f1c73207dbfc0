#!/usr/bin/env python3
"""History page latency of a large room (BENCHMARKS.md, scenario 6).

Fills one room through the REST API of a running parley with EVENTS events
(by default 100,000: messages, of which 10% are then edited, 5% deleted and
20% get a reaction), then times GET /api/v1/rooms/{room}/messages?limit=200
for pages at random points of the room, sequentially, over one keep-alive
connection. Prints one JSON line: p50/p99/max in milliseconds.

    PARLEY=http://127.0.0.1:18080 python3 scripts/bench/history.py
    MIX=plain ...   # messages only (what a server without the room log can serve)

Knobs: EVENTS (100000), PAGES (500 timed requests), WORKERS (16 filling
threads), MIX (log|plain).
"""

import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

BASE = urllib.parse.urlparse(os.environ.get("PARLEY", "http://127.0.0.1:18080"))
EVENTS = int(os.environ.get("EVENTS", "100000"))
PAGES = int(os.environ.get("PAGES", "500"))
WORKERS = int(os.environ.get("WORKERS", "16"))
MIX = os.environ.get("MIX", "log")
EMOJI = ["👍", "❤️", "😂", "🎉"]

local = threading.local()


def conn():
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=60)
    return local.c


def call(method, path, token=None, body=None, ok=(200, 201)):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(3):
        try:
            c = conn()
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
            if r.status not in ok:
                raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
            return json.loads(payload) if payload else None
        except (ConnectionError, http.client.HTTPException):
            local.__dict__.pop("c", None)
            if attempt == 2:
                raise
    return None


def signup(name):
    body = {"username": name, "password": "bench-password-1"}
    return call("POST", "/api/v1/auth/signup", body=body)["access_token"]


def main():
    run = f"{int(time.time()) % 100000}"
    users = [signup(f"h{run}u{i}") for i in range(4)]
    room = f"history-{run}"
    call("POST", "/api/v1/rooms", users[0], {"name": room})
    for t in users[1:]:
        call("POST", f"/api/v1/rooms/{room}/join", t)
    base = f"/api/v1/rooms/{urllib.parse.quote(room)}/messages"

    # 1 message + 0.10 edits + 0.05 deletes + 0.20 reactions = 1.35 events.
    messages = EVENTS if MIX == "plain" else int(EVENTS / 1.35)
    t0 = time.time()
    with ThreadPoolExecutor(WORKERS) as pool:
        seqs = list(pool.map(
            lambda i: call("POST", base, users[0], {"body": f"message {i} @h{run}u1"})["seq"],
            range(messages)))
        if MIX == "log":
            rng = random.Random(1)
            edited = rng.sample(seqs, len(seqs) // 10)
            deleted = rng.sample(seqs, len(seqs) // 20)
            reacted = rng.sample(seqs, len(seqs) // 5)
            list(pool.map(lambda s: call("PATCH", f"{base}/{s}", users[0], {"body": f"edited {s}"}),
                          edited))
            list(pool.map(
                lambda s: call("PUT", f"{base}/{s}/reactions/{urllib.parse.quote(EMOJI[s % 4])}",
                               users[1 + s % 3]), reacted))
            list(pool.map(lambda s: call("DELETE", f"{base}/{s}", users[0]), deleted))
    fill_secs = time.time() - t0
    last = call("GET", f"{base}?limit=1", users[0])["messages"][-1]["seq"]

    rng = random.Random(2)
    timings = []
    for _ in range(PAGES):
        before = rng.randint(201, last + 1)
        t = time.perf_counter()
        page = call("GET", f"{base}?limit=200&before={before}", users[1])
        timings.append((time.perf_counter() - t) * 1000)
        assert len(page["messages"]) == 200, len(page["messages"])
    timings.sort()
    print(json.dumps({
        "scenario": "history-page",
        "mix": MIX,
        "events": last,
        "fill_secs": round(fill_secs, 1),
        "pages": PAGES,
        "page_p50_ms": round(statistics.median(timings), 2),
        "page_p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "page_max_ms": round(timings[-1], 2),
    }))


if __name__ == "__main__":
    sys.exit(main())
