//! Outgoing webhooks' delivery (README, "Bots and webhooks"). The room log
//! is the queue: each webhook has a durable cursor (the last seq delivered
//! or given up on, `webhooks.cursor_seq`), so delivery resumes from the log
//! itself after any crash. The holder wakes on the room's new events
//! through the broker (a feed like an SSE stream's) and reads the log every
//! [`SAFETY_POLL`] anyway.
//!
//! Each event is POSTed (`sign.rs`), in seq order, until a 2xx answer:
//! retried after about 1 s, then doubling up to 5 minutes, for 24 hours,
//! then given up; every attempt is recorded in the delivery log, in the
//! transaction that moves the cursor past a finished event; the log keeps
//! the newest [`LOG_KEPT`] attempts or so (trimmed once per that many). It
//! must not send the next event before the previous one is done.
//!
//! **The lease.** At most one instance delivers a webhook at a time: it
//! holds the webhook's lease row ([`LEASE_MS`]); the others try to take it
//! every [`TAKE_EVERY`], so one takes over within `LEASE_MS + TAKE_EVERY`
//! (14 s) after the holder died. Renewing is a database write, so it is
//! not done per request: the holder keeps its own conservative idea of
//! when its lease ends ([`Lease`]: the moment it *asked* for the lease plus
//! `LEASE_MS`, never later than the database's `lease_until`, which is set
//! from the database's clock when the write runs) and renews only
//!
//! - before a request, when less than [`LEFT_FOR_A_REQUEST`] is left: more
//!   than the egress timeout (10 s, the longest a request can take), so the
//!   lease cannot run out while a request is in flight and no other
//!   instance can start one meanwhile (never two requests at a time);
//! - while it waits (for events, or between retries), once the lease is
//!   past half its life.
//!
//! A busy webhook thus costs one lease write per second or so, not one per
//! event. Whatever moves the cursor or records an attempt checks in the
//! same statement that this instance still holds the lease, so a holder
//! that lost it (paused past its lease, say) records nothing and stops;
//! the new holder starts from the durable cursor, which moved only past
//! events that were finished: order and at-least-once hold whoever
//! delivers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::REQUEST_TIMEOUT;
use super::outgoing::EventFilter;
use super::sign::sign;
use crate::auth::jwt::now_secs;
use crate::broker::{Audience, DynBroker, RoomFeed};
use crate::egress::Egress;
use crate::store::webhooks::Webhook;
use crate::store::{DynStore, Event, HistoryQuery, StoreResult};
use crate::views::event_json;

/// How long a lease lasts unless renewed: longer than
/// [`LEFT_FOR_A_REQUEST`], and short enough for a takeover within 15 s.
pub const LEASE_MS: i64 = 12_000;
const LEASE: Duration = Duration::from_millis(LEASE_MS as u64);
/// The least lease left when a request starts: the longest a request may
/// take (the egress timeout), and a second for the write that records it.
const LEFT_FOR_A_REQUEST: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 1);
const _: () = assert!(
    REQUEST_TIMEOUT.as_millis() < LEFT_FOR_A_REQUEST.as_millis()
        && LEFT_FOR_A_REQUEST.as_millis() < LEASE.as_millis(),
    "a lease renewed before a request outlasts the request"
);
/// The least lease left while waiting: renewed once past half its life.
const LEFT_WHILE_WAITING: Duration = Duration::from_millis(LEASE_MS as u64 / 2);
/// How often an instance not holding a webhook's lease tries to take it,
/// and how often the holder checks its lease while waiting.
pub const TAKE_EVERY: Duration = Duration::from_secs(2);
/// How often the holder reads the log without being woken.
pub const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often every instance looks for webhooks it has no task for
/// (created on another instance).
const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// Events read from the log at a time.
const PAGE: i64 = 100;
/// A webhook's delivery log keeps its newest attempts, at least this many
/// (trimmed once per this many attempts, so it never holds twice as many).
pub const LOG_KEPT: i64 = 100;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The outgoing webhooks' delivery on this instance.
#[derive(Clone)]
pub struct Deliveries {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    broker: DynBroker,
    egress: Egress,
    /// This instance, as a lease holder.
    holder: String,
    /// Webhooks with a task here.
    running: Mutex<HashSet<i64>>,
}

/// The feed's audience: the webhook sees every event (it is told about
/// blocks by no one), and the feed is only a wake-up.
#[derive(Debug)]
struct Wakeup;

impl Audience for Wakeup {
    fn user_id(&self) -> i64 {
        0
    }

    fn blocks(&self, _sender: &str) -> bool {
        false
    }
}

/// What came of one event.
enum Outcome {
    /// Delivered or given up on: the cursor is past it.
    Done,
    LeaseLost,
}

/// This instance's hold on one webhook's lease, as far as it can tell
/// without asking the database (see the module documentation).
struct Lease {
    webhook: i64,
    /// The lease lasts at least until then.
    until: Instant,
}

impl Lease {
    /// A lease just taken; `asked`: when the taking write was sent.
    fn taken(webhook: i64, asked: Instant) -> Self {
        Lease {
            webhook,
            until: asked + LEASE,
        }
    }

    /// Makes sure at least `left` of the lease remains, renewing it (one
    /// write) only when less does; false when it was lost.
    async fn keep(&mut self, inner: &Inner, left: Duration) -> StoreResult<bool> {
        if self.until.saturating_duration_since(Instant::now()) >= left {
            return Ok(true);
        }
        let asked = Instant::now();
        let renewed = inner
            .store
            .take_lease(self.webhook, &inner.holder, LEASE_MS)
            .await?
            .is_some();
        if renewed {
            self.until = asked + LEASE;
        }
        Ok(renewed)
    }
}

/// Keeps a webhook's delivery log short: one delete per [`LOG_KEPT`]
/// attempts recorded, not one per attempt.
struct LogTrim {
    webhook: i64,
    recorded: i64,
}

impl LogTrim {
    /// Counts an attempt recorded; trims the log every [`LOG_KEPT`].
    async fn recorded(&mut self, inner: &Inner) -> StoreResult<()> {
        self.recorded += 1;
        if self.recorded >= LOG_KEPT {
            self.recorded = 0;
            inner.store.trim_deliveries(self.webhook, LOG_KEPT).await?;
        }
        Ok(())
    }
}

impl Deliveries {
    /// Starts the task that finds the outgoing webhooks and delivers them.
    pub fn start(store: DynStore, broker: DynBroker, egress: Egress) -> Self {
        let inner = Arc::new(Inner {
            store,
            broker,
            egress,
            holder: uuid::Uuid::new_v4().to_string(),
            running: Mutex::new(HashSet::new()),
        });
        let deliveries = Deliveries { inner };
        let finder = deliveries.clone();
        tokio::spawn(async move {
            loop {
                match finder.inner.store.outgoing_webhooks().await {
                    Ok(hooks) => hooks.into_iter().for_each(|(id, _)| finder.created(id)),
                    Err(e) => tracing::warn!(error = %e, "listing outgoing webhooks failed"),
                }
                tokio::time::sleep(DISCOVER_EVERY).await;
            }
        });
        deliveries
    }

    /// An outgoing webhook exists (just created here, or found): deliver
    /// it from here when this instance gets its lease.
    pub fn created(&self, id: i64) {
        if !self.inner.running.lock().expect("not poisoned").insert(id) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            run(&inner, id).await;
            inner.running.lock().expect("not poisoned").remove(&id);
        });
    }
}

/// Takes the lease whenever free, delivers while held; ends when the
/// webhook is deleted.
async fn run(inner: &Inner, id: i64) {
    loop {
        let asked = Instant::now();
        match inner.store.take_lease(id, &inner.holder, LEASE_MS).await {
            Ok(Some(hook)) => {
                match deliver_while_held(inner, hook, Lease::taken(id, asked)).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!(webhook = id, error = %e, "webhook delivery failed"),
                }
            }
            Ok(None) => match inner.store.webhook(id).await {
                Ok(None) => return,
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(webhook = id, error = %e, "reading a webhook failed"),
            },
            Err(e) => tracing::warn!(webhook = id, error = %e, "taking a webhook lease failed"),
        }
        tokio::time::sleep(TAKE_EVERY).await;
    }
}

/// Delivers from the cursor on until the lease is lost.
async fn deliver_while_held(inner: &Inner, hook: Webhook, mut lease: Lease) -> StoreResult<()> {
    let Some(room) = inner.store.room_by_id(hook.room_id).await? else {
        return Ok(());
    };
    // An outgoing webhook always has both (`http/webhooks.rs` makes them).
    let (Some(url), Some(key)) = (hook.url.as_deref(), hook.signing_key.as_deref()) else {
        tracing::warn!(
            webhook = hook.id,
            "an outgoing webhook without a URL or key"
        );
        return Ok(());
    };
    let target = Target { url, key };
    // A new holder trims first what its predecessor left.
    let mut log = LogTrim {
        webhook: hook.id,
        recorded: LOG_KEPT,
    };
    let filter = EventFilter::from_stored(hook.events.as_deref());
    let mut cursor = hook.cursor_seq;
    let mut feed = RoomFeed::open(&inner.broker, &room, Arc::new(Wakeup), 64).await;
    loop {
        let query = HistoryQuery {
            before: None,
            after: Some(cursor),
            limit: PAGE,
        };
        let page = inner.store.history(room.id, query).await?;
        if page.events.is_empty() {
            if !wait_for_events(inner, &mut lease, &room, &mut feed).await? {
                return Ok(());
            }
            continue;
        }
        // Whether the stored cursor is behind: events not delivered
        // (filtered out) move it once per page, not one write each.
        let mut behind = false;
        for event in &page.events {
            if filter.delivers(event.kind) {
                match deliver(inner, &target, (&mut lease, &mut log), event).await? {
                    Outcome::Done => behind = false,
                    Outcome::LeaseLost => return Ok(()),
                }
            } else {
                behind = true;
            }
            cursor = event.seq;
        }
        if behind
            && !inner
                .store
                .advance_cursor(hook.id, &inner.holder, cursor)
                .await?
        {
            return Ok(());
        }
    }
}

/// Waits for the room's next event (or [`SAFETY_POLL`]), keeping the
/// lease; false when it was lost.
async fn wait_for_events(
    inner: &Inner,
    lease: &mut Lease,
    room: &crate::store::Room,
    feed: &mut RoomFeed,
) -> StoreResult<bool> {
    let until = Instant::now() + SAFETY_POLL;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return lease.keep(inner, LEFT_WHILE_WAITING).await;
        }
        tokio::select! {
            got = feed.queue.recv() => {
                if got.is_none() {
                    // Cut off (a relay outage's recheck): a new feed.
                    *feed = RoomFeed::open(&inner.broker, room, Arc::new(Wakeup), 64).await;
                }
                while feed.queue.try_recv().is_ok() {}
                return lease.keep(inner, LEFT_WHILE_WAITING).await;
            }
            () = feed.overflow.notified() => {
                *feed = RoomFeed::open(&inner.broker, room, Arc::new(Wakeup), 64).await;
                return lease.keep(inner, LEFT_WHILE_WAITING).await;
            }
            () = tokio::time::sleep(left.min(TAKE_EVERY)) => {
                if !lease.keep(inner, LEFT_WHILE_WAITING).await? {
                    return Ok(false);
                }
            }
        }
    }
}

/// Where an outgoing webhook's events go, and the key that signs them.
struct Target<'a> {
    url: &'a str,
    key: &'a [u8],
}

/// POSTs one event until it is delivered or given up on.
async fn deliver(
    inner: &Inner,
    target: &Target<'_>,
    (lease, log): (&mut Lease, &mut LogTrim),
    event: &Event,
) -> StoreResult<Outcome> {
    let hook = lease.webhook;
    let body = Bytes::from(event_json(event));
    let message_id = format!("{}:{}", event.room, event.seq);
    let first = Instant::now();
    let mut wait = FIRST_RETRY;
    loop {
        if !lease.keep(inner, LEFT_FOR_A_REQUEST).await? {
            return Ok(Outcome::LeaseLost);
        }
        let headers = signed_headers(target.key, &message_id, &body);
        let (delivered, code) = match inner.egress.post(target.url, headers, body.clone()).await {
            Ok(answer) => (
                answer.status.is_success(),
                Some(i32::from(answer.status.as_u16())),
            ),
            Err(e) => {
                tracing::info!(webhook = hook, seq = event.seq, error = %e, "webhook request failed");
                (false, None)
            }
        };
        let give_up = !delivered && first.elapsed() >= GIVE_UP_AFTER;
        let done = delivered || give_up;
        let recorded = inner
            .store
            .record_delivery(hook, &inner.holder, event.seq, (delivered, code), done)
            .await?;
        if !recorded {
            return Ok(Outcome::LeaseLost);
        }
        log.recorded(inner).await?;
        if done {
            if give_up {
                tracing::warn!(webhook = hook, seq = event.seq, "webhook event given up on");
            }
            return Ok(Outcome::Done);
        }
        if !sleep_holding(inner, lease, wait).await? {
            return Ok(Outcome::LeaseLost);
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// Sleeps `wait`, keeping the lease meanwhile; false when it was lost.
async fn sleep_holding(inner: &Inner, lease: &mut Lease, wait: Duration) -> StoreResult<bool> {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(true);
        }
        tokio::time::sleep(left.min(TAKE_EVERY)).await;
        if !lease.keep(inner, LEFT_WHILE_WAITING).await? {
            return Ok(false);
        }
    }
}

/// The Standard Webhooks headers of `body`, signed now.
pub fn signed_headers(key: &[u8], message_id: &str, body: &[u8]) -> HeaderMap {
    let signed = sign(key, message_id, now_secs(), body);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let text = |s: &str| HeaderValue::from_str(s).expect("ids, numbers and base64 are header-safe");
    headers.insert("webhook-id", text(&signed.id));
    headers.insert("webhook-timestamp", text(&signed.timestamp.to_string()));
    headers.insert("webhook-signature", text(&signed.signature));
    headers
}
