#!/usr/bin/env python3
"""Search latency over a large log (BENCHMARKS.md, scenario 7).

Against a running parley (PARLEY) whose database is DATABASE_URL: signs up
a searcher and a poster, creates ROOMS rooms (the searcher a member of
all), then loads MESSAGES messages (Latin and Hangul words mixed, spread
over the rooms) straight into the real schema with SQL (BENCH_SQL, the
`bench_sql` example: generate_series on Postgres, a recursive CTE on
SQLite), so the search index and the mentions triggers are maintained as in
production. Then times GET /api/v1/search for each kind of query,
sequentially over one keep-alive connection, and prints one JSON line per
kind: matches are the newest 20 of the searcher's rooms.

Knobs: MESSAGES (1000000), ROOMS (100), QUERIES (200 per kind; the
worst-case short query runs QUERIES/20 times), CHUNK (100000 rows per load
transaction).
"""

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse

BASE = urllib.parse.urlparse(os.environ.get("PARLEY", "http://127.0.0.1:18080"))
DATABASE_URL = os.environ["DATABASE_URL"]
BENCH_SQL = os.environ["BENCH_SQL"]
MESSAGES = int(os.environ.get("MESSAGES", "1000000"))
ROOMS = int(os.environ.get("ROOMS", "100"))
QUERIES = int(os.environ.get("QUERIES", "200"))
CHUNK = int(os.environ.get("CHUNK", "100000"))
POSTGRES = DATABASE_URL.startswith("postgres")

LATIN = ("apple river stone garden window coffee meeting project planet silver "
         "orange winter summer bridge forest market doctor letter pencil rocket "
         "castle dragon island jacket kitchen ladder mirror number office pocket "
         "queen rabbit shadow ticket umbrella valley wizard yellow zebra anchor").split()
HANGUL = ("안녕하세요 감사합니다 프로젝트 회의실 커피 사랑 학교 친구 오늘 날씨 "
          "서울역 부산항 음식점 영화관 음악 주말 여행 시간 내일 어제 "
          "컴퓨터 도서관 대학교 고양이 강아지 바다 하늘 자동차 지하철 경복궁").split()

conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=300)


def call(method, path, token=None, body=None):
    global conn
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
    except (ConnectionError, http.client.HTTPException):
        # The server closed the idle keep-alive connection (during the load).
        conn.close()
        conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=300)
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
    payload = r.read()
    if r.status not in (200, 201):
        raise RuntimeError(f"{method} {path}: {r.status} {payload[:200]!r}")
    return json.loads(payload) if payload else None


def run_sql(sql):
    subprocess.run([BENCH_SQL, DATABASE_URL], input=sql.encode(), check=True)


def words_sql(name, words):
    values = ", ".join(f"({i}, '{w}')" for i, w in enumerate(words))
    return (f"CREATE TEMP TABLE IF NOT EXISTS {name} (i INTEGER PRIMARY KEY, w TEXT); "
            f"INSERT INTO {name} VALUES {values};")


def load_chunk(first, end, room_ids, sender):
    r, l, h = len(room_ids), len(LATIN), len(HANGUL)
    if POSTGRES:
        arr = lambda ws: "ARRAY[" + ", ".join(f"'{w}'" for w in ws) + "]"
        ids = "ARRAY[" + ", ".join(map(str, room_ids)) + "]::bigint[]"
        run_sql(f"""
            INSERT INTO messages (room_id, seq, sender_id, body)
            SELECT ({ids})[1 + g % {r}], g / {r} + 1, {sender},
                   ({arr(LATIN)})[1 + (g * 7) % {l}] || ' ' || ({arr(LATIN)})[1 + (g * 13 + 5) % {l}]
                   || ' ' || ({arr(HANGUL)})[1 + (g * 11) % {h}] || ' '
                   || ({arr(HANGUL)})[1 + (g * 17 + 3) % {h}] || ' #' || g
            FROM generate_series({first}, {end - 1}) AS g;""")
    else:
        rooms = ", ".join(f"({i}, {rid})" for i, rid in enumerate(room_ids))
        now = int(time.time() * 1000)
        run_sql(f"""
            {words_sql('latin', LATIN)} {words_sql('hangul', HANGUL)}
            CREATE TEMP TABLE roomids (i INTEGER PRIMARY KEY, id INTEGER);
            INSERT INTO roomids VALUES {rooms};
            BEGIN;
            WITH RECURSIVE g(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM g WHERE n < {end - 1})
            INSERT INTO messages (room_id, seq, sender_id, body, created_at)
            SELECT (SELECT id FROM roomids WHERE i = n % {r}), n / {r} + 1, {sender},
                   (SELECT w FROM latin WHERE i = (n * 7) % {l}) || ' '
                   || (SELECT w FROM latin WHERE i = (n * 13 + 5) % {l}) || ' '
                   || (SELECT w FROM hangul WHERE i = (n * 11) % {h}) || ' '
                   || (SELECT w FROM hangul WHERE i = (n * 17 + 3) % {h}) || ' #' || n,
                   {now}
            FROM g;
            COMMIT;""")


def finish_load():
    run_sql("UPDATE rooms SET last_seq = (SELECT COALESCE(max(seq), 0) FROM messages "
            "WHERE messages.room_id = rooms.id);"
            + (" ANALYZE messages; ANALYZE mentions;" if POSTGRES else " ANALYZE;"))


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(token, kind, queries):
    times, hits = [], []
    for q in queries:
        path = "/api/v1/search?" + urllib.parse.urlencode({"q": q})
        t0 = time.perf_counter()
        body = call("GET", path, token)
        times.append((time.perf_counter() - t0) * 1000)
        hits.append(len(body["results"]))
    print(json.dumps({
        "scenario": "search", "backend": "postgres" if POSTGRES else "sqlite",
        "messages": MESSAGES, "kind": kind, "requests": len(times),
        "example": queries[0], "mean_results": round(statistics.mean(hits), 1),
        "p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2),
        "max_ms": round(max(times), 2),
    }), flush=True)


def main():
    run = f"{int(time.time()) % 100000}"
    pw = "bench-password-1"
    searcher = call("POST", "/api/v1/auth/signup", body={"username": f"s{run}", "password": pw})
    poster = call("POST", "/api/v1/auth/signup", body={"username": f"p{run}", "password": pw})
    token = searcher["access_token"]
    room_ids = []
    for i in range(ROOMS):
        room = call("POST", "/api/v1/rooms", poster["access_token"], {"name": f"s{run}-{i}"})
        call("POST", f"/api/v1/rooms/s{run}-{i}/join", token)
        room_ids.append(room["id"])
    t0 = time.perf_counter()
    for first in range(0, MESSAGES, CHUNK):
        load_chunk(first, min(first + CHUNK, MESSAGES), room_ids, poster["user"]["id"])
        print(f"loaded {min(first + CHUNK, MESSAGES)} in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    finish_load()
    print(json.dumps({"scenario": "search-load", "backend": "postgres" if POSTGRES else "sqlite",
                      "messages": MESSAGES, "seconds": round(time.perf_counter() - t0, 1)}),
          flush=True)

    rnd = random.Random(7)
    long_latin = [w for w in LATIN if len(w) >= 3]
    long_hangul = [w for w in HANGUL if len(w) >= 3]
    short_hangul = [w for w in HANGUL if len(w) == 2]
    n = QUERIES
    measure(token, "latin word", [rnd.choice(long_latin) for _ in range(n)])
    measure(token, "latin two words", [" ".join(rnd.sample(long_latin, 2)) for _ in range(n)])
    measure(token, "latin rare (a number)", [f"#{rnd.randrange(MESSAGES)}" for _ in range(n)])
    measure(token, "hangul word (3+ syllables)", [rnd.choice(long_hangul) for _ in range(n)])
    measure(token, "hangul + latin", [f"{rnd.choice(long_hangul)} {rnd.choice(long_latin)}"
                                      for _ in range(n)])
    measure(token, "short: hangul 2 syllables", [rnd.choice(short_hangul) for _ in range(n)])
    measure(token, "short: latin 2 letters", [rnd.choice(long_latin)[1:3] for _ in range(n)])
    measure(token, "short, absent (worst case: every message read)",
            ["zq"] * max(3, n // 20))


if __name__ == "__main__":
    main()
