//! The Redis relay between instances. After commit, each message is
//! published once to the Redis channel of its room; every instance
//! subscribes (on ONE pub/sub connection) only to the rooms that have local
//! subscribers, and hands what arrives to its [`Hub`], which orders by seq
//! and drops what it already delivered (including this instance's own
//! messages, delivered locally at publish time).
//!
//! In a Redis Cluster (`REDIS_CLUSTER_NODES`) the same channels are shard
//! channels: `SPUBLISH` to the master owning the room's slot, and one
//! `SSUBSCRIBE` connection per shard ([`super::shards`]), so a room's
//! traffic touches one shard only. [`Transport`] is the seam; everything
//! below it is the same for both.
//!
//! If Redis goes away, local delivery goes on, `is_ready` turns false, the
//! relay reconnects with capped exponential backoff, resubscribes, and
//! re-reads from the database every message of its rooms committed
//! meanwhile, so nothing stored during the outage is missed.
//!
//! A message can also miss an instance without any later one revealing the
//! hole (a publish dropped from a full queue, the last message of a burst):
//! the hub compares its quiet rooms with the database every few seconds
//! ([`Hub::check_quiet_rooms`]), so it arrives anyway.
//!
//! The hub reports rooms gaining and losing local subscribers under its
//! lock, so the SUBSCRIBE / UNSUBSCRIBE commands for one room reach the
//! relay in the order of the room's changes (a room emptied as another
//! subscriber arrives ends subscribed).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::transport::{Cluster, Publisher, Transport};
use super::{
    Broker, EventAt, Hub, PresenceGuard, Published, Signal, Subscriber, SubscriberKey, Viewer,
};
use crate::store::{DynStore, EventKind, StoreResult};
use crate::views::Activity;

const CHANNEL_PREFIX: &str = "parley:room:";
/// Where every instance hears the signals (membership changes, blocks):
/// few and small, so one channel that every instance subscribes to (in a
/// cluster, one shard channel).
pub(super) const SIGNALS_CHANNEL: &str = "parley:signals";
/// What an activity signal starts with on its room's channel (an event
/// starts with `{`).
const ACTIVITY_MARK: &[u8] = b"a";
/// What a revocation starts with on its room's channel (in a cluster, where
/// the signals channel is on another shard than the room, so only the
/// room's channel keeps it in order with the room's messages).
const REVOKED_MARK: &[u8] = b"r";
pub(super) const BACKOFF_START: Duration = Duration::from_millis(100);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Messages waiting to be published to Redis (queued, or kept while Redis
/// is away); beyond it the oldest are dropped from the relay (they are
/// stored, and other instances fill the hole from the database).
const PUBLISH_QUEUE: usize = 65_536;
/// Longest wait for Redis to connect or answer a publish.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an instance's presence set outlives its last renewal.
const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// Bounds one sweep's SCAN of the presence keys.
const SCAN_MAX_ROUNDS: usize = 10_000;
/// How often an instance renews its set and looks at the others'.
const PRESENCE_EVERY: Duration = Duration::from_secs(10);
/// Messages pipelined per round trip to Redis.
const PUBLISH_BATCH: usize = 256;

pub(super) fn channel(room_id: i64) -> String {
    format!("{CHANNEL_PREFIX}{room_id}")
}

/// The room whose channel `channel` is.
pub(super) fn room_of(channel: &str) -> Option<i64> {
    channel.strip_prefix(CHANNEL_PREFIX)?.parse().ok()
}

/// What the publisher sends to Redis, in order.
enum Outgoing {
    Event(Arc<Published>),
    /// An activity signal, on its room's channel.
    Activity(i64, Bytes),
    Signal(Bytes),
    /// A revocation on its room's channel (after [`REVOKED_MARK`]).
    RoomSignal(i64, Bytes),
}

impl Outgoing {
    fn channel(&self) -> String {
        match self {
            Outgoing::Event(m) => channel(m.room_id),
            Outgoing::Activity(room_id, _) | Outgoing::RoomSignal(room_id, _) => channel(*room_id),
            Outgoing::Signal(_) => SIGNALS_CHANNEL.to_string(),
        }
    }

    fn payload(&self) -> &[u8] {
        match self {
            Outgoing::Event(m) => &m.json,
            Outgoing::Activity(_, b) | Outgoing::Signal(b) | Outgoing::RoomSignal(_, b) => b,
        }
    }
}

pub(super) enum RoomCommand {
    Subscribe(i64),
    Unsubscribe(i64),
}

pub struct RedisBroker {
    hub: Arc<Hub>,
    publish: mpsc::Sender<Outgoing>,
    ready: Arc<AtomicBool>,
    /// Sharded: revocations also go on their room's channel.
    sharded: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid REDIS_URL: {0}")]
pub struct RedisUrlError(#[from] redis::RedisError);

impl RedisBroker {
    /// The hub of this instance (for watchers set at start).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Starts the relay tasks. Connection failures are not fatal: the relay
    /// keeps retrying while the instance serves locally.
    pub fn start(url: &str, store: DynStore) -> Result<Self, RedisUrlError> {
        let client = redis::Client::open(url)?;
        Ok(Self::start_with(Transport::Single(client), store))
    }

    /// The same over a Redis Cluster, found through `seeds` (`host:port`
    /// each, validated by the configuration).
    pub fn start_cluster(seeds: Vec<String>, store: DynStore) -> Self {
        Self::start_with(Transport::Cluster(Arc::new(Cluster::new(seeds))), store)
    }

    fn start_with(transport: Transport, store: DynStore) -> Self {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let hub = Hub::with_room_watcher(store, move |room_id, active| {
            let _ = commands_tx.send(if active {
                RoomCommand::Subscribe(room_id)
            } else {
                RoomCommand::Unsubscribe(room_id)
            });
        });
        hub.check_quiet_rooms();
        let ready = Arc::new(AtomicBool::new(false));
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(Publisher::new(transport.clone()), publish_rx));
        let (presence_tx, presence_rx) = mpsc::unbounded_channel();
        hub.watch_presence(move |user_id, username, online| {
            let _ = presence_tx.send((user_id, username.to_string(), online));
        });
        tokio::spawn(presence_loop(
            transport.clone(),
            Arc::clone(&hub),
            presence_rx,
            publish_tx.clone(),
        ));
        let sharded = transport.is_cluster();
        match transport {
            Transport::Single(client) => tokio::spawn(subscribe_loop(
                client,
                Arc::clone(&hub),
                commands_rx,
                Arc::clone(&ready),
            )),
            Transport::Cluster(cluster) => tokio::spawn(super::shards::subscribe_loop(
                cluster,
                Arc::clone(&hub),
                commands_rx,
                Arc::clone(&ready),
            )),
        };
        RedisBroker {
            hub,
            publish: publish_tx,
            ready,
            sharded,
        }
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    fn publish(&self, messages: Vec<Arc<Published>>) {
        for m in messages {
            // Local subscribers first, without waiting for the round trip.
            self.hub.deliver(Arc::clone(&m));
            if self.publish.try_send(Outgoing::Event(m)).is_err() {
                tracing::warn!(
                    "redis publish queue full; other instances will fill the gap from the database"
                );
            }
        }
    }

    async fn subscribe(&self, room_id: i64, subscriber: Subscriber) -> SubscriberKey {
        self.hub.subscribe(room_id, subscriber).await
    }

    fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        self.hub.unsubscribe(room_id, key);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn publish_activity(&self, room_id: i64, activity: &Activity) {
        self.hub.deliver_activity(room_id, activity);
        let mut payload = ACTIVITY_MARK.to_vec();
        payload.extend_from_slice(&activity.to_json());
        if self
            .publish
            .try_send(Outgoing::Activity(room_id, Bytes::from(payload)))
            .is_err()
        {
            tracing::debug!("redis publish queue full; an activity signal is not relayed");
        }
    }

    async fn signal(&self, signal: Signal) {
        self.hub.apply(&signal).await;
        let json = Bytes::from(serde_json::to_vec(&signal).expect("signal serialises"));
        if let (true, Signal::Revoked { room_id, .. }) = (self.sharded, &signal) {
            let mut payload = REVOKED_MARK.to_vec();
            payload.extend_from_slice(&json);
            let _ = self
                .publish
                .try_send(Outgoing::RoomSignal(*room_id, Bytes::from(payload)));
        }
        if self.publish.try_send(Outgoing::Signal(json)).is_err() {
            tracing::warn!(?signal, "redis publish queue full; a signal is not relayed");
        }
    }

    fn present(&self, user_id: i64, username: &str) -> PresenceGuard {
        self.hub.arrive(user_id, username)
    }

    fn is_online(&self, user_id: i64) -> bool {
        self.hub.presence.is_online(user_id)
    }

    async fn viewer(&self, user_id: i64) -> StoreResult<Arc<Viewer>> {
        self.hub.viewers.of(user_id).await
    }

    fn revocation_mark(&self) -> u64 {
        self.hub.revocation_mark()
    }

    fn revoked_since(&self, room_id: i64, user_id: i64, mark: u64) -> bool {
        self.hub.revoked_since(room_id, user_id, mark)
    }
}

/// Publishes committed messages in commit order (per room: in a cluster
/// the rooms of a shard that is away wait while the others' go on),
/// pipelining whatever is queued. What the [`Publisher`] could not publish
/// is kept, each room's in order (up to [`PUBLISH_QUEUE`]; beyond that the
/// oldest are dropped from the relay, and other instances fill the hole
/// from the database), and retried once its target's backoff has passed.
async fn publish_loop(mut publisher: Publisher, mut queue: mpsc::Receiver<Outgoing>) {
    // What waits for its target, and the orders it is in (a later message
    // in one of them waits behind it): each channel's in a cluster, one for
    // everything with one server (which keeps the order across channels,
    // so a revocation stays ahead of the room's later messages).
    let mut backlog: VecDeque<Outgoing> = VecDeque::new();
    let mut held: HashSet<String> = HashSet::new();
    let per_channel = publisher.orders_per_channel();
    let mut incoming = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let received = match (backlog.is_empty(), publisher.next_retry()) {
            (true, _) => queue.recv_many(&mut incoming, PUBLISH_BATCH).await,
            (false, Some(at)) => tokio::select! {
                n = queue.recv_many(&mut incoming, PUBLISH_BATCH) => n,
                _ = tokio::time::sleep_until(at) => usize::MAX,
            },
            (false, None) => usize::MAX,
        };
        if received == 0 {
            return; // the broker is gone
        }
        // A retry takes the backlog again; new messages alone otherwise
        // (those on a held channel join the backlog untried).
        let mut todo = if received == usize::MAX {
            held.clear();
            std::mem::take(&mut backlog)
        } else {
            VecDeque::new()
        };
        todo.extend(incoming.drain(..));
        while !todo.is_empty() {
            let n = todo.len().min(PUBLISH_BATCH);
            let batch: Vec<Outgoing> = todo.drain(..n).collect();
            let channels: Vec<String> = batch.iter().map(Outgoing::channel).collect();
            let orders: Vec<&str> = channels
                .iter()
                .map(|c| if per_channel { c.as_str() } else { "" })
                .collect();
            let tried: Vec<usize> = (0..n).filter(|&i| !held.contains(orders[i])).collect();
            let items: Vec<(String, &[u8])> = tried
                .iter()
                .map(|&i| (channels[i].clone(), batch[i].payload()))
                .collect();
            let unsent = if items.is_empty() {
                Vec::new()
            } else {
                publisher.publish(&items, REDIS_TIMEOUT).await
            };
            drop(items);
            let mut keep = vec![true; n];
            for (j, &i) in tried.iter().enumerate() {
                keep[i] = unsent.binary_search(&j).is_ok();
            }
            for ((out, order), keep) in batch.into_iter().zip(orders).zip(keep) {
                if keep {
                    held.insert(order.to_string());
                    backlog.push_back(out);
                }
            }
        }
        if backlog.len() > PUBLISH_QUEUE {
            let excess = backlog.len() - PUBLISH_QUEUE;
            backlog.drain(..excess);
            tracing::warn!(dropped = excess, "redis unreachable; relay backlog full");
        }
        if received == usize::MAX && !backlog.is_empty() {
            tracing::warn!(
                waiting = backlog.len(),
                "redis publish failed; retrying after a backoff"
            );
        }
    }
}

/// Presence across instances: each instance keeps the users connected to
/// it in the Redis set `parley:presence:<instance>` (members `id:name`),
/// which expires [`PRESENCE_TTL`] after its last renewal; it renews it every
/// [`PRESENCE_EVERY`], and signals each change at once. Every
/// [`PRESENCE_EVERY`] it also looks which instances' sets still exist: the
/// users of one whose set expired (killed without shutting down) go
/// offline, and an instance seen for the first time (or every instance,
/// after Redis was away) is read whole.
async fn presence_loop(
    transport: Transport,
    hub: Arc<Hub>,
    mut changes: mpsc::UnboundedReceiver<(i64, String, bool)>,
    publish: mpsc::Sender<Outgoing>,
) {
    let prefix = transport.presence_prefix();
    let key = format!("{prefix}{}", hub.presence.instance);
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut tick = tokio::time::interval(PRESENCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reread_all = true;
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some((user_id, username, online)) = change else { return };
                let member = format!("{user_id}:{username}");
                if let Some(c) = conn.as_mut() {
                    let mut pipe = redis::pipe();
                    if online {
                        pipe.sadd(&key, &member).ignore();
                    } else {
                        pipe.srem(&key, &member).ignore();
                    }
                    pipe.expire(&key, PRESENCE_TTL.as_secs() as i64).ignore();
                    let done = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(c)).await;
                    if !matches!(done, Ok(Ok(()))) {
                        conn = None;
                    }
                }
                let signal = Signal::Presence {
                    instance: hub.presence.instance.clone(),
                    user_id,
                    username,
                    online,
                };
                let json = Bytes::from(serde_json::to_vec(&signal).expect("signal serialises"));
                let _ = publish.try_send(Outgoing::Signal(json));
            }
            _ = tick.tick() => {
                if conn.is_none() {
                    match transport.connection_for(&key, REDIS_TIMEOUT).await {
                        Ok(c) => conn = Some(c),
                        _ => {
                            reread_all = true;
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                match tokio::time::timeout(REDIS_TIMEOUT, sweep(c, &hub, prefix, &key, reread_all)).await {
                    Ok(Ok(())) => reread_all = false,
                    _ => {
                        tracing::warn!("presence sweep failed; retrying");
                        conn = None;
                        reread_all = true;
                    }
                }
            }
        }
    }
}

/// Renews this instance's set and updates the view of the others.
async fn sweep(
    c: &mut redis::aio::MultiplexedConnection,
    hub: &Arc<Hub>,
    prefix: &str,
    key: &str,
    reread_all: bool,
) -> redis::RedisResult<()> {
    let local: Vec<String> = hub
        .presence
        .local_users()
        .into_iter()
        .map(|(id, name)| format!("{id}:{name}"))
        .collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(key).ignore();
    if !local.is_empty() {
        pipe.sadd(key, &local).ignore();
        pipe.expire(key, PRESENCE_TTL.as_secs() as i64).ignore();
    }
    pipe.query_async::<()>(c).await?;
    // Known before the scan: an instance signals only after writing its
    // set, so one heard of by now has its set in the scan.
    let known = hub.presence.instances();
    let mut alive = HashSet::new();
    let mut cursor: u64 = 0;
    for _ in 0..SCAN_MAX_ROUNDS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await?;
        alive.extend(
            keys.iter()
                .filter_map(|k| k.strip_prefix(prefix))
                .map(str::to_string),
        );
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut changes = Vec::new();
    for gone in known.difference(&alive) {
        tracing::info!(instance = %gone, "an instance's presence expired; its users are offline");
        changes.extend(hub.presence.forget(gone));
    }
    for instance in &alive {
        if instance == &hub.presence.instance || (!reread_all && known.contains(instance)) {
            continue;
        }
        let members: Vec<String> =
            redis::AsyncCommands::smembers(c, format!("{prefix}{instance}")).await?;
        let users = members
            .iter()
            .filter_map(|m| {
                let (id, name) = m.split_once(':')?;
                Some((id.parse().ok()?, name.to_string()))
            })
            .collect();
        changes.extend(hub.presence.replace(instance, users));
    }
    hub.announce_presence(changes);
    Ok(())
}

/// The one pub/sub connection of this instance: (re)connects, subscribes to
/// the rooms with local subscribers, relays messages to the hub.
async fn subscribe_loop(
    client: redis::Client,
    hub: Arc<Hub>,
    mut commands: mpsc::UnboundedReceiver<RoomCommand>,
    ready: Arc<AtomicBool>,
) {
    let mut backoff = BACKOFF_START;
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (mut sink, mut stream) = pubsub.split();
                let mut subscribed = HashSet::new();
                let mut ok = sink.subscribe(SIGNALS_CHANNEL).await.is_ok();
                for room in hub.rooms() {
                    if !ok {
                        break;
                    }
                    if sink.subscribe(channel(room)).await.is_err() {
                        ok = false;
                        break;
                    }
                    subscribed.insert(room);
                }
                if ok {
                    ready.store(true, Ordering::Relaxed);
                    metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(1.0);
                    backoff = BACKOFF_START;
                    tracing::info!(rooms = subscribed.len(), "redis relay connected");
                    // Whatever was committed, and whoever lost access,
                    // while we were away.
                    for &room in &subscribed {
                        hub.resync(room);
                    }
                    let recheck = Arc::clone(&hub);
                    tokio::spawn(async move { recheck.recheck_access().await });
                    loop {
                        tokio::select! {
                            cmd = commands.recv() => {
                                let Some(cmd) = cmd else { return };
                                let result = match cmd {
                                    RoomCommand::Subscribe(room) if subscribed.insert(room) => {
                                        let r = sink.subscribe(channel(room)).await;
                                        // Messages published before the
                                        // SUBSCRIBE took effect: from the store.
                                        hub.resync(room);
                                        r
                                    }
                                    RoomCommand::Unsubscribe(room) if subscribed.remove(&room) => {
                                        sink.unsubscribe(channel(room)).await
                                    }
                                    _ => Ok(()),
                                };
                                if result.is_err() {
                                    break;
                                }
                            }
                            msg = stream.next() => {
                                let Some(msg) = msg else { break };
                                relay(&hub, &msg);
                            }
                        }
                    }
                }
                ready.store(false, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(0.0);
                tracing::warn!("redis relay disconnected; delivering locally and reconnecting");
            }
            Err(e) => {
                ready.store(false, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(0.0);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "redis relay cannot connect");
            }
        }
        // Rooms gained or lost while disconnected are picked up from
        // hub.rooms() on reconnect; drop the stale commands.
        while commands.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// What the relay reads of an event's JSON as published (the contract's
/// event object); the bytes themselves are delivered as they are.
#[derive(Deserialize)]
struct WireEvent {
    id: i64,
    room: String,
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sender: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

pub(super) fn relay(hub: &Arc<Hub>, msg: &redis::Msg) {
    if msg.get_channel_name() == SIGNALS_CHANNEL {
        match serde_json::from_slice::<Signal>(msg.get_payload_bytes()) {
            // In the order relayed: a revocation cuts the room's later
            // messages off from whoever lost access.
            Ok(Signal::Revoked {
                room_id,
                room,
                user_id,
                reason,
            }) => hub.revoke(room_id, &room, user_id, reason),
            // In the order relayed too: a user's later update wins.
            Ok(Signal::UserUpdate { users, update }) => hub.user_update(&users, &update),
            Ok(signal) => {
                let hub = Arc::clone(hub);
                tokio::spawn(async move { hub.apply(&signal).await });
            }
            Err(e) => tracing::warn!(error = %e, "ignoring a malformed signal"),
        }
        return;
    }
    let room_id = room_of(msg.get_channel_name());
    let payload = msg.get_payload_bytes();
    // A revocation on its room's channel, in order with the room's messages.
    if let Some(json) = payload.strip_prefix(REVOKED_MARK) {
        match serde_json::from_slice::<Signal>(json) {
            Ok(Signal::Revoked {
                room_id,
                room,
                user_id,
                reason,
            }) => hub.revoke(room_id, &room, user_id, reason),
            _ => tracing::warn!("ignoring a malformed revocation"),
        }
        return;
    }
    // A room's channel carries its events (JSON objects) and its activity
    // signals (the same, after ACTIVITY_MARK).
    if let Some(json) = payload.strip_prefix(ACTIVITY_MARK) {
        match (room_id, serde_json::from_slice::<Activity>(json)) {
            (Some(room_id), Ok(activity)) => hub.deliver_activity(room_id, &activity),
            _ => tracing::warn!("ignoring a malformed activity signal"),
        }
        return;
    }
    let parsed = serde_json::from_slice::<WireEvent>(payload)
        .ok()
        .and_then(|w| Some((EventKind::parse(&w.kind)?, w)));
    match (room_id, parsed) {
        (Some(room_id), Some((kind, w))) => {
            let lag = (chrono::Utc::now() - w.created_at)
                .num_microseconds()
                .unwrap_or(0);
            metrics::histogram!(crate::metrics::RELAY_LAG).record(lag.max(0) as f64 / 1e6);
            let json = Bytes::copy_from_slice(payload);
            let at = EventAt {
                room_id,
                id: w.id,
                room: &w.room,
                seq: w.seq,
            };
            let published = Published::encode(at, kind.as_str(), &w.sender, json);
            hub.deliver(Arc::new(published));
        }
        _ => tracing::warn!(
            channel = msg.get_channel_name(),
            "ignoring malformed relay message"
        ),
    }
}
