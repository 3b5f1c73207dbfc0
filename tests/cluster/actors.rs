//! Clients that behave like real ones across failures: a sender that keeps
//! posting with receipts and `client-id`s and, when its connection ends,
//! reconnects elsewhere and re-sends what was not receipted; a subscriber
//! that remembers the last seq it saw and resumes with `since-seq`.
//!
//! Both run as tasks and report everything they saw; the tests assert.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::http;
use stomp_client::{Event, Frame, StompClient, WAIT, frame, topic};

/// How long a client keeps trying to reconnect after losing its socket.
const RECONNECT_WITHIN: Duration = Duration::from_secs(15);

// --------------------------------------------------------------- sender ---

pub struct SenderPlan {
    /// Also the prefix of bodies and client-ids: `{name}-{index}`.
    pub name: String,
    /// Where to connect: the first, then the next one each time the
    /// connection ends.
    pub endpoints: Vec<u16>,
    pub token: String,
    pub room: String,
    /// How many messages; None: until `stop` turns true.
    pub count: Option<usize>,
    /// SENDs written before waiting for their RECEIPTs.
    pub window: usize,
    /// Pause after each SEND.
    pub pace: Duration,
}

#[derive(Debug, Clone)]
pub struct Receipt {
    pub seq: i64,
    pub message_id: i64,
    /// The endpoint that answered.
    pub port: u16,
    /// The test's phase when the RECEIPT arrived.
    pub phase: u8,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub client_id: String,
    pub body: String,
    pub receipt: Option<Receipt>,
}

#[derive(Debug, Default)]
pub struct SenderReport {
    pub name: String,
    pub sent: Vec<Sent>,
    /// How each connection ended before the sender was done (close code).
    pub closes: Vec<Option<u16>>,
    /// ERROR frames received (their `message` header).
    pub errors: Vec<String>,
    /// client-ids SENT but not receipted when a connection ended, which
    /// were nevertheless already stored (checked before re-sending).
    pub stored_without_receipt: Vec<String>,
    /// client-ids re-sent after a reconnect.
    pub resent: Vec<String>,
}

impl SenderReport {
    pub fn receipted(&self) -> impl Iterator<Item = (&Sent, &Receipt)> {
        self.sent
            .iter()
            .filter_map(|s| s.receipt.as_ref().map(|r| (s, r)))
    }

    pub fn seqs_in_phase(&self, phase: u8) -> Vec<i64> {
        self.receipted()
            .filter(|(_, r)| r.phase == phase)
            .map(|(_, r)| r.seq)
            .collect()
    }

    pub fn seqs(&self) -> Vec<i64> {
        self.receipted().map(|(_, r)| r.seq).collect()
    }
}

pub struct SenderHandles {
    pub name: String,
    /// Receipts so far.
    pub progress: watch::Receiver<usize>,
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<SenderReport>,
}

impl SenderHandles {
    /// Waits (bounded) until the sender has at least `n` receipts.
    pub async fn wait_receipts(&mut self, n: usize, within: Duration) {
        let name = &self.name;
        tokio::time::timeout(within, self.progress.wait_for(|&got| got >= n))
            .await
            .unwrap_or_else(|_| panic!("{name} did not reach {n} receipts within {within:?}"))
            .unwrap_or_else(|_| panic!("{name} ended before {n} receipts"));
    }

    pub fn receipts(&self) -> usize {
        *self.progress.borrow()
    }

    pub async fn finish(self) -> SenderReport {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(90), self.task)
            .await
            .expect("sender finishes")
            .expect("sender task")
    }
}

pub fn spawn_sender(plan: SenderPlan, phase: watch::Receiver<u8>) -> SenderHandles {
    let (progress_tx, progress) = watch::channel(0);
    let (stop, stop_rx) = watch::channel(false);
    let name = plan.name.clone();
    let task = tokio::spawn(run_sender(plan, phase, progress_tx, stop_rx));
    SenderHandles {
        name,
        progress,
        stop,
        task,
    }
}

async fn run_sender(
    plan: SenderPlan,
    phase: watch::Receiver<u8>,
    progress: watch::Sender<usize>,
    stop: watch::Receiver<bool>,
) -> SenderReport {
    let mut report = SenderReport {
        name: plan.name.clone(),
        ..SenderReport::default()
    };
    let dest = topic(&plan.room);
    let mut endpoint = 0;
    let mut port = plan.endpoints[0];
    let mut conn = StompClient::connect_retrying(port, &plan.token, RECONNECT_WITHIN).await;
    // Indices waiting to be (re-)sent, and those sent on this connection and
    // not receipted yet (in order).
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut outstanding: VecDeque<usize> = VecDeque::new();
    let mut by_receipt: HashMap<String, usize> = HashMap::new();
    let mut receipts = 0;
    let mut write_failed = false;
    let deadline = Instant::now() + Duration::from_secs(120);

    loop {
        assert!(
            Instant::now() < deadline,
            "{}: still sending after 120 s",
            plan.name
        );
        // New messages join the queue while the plan allows more.
        let more = match plan.count {
            Some(n) => report.sent.len() < n,
            None => !*stop.borrow(),
        };
        if more && queue.is_empty() && outstanding.len() < plan.window {
            let index = report.sent.len();
            report.sent.push(Sent {
                client_id: format!("{}-{index}", plan.name),
                body: format!("{} says {index}", plan.name),
                receipt: None,
            });
            queue.push_back(index);
        }
        if !write_failed
            && outstanding.len() < plan.window
            && let Some(index) = queue.pop_front()
        {
            let sent = &report.sent[index];
            let receipt_id = format!("r-{}", sent.client_id);
            let bytes = frame(
                "SEND",
                &[
                    ("destination", &dest),
                    ("receipt", &receipt_id),
                    ("client-id", &sent.client_id),
                ],
                &sent.body,
            );
            if conn.try_send(bytes).await {
                by_receipt.insert(receipt_id, index);
                outstanding.push_back(index);
                if !plan.pace.is_zero() {
                    tokio::time::sleep(plan.pace).await;
                }
                continue;
            }
            // The socket is closing: read what the server sent before the
            // end (RECEIPTs, the close code) before moving on.
            queue.push_front(index);
            write_failed = true;
        }
        if outstanding.is_empty() && !write_failed {
            if queue.is_empty() && !more {
                conn.close().await;
                return report;
            }
            continue;
        }
        // Window full, nothing left to send, or the socket is closing: read
        // one answer.
        match conn.next_event(WAIT).await {
            Some(Event::Frame(f)) if f.command == "RECEIPT" => {
                let id = f.header("receipt-id").unwrap_or_default().to_string();
                let index = by_receipt
                    .remove(&id)
                    .unwrap_or_else(|| panic!("{}: unexpected {f}", plan.name));
                outstanding.retain(|i| *i != index);
                report.sent[index].receipt = Some(Receipt {
                    seq: f.number("seq"),
                    message_id: f.number("message-id"),
                    port,
                    phase: *phase.borrow(),
                });
                receipts += 1;
                progress.send_replace(receipts);
                continue;
            }
            Some(Event::Frame(f)) if f.command == "ERROR" => {
                report
                    .errors
                    .push(f.header("message").unwrap_or_default().to_string());
                // The server closes after an ERROR; read to the end.
                let mut code = None;
                for _ in 0..100 {
                    match conn.next_event(WAIT).await {
                        Some(Event::Closed(c)) => {
                            code = c;
                            break;
                        }
                        Some(Event::Frame(_)) => {}
                        None => panic!("{}: the socket stayed open after ERROR", plan.name),
                    }
                }
                report.closes.push(code);
            }
            Some(Event::Frame(_)) => continue,
            Some(Event::Closed(code)) => report.closes.push(code),
            None if write_failed => report.closes.push(None),
            None => panic!(
                "{}: no RECEIPT within {WAIT:?} for {} outstanding SENDs on port {port}",
                plan.name,
                outstanding.len()
            ),
        }
        write_failed = false;

        // The connection is gone: move on to the next endpoint and re-send
        // everything not receipted, with the same client-ids.
        endpoint += 1;
        assert!(
            endpoint < plan.endpoints.len(),
            "{}: connection to port {port} ended (closes: {:?}, errors: {:?}) and no endpoint is left",
            plan.name,
            report.closes,
            report.errors
        );
        port = plan.endpoints[endpoint];
        let unreceipted: Vec<usize> = outstanding.drain(..).collect();
        by_receipt.clear();
        if !unreceipted.is_empty() {
            let stored = http::history(port, &plan.token, &plan.room).await;
            for &index in &unreceipted {
                let cid = &report.sent[index].client_id;
                if stored.iter().any(|m| m["client_id"] == cid.as_str()) {
                    report.stored_without_receipt.push(cid.clone());
                }
                report.resent.push(cid.clone());
            }
        }
        for index in unreceipted.into_iter().rev() {
            queue.push_front(index);
        }
        conn = StompClient::connect_retrying(port, &plan.token, RECONNECT_WITHIN).await;
    }
}

// ----------------------------------------------------------- subscriber ---

pub struct SubscriberPlan {
    pub name: String,
    /// The first endpoint, then the next each time the connection ends.
    pub endpoints: Vec<u16>,
    pub token: String,
    pub room: String,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub seq: i64,
    /// The message object of the MESSAGE body.
    pub message: Value,
}

#[derive(Debug, Default)]
pub struct SubscriberReport {
    pub name: String,
    pub received: Vec<Received>,
    /// How each connection ended (close code) before the subscriber was done.
    pub closes: Vec<Option<u16>>,
    pub errors: Vec<String>,
    /// The `since-seq` of each resume.
    pub resumed_since: Vec<i64>,
    /// Whether it reached the target seq.
    pub reached_target: bool,
}

impl SubscriberReport {
    pub fn seqs(&self) -> Vec<i64> {
        self.received.iter().map(|r| r.seq).collect()
    }

    /// What it saw, for assertion messages.
    pub fn summary(&self) -> String {
        let seqs = self.seqs();
        format!(
            "{} messages, first {:?}, last {:?}, reached target: {}, closes {:?}, errors {:?}, resumed since {:?}",
            seqs.len(),
            seqs.first(),
            seqs.last(),
            self.reached_target,
            self.closes,
            self.errors,
            self.resumed_since
        )
    }

    /// Asserts "each message exactly once, in seq order, none missing"
    /// against the complete range 1..=last.
    pub fn assert_complete(&self, last: i64) {
        let seqs = self.seqs();
        assert!(
            self.reached_target,
            "{}: did not receive seq {last}: {}",
            self.name,
            self.summary()
        );
        assert_strictly_increasing(&self.name, &seqs);
        let missing: Vec<i64> = (1..=last).filter(|s| !seqs.contains(s)).collect();
        assert!(
            missing.is_empty() && seqs.len() == last as usize,
            "{}: every seq 1..={last} exactly once; missing {missing:?}, got {} messages",
            self.name,
            seqs.len()
        );
    }
}

pub fn assert_strictly_increasing(who: &str, seqs: &[i64]) {
    for w in seqs.windows(2) {
        assert!(
            w[0] < w[1],
            "{who}: MESSAGEs must come exactly once and in seq order, but seq {} was followed by {} (all: {seqs:?})",
            w[0],
            w[1]
        );
    }
}

pub struct SubscriberHandles {
    /// The last seq set here ends the subscriber once it has seen it.
    pub target: watch::Sender<Option<i64>>,
    pub task: JoinHandle<SubscriberReport>,
}

impl SubscriberHandles {
    /// Tells it the last seq to expect and collects the report.
    pub async fn finish(self, last: i64) -> SubscriberReport {
        self.target.send_replace(Some(last));
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("subscriber finishes")
            .expect("subscriber task")
    }
}

/// Starts a subscriber and waits until its first SUBSCRIBE is receipted.
pub async fn spawn_subscriber(plan: SubscriberPlan) -> SubscriberHandles {
    let (target, target_rx) = watch::channel(None);
    let (ready_tx, ready) = oneshot::channel();
    let name = plan.name.clone();
    let task = tokio::spawn(run_subscriber(plan, ready_tx, target_rx));
    tokio::time::timeout(WAIT * 2, ready)
        .await
        .unwrap_or_else(|_| panic!("{name}: SUBSCRIBE not receipted"))
        .unwrap_or_else(|_| panic!("{name}: subscriber ended before subscribing"));
    SubscriberHandles { target, task }
}

async fn run_subscriber(
    plan: SubscriberPlan,
    ready: oneshot::Sender<()>,
    target: watch::Receiver<Option<i64>>,
) -> SubscriberReport {
    let mut report = SubscriberReport {
        name: plan.name.clone(),
        ..SubscriberReport::default()
    };
    let sub_id = format!("{}-sub", plan.name);
    let mut endpoint = 0;
    let mut conn =
        StompClient::connect_retrying(plan.endpoints[0], &plan.token, RECONNECT_WITHIN).await;
    assert!(conn.try_subscribe(&sub_id, &plan.room, None).await);
    let mut ready = Some(ready);
    let mut last: i64 = 0;
    // After the target is reached, linger briefly to catch duplicates.
    let mut linger_until: Option<Instant> = None;
    // Once the target is known, it must arrive within this long.
    let mut give_up_at: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(150);

    while Instant::now() < deadline {
        let wanted = *target.borrow();
        if let Some(t) = linger_until {
            if Instant::now() >= t {
                report.reached_target = true;
                break;
            }
        } else if let Some(want) = wanted {
            if last >= want {
                linger_until = Some(Instant::now() + Duration::from_millis(300));
            } else if *give_up_at.get_or_insert_with(|| Instant::now() + 2 * WAIT) <= Instant::now()
            {
                break;
            }
        }
        let event = conn.next_event(Duration::from_millis(100)).await;
        let code = match event {
            None => continue,
            Some(Event::Frame(f)) => match f.command.as_str() {
                "MESSAGE" => {
                    check_message(&f, &sub_id, &plan.room);
                    let seq = f.number("seq");
                    last = last.max(seq);
                    report.received.push(Received {
                        seq,
                        message: serde_json::from_slice(&f.body).expect("MESSAGE body is JSON"),
                    });
                    continue;
                }
                "RECEIPT" => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    continue;
                }
                "ERROR" => {
                    report
                        .errors
                        .push(f.header("message").unwrap_or_default().to_string());
                    continue;
                }
                _ => panic!("{}: unexpected {f}", plan.name),
            },
            Some(Event::Closed(code)) => code,
        };
        // The connection ended: resume on the next endpoint from the last
        // seq seen.
        report.closes.push(code);
        endpoint += 1;
        if endpoint >= plan.endpoints.len() {
            break;
        }
        conn =
            StompClient::connect_retrying(plan.endpoints[endpoint], &plan.token, RECONNECT_WITHIN)
                .await;
        report.resumed_since.push(last);
        assert!(conn.try_subscribe(&sub_id, &plan.room, Some(last)).await);
    }
    conn.close().await;
    report
}

/// A MESSAGE carries the contract's headers and the message object.
fn check_message(f: &Frame, sub_id: &str, room: &str) {
    assert_eq!(f.header("subscription").as_deref(), Some(sub_id), "{f}");
    assert_eq!(
        f.header("destination").as_deref(),
        Some(topic(room).as_str()),
        "{f}"
    );
    let body: Value = serde_json::from_slice(&f.body).expect("MESSAGE body is JSON");
    assert_eq!(
        body["seq"].as_i64(),
        Some(f.number("seq")),
        "the seq header matches the message object: {f}"
    );
    assert_eq!(
        body["id"].as_i64(),
        Some(f.number("message-id")),
        "message-id matches the message object: {f}"
    );
}
