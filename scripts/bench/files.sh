#!/usr/bin/env bash
# Files benchmark (BENCHMARKS.md, "Files"): upload and download throughput of
# one 25 MiB file, and the server's memory (RSS, sampled every 100 ms, and
# its peak VmHWM) while 20 users upload 25 MiB each at once. Against a local
# folder, and against an S3-compatible server when S3_ENDPOINT is set (e.g.
# `moto_server -H 127.0.0.1 -p 9000` and S3_ENDPOINT=http://127.0.0.1:9000).
#
#   scripts/bench/files.sh            # PARLEY_BIN, else target/release/parley
#
# Starts its own server on a free port with SQLite in a temp dir and stops
# it on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${PARLEY_BIN:-$ROOT/target/release/parley}"
[[ -x "$BIN" ]] || { echo "no server binary at $BIN (cargo build --release, or set PARLEY_BIN)" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-files-bench.XXXXXX")"
PID=""
cleanup() {
    [[ -z "$PID" ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$port"
head -c $((25 * 1024 * 1024)) /dev/urandom > "$WORK/25m.bin"

run() { # $1: label, $2: STORAGE_URL
    local label=$1 storage=$2
    BIND_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$WORK/$label.db?mode=rwc" \
    STORAGE_URL="$storage" SEND_RATE=0 USER_QUOTA_BYTES=$((1 << 40)) RUST_LOG=warn \
    SIGNUPS_PER_IP=1000 "$BIN" >"$WORK/$label.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
    local tokens=()
    for i in $(seq 1 20); do
        tokens+=("$(curl -sf -X POST "$BASE/api/v1/auth/signup" -H 'content-type: application/json' \
            -d "{\"username\":\"user$i\",\"password\":\"password-$i-long\"}" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')")
    done
    curl -sf -X POST "$BASE/api/v1/rooms" -H "authorization: Bearer ${tokens[0]}" \
        -H 'content-type: application/json' -d '{"name":"bench"}' >/dev/null

    # One upload, one download.
    local up down url
    up=$(curl -s -o "$WORK/up.json" -w '%{speed_upload}' -X POST \
        "$BASE/api/v1/rooms/bench/files?filename=one.bin" -H "authorization: Bearer ${tokens[0]}" \
        --data-binary @"$WORK/25m.bin")
    url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/up.json")
    down=$(curl -s -o /dev/null -w '%{speed_download}' "$BASE$url")

    # 20 concurrent uploads while RSS is sampled.
    local rss_max=0 rss pids=()
    for i in $(seq 0 19); do
        curl -s -o /dev/null -X POST "$BASE/api/v1/rooms/bench/files?filename=c$i.bin" \
            -H "authorization: Bearer ${tokens[$i]}" --data-binary @"$WORK/25m.bin" &
        pids+=($!)
    done
    local start=$SECONDS
    while kill -0 "${pids[@]}" 2>/dev/null; do
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
        (( rss > rss_max )) && rss_max=$rss
        sleep 0.1
    done
    wait "${pids[@]}" || true
    local took=$(( SECONDS - start ))
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
    printf '%-6s upload %6.1f MB/s  download %6.1f MB/s  20x25MiB in %3ds  RSS max %5d MiB  VmHWM %5d MiB\n' \
        "$label" "$(echo "$up / 1000000" | bc -l)" "$(echo "$down / 1000000" | bc -l)" "$took" \
        $(( rss_max / 1024 )) $(( hwm / 1024 ))
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}

run local "file://$WORK/files"
if [[ -n "${S3_ENDPOINT:-}" ]]; then
    bucket="parley-bench-$RANDOM$RANDOM"
    curl -sf -X PUT "$S3_ENDPOINT/$bucket" >/dev/null
    S3_ENDPOINT="$S3_ENDPOINT" AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" \
        AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}" run s3 "s3://$bucket/files"
fi
