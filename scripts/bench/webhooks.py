#!/usr/bin/env python3
"""Outgoing webhooks (BENCHMARKS.md, scenario 12).

`webhooks.py receive PORT`: a webhook receiver on loopback that answers 204
to every POST and counts them (GET /count); it checks nothing (the tests
verify signatures and order: tests/api/webhooks.rs).

`webhooks.py run`: against a running parley (PARLEY, its pid SERVER_PID)
with the receiver at RECEIVER:
  (a) deliveries per second with ONE outgoing webhook on a room: MESSAGES
      (2000) messages posted, timed until the receiver counted them all;
  (b) the same with HOOKS (100) outgoing webhooks on one room (each one
      delivers every message: HOOKS x MESSAGES_MANY deliveries);
  (c) the added cost of a stored message with 10 outgoing webhooks on its
      room: POSTS (300) messages posted one at a time to a room without
      webhooks and to one with 10; p50/p99 of the POST, and the server's
      CPU (utime + stime from /proc) per message until every delivery is
      done.
Prints one JSON line.
"""

import http.client
import http.server
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse


def receive(port):
    count = [0]
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                count[0] += 1
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            body = str(count[0]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


BASE = urllib.parse.urlparse(os.environ.get("PARLEY", "http://127.0.0.1:18080"))
local = threading.local()


def call(method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    for attempt in (1, 2):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=120)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed an idle keep-alive connection (its
            # keep-alive timeout) before this request was read: reconnect.
            conn.close()
            local.conn = None
            if attempt == 2:
                raise
    payload = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
    return json.loads(payload) if payload else None


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Receiver:
    def __init__(self, url):
        r = urllib.parse.urlparse(url)
        self.url = url
        self.conn = http.client.HTTPConnection(r.hostname, r.port, timeout=30)

    def count(self):
        self.conn.request("GET", "/count")
        return int(self.conn.getresponse().read())

    def wait_for(self, want, limit=900):
        deadline = time.time() + limit
        while self.count() < want and time.time() < deadline:
            time.sleep(0.02)
        return self.count()


def post_all(token, room, n, writers=4):
    """n messages to room from `writers` threads; returns seconds taken."""
    def work(k):
        for i in range(k, n, writers):
            call("POST", f"/api/v1/rooms/{room}/messages", token, {"body": f"event {i}"})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def hooks(token, room, n, receiver):
    for i in range(n):
        call("POST", f"/api/v1/rooms/{room}/webhooks", token,
             {"kind": "outgoing", "url": f"{receiver}/hook/{room}/{i}", "events": ["message"]})


def delivery_rate(token, room, n_hooks, messages, rx):
    call("POST", "/api/v1/rooms", token, {"name": room})
    hooks(token, room, n_hooks, rx.url)
    time.sleep(6)  # every webhook's task running and holding its lease
    before = rx.count()
    start = time.perf_counter()
    posted = post_all(token, room, messages)
    want = before + n_hooks * messages
    got = rx.wait_for(want) - before
    seconds = time.perf_counter() - start
    return {
        "webhooks": n_hooks,
        "messages": messages,
        "deliveries": got,
        "deliveries_expected": n_hooks * messages,
        "posting_seconds": round(posted, 2),
        "seconds": round(seconds, 2),
        "deliveries_per_second": round(got / seconds, 1),
    }


def timed_posts(token, room, n, pid, rx, want_deliveries):
    before = rx.count()
    cpu0 = cpu_secs(pid)
    took = []
    for i in range(n):
        t = time.perf_counter()
        call("POST", f"/api/v1/rooms/{room}/messages", token, {"body": f"message {i}"})
        took.append((time.perf_counter() - t) * 1000)
    got = rx.wait_for(before + want_deliveries) - before
    cpu = cpu_secs(pid) - cpu0
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 2),
        "p99_ms": round(took[int(len(took) * 0.99) - 1], 2),
        "deliveries": got,
        "server_cpu_ms_per_message": round(cpu * 1000 / n, 3),
    }


def run():
    pid = int(os.environ["SERVER_PID"])
    rx = Receiver(os.environ["RECEIVER"])
    messages = int(os.environ.get("MESSAGES", "2000"))
    n_many = int(os.environ.get("HOOKS", "100"))
    messages_many = int(os.environ.get("MESSAGES_MANY", "200"))
    posts = int(os.environ.get("POSTS", "300"))
    token = call("POST", "/api/v1/auth/signup",
                 body={"username": "owner", "password": "bench-password-1"})["access_token"]

    one = delivery_rate(token, "one", 1, messages, rx)
    many = delivery_rate(token, "many", n_many, messages_many, rx)

    call("POST", "/api/v1/rooms", token, {"name": "plain"})
    call("POST", "/api/v1/rooms", token, {"name": "ten"})
    hooks(token, "ten", 10, rx.url)
    time.sleep(6)
    plain = timed_posts(token, "plain", posts, pid, rx, 0)
    ten = timed_posts(token, "ten", posts, pid, rx, 10 * posts)
    print(json.dumps({
        "scenario": "webhooks",
        "one_webhook": one,
        f"{n_many}_webhooks": many,
        "message_without_webhooks": plain,
        "message_with_10_webhooks": ten,
        "added_cpu_ms_per_message_with_10_webhooks": round(
            ten["server_cpu_ms_per_message"] - plain["server_cpu_ms_per_message"], 3),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "receive":
        receive(int(sys.argv[2]))
    else:
        run()
