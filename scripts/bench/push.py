#!/usr/bin/env python3
"""Notifications (BENCHMARKS.md, scenario 11), on SQLite.

`push.py receive PORT`: a push service on loopback that answers 201 to every
POST and counts them (GET /count).

`push.py run`: against a running parley (PARLEY) on the SQLite file DB with
the receiver at RECEIVER:
  (a) a room of MEMBERS (5000) members at the default level (`mentions`)
      and a room of 2; POSTS (300) messages to each, timed one by one
      (p50/p99): what the due-notification query adds to a send;
  (b) SUBSCRIBERS (200) members at level `all` with a subscription each;
      MESSAGES (50) messages: pushes per second until the receiver has
      counted them all.
Prints one JSON line.
"""

import http.client
import http.server
import json
import os
import sqlite3
import statistics
import sys
import threading
import time
import urllib.parse

# The P-256 generator point: a valid public key for subscriptions whose
# pushes nobody decrypts.
G = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)


def b64url(b):
    import base64

    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def receive(port):
    count = [0]
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                count[0] += 1
            self.send_response(201)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self):
            body = str(count[0]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


BASE = urllib.parse.urlparse(os.environ.get("PARLEY", "http://127.0.0.1:18080"))
conn = None


def call(method, path, token=None, body=None):
    global conn
    conn = conn or http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=120)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
    return json.loads(payload) if payload else None


def signup(name):
    return call("POST", "/api/v1/auth/signup", body={"username": name, "password": "bench-password-1"})


def members(db, room, prefix, n, level=None, endpoint=None):
    """n users straight into the database, members of `room` at `level`,
    each with a subscription at `endpoint` if given."""
    now = int(time.time() * 1000)
    with sqlite3.connect(db, timeout=60) as c:
        room_id = c.execute("SELECT id FROM rooms WHERE name = ?", (room,)).fetchone()[0]
        for i in range(n):
            cur = c.execute(
                "INSERT INTO users (username, password_hash, created_at) VALUES (?, 'x', ?)",
                (f"{prefix}{i}", now),
            )
            uid = cur.lastrowid
            c.execute(
                "INSERT INTO memberships (room_id, user_id, joined_at, notify_level) VALUES (?, ?, ?, ?)",
                (room_id, uid, now, level),
            )
            if endpoint:
                c.execute(
                    "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (uid, f"{endpoint}/push/{uid}", b64url(G), b64url(bytes(16)), now),
                )


def timed_posts(token, room, n):
    took = []
    for i in range(n):
        t = time.perf_counter()
        call("POST", f"/api/v1/rooms/{room}/messages", token, {"body": f"message {i}"})
        took.append((time.perf_counter() - t) * 1000)
    took.sort()
    return {"p50_ms": round(statistics.median(took), 2), "p99_ms": round(took[int(len(took) * 0.99) - 1], 2)}


def run():
    db = os.environ["DB"]
    receiver = os.environ["RECEIVER"]
    n_members = int(os.environ.get("MEMBERS", "5000"))
    posts = int(os.environ.get("POSTS", "300"))
    subscribers = int(os.environ.get("SUBSCRIBERS", "200"))
    messages = int(os.environ.get("MESSAGES", "50"))
    writer = signup("writer")["access_token"]
    other = signup("other")
    for room in ("big", "small", "loud"):
        call("POST", "/api/v1/rooms", writer, {"name": room})
    call("POST", "/api/v1/rooms/small/join", other["access_token"], {})
    members(db, "big", "m", n_members)
    small = timed_posts(writer, "small", posts)
    big = timed_posts(writer, "big", posts)

    members(db, "loud", "s", subscribers, level="all", endpoint=receiver)
    r = urllib.parse.urlparse(receiver)
    counter = http.client.HTTPConnection(r.hostname, r.port, timeout=30)

    def counted():
        counter.request("GET", "/count")
        return int(counter.getresponse().read())

    start = time.perf_counter()
    for i in range(messages):
        call("POST", "/api/v1/rooms/loud/messages", writer, {"body": f"push {i}"})
    want = subscribers * messages
    deadline = time.time() + 600
    while counted() < want and time.time() < deadline:
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    got = counted()
    print(json.dumps({
        "scenario": "push",
        "message_in_room_of_2": small,
        f"message_in_room_of_{n_members}_at_default_level": big,
        "pushes": got,
        "pushes_expected": want,
        "seconds": round(seconds, 2),
        "pushes_per_second": round(got / seconds, 1),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "receive":
        receive(int(sys.argv[2]))
    else:
        run()
