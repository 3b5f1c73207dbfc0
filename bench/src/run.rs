//! The connections' tasks (idle, subscriber, publisher) and the state they
//! share: counters, latency histograms, and per-room closed-loop accounting.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::{sleep_until, timeout};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use stomp_client::Decoder;

use crate::conn::{self, Conn, Credentials, Role, Target};
use crate::payload::{self, Stamp};

/// How many error messages are kept verbatim for the report.
const ERROR_SAMPLES: usize = 10;
/// Most messages a publisher writes before one flush.
const SEND_BATCH: u64 = 64;
/// A gap in one publisher's counters larger than this is counted as lost
/// without remembering each missing counter.
const MAX_TRACKED_GAP: u64 = 1 << 20;

pub fn new_histogram() -> Histogram<u64> {
    // Microseconds, 1 µs .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Counters and histograms of the whole run.
pub struct Shared {
    pub epoch: Instant,
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
    pub sent_total: AtomicU64,
    pub sent_window: AtomicU64,
    /// MESSAGE frames from this run's publishers (duplicates included).
    pub delivered_total: AtomicU64,
    pub delivered_window: AtomicU64,
    /// Deliveries seen for the first time (what the drain waits for).
    pub fresh_total: AtomicU64,
    pub receipts_requested: AtomicU64,
    pub receipts_total: AtomicU64,
    pub errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    /// Connections currently open.
    pub open: AtomicU64,
    /// Set once the run starts; late connections then give up.
    gate: Mutex<bool>,
    pub stopping: AtomicBool,
    pub latency: Mutex<Histogram<u64>>,
    pub receipt_latency: Mutex<Histogram<u64>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            epoch: Instant::now(),
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(u64::MAX),
            sent_total: AtomicU64::new(0),
            sent_window: AtomicU64::new(0),
            delivered_total: AtomicU64::new(0),
            delivered_window: AtomicU64::new(0),
            fresh_total: AtomicU64::new(0),
            receipts_requested: AtomicU64::new(0),
            receipts_total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
            open: AtomicU64::new(0),
            gate: Mutex::new(false),
            stopping: AtomicBool::new(false),
            latency: Mutex::new(new_histogram()),
            receipt_latency: Mutex::new(new_histogram()),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn ns_of(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    pub fn set_window(&self, start: Instant, end: Instant) {
        self.window_start_ns
            .store(self.ns_of(start), Ordering::Release);
        self.window_end_ns.store(self.ns_of(end), Ordering::Release);
    }

    pub fn in_window(&self, ns: u64) -> bool {
        ns >= self.window_start_ns.load(Ordering::Acquire)
            && ns < self.window_end_ns.load(Ordering::Acquire)
    }

    pub fn error(&self, msg: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < ERROR_SAMPLES {
            s.push(msg.into());
        }
    }

    pub fn error_samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` under the start gate: false once the run has started.
    fn join_before_start(&self, f: impl FnOnce()) -> bool {
        let started = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return false;
        }
        f();
        true
    }

    /// Closes the gate; `f` runs under it (snapshot the rooms there).
    pub fn start(&self, f: impl FnOnce()) {
        let mut started = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        *started = true;
        f();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// One room: its publishers' counters and the closed-loop accounting.
pub struct Room {
    pub destination: String,
    pub first_publisher: u32,
    pub publishers: usize,
    /// Messages written so far by each of the room's publishers.
    pub pub_sent: Box<[AtomicU64]>,
    /// Subscribers that subscribed before the start.
    pub subs_ready: AtomicU32,
    /// Snapshot of `subs_ready` at the start: whom a message must reach.
    pub subs_live: AtomicU32,
    /// Closed loop: messages reserved for sending (≥ those written).
    reserved: AtomicU64,
    /// Closed loop: the first `complete` messages (in delivery order)
    /// reached every live subscriber.
    complete: AtomicU64,
    /// Closed loop: per message index (mod len), how many subscribers have
    /// it. Empty when the loop is open.
    ring: Box<[AtomicU32]>,
    notify: Notify,
}

impl Room {
    pub fn new(
        destination: String,
        first_publisher: u32,
        publishers: usize,
        max_inflight: Option<u64>,
    ) -> Room {
        // At most K messages are between `complete` and `reserved`, so a
        // ring of more than K slots is never reused too early.
        let ring_len = max_inflight.map_or(0, |k| ((k + 1).next_power_of_two() * 2) as usize);
        Room {
            destination,
            first_publisher,
            publishers,
            pub_sent: (0..publishers).map(|_| AtomicU64::new(0)).collect(),
            subs_ready: AtomicU32::new(0),
            subs_live: AtomicU32::new(0),
            reserved: AtomicU64::new(0),
            complete: AtomicU64::new(0),
            ring: (0..ring_len).map(|_| AtomicU32::new(0)).collect(),
            notify: Notify::new(),
        }
    }

    pub fn sent(&self) -> u64 {
        self.pub_sent
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .sum()
    }

    /// A subscriber got its `n`-th (0-based) fresh message of this room.
    /// Every subscriber sees the room's messages in the same order, so once
    /// all of them have their n-th, the first n+1 are fully delivered.
    fn delivered_index(&self, n: u64) {
        if self.ring.is_empty() {
            return;
        }
        let subs = self.subs_live.load(Ordering::Acquire);
        let slot = &self.ring[(n as usize) & (self.ring.len() - 1)];
        if slot.fetch_add(1, Ordering::AcqRel) + 1 >= subs {
            slot.store(0, Ordering::Release);
            self.complete.fetch_max(n + 1, Ordering::AcqRel);
            self.notify.notify_waiters();
        }
    }

    /// Closed loop: reserves up to `want` sends while fewer than `k` of
    /// the room's messages are in flight. Returns how many were reserved.
    fn reserve(&self, k: u64, want: u64) -> u64 {
        if self.subs_live.load(Ordering::Acquire) == 0 {
            return want; // nobody to wait for
        }
        loop {
            let r = self.reserved.load(Ordering::Acquire);
            let c = self.complete.load(Ordering::Acquire);
            let inflight = r.saturating_sub(c);
            if inflight >= k {
                return 0;
            }
            let take = want.min(k - inflight);
            if self
                .reserved
                .compare_exchange_weak(r, r + take, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return take;
            }
        }
    }

    /// Waits until a reservation may succeed, or `until`.
    async fn wait_room(&self, k: u64, until: tokio::time::Instant) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let r = self.reserved.load(Ordering::Acquire);
        let c = self.complete.load(Ordering::Acquire);
        if r.saturating_sub(c) < k {
            return;
        }
        tokio::select! {
            _ = notified => {}
            _ = sleep_until(until) => {}
        }
    }
}

/// Everything a connection task needs.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub target: Target,
    pub creds: Vec<Credentials>,
    pub host_header: Option<String>,
    pub source_ips: Vec<IpAddr>,
    pub connect_sem: Semaphore,
    pub connect_timeout: Duration,
    pub size: usize,
    pub rate: Option<f64>,
    pub max_inflight: Option<u64>,
    pub receipts: bool,
    /// Publishers stop writing at this instant (set at start).
    pub start: watch::Receiver<Option<(Instant, Instant)>>,
    pub stop: watch::Receiver<bool>,
}

impl Ctx {
    fn local_ip(&self, index: usize) -> Option<IpAddr> {
        if self.source_ips.is_empty() {
            None
        } else {
            Some(self.source_ips[index % self.source_ips.len()])
        }
    }

    fn creds(&self, index: usize) -> &Credentials {
        &self.creds[index % self.creds.len()]
    }

    /// Opens, CONNECTs and (with a destination) SUBSCRIBEs, within the
    /// connect timeout and the connect concurrency limit.
    async fn open(
        &self,
        index: usize,
        role: Role,
        subscribe: Option<&str>,
    ) -> Result<Conn, String> {
        let _permit = self
            .connect_sem
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let setup = async {
            let mut c = Conn::open(&self.target, self.local_ip(index), role).await?;
            c.stomp_connect(self.creds(index), self.host_header.as_deref())
                .await?;
            if let Some(d) = subscribe {
                c.subscribe(d).await?;
            }
            Ok(c)
        };
        match timeout(self.connect_timeout, setup).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "connection setup took longer than {:?}",
                self.connect_timeout
            )),
        }
    }
}

/// Counts an open connection for as long as it lives.
struct OpenGuard(Arc<Shared>);

impl OpenGuard {
    fn new(shared: &Arc<Shared>) -> OpenGuard {
        shared.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(Arc::clone(shared))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a WebSocket read produced.
enum Read {
    Data(Bytes),
    Skip,
    Closed(String),
}

fn classify(msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Read {
    match msg {
        Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => Read::Data(m.into_data()),
        Some(Ok(Message::Close(c))) => Read::Closed(format!("closed by server: {c:?}")),
        Some(Ok(_)) => Read::Skip,
        Some(Err(e)) => Read::Closed(format!("read: {e}")),
        None => Read::Closed("connection closed by server".into()),
    }
}

/// An idle connection: authenticated and subscribed, reading (and
/// discarding) whatever comes until the end of the run.
pub async fn idle(
    ctx: Arc<Ctx>,
    index: usize,
    destination: String,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let conn = match ctx.open(index, Role::Idle, Some(&destination)).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    let _open = OpenGuard::new(&ctx.shared);
    if !ctx.shared.join_before_start(|| {}) {
        let _ = ready.send(Err("connected after the start".into())).await;
        return;
    }
    let _ = ready.send(Ok(())).await;
    drop(ready);
    let Conn { mut ws, .. } = conn;
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if t.starts_with("ERROR") => {
                    ctx.shared.error(format!("idle connection got {}", t.lines().take(3).collect::<Vec<_>>().join(" | ")));
                    break;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    if !ctx.shared.is_stopping() {
                        ctx.shared.error("idle connection closed by server");
                    }
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Per-publisher bookkeeping in one subscriber.
#[derive(Default)]
struct PubTrack {
    next: u64,
    missing: BTreeSet<u64>,
    untracked_gap: u64,
}

/// What one subscriber saw; loss is computed once publishers are done.
pub struct SubTrack {
    pub room: usize,
    pubs: Vec<PubTrack>,
    fresh: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub foreign: u64,
    pub seq_gaps: u64,
    pub seq_regressions: u64,
    last_seq: Option<i64>,
}

impl SubTrack {
    fn new(room: usize, publishers: usize) -> SubTrack {
        SubTrack {
            room,
            pubs: (0..publishers).map(|_| PubTrack::default()).collect(),
            fresh: 0,
            duplicated: 0,
            out_of_order: 0,
            foreign: 0,
            seq_gaps: 0,
            seq_regressions: 0,
            last_seq: None,
        }
    }

    /// Returns true when (publisher, counter) is seen for the first time.
    fn record(&mut self, publisher: usize, counter: u64) -> bool {
        let p = &mut self.pubs[publisher];
        if counter == p.next {
            p.next += 1;
        } else if counter > p.next {
            let gap = counter - p.next;
            if gap > MAX_TRACKED_GAP {
                p.untracked_gap += gap;
            } else {
                p.missing.extend(p.next..counter);
            }
            p.next = counter + 1;
        } else if p.missing.remove(&counter) {
            self.out_of_order += 1;
        } else {
            self.duplicated += 1;
            return false;
        }
        self.fresh += 1;
        true
    }

    fn record_seq(&mut self, seq: i64) {
        if let Some(last) = self.last_seq {
            if seq == last + 1 {
            } else if seq > last + 1 {
                self.seq_gaps += (seq - last - 1) as u64;
            } else {
                self.seq_regressions += 1;
            }
        }
        self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
    }

    /// Messages the room's publishers wrote that this subscriber never got.
    pub fn lost(&self, room: &Room) -> u64 {
        self.pubs
            .iter()
            .zip(room.pub_sent.iter())
            .map(|(p, sent)| {
                sent.load(Ordering::Acquire).saturating_sub(p.next)
                    + p.missing.len() as u64
                    + p.untracked_gap
            })
            .sum()
    }
}

/// A subscriber: subscribed before the start, checks every MESSAGE.
pub async fn subscriber(
    ctx: Arc<Ctx>,
    index: usize,
    room_index: usize,
    room: Arc<Room>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Option<SubTrack> {
    let conn = match ctx
        .open(index, Role::Subscriber, Some(&room.destination))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return None;
        }
    };
    let _open = OpenGuard::new(&ctx.shared);
    let joined = ctx.shared.join_before_start(|| {
        room.subs_ready.fetch_add(1, Ordering::AcqRel);
    });
    if !joined {
        let _ = ready.send(Err("subscribed after the start".into())).await;
        return None;
    }
    let _ = ready.send(Ok(())).await;
    drop(ready);

    let shared = Arc::clone(&ctx.shared);
    let mut track = SubTrack::new(room_index, room.publishers);
    let Conn { mut ws, mut dec } = conn;
    let mut stop = ctx.stop.clone();
    let mut latencies: Vec<u64> = Vec::new();
    let mut batch = Batch::default();
    // Frames that arrived with the RECEIPT are already buffered.
    let mut pending = true;
    loop {
        if !pending {
            // Take what is already there without waiting; publish the
            // local counts only before waiting (or after a large batch), so
            // shared counters are not touched per WebSocket message.
            let msg = match ws.next().now_or_never() {
                Some(msg) => msg,
                None => {
                    batch.publish(&shared, &mut latencies);
                    tokio::select! {
                        _ = stop.changed() => break,
                        msg = ws.next() => msg,
                    }
                }
            };
            match classify(msg) {
                Read::Data(d) => {
                    if let Err(e) = dec.push(&d) {
                        shared.error(format!("subscriber: {e}"));
                        break;
                    }
                }
                Read::Skip => continue,
                Read::Closed(why) => {
                    if !shared.is_stopping() {
                        shared.error(format!("subscriber {why}"));
                    }
                    break;
                }
            }
        }
        pending = false;
        let now = shared.now_ns();
        match on_frames(&shared, &room, &mut dec, &mut track, now, &mut latencies) {
            Ok((delivered, fresh)) => {
                batch.delivered += delivered;
                batch.fresh += fresh;
                if shared.in_window(now) {
                    batch.delivered_window += delivered;
                }
                if batch.delivered >= 1024 {
                    batch.publish(&shared, &mut latencies);
                }
            }
            Err(e) => {
                shared.error(e);
                break;
            }
        }
    }
    batch.publish(&shared, &mut latencies);
    Some(track)
}

/// A subscriber's counts not yet added to the shared ones.
#[derive(Default)]
struct Batch {
    delivered: u64,
    delivered_window: u64,
    fresh: u64,
}

impl Batch {
    fn publish(&mut self, shared: &Shared, latencies: &mut Vec<u64>) {
        if self.delivered > 0 {
            shared
                .delivered_total
                .fetch_add(self.delivered, Ordering::Relaxed);
            shared
                .delivered_window
                .fetch_add(self.delivered_window, Ordering::Relaxed);
            shared.fresh_total.fetch_add(self.fresh, Ordering::Relaxed);
            *self = Batch::default();
        }
        if !latencies.is_empty() {
            let mut h = shared.latency.lock().unwrap_or_else(|e| e.into_inner());
            for &l in latencies.iter() {
                h.saturating_record(l.max(1));
            }
            drop(h);
            latencies.clear();
        }
    }
}

/// Handles every complete frame in `dec`; returns (deliveries, fresh ones).
fn on_frames(
    shared: &Shared,
    room: &Room,
    dec: &mut Decoder,
    track: &mut SubTrack,
    now_ns: u64,
    latencies: &mut Vec<u64>,
) -> Result<(u64, u64), String> {
    let mut delivered = 0;
    let mut fresh = 0;
    while let Some(f) = dec.next_frame().map_err(|e| e.to_string())? {
        if !f.is("MESSAGE") {
            if f.is("RECEIPT") {
                continue;
            }
            return Err(format!("subscriber got {}", f.describe()));
        }
        let (payload, json_seq) = payload::unwrap_body(f.body);
        let Some(stamp) = payload::decode(&payload) else {
            track.foreign += 1;
            continue;
        };
        let Some(j) = (stamp.publisher as usize)
            .checked_sub(room.first_publisher as usize)
            .filter(|&j| j < room.publishers)
        else {
            track.foreign += 1;
            continue;
        };
        delivered += 1;
        let seq = json_seq.or_else(|| f.header("seq").and_then(|s| s.parse().ok()));
        if let Some(seq) = seq {
            track.record_seq(seq);
        }
        if track.record(j, stamp.counter) {
            room.delivered_index(track.fresh - 1);
            fresh += 1;
        }
        if shared.in_window(stamp.sent_ns) {
            latencies.push(now_ns.saturating_sub(stamp.sent_ns) / 1000);
        }
    }
    Ok((delivered, fresh))
}

/// A publisher: connects, waits for the start, then sends at `--rate`
/// (or as fast as the closed loop allows) until the end of the window,
/// and keeps reading receipts until the end of the run.
pub async fn publisher(
    ctx: Arc<Ctx>,
    index: usize,
    publisher_id: u32,
    room: Arc<Room>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let conn = match ctx.open(index, Role::Publisher, None).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    let _open = OpenGuard::new(&ctx.shared);
    if !ctx.shared.join_before_start(|| {}) {
        let _ = ready.send(Err("connected after the start".into())).await;
        return;
    }
    let _ = ready.send(Ok(())).await;
    drop(ready);

    let mut start_rx = ctx.start.clone();
    let mut stop = ctx.stop.clone();
    let times = tokio::select! {
        r = start_rx.wait_for(|s| s.is_some()) => r.ok().and_then(|s| *s),
        _ = stop.changed() => None,
    };
    let Some((t0, end)) = times else { return };

    let Conn { ws, mut dec } = conn;
    let (mut sink, mut stream) = ws.split();
    let shared = Arc::clone(&ctx.shared);
    let j = (publisher_id - room.first_publisher) as usize;

    let writer = async {
        let end = tokio::time::Instant::from_std(end);
        // Spread the publishers' schedules over one period.
        let start = match ctx.rate {
            Some(rate) => {
                let phase = f64::from(publisher_id % 1024) / 1024.0 / rate;
                t0 + Duration::from_secs_f64(phase)
            }
            None => t0,
        };
        let start = tokio::time::Instant::from_std(start);
        sleep_until(start).await;
        let mut counter: u64 = 0;
        let mut body = String::with_capacity(ctx.size + 32);
        let mut receipt = String::new();
        loop {
            let now = tokio::time::Instant::now();
            if now >= end {
                break;
            }
            let mut want = SEND_BATCH;
            if let Some(rate) = ctx.rate {
                let due = ((now - start).as_secs_f64() * rate) as u64 + 1;
                if due <= counter {
                    let next = start + Duration::from_secs_f64(counter as f64 / rate);
                    sleep_until(next.min(end)).await;
                    continue;
                }
                want = want.min(due - counter);
            }
            if let Some(k) = ctx.max_inflight {
                want = room.reserve(k, want);
                if want == 0 {
                    room.wait_room(k, end).await;
                    continue;
                }
            }
            for _ in 0..want {
                let sent_ns = shared.now_ns();
                let stamp = Stamp {
                    sent_ns,
                    publisher: publisher_id,
                    counter,
                };
                payload::encode(&mut body, stamp, ctx.size);
                let receipt_id = if ctx.receipts {
                    receipt.clear();
                    receipt.push_str(&format!("{counter}_{sent_ns}"));
                    Some(receipt.as_str())
                } else {
                    None
                };
                let mut frame = String::with_capacity(body.len() + 128);
                conn::send_frame(&mut frame, &room.destination, &body, receipt_id);
                if let Err(e) = sink.feed(Message::Text(Utf8Bytes::from(frame))).await {
                    return Err(format!("publisher write: {e}"));
                }
                counter += 1;
                room.pub_sent[j].store(counter, Ordering::Release);
                shared.sent_total.fetch_add(1, Ordering::Relaxed);
                if ctx.receipts {
                    shared.receipts_requested.fetch_add(1, Ordering::Relaxed);
                }
                if shared.in_window(sent_ns) {
                    shared.sent_window.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Err(e) = sink.flush().await {
                return Err(format!("publisher write: {e}"));
            }
        }
        Ok(())
    };

    let reader = async {
        let mut stop = ctx.stop.clone();
        loop {
            let read = tokio::select! {
                _ = stop.changed() => return Ok(()),
                msg = stream.next() => classify(msg),
            };
            match read {
                Read::Data(d) => dec.push(&d).map_err(|e| e.to_string())?,
                Read::Skip => continue,
                Read::Closed(why) => {
                    return if shared.is_stopping() {
                        Ok(())
                    } else {
                        Err(format!("publisher {why}"))
                    };
                }
            }
            while let Some(f) = dec.next_frame().map_err(|e| e.to_string())? {
                if f.is("RECEIPT") {
                    shared.receipts_total.fetch_add(1, Ordering::Relaxed);
                    let sent = f
                        .header("receipt-id")
                        .and_then(|r| r.split_once('_').and_then(|(_, t)| t.parse::<u64>().ok()));
                    if let Some(sent) = sent
                        && shared.in_window(sent)
                    {
                        let l = shared.now_ns().saturating_sub(sent) / 1000;
                        shared
                            .receipt_latency
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .saturating_record(l.max(1));
                    }
                } else {
                    return Err(format!("publisher got {}", f.describe()));
                }
            }
        }
    };

    tokio::pin!(writer);
    tokio::pin!(reader);
    let mut writer_done = false;
    loop {
        tokio::select! {
            w = &mut writer, if !writer_done => {
                writer_done = true;
                if let Err(e) = w {
                    shared.error(e);
                    return;
                }
            }
            r = &mut reader => {
                if let Err(e) = r {
                    shared.error(e);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_loss_duplicates_and_reordering() {
        let room = Room::new("/topic/rooms/r0".into(), 10, 2, None);
        let mut t = SubTrack::new(0, 2);
        assert!(t.record(0, 0));
        assert!(t.record(0, 2)); // 1 missing for now
        assert!(t.record(0, 1)); // late: out of order, not lost
        assert!(!t.record(0, 1)); // duplicate
        assert!(t.record(1, 0));
        assert!(t.record(1, 3)); // 1 and 2 never come
        room.pub_sent[0].store(4, Ordering::Release); // counter 3 never came
        room.pub_sent[1].store(4, Ordering::Release);
        assert_eq!(t.out_of_order, 1);
        assert_eq!(t.duplicated, 1);
        assert_eq!(t.lost(&room), 1 + 2);
        assert_eq!(t.fresh, 5);
    }

    #[test]
    fn tracks_seq() {
        let mut t = SubTrack::new(0, 1);
        for s in [5, 6, 9, 8, 10] {
            t.record_seq(s);
        }
        assert_eq!(t.seq_gaps, 2);
        assert_eq!(t.seq_regressions, 1);
    }

    #[test]
    fn closed_loop_allows_at_most_k_in_flight() {
        let room = Room::new("d".into(), 0, 1, Some(3));
        room.subs_live.store(2, Ordering::Release);
        assert_eq!(room.reserve(3, 10), 3);
        assert_eq!(room.reserve(3, 10), 0);
        room.delivered_index(0); // one of two subscribers
        assert_eq!(room.reserve(3, 10), 0);
        room.delivered_index(0); // both: message 0 is complete
        assert_eq!(room.reserve(3, 10), 1);
        // The second subscriber may be ahead of the first.
        room.delivered_index(1);
        room.delivered_index(2);
        room.delivered_index(1);
        assert_eq!(room.reserve(3, 10), 1);
        room.delivered_index(2);
        assert_eq!(room.reserve(3, 10), 1);
        assert_eq!(room.reserve(3, 10), 0);
    }
}
