"""Scenario 10's summary: parley-bench's JSON line, the instances' /metrics
before and after the run, nginx's per-upstream WebSocket counts and the rows
added to `messages`, folded into one JSON line on stdout (a table on stderr).

    python3 production.py --bench bench.json --redis single \
        --rows-before N --rows-after M \
        --instance PORT:WEBSOCKETS:METRICS_BEFORE:METRICS_AFTER [--instance …]
"""

import argparse
import json
import re
import sys

# A sample line of the Prometheus text format: name{labels} value.
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")

# What each instance did during the run (README, "Metrics").
COUNTERS = {
    "websocket_sends": ("parley_stomp_frames_in_total", 'command="SEND"'),
    "stored": ("parley_messages_stored_total", None),
    "deliveries": ("parley_deliveries_total", None),
    # One per message arriving through Redis (from any instance, this
    # one's own included) for a room with subscribers here.
    "relayed_in": ("parley_redis_relay_lag_seconds_count", None),
}


def metric(path, name, label):
    total = 0.0
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = SAMPLE.match(line)
            if m and m.group(1) == name and (label is None or label in (m.group(2) or "")):
                total += float(m.group(3))
    return total


def instance(spec):
    port, websockets, before, after = spec.split(":", 3)
    row = {"port": int(port), "websockets": int(websockets)}
    for key, (name, label) in COUNTERS.items():
        row[key] = int(metric(after, name, label) - metric(before, name, label))
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", required=True)
    p.add_argument("--redis", required=True)
    p.add_argument("--rows-before", type=int, required=True)
    p.add_argument("--rows-after", type=int, required=True)
    p.add_argument("--instance", action="append", default=[])
    a = p.parse_args()

    with open(a.bench, encoding="utf-8") as f:
        b = json.loads(f.read().strip().splitlines()[-1])
    instances = [instance(s) for s in a.instance]
    cpu_seconds = {k: v["cpu_seconds"] for k, v in b["processes"].items()}
    cpu_cores = {k: v["cores"] for k, v in b["processes"].items()}
    cpu_seconds["generator"] = b["client_cpu_seconds"]
    cpu_cores["generator"] = b["client_cores"]
    stored = sum(i["stored"] for i in instances)
    relayed = sum(i["relayed_in"] for i in instances)
    summary = {
        "scenario": "production",
        "redis": a.redis,
        "instances": len(instances),
        "rooms": b["rooms"],
        "subs_per_room": b["subs_per_room"],
        "pubs_per_room": b["pubs_per_room"],
        "duration_s": b["duration_s"],
        "delivered_per_s": b["delivered_per_s"],
        "sent_per_s": b["sent_per_s"],
        "stored_per_s": b["receipts_per_s"],
        "latency_p50_ms": b["latency_p50_ms"],
        "latency_p99_ms": b["latency_p99_ms"],
        "latency_p999_ms": b["latency_p999_ms"],
        "receipt_p50_ms": b["receipt_p50_ms"],
        "receipt_p99_ms": b["receipt_p99_ms"],
        # The whole run (warm-up and drain included): every receipted
        # message is a row.
        "receipts": b["receipts"],
        "receipts_missing": b["receipts_missing"],
        "rows_added": a.rows_after - a.rows_before,
        "errors": b["errors"],
        "lost": b["lost"],
        "duplicated": b["duplicated"],
        "out_of_order": b["out_of_order"],
        "seq_gaps": b["seq_gaps"],
        "cpu_seconds": cpu_seconds,
        "cpu_cores": cpu_cores,
        "cpu_cores_total": round(sum(c for c in cpu_cores.values() if c is not None), 3),
        # Everything busy on the machine in the window: the components above
        # and whatever else shares it.
        "machine_cores": b["machine_cores"],
        "per_instance": instances,
        # How many instances a stored message reached through Redis: 1 if
        # each room's clients sat on one instance, up to the instance count.
        "relayed_per_stored": round(relayed / stored, 3) if stored else None,
        "bench": b,
    }
    print(json.dumps(summary))

    out = sys.stderr
    print(
        f"redis={a.redis}: delivered {b['delivered_per_s']:.0f}/s, stored "
        f"{b['receipts_per_s']:.0f}/s, e2e p50 {b['latency_p50_ms']} ms p99 "
        f"{b['latency_p99_ms']} ms, receipt p50 {b['receipt_p50_ms']} ms p99 "
        f"{b['receipt_p99_ms']} ms; rows added {summary['rows_added']} for "
        f"{b['receipts']} receipts; lost {b['lost']} errors {b['errors']}",
        file=out,
    )
    print("CPU in the window (cores):", file=out)
    for k, v in cpu_cores.items():
        print(f"  {k:<18} {v}", file=out)
    print(f"  {'total':<18} {summary['cpu_cores_total']}", file=out)
    print(f"  {'machine (all)':<18} {summary['machine_cores']}", file=out)
    print(f"per instance (whole run), relayed_per_stored {summary['relayed_per_stored']}:", file=out)
    for i in instances:
        print("  " + "  ".join(f"{k} {v}" for k, v in i.items()), file=out)


if __name__ == "__main__":
    main()
