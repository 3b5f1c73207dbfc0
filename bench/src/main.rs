//! parley-bench: a load generator speaking STOMP 1.2 over WebSocket to any
//! STOMP-over-WebSocket server (Parley, RabbitMQ Web-STOMP, …).
//!
//! It opens idle, subscriber and publisher connections, runs publishers at a
//! fixed rate or in a closed loop, checks every delivery for loss,
//! duplication and order, measures end-to-end latency, optionally samples
//! the server process's CPU and memory, and prints one JSON line.

mod conn;
mod payload;
mod procfs;
mod run;
mod signup;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::conn::{Credentials, Target};
use crate::run::{Ctx, Room, Shared, SubTrack};

/// Connections per source address when spreading automatically (the
/// ephemeral port range holds about 28k ports per address).
const CONNS_PER_SOURCE_IP: usize = 25_000;

#[derive(Parser, Debug)]
#[command(
    name = "parley-bench",
    version,
    about = "STOMP 1.2 over WebSocket load generator (Parley, RabbitMQ Web-STOMP, …)",
    long_about = "STOMP 1.2 over WebSocket load generator for Parley and any \
        STOMP-over-WebSocket broker (RabbitMQ Web-STOMP, …). Prints one JSON \
        line on stdout at the end, progress on stderr every second. Exit \
        status: 0 clean run, 2 the run completed but saw errors, loss, \
        duplicates, reordering or missing receipts, 1 it could not run."
)]
struct Args {
    /// WebSocket URL of the STOMP endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,

    /// Bearer token (Parley access token) for every connection, sent as `passcode`.
    #[arg(long, conflicts_with_all = ["login", "signup"])]
    token: Option<String>,

    /// STOMP `login` header (RabbitMQ: guest).
    #[arg(long, requires = "passcode", conflicts_with = "signup")]
    login: Option<String>,

    /// STOMP `passcode` header (RabbitMQ: guest).
    #[arg(long, requires = "login")]
    passcode: Option<String>,

    /// Create fresh users (POST /api/v1/auth/signup) and the rooms
    /// (POST /api/v1/rooms) on a Parley server; the HTTP base URL is
    /// derived from --url (ws://H:P/… → http://H:P) unless --http-url is given.
    #[arg(long)]
    signup: bool,

    /// HTTP base URL of the Parley REST API, for --signup.
    #[arg(long)]
    http_url: Option<String>,

    /// With --signup: how many users to create; connections use them round-robin
    /// (each signup costs the server an Argon2 hash). Never more than the connections.
    #[arg(long, default_value_t = 16)]
    users: usize,

    /// With --signup: signups in flight at once.
    #[arg(long, default_value_t = 4)]
    signup_concurrency: usize,

    /// Number of rooms (destinations), named <room-prefix>0 … <room-prefix>N-1.
    #[arg(long, default_value_t = 1)]
    rooms: usize,

    /// Room name prefix.
    #[arg(long, default_value = "r")]
    room_prefix: String,

    /// Destination prefix: /topic/rooms/ for Parley, /topic/ for RabbitMQ.
    #[arg(long, default_value = "/topic/rooms/")]
    destination_prefix: String,

    /// STOMP `host` header in CONNECT (RabbitMQ: the vhost); not sent when unset.
    #[arg(long)]
    vhost: Option<String>,

    /// Subscriber connections per room.
    #[arg(long, default_value_t = 1)]
    subs_per_room: usize,

    /// Publisher connections per room.
    #[arg(long, default_value_t = 1)]
    pubs_per_room: usize,

    /// Messages per second per publisher, or `unlimited`.
    #[arg(long, default_value = "unlimited", value_parser = parse_rate)]
    rate: Rate,

    /// Closed loop: a publisher sends only while fewer than K of its room's
    /// messages are not yet delivered to every subscriber of the room
    /// (at most K in flight per room).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    max_inflight: Option<u64>,

    /// Message body size in bytes (at least the ~30-byte stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,

    /// Measured run time (after the warm-up), e.g. 15, 15s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_secs)]
    duration: f64,

    /// Warm-up before measuring: messages sent in it are delivered and
    /// checked but not counted in rates and latencies.
    #[arg(long, default_value = "2s", value_parser = parse_secs)]
    warmup: f64,

    /// After the run, how long to wait for in-flight deliveries and receipts.
    #[arg(long, default_value = "5s", value_parser = parse_secs)]
    drain: f64,

    /// Every SEND asks for a receipt; receipts and their latency are counted.
    #[arg(long)]
    receipts: bool,

    /// Open N idle connections (authenticated, subscribed round-robin to the
    /// rooms) first and hold them for the run, to measure memory per connection.
    #[arg(long, default_value_t = 0)]
    idle: usize,

    /// Sample CPU (utime+stime) and RSS of this process (the server) from /proc.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Also measure the CPU of this process and its descendants over the
    /// window, reported under NAME in `processes` (repeatable: one per
    /// component, e.g. --cpu-pid nginx=1234 --cpu-pid postgres=567).
    #[arg(long = "cpu-pid", value_name = "NAME=PID", value_parser = parse_named_pid)]
    cpu_pids: Vec<(String, u32)>,

    /// Spread connections over this many local addresses 127.0.0.1, 127.0.0.2, …
    /// (0: automatic, one per 25,000 connections when the target is loopback).
    #[arg(long, default_value_t = 0)]
    source_ips: usize,

    /// Explicit local addresses to bind, comma-separated (overrides --source-ips).
    #[arg(long, value_delimiter = ',')]
    source_addrs: Vec<IpAddr>,

    /// Connection setups (TCP + WebSocket + CONNECT + SUBSCRIBE) in flight at once.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,

    /// Time limit for one connection's setup.
    #[arg(long, default_value = "20s", value_parser = parse_secs)]
    connect_timeout: f64,

    /// Time limit for opening all connections (each phase); the run then
    /// goes on with those that are ready.
    #[arg(long, default_value = "600s", value_parser = parse_secs)]
    setup_timeout: f64,

    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,

    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy)]
struct Rate(Option<f64>);

fn parse_rate(s: &str) -> Result<Rate, String> {
    match s {
        "unlimited" | "max" | "0" => Ok(Rate(None)),
        _ => match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Rate(Some(r))),
            _ => Err(format!(
                "expected messages per second or `unlimited`, got {s:?}"
            )),
        },
    }
}

fn parse_named_pid(s: &str) -> Result<(String, u32), String> {
    match s.rsplit_once('=') {
        Some((name, pid)) if !name.is_empty() => pid
            .parse::<u32>()
            .map(|pid| (name.to_string(), pid))
            .map_err(|_| format!("expected NAME=PID, got {s:?}")),
        _ => Err(format!("expected NAME=PID, got {s:?}")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v * mult),
        _ => Err(format!(
            "expected a duration like 15, 15s, 500ms, 2m; got {s:?}"
        )),
    }
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(async move {
        match bench(args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("parley-bench: {e}");
                1
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

/// The JSON line printed at the end.
#[derive(Serialize, Default)]
struct Report {
    url: String,
    rooms: usize,
    subs_per_room: usize,
    pubs_per_room: usize,
    idle: usize,
    size: usize,
    rate_per_publisher: Option<f64>,
    max_inflight: Option<u64>,
    receipts_requested: bool,
    warmup_s: f64,
    duration_s: f64,

    connections: u64,
    connect_errors: u64,
    connect_seconds: f64,
    connect_rate_per_s: f64,

    sent: u64,
    sent_per_s: f64,
    delivered: u64,
    delivered_per_s: f64,
    sent_total: u64,
    delivered_total: u64,
    expected_deliveries: u64,

    latency_samples: u64,
    latency_p50_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    latency_p999_ms: Option<f64>,
    latency_max_ms: Option<f64>,
    latency_mean_ms: Option<f64>,

    errors: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    seq_gaps: u64,
    seq_regressions: u64,
    foreign: u64,

    receipts: Option<u64>,
    receipts_per_s: Option<f64>,
    receipts_missing: Option<u64>,
    receipt_p50_ms: Option<f64>,
    receipt_p99_ms: Option<f64>,
    receipt_max_ms: Option<f64>,

    server_pid: Option<u32>,
    server_cpu_seconds: Option<f64>,
    server_cores: Option<f64>,
    delivered_per_server_cpu_second: Option<f64>,
    server_rss_start_kib: Option<u64>,
    server_rss_end_kib: Option<u64>,
    server_rss_peak_kib: Option<u64>,
    server_rss_before_idle_kib: Option<u64>,
    server_rss_after_idle_kib: Option<u64>,
    rss_per_idle_connection_kib: Option<f64>,

    client_cpu_seconds: Option<f64>,
    client_cores: Option<f64>,
    client_rss_peak_kib: Option<u64>,

    /// `--cpu-pid` NAME → CPU of that process tree in the window.
    processes: BTreeMap<String, ProcessCpu>,
    /// The whole machine's busy CPU in the window (everything running on
    /// it, this generator and the server included).
    machine_cpu_seconds: Option<f64>,
    machine_cores: Option<f64>,

    error_samples: Vec<String>,
}

/// One `--cpu-pid` process tree over the measured window.
#[derive(Serialize)]
struct ProcessCpu {
    pid: u32,
    cpu_seconds: Option<f64>,
    cores: Option<f64>,
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Progress phases (shown on stderr).
const PHASE_SETUP: u8 = 0;
const PHASE_WARMUP: u8 = 1;
const PHASE_RUN: u8 = 2;
const PHASE_DRAIN: u8 = 3;
const PHASE_DONE: u8 = 4;

struct Probe {
    pid: Option<String>,
    server_peak: AtomicU64,
    client_peak: AtomicU64,
}

impl Probe {
    fn cpu(&self) -> Option<f64> {
        self.pid.as_deref().and_then(procfs::cpu_seconds)
    }
    fn rss(&self) -> Option<u64> {
        self.pid.as_deref().and_then(procfs::rss_kib)
    }
    fn sample_peaks(&self) {
        if let Some(r) = self.rss() {
            self.server_peak.fetch_max(r, Ordering::Relaxed);
        }
        if let Some(r) = procfs::rss_kib("self") {
            self.client_peak.fetch_max(r, Ordering::Relaxed);
        }
    }
}

/// Waits for `n` setup results; returns (ready, failed).
async fn wait_ready(
    shared: &Shared,
    rx: &mut mpsc::Receiver<Result<(), String>>,
    n: usize,
    deadline: tokio::time::Instant,
    what: &str,
) -> (u64, u64) {
    let (mut ok, mut failed) = (0u64, 0u64);
    while ((ok + failed) as usize) < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Ok(()))) => ok += 1,
            Ok(Some(Err(e))) => {
                failed += 1;
                shared.error(format!("{what} setup: {e}"));
            }
            Ok(None) => break,
            Err(_) => {
                let missing = n as u64 - ok - failed;
                failed += missing;
                shared.error(format!(
                    "{what} setup: {missing} connections not ready within --setup-timeout"
                ));
                break;
            }
        }
    }
    (ok, failed)
}

async fn bench(args: Args) -> Result<i32, String> {
    if args.rooms == 0 {
        return Err("--rooms must be at least 1".into());
    }
    if args.duration <= 0.0 {
        return Err("--duration must be positive".into());
    }
    let active = args.rooms * (args.subs_per_room + args.pubs_per_room);
    let total = args.idle + active;
    if total == 0 {
        return Err("nothing to do: no publishers, subscribers or idle connections".into());
    }
    let nofile = procfs::raise_nofile(total as u64 + 1024);
    if nofile < total as u64 + 64 {
        eprintln!(
            "parley-bench: warning: open-files limit is {nofile}, below the {total} connections wanted (raise ulimit -n)"
        );
    }
    if args.max_inflight.is_none() && args.rate.0.is_none() && args.pubs_per_room > 0 {
        eprintln!(
            "parley-bench: warning: unlimited --rate without --max-inflight is an open-loop blast; \
             the server's queues decide what happens"
        );
    }

    let target = Target::resolve(&args.url, args.http_url.as_deref()).await?;

    // Local source addresses.
    let source_ips: Vec<IpAddr> = if !args.source_addrs.is_empty() {
        args.source_addrs.clone()
    } else {
        let loopback_v4 = matches!(target.addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
        let n = if args.source_ips > 0 {
            args.source_ips
        } else if loopback_v4 {
            total.div_ceil(CONNS_PER_SOURCE_IP)
        } else {
            1
        };
        if n > 1 && !loopback_v4 {
            return Err(
                "--source-ips > 1 needs a 127.x target; use --source-addrs otherwise".into(),
            );
        }
        if n > 250 {
            return Err("--source-ips: at most 250".into());
        }
        if n > 1 || args.source_ips == 1 {
            (0..n)
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)))
                .collect()
        } else {
            Vec::new()
        }
    };

    let names: Vec<String> = (0..args.rooms)
        .map(|i| format!("{}{i}", args.room_prefix))
        .collect();

    // Credentials.
    let creds: Vec<Credentials> = if args.signup {
        let users = args.users.clamp(1, total);
        eprintln!(
            "parley-bench: signing up {users} users and creating {} rooms at {}",
            names.len(),
            target.http_base
        );
        let signed =
            signup::signup_users(&target.http_base, users, args.signup_concurrency).await?;
        signup::create_rooms(&target.http_base, &signed.tokens[0], &names).await?;
        let needed = args.warmup + args.duration + args.drain + 60.0;
        if let Some(ttl) = signed.expires_in
            && (ttl as f64) < needed
        {
            eprintln!(
                "parley-bench: warning: access tokens live {ttl}s; sessions end at expiry (set JWT_TTL_SECS on the server)"
            );
        }
        signed.tokens.into_iter().map(Credentials::Token).collect()
    } else if let Some(t) = &args.token {
        vec![Credentials::Token(t.clone())]
    } else if let (Some(l), Some(p)) = (&args.login, &args.passcode) {
        vec![Credentials::LoginPasscode(l.clone(), p.clone())]
    } else {
        vec![Credentials::None]
    };

    let shared = Arc::new(Shared::new());
    let rooms: Vec<Arc<Room>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Arc::new(Room::new(
                format!("{}{name}", args.destination_prefix),
                (i * args.pubs_per_room) as u32,
                args.pubs_per_room,
                args.max_inflight,
            ))
        })
        .collect();

    // Server probe.
    let probe = Arc::new(Probe {
        pid: args.server_pid.map(|p| p.to_string()),
        server_peak: AtomicU64::new(0),
        client_peak: AtomicU64::new(0),
    });
    if probe.pid.is_some() && probe.cpu().is_none() {
        return Err(format!(
            "cannot read /proc/{}/stat (--server-pid)",
            args.server_pid.unwrap_or_default()
        ));
    }
    if let Some((name, pid)) = args
        .cpu_pids
        .iter()
        .find(|(_, pid)| procfs::tree_cpu_seconds(*pid).is_none())
    {
        return Err(format!(
            "cannot read /proc/{pid}/stat (--cpu-pid {name}={pid})"
        ));
    }
    let trees_cpu = || -> Vec<Option<f64>> {
        args.cpu_pids
            .iter()
            .map(|(_, pid)| procfs::tree_cpu_seconds(*pid))
            .collect()
    };
    let server_rss_start = probe.rss();
    probe.sample_peaks();

    let (start_tx, start_rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(&shared),
        target,
        creds,
        host_header: args.vhost.clone(),
        source_ips,
        connect_sem: Semaphore::new(args.connect_concurrency.max(1)),
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        size: args.size,
        rate: args.rate.0,
        max_inflight: args.max_inflight,
        receipts: args.receipts,
        start: start_rx,
        stop: stop_rx.clone(),
    });

    // Background: peak RSS sampling and progress lines.
    let phase = Arc::new(AtomicU8::new(PHASE_SETUP));
    let sampler = {
        let probe = Arc::clone(&probe);
        let phase = Arc::clone(&phase);
        tokio::spawn(async move {
            while phase.load(Ordering::Acquire) != PHASE_DONE {
                probe.sample_peaks();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let progress = (!args.quiet).then(|| {
        let shared = Arc::clone(&shared);
        let phase = Arc::clone(&phase);
        let total = total as u64;
        tokio::spawn(async move {
            let mut last = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let p = phase.load(Ordering::Acquire);
                if p == PHASE_DONE {
                    break;
                }
                let sent = shared.sent_total.load(Ordering::Relaxed);
                let delivered = shared.delivered_total.load(Ordering::Relaxed);
                let p99 = {
                    let h = shared.latency.lock().unwrap_or_else(|e| e.into_inner());
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(0.99) as f64 / 1000.0
                    }
                };
                let name = ["setup", "warmup", "run", "drain", "done"][p as usize];
                eprintln!(
                    "[{:7.1}s {name:>6}] conns {}/{total}  sent {sent} (+{}/s)  delivered {delivered} (+{}/s)  p99 {p99:.2} ms  errors {}",
                    shared.epoch.elapsed().as_secs_f64(),
                    shared.open.load(Ordering::Relaxed),
                    sent - last.0,
                    delivered - last.1,
                    shared.errors.load(Ordering::Relaxed),
                );
                last = (sent, delivered);
            }
        })
    });

    // Setup: idle connections, then subscribers, then publishers.
    let setup_started = Instant::now();
    let mut connect_ok = 0u64;
    let mut connect_failed = 0u64;
    let mut index = 0usize;

    let (ready_tx, mut ready_rx) = mpsc::channel(1024);
    let mut idle_handles: Vec<JoinHandle<()>> = Vec::with_capacity(args.idle);
    for i in 0..args.idle {
        let dest = rooms[i % rooms.len()].destination.clone();
        idle_handles.push(tokio::spawn(run::idle(
            Arc::clone(&ctx),
            index,
            dest,
            ready_tx.clone(),
        )));
        index += 1;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.setup_timeout);
    let (ok, failed) = wait_ready(&shared, &mut ready_rx, args.idle, deadline, "idle").await;
    connect_ok += ok;
    connect_failed += failed;
    let mut rss_before_idle = None;
    let mut rss_after_idle = None;
    if args.idle > 0 && probe.pid.is_some() {
        rss_before_idle = server_rss_start;
        // Let the server settle (allocator, queues) before measuring.
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_after_idle = probe.rss();
    }
    let idle_ok = ok;

    let mut sub_handles: Vec<JoinHandle<Option<SubTrack>>> = Vec::new();
    for (r, room) in rooms.iter().enumerate() {
        for _ in 0..args.subs_per_room {
            sub_handles.push(tokio::spawn(run::subscriber(
                Arc::clone(&ctx),
                index,
                r,
                Arc::clone(room),
                ready_tx.clone(),
            )));
            index += 1;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.setup_timeout);
    let (ok, failed) = wait_ready(
        &shared,
        &mut ready_rx,
        sub_handles.len(),
        deadline,
        "subscriber",
    )
    .await;
    connect_ok += ok;
    connect_failed += failed;

    let mut pub_handles: Vec<JoinHandle<()>> = Vec::new();
    for room in &rooms {
        for j in 0..args.pubs_per_room {
            pub_handles.push(tokio::spawn(run::publisher(
                Arc::clone(&ctx),
                index,
                room.first_publisher + j as u32,
                Arc::clone(room),
                ready_tx.clone(),
            )));
            index += 1;
        }
    }
    drop(ready_tx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.setup_timeout);
    let (ok, failed) = wait_ready(
        &shared,
        &mut ready_rx,
        pub_handles.len(),
        deadline,
        "publisher",
    )
    .await;
    connect_ok += ok;
    connect_failed += failed;
    let connect_seconds = setup_started.elapsed().as_secs_f64();
    if connect_ok == 0 {
        phase.store(PHASE_DONE, Ordering::Release);
        return Err(format!(
            "no connection could be set up; first errors: {:?}",
            shared.error_samples()
        ));
    }

    // Start.
    let t0 = Instant::now() + Duration::from_millis(100);
    let window_start = t0 + Duration::from_secs_f64(args.warmup);
    let window_end = window_start + Duration::from_secs_f64(args.duration);
    shared.set_window(window_start, window_end);
    shared.start(|| {
        for r in &rooms {
            r.subs_live
                .store(r.subs_ready.load(Ordering::Acquire), Ordering::Release);
        }
    });
    let _ = start_tx.send(Some((t0, window_end)));
    phase.store(PHASE_WARMUP, Ordering::Release);

    tokio::time::sleep_until(window_start.into()).await;
    phase.store(PHASE_RUN, Ordering::Release);
    let w0 = Instant::now();
    let server_cpu0 = probe.cpu();
    let client_cpu0 = procfs::cpu_seconds("self");
    let trees_cpu0 = trees_cpu();
    let machine_cpu0 = procfs::machine_busy_seconds();
    tokio::time::sleep_until(window_end.into()).await;
    let wall = w0.elapsed().as_secs_f64();
    let server_cpu1 = probe.cpu();
    let client_cpu1 = procfs::cpu_seconds("self");
    let trees_cpu1 = trees_cpu();
    let machine_cpu1 = procfs::machine_busy_seconds();
    let server_rss_end = probe.rss();
    probe.sample_peaks();
    phase.store(PHASE_DRAIN, Ordering::Release);

    // Drain: wait for everything written to reach every live subscriber.
    let expected = || -> u64 {
        rooms
            .iter()
            .map(|r| r.sent() * u64::from(r.subs_live.load(Ordering::Acquire)))
            .sum()
    };
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    // Give publishers a moment to notice the end of the window.
    tokio::time::sleep(Duration::from_millis(20)).await;
    loop {
        let delivered = shared.fresh_total.load(Ordering::Acquire) >= expected();
        let receipted = !args.receipts
            || shared.receipts_total.load(Ordering::Acquire)
                >= shared.receipts_requested.load(Ordering::Acquire);
        if (delivered && receipted) || Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Stop everything and collect the subscribers' books.
    shared.stopping.store(true, Ordering::Release);
    let _ = stop_tx.send(true);
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut tracks: Vec<SubTrack> = Vec::new();
    for h in sub_handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(join_deadline, h).await {
            Ok(Ok(Some(t))) => tracks.push(t),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => shared.error(format!("subscriber task: {e}")),
            Err(_) => {
                abort.abort();
                shared.error("subscriber did not stop in time");
            }
        }
    }
    for h in pub_handles.into_iter().chain(idle_handles) {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(join_deadline, h).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => shared.error(format!("task: {e}")),
            Err(_) => abort.abort(),
        }
    }
    phase.store(PHASE_DONE, Ordering::Release);
    let _ = sampler.await;
    if let Some(p) = progress {
        p.abort();
    }

    // The report.
    let mut rep = Report {
        url: args.url.clone(),
        rooms: args.rooms,
        subs_per_room: args.subs_per_room,
        pubs_per_room: args.pubs_per_room,
        idle: args.idle,
        size: args.size,
        rate_per_publisher: args.rate.0,
        max_inflight: args.max_inflight,
        receipts_requested: args.receipts,
        warmup_s: args.warmup,
        duration_s: args.duration,
        connections: connect_ok,
        connect_errors: connect_failed,
        connect_seconds: r3(connect_seconds),
        connect_rate_per_s: r3(connect_ok as f64 / connect_seconds.max(1e-9)),
        ..Report::default()
    };
    rep.sent = shared.sent_window.load(Ordering::Acquire);
    rep.delivered = shared.delivered_window.load(Ordering::Acquire);
    // Sends and deliveries are counted by their timestamps within the
    // nominal window; CPU is divided by the wall time actually sampled.
    rep.sent_per_s = r3(rep.sent as f64 / args.duration);
    rep.delivered_per_s = r3(rep.delivered as f64 / args.duration);
    rep.sent_total = shared.sent_total.load(Ordering::Acquire);
    rep.delivered_total = shared.delivered_total.load(Ordering::Acquire);
    rep.expected_deliveries = expected();
    {
        let h = shared.latency.lock().unwrap_or_else(|e| e.into_inner());
        rep.latency_samples = h.len();
        if !h.is_empty() {
            let ms = |us: u64| r3(us as f64 / 1000.0);
            rep.latency_p50_ms = Some(ms(h.value_at_quantile(0.5)));
            rep.latency_p99_ms = Some(ms(h.value_at_quantile(0.99)));
            rep.latency_p999_ms = Some(ms(h.value_at_quantile(0.999)));
            rep.latency_max_ms = Some(ms(h.max()));
            rep.latency_mean_ms = Some(r3(h.mean() / 1000.0));
        }
    }
    for t in &tracks {
        rep.lost += t.lost(&rooms[t.room]);
        rep.duplicated += t.duplicated;
        rep.out_of_order += t.out_of_order;
        rep.seq_gaps += t.seq_gaps;
        rep.seq_regressions += t.seq_regressions;
        rep.foreign += t.foreign;
    }
    if args.receipts {
        let got = shared.receipts_total.load(Ordering::Acquire);
        let asked = shared.receipts_requested.load(Ordering::Acquire);
        rep.receipts = Some(got);
        rep.receipts_missing = Some(asked.saturating_sub(got));
        let h = shared
            .receipt_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The histogram holds one sample per receipt of a SEND sent in the
        // window: those messages' commit rate.
        rep.receipts_per_s = Some(r3(h.len() as f64 / args.duration));
        if !h.is_empty() {
            let ms = |us: u64| r3(us as f64 / 1000.0);
            rep.receipt_p50_ms = Some(ms(h.value_at_quantile(0.5)));
            rep.receipt_p99_ms = Some(ms(h.value_at_quantile(0.99)));
            rep.receipt_max_ms = Some(ms(h.max()));
        }
    }
    if probe.pid.is_some() {
        rep.server_pid = args.server_pid;
        if let (Some(a), Some(b)) = (server_cpu0, server_cpu1) {
            let cpu = b - a;
            rep.server_cpu_seconds = Some(r3(cpu));
            rep.server_cores = Some(r3(cpu / wall));
            if cpu > 0.0 {
                rep.delivered_per_server_cpu_second = Some(r3(rep.delivered as f64 / cpu));
            }
        }
        rep.server_rss_start_kib = server_rss_start;
        rep.server_rss_end_kib = server_rss_end;
        rep.server_rss_peak_kib = Some(probe.server_peak.load(Ordering::Acquire));
        rep.server_rss_before_idle_kib = rss_before_idle;
        rep.server_rss_after_idle_kib = rss_after_idle;
        if let (Some(a), Some(b)) = (rss_before_idle, rss_after_idle)
            && idle_ok > 0
        {
            rep.rss_per_idle_connection_kib = Some(r3((b as f64 - a as f64) / idle_ok as f64));
        }
    }
    if let (Some(a), Some(b)) = (client_cpu0, client_cpu1) {
        rep.client_cpu_seconds = Some(r3(b - a));
        rep.client_cores = Some(r3((b - a) / wall));
    }
    rep.client_rss_peak_kib = Some(probe.client_peak.load(Ordering::Acquire));
    if let (Some(a), Some(b)) = (machine_cpu0, machine_cpu1) {
        rep.machine_cpu_seconds = Some(r3(b - a));
        rep.machine_cores = Some(r3((b - a) / wall));
    }
    for (((name, pid), a), b) in args.cpu_pids.iter().zip(trees_cpu0).zip(trees_cpu1) {
        let cpu = a.zip(b).map(|(a, b)| b - a);
        rep.processes.insert(
            name.clone(),
            ProcessCpu {
                pid: *pid,
                cpu_seconds: cpu.map(r3),
                cores: cpu.map(|c| r3(c / wall)),
            },
        );
    }
    rep.errors = shared.errors.load(Ordering::Acquire);
    rep.error_samples = shared.error_samples();

    println!(
        "{}",
        serde_json::to_string(&rep).map_err(|e| e.to_string())?
    );
    let clean = rep.errors == 0
        && rep.lost == 0
        && rep.duplicated == 0
        && rep.out_of_order == 0
        && rep.seq_gaps == 0
        && rep.seq_regressions == 0
        && rep.receipts_missing.unwrap_or(0) == 0;
    Ok(if clean { 0 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_rates() {
        assert_eq!(parse_secs("15").unwrap(), 15.0);
        assert_eq!(parse_secs("15s").unwrap(), 15.0);
        assert_eq!(parse_secs("500ms").unwrap(), 0.5);
        assert_eq!(parse_secs("2m").unwrap(), 120.0);
        assert!(parse_secs("x").is_err());
        assert!(parse_rate("unlimited").unwrap().0.is_none());
        assert_eq!(parse_rate("300").unwrap().0, Some(300.0));
        assert!(parse_rate("-1").is_err());
        assert_eq!(
            parse_named_pid("redis-1=42").unwrap(),
            ("redis-1".into(), 42)
        );
        assert!(parse_named_pid("=42").is_err());
        assert!(parse_named_pid("nginx").is_err());
        assert!(parse_named_pid("nginx=x").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
