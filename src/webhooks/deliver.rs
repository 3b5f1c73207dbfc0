//! Outgoing webhooks' delivery (README, "Bots and webhooks"). The room log
//! is the queue: each webhook has a durable cursor (the last seq delivered
//! or given up on, `webhooks.cursor_seq`), so delivery resumes from the log
//! itself after any crash. At most one instance delivers a webhook at a
//! time: it holds the webhook's lease row, renewed before every request
//! and while it waits; the others try to take it every [`TAKE_EVERY`], so
//! one takes over within `LEASE_MS + TAKE_EVERY` (14 s) after the holder
//! died. The holder wakes on the room's new events through the broker (a
//! feed like an SSE stream's) and reads the log every [`SAFETY_POLL`]
//! anyway.
//!
//! Each event is POSTed (`sign.rs`), in seq order, until a 2xx answer:
//! retried after about 1 s, then doubling up to 5 minutes, for 24 hours,
//! then given up; every attempt is recorded in the delivery log. It must
//! not send the next event before the previous one is done.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::outgoing::EventFilter;
use super::sign::sign;
use crate::auth::jwt::now_secs;
use crate::broker::{Audience, DynBroker, RoomFeed};
use crate::egress::Egress;
use crate::store::webhooks::Webhook;
use crate::store::{DynStore, Event, HistoryQuery, StoreResult};
use crate::views::event_json;

/// How long a lease lasts unless renewed: longer than one request may take
/// (the egress timeout, 10 s), so a holder renewing before each request
/// never loses it mid-request.
pub const LEASE_MS: i64 = 12_000;
/// How often an instance not holding a webhook's lease tries to take it,
/// and how often the holder renews it while waiting.
pub const TAKE_EVERY: Duration = Duration::from_secs(2);
/// How often the holder reads the log without being woken.
pub const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often every instance looks for webhooks it has no task for
/// (created on another instance).
const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// Events read from the log at a time.
const PAGE: i64 = 100;
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
    Done,
    LeaseLost,
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
        match inner.store.take_lease(id, &inner.holder, LEASE_MS).await {
            Ok(Some(hook)) => match deliver_while_held(inner, hook).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(webhook = id, error = %e, "webhook delivery failed"),
            },
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
async fn deliver_while_held(inner: &Inner, hook: Webhook) -> StoreResult<()> {
    let Some(room) = inner.store.room_by_id(hook.room_id).await? else {
        return Ok(());
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
            if !wait_for_events(inner, &hook, &room, &mut feed).await? {
                return Ok(());
            }
            continue;
        }
        for event in &page.events {
            if filter.delivers(event.kind) {
                match deliver(inner, &hook, event).await? {
                    Outcome::Done => {}
                    Outcome::LeaseLost => return Ok(()),
                }
            }
            cursor = event.seq;
        }
        if !inner
            .store
            .advance_cursor(hook.id, &inner.holder, cursor)
            .await?
        {
            return Ok(());
        }
    }
}

/// Waits for the room's next event (or [`SAFETY_POLL`]), renewing the
/// lease; false when it was lost.
async fn wait_for_events(
    inner: &Inner,
    hook: &Webhook,
    room: &crate::store::Room,
    feed: &mut RoomFeed,
) -> StoreResult<bool> {
    let until = Instant::now() + SAFETY_POLL;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return renew(inner, hook).await;
        }
        tokio::select! {
            got = feed.queue.recv() => {
                if got.is_none() {
                    // Cut off (a relay outage's recheck): a new feed.
                    *feed = RoomFeed::open(&inner.broker, room, Arc::new(Wakeup), 64).await;
                }
                while feed.queue.try_recv().is_ok() {}
                return renew(inner, hook).await;
            }
            () = feed.overflow.notified() => {
                *feed = RoomFeed::open(&inner.broker, room, Arc::new(Wakeup), 64).await;
                return renew(inner, hook).await;
            }
            () = tokio::time::sleep(left.min(TAKE_EVERY)) => {
                if !renew(inner, hook).await? {
                    return Ok(false);
                }
            }
        }
    }
}

async fn renew(inner: &Inner, hook: &Webhook) -> StoreResult<bool> {
    Ok(inner
        .store
        .take_lease(hook.id, &inner.holder, LEASE_MS)
        .await?
        .is_some())
}

/// POSTs one event until it is delivered or given up on.
async fn deliver(inner: &Inner, hook: &Webhook, event: &Event) -> StoreResult<Outcome> {
    let (Some(url), Some(key)) = (&hook.url, &hook.signing_key) else {
        return Ok(Outcome::Done);
    };
    let body = Bytes::from(event_json(event));
    let message_id = format!("{}:{}", event.room, event.seq);
    let first = Instant::now();
    let mut wait = FIRST_RETRY;
    loop {
        if !renew(inner, hook).await? {
            return Ok(Outcome::LeaseLost);
        }
        let headers = signed_headers(key, &message_id, &body);
        let (delivered, code) = match inner.egress.post(url, headers, body.clone()).await {
            Ok(answer) => (
                answer.status.is_success(),
                Some(i32::from(answer.status.as_u16())),
            ),
            Err(e) => {
                tracing::info!(webhook = hook.id, seq = event.seq, error = %e, "webhook request failed");
                (false, None)
            }
        };
        let give_up = !delivered && first.elapsed() >= GIVE_UP_AFTER;
        let done = delivered || give_up;
        let recorded = inner
            .store
            .record_delivery(hook.id, &inner.holder, event.seq, (delivered, code), done)
            .await?;
        if !recorded {
            return Ok(Outcome::LeaseLost);
        }
        if done {
            if give_up {
                tracing::warn!(
                    webhook = hook.id,
                    seq = event.seq,
                    "webhook event given up on"
                );
            }
            return Ok(Outcome::Done);
        }
        if !sleep_holding(inner, hook, wait).await? {
            return Ok(Outcome::LeaseLost);
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// Sleeps `wait`, renewing the lease meanwhile; false when it was lost.
async fn sleep_holding(inner: &Inner, hook: &Webhook, wait: Duration) -> StoreResult<bool> {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(true);
        }
        tokio::time::sleep(left.min(TAKE_EVERY)).await;
        if !renew(inner, hook).await? {
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
