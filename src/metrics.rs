//! Prometheus metrics: the recorder (installed once per process) and the
//! names every module records under, so the README's list has one source.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use metrics::{Counter, KeyName, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::stomp::{ClientCommand, ServerCommand};

pub const CONNECTIONS_OPEN: &str = "parley_connections_open";
pub const FRAMES_IN: &str = "parley_stomp_frames_in_total";
pub const FRAMES_OUT: &str = "parley_stomp_frames_out_total";
pub const MESSAGES_STORED: &str = "parley_messages_stored_total";
pub const DELIVERIES: &str = "parley_deliveries_total";
pub const RECEIVE_TO_SUBMIT: &str = "parley_receive_to_submit_seconds";
pub const SEND_TO_COMMIT: &str = "parley_send_to_commit_seconds";
pub const COMMIT_WAIT: &str = "parley_commit_wait_seconds";
pub const COMMIT_TRANSACTION: &str = "parley_commit_transaction_seconds";
pub const COMMIT_BATCH_SIZE: &str = "parley_commit_batch_messages";
pub const COMMIT_TO_DELIVER: &str = "parley_commit_to_deliver_seconds";
pub const COMMIT_TO_DEQUEUE: &str = "parley_commit_to_dequeue_seconds";
pub const DEQUEUE_TO_WRITTEN: &str = "parley_dequeue_to_written_seconds";
pub const DB_POOL_IN_USE: &str = "parley_db_pool_connections_in_use";
pub const DB_POOL_SIZE: &str = "parley_db_pool_connections";
pub const RELAY_CONNECTED: &str = "parley_redis_relay_connected";
pub const RELAY_LAG: &str = "parley_redis_relay_lag_seconds";
pub const SLOW_CONSUMERS: &str = "parley_slow_consumer_disconnects_total";
pub const AUTH_FAILURES: &str = "parley_auth_failures_total";
pub const RATE_LIMITED: &str = "parley_rate_limit_hits_total";
pub const RETENTION_PRUNED: &str = "parley_retention_pruned_events_total";
pub const PUSHES_SENT: &str = "parley_pushes_sent_total";

/// Fine below 5 ms, where a quiet message's stages are (BENCHMARKS.md,
/// "Reproducing": the benchmarks read p50/p99 from these buckets).
const LATENCY_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
    0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// The process-wide Prometheus recorder (installed on first use).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed (not in this binary).
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// `FRAMES_IN` of a client command: registered once per command, so that
/// counting a frame is an atomic add rather than a key built, hashed and
/// looked up in the registry (three times per durable message otherwise).
pub fn frames_in(command: ClientCommand) -> &'static Counter {
    static COUNTERS: [OnceLock<Counter>; ClientCommand::ALL.len()] =
        [const { OnceLock::new() }; ClientCommand::ALL.len()];
    COUNTERS[command as usize]
        .get_or_init(|| metrics::counter!(FRAMES_IN, "command" => command.as_str()))
}

/// `FRAMES_OUT` of a server command, registered once ([`frames_in`]).
pub fn frames_out(command: ServerCommand) -> &'static Counter {
    static COUNTERS: [OnceLock<Counter>; ServerCommand::ALL.len()] =
        [const { OnceLock::new() }; ServerCommand::ALL.len()];
    COUNTERS[command as usize]
        .get_or_init(|| metrics::counter!(FRAMES_OUT, "command" => command.as_str()))
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric as `/metrics` describes it: name, kind, unit and help text.
struct Description(&'static str, Kind, Option<Unit>, &'static str);

const fn counter(name: &'static str, help: &'static str) -> Description {
    Description(name, Kind::Counter, None, help)
}

const fn gauge(name: &'static str, help: &'static str) -> Description {
    Description(name, Kind::Gauge, None, help)
}

const fn histogram(name: &'static str, unit: Option<Unit>, help: &'static str) -> Description {
    Description(name, Kind::Histogram, unit, help)
}

/// Every metric, described once.
const DESCRIPTIONS: &[Description] = &[
    gauge(
        CONNECTIONS_OPEN,
        "Open client connections by kind (websocket, sse).",
    ),
    counter(FRAMES_IN, "STOMP frames received, by command."),
    counter(FRAMES_OUT, "STOMP frames sent, by command."),
    counter(MESSAGES_STORED, "Chat messages committed to the database."),
    counter(
        RETENTION_PRUNED,
        "Events deleted by the retention pruner (RETENTION_DAYS, RETENTION_MAX_EVENTS_PER_ROOM).",
    ),
    counter(
        DELIVERIES,
        "Messages handed to subscribers (fan-out, one per subscriber).",
    ),
    histogram(
        RECEIVE_TO_SUBMIT,
        Some(Unit::Seconds),
        "From the WebSocket message holding a SEND being read to the SEND's submission for commit.",
    ),
    histogram(
        SEND_TO_COMMIT,
        Some(Unit::Seconds),
        "From a send reaching the send path to its commit.",
    ),
    histogram(
        COMMIT_WAIT,
        Some(Unit::Seconds),
        "From a send's submission to a commit worker taking it (waiting for the commit in progress).",
    ),
    histogram(
        COMMIT_TRANSACTION,
        Some(Unit::Seconds),
        "One group-commit transaction: the store's round trips and the database's flush.",
    ),
    histogram(
        COMMIT_BATCH_SIZE,
        None,
        "Messages per group-commit transaction.",
    ),
    histogram(
        COMMIT_TO_DELIVER,
        Some(Unit::Seconds),
        "From commit to the message being queued for this instance's subscribers.",
    ),
    histogram(
        COMMIT_TO_DEQUEUE,
        Some(Unit::Seconds),
        "From commit to a subscriber's connection taking the message from its queue (sampled connections).",
    ),
    histogram(
        DEQUEUE_TO_WRITTEN,
        Some(Unit::Seconds),
        "From a connection taking a message from its queue to the socket accepting the write holding it (sampled connections).",
    ),
    gauge(DB_POOL_IN_USE, "Database connections in use."),
    gauge(DB_POOL_SIZE, "Database connections open."),
    gauge(
        RELAY_CONNECTED,
        "1 while the Redis relay is connected (absent without REDIS_URL).",
    ),
    histogram(
        RELAY_LAG,
        Some(Unit::Seconds),
        "From commit on another instance to arrival here through Redis.",
    ),
    counter(
        SLOW_CONSUMERS,
        "Connections closed because their outbound queue overflowed.",
    ),
    counter(AUTH_FAILURES, "Authentication failures, by reason."),
    counter(
        RATE_LIMITED,
        "Rate-limit hits, by limit (login_ip, login_user, send).",
    ),
    counter(
        PUSHES_SENT,
        "Web Push requests a push service accepted (README, \"Notifications\").",
    ),
];

fn describe() {
    metrics::with_recorder(|recorder| {
        for &Description(name, kind, unit, help) in DESCRIPTIONS {
            let (key, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(key, unit, help),
                Kind::Gauge => recorder.describe_gauge(key, unit, help),
                Kind::Histogram => recorder.describe_histogram(key, unit, help),
            }
        }
    });
}

/// Counts an open connection of `kind` until dropped.
pub struct ConnectionGauge(&'static str);

impl ConnectionGauge {
    pub fn open(kind: &'static str) -> Self {
        metrics::gauge!(CONNECTIONS_OPEN, "kind" => kind).increment(1.0);
        ConnectionGauge(kind)
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS_OPEN, "kind" => self.0).decrement(1.0);
    }
}

/// One connection in this many times its deliveries
/// ([`COMMIT_TO_DEQUEUE`], [`DEQUEUE_TO_WRITTEN`]).
const DELIVERY_SAMPLE: usize = 8;

/// Whether a new connection is one that times its deliveries: the others
/// read no clock on their delivery path (BENCHMARKS.md, scenario 1).
pub fn sample_connection() -> bool {
    static OPENED: AtomicUsize = AtomicUsize::new(0);
    OPENED
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(DELIVERY_SAMPLE)
}

pub fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

pub fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
}
