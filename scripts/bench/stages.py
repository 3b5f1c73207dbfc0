#!/usr/bin/env python3
"""Where a message's latency goes, from the server's own histograms
(BENCHMARKS.md, "Reproducing"; the metrics are the README's, "Metrics").

    stages.py scrape URL FILE       save GET URL (a parley's /metrics) to FILE
    stages.py report BEFORE AFTER   read parley-bench's JSON lines on stdin and
                                    print each with a "stages" field added

"stages" maps each stage to {"count", "p50_ms", "p99_ms"} over what the
server recorded between the two scrapes (warm-up included), estimated from
the histogram's buckets as Prometheus' histogram_quantile does (linear
within a bucket; a quantile in the last, open bucket is reported as its
lower bound). A stage with no samples in between is null.
"""

import json
import math
import re
import sys
import urllib.request

# In the order a message passes them.
STAGES = [
    ("receive_to_submit", "parley_receive_to_submit_seconds"),
    ("commit_wait", "parley_commit_wait_seconds"),
    ("commit_transaction", "parley_commit_transaction_seconds"),
    ("send_to_commit", "parley_send_to_commit_seconds"),
    ("commit_to_deliver", "parley_commit_to_deliver_seconds"),
    ("commit_to_dequeue", "parley_commit_to_dequeue_seconds"),
    ("dequeue_to_written", "parley_dequeue_to_written_seconds"),
]

BUCKET = re.compile(r'^(\w+)_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\}\s+(\S+)')


def buckets(text):
    """{metric: {upper bound: cumulative count}}, summed over label sets."""
    out = {}
    for line in text.splitlines():
        m = BUCKET.match(line)
        if m:
            name, le, count = m.group(1), float(m.group(2)), float(m.group(3))
            per = out.setdefault(name, {})
            per[le] = per.get(le, 0.0) + count
    return out


def quantile(q, cumulative):
    """cumulative: [(upper bound, count)] sorted, the last bound +Inf."""
    total = cumulative[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def stages(before, after):
    first, last = buckets(before), buckets(after)
    report = {}
    for stage, metric in STAGES:
        now = last.get(metric, {})
        then = first.get(metric, {})
        delta = sorted((le, count - then.get(le, 0.0)) for le, count in now.items())
        if not delta or delta[-1][1] <= 0:
            report[stage] = None
            continue
        report[stage] = {
            "count": int(delta[-1][1]),
            "p50_ms": round(quantile(0.50, delta) * 1000, 3),
            "p99_ms": round(quantile(0.99, delta) * 1000, 3),
        }
    return report


def main(argv):
    if len(argv) == 4 and argv[1] == "scrape":
        with urllib.request.urlopen(argv[2], timeout=10) as r:
            text = r.read().decode()
        with open(argv[3], "w") as f:
            f.write(text)
        return 0
    if len(argv) == 4 and argv[1] == "report":
        with open(argv[2]) as f:
            before = f.read()
        with open(argv[3]) as f:
            after = f.read()
        found = stages(before, after)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                run = json.loads(line)
            except ValueError:
                print(line)
                continue
            run["stages"] = found
            print(json.dumps(run))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
