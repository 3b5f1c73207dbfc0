#!/usr/bin/env python3
"""Per-connection heap by component from a heaptrack peak flame-graph stack
file (scenario 4; see BENCHMARKS.md and scripts/bench/4-idle-heap.sh).

    heaptrack_print -f FILE.zst -F STACKS --flamegraph-cost-type peak
    scripts/bench/heap-summary.py STACKS CONNECTIONS TITLE
"""
import sys, collections
stacks, n, title = sys.argv[1], int(sys.argv[2]), sys.argv[3]
skip = ("alloc.rs","boxed.rs","unix.rs","unwind_safe.rs","panicking.rs","panic.rs","function.rs","option.rs",
        "current.rs","unsafe_cell.rs","instrument.rs","future.rs","and_then.rs","sync.rs","raw.rs","core.rs","harness.rs")
def label(fr):
    s=";".join(fr)
    if "new<> (dispatcher.rs)" in s and "bytes_mut.rs" in s: return "actix-http h1 dispatcher read/write buffer (HW_BUFFER_SIZE)"
    if "upgrade<> (dispatcher.rs)" in s and "upgrade.rs" in s and "box_new" in s: return "the connection's future (boxed upgrade service future)"
    if "new_task" in s and "gateway" in s: return "the connection's task (actix_web::rt::spawn of connection::run)"
    if "new_task" in s and "worker.rs" in s: return "the HTTP connection's task (actix-server: h1 dispatcher future)"
    if "handle (lib.rs)" in s and "chan" in s: return "actix-ws message channel (capacity 32)"
    if "chan" in s and "connection.rs" in s: return "the connection's delivery queue (tokio mpsc)"
    if "registration_set.rs" in s: return "tokio I/O registration"
    if "poll_next (stream.rs)" in s: return "actix-ws MessageStream read buffer"
    if "reserve_rehash" in s or "map.rs" in s: return "hash tables (subscriptions, hub, session)"
    if "frame.rs" in s or "frames.rs" in s: return "STOMP decoding/handling"
    return "other"
tot=collections.Counter(); first={}
for line in open(stacks):
    st, _, cost = line.rstrip("\n").rpartition(" ")
    fr=[f.strip() for f in st.split(";")]
    l=label(fr); tot[l]+=int(cost)
    if l=="other":
        keep=[f for f in fr if not f.startswith("_R") and not any(f.endswith("("+k+")") for k in skip)]
        tot["other: "+" <- ".join(reversed(keep[-4:]))]+=0
print(f"# {title}\n# heaptrack peak heap by component, per idle connection ({n} connections); heaptrack_print -F --flamegraph-cost-type peak, classified by scripts/bench/heap-summary.py\n")
allb=sum(v for k,v in tot.items())
for k,v in sorted(tot.items(), key=lambda kv:-kv[1]):
    if v/n < 16: continue
    print(f"{v/n:9.0f} B  {k}")
print(f"{allb/n:9.0f} B  total peak heap / {n} (includes the process' fixed heap)")
