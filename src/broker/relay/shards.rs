//! The relay's subscriptions in a Redis Cluster (docs/SCALING.md, "Redis
//! Cluster: sharded pub/sub"): each room's channel is a shard channel, subscribed with
//! `SSUBSCRIBE` on the master owning its slot, over ONE connection per
//! shard (not per room), which also carries the signals channel on its
//! shard. Messages arrive as RESP3 pushes and go to the same
//! [`Inbound`] as with one Redis server.
//!
//! When a shard's connection drops (its master died), or the server ends a
//! subscription itself (`sunsubscribe`: its slot moved, or its master
//! became a replica), or the periodic slot check finds a channel's slot
//! owned elsewhere, the affected channels wait to be subscribed again: the
//! slot map is read again and they are subscribed on their new master,
//! with backoff, after which their rooms catch up from the database
//! ([`Inbound::room_subscribed`]) so nothing committed meanwhile is missed. The
//! instance is not ready (`/readyz`) while any channel waits.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::inbound::{Inbound, RoomCommand};
use super::slot;
use super::topology::{self, Topology};
use super::transport::{Cluster, timed_out, unserved};
use super::wire::{BACKOFF_START, REDIS_TIMEOUT, SIGNALS_CHANNEL, backoff_after, channel, room_of};

/// How often the slot map is compared with where each channel is
/// subscribed (a slot migrated without a `sunsubscribe` reaching us).
const SLOT_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Relayed messages waiting for the subscriber task; beyond it the newest
/// are dropped (they are stored: the hub's quiet-room check brings them).
const MESSAGE_QUEUE: usize = 65_536;

/// Where the shard connections' pushes go, tagged with the connection's
/// serial: messages on a bounded queue, the rest (subscription changes,
/// disconnections: a few per connection and channel) on their own, so none
/// of those is ever dropped.
#[derive(Clone)]
struct Pushes {
    messages: mpsc::Sender<(u64, PushInfo)>,
    control: mpsc::UnboundedSender<(u64, PushInfo)>,
}

impl Pushes {
    fn send(&self, serial: u64, push: PushInfo) -> Result<(), ()> {
        match push.kind {
            PushKind::SMessage | PushKind::Message => {
                match self.messages.try_send((serial, push)) {
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(
                            "redis cluster relay queue full; the hub fills the gap from the database"
                        );
                        Ok(())
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
                    Ok(()) => Ok(()),
                }
            }
            _ => self.control.send((serial, push)).map_err(|_| ()),
        }
    }
}

/// One shard's subscriber connection.
struct Shard {
    /// Tells its pushes (and its disconnection) from an earlier
    /// connection's to the same node.
    serial: u64,
    conn: MultiplexedConnection,
    channels: HashSet<String>,
}

/// What the subscriber wants subscribed, and where it is.
struct Subscriptions {
    cluster: Arc<Cluster>,
    inbound: Inbound,
    /// By master address.
    shards: HashMap<String, Shard>,
    /// Wanted but not subscribed (now).
    pending: BTreeSet<String>,
    /// Rooms whose channel is wanted, plus the signals channel.
    wanted: HashSet<String>,
    topology: Option<Topology>,
    pushes: Pushes,
    serials: AtomicU64,
}

pub async fn subscribe_loop(
    cluster: Arc<Cluster>,
    inbound: Inbound,
    mut commands: mpsc::UnboundedReceiver<RoomCommand>,
    ready: Arc<AtomicBool>,
) {
    let (messages, mut relayed) = mpsc::channel(MESSAGE_QUEUE);
    let (control, mut changes) = mpsc::unbounded_channel();
    let mut subs = Subscriptions {
        cluster,
        inbound: inbound.clone(),
        shards: HashMap::new(),
        pending: BTreeSet::new(),
        wanted: HashSet::new(),
        topology: None,
        pushes: Pushes { messages, control },
        serials: AtomicU64::new(1),
    };
    subs.want(SIGNALS_CHANNEL.to_string());
    for room in inbound.hub.rooms() {
        subs.want(channel(room));
    }
    let mut backoff = BACKOFF_START;
    let mut retry_at = tokio::time::Instant::now();
    let mut check = tokio::time::interval(SLOT_CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_ready = None;
    loop {
        if !subs.pending.is_empty() && tokio::time::Instant::now() >= retry_at {
            match subs.subscribe_pending().await {
                Ok(()) => backoff = BACKOFF_START,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        waiting = subs.pending.len(),
                        retry_in_ms = backoff.as_millis() as u64,
                        "redis cluster relay cannot subscribe"
                    );
                    retry_at = tokio::time::Instant::now() + backoff;
                    backoff = backoff_after(backoff);
                }
            }
        }
        let now_ready = subs.pending.is_empty();
        if was_ready != Some(now_ready) {
            ready.store(now_ready, Ordering::Relaxed);
            metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(if now_ready { 1.0 } else { 0.0 });
            if now_ready {
                tracing::info!(shards = subs.shards.len(), "redis cluster relay connected");
            } else if was_ready.is_some() {
                tracing::warn!(
                    "redis cluster relay lost a shard; delivering locally and resubscribing"
                );
            }
            was_ready = Some(now_ready);
        }
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                match cmd {
                    RoomCommand::Subscribe(room) => subs.want(channel(room)),
                    RoomCommand::Unsubscribe(room) => subs.unwant(&channel(room)).await,
                }
            }
            push = changes.recv() => {
                let Some((serial, push)) = push else { return };
                subs.on_push(serial, push);
            }
            push = relayed.recv() => {
                let Some((serial, push)) = push else { return };
                subs.on_push(serial, push);
            }
            _ = tokio::time::sleep_until(retry_at), if !subs.pending.is_empty() => {}
            _ = check.tick() => subs.check_slots().await,
        }
    }
}

impl Subscriptions {
    fn want(&mut self, channel: String) {
        if self.wanted.insert(channel.clone()) {
            self.pending.insert(channel);
        }
    }

    async fn unwant(&mut self, channel: &str) {
        self.wanted.remove(channel);
        self.pending.remove(channel);
        for shard in self.shards.values_mut() {
            if shard.channels.remove(channel) {
                sunsubscribe(&mut shard.conn, channel).await;
            }
        }
    }

    /// Subscribes every pending channel on its master; the rooms among them
    /// then catch up from the database, and, if the signals channel was
    /// among them, the signals' users are told some may have been missed.
    async fn subscribe_pending(&mut self) -> redis::RedisResult<()> {
        if self.topology.is_none() {
            self.topology = Some(self.cluster.topology(REDIS_TIMEOUT).await?);
        }
        let topology = self.topology.clone().expect("read above");
        let by_master = by_master(&topology, &self.pending).map_err(|ch| unserved(&ch))?;
        let mut failure = None;
        for (master, channels) in by_master {
            if let Err(e) = self.subscribe_on(&master, channels).await {
                failure = Some(e);
            }
        }
        match failure {
            Some(e) => {
                self.topology = None;
                Err(e)
            }
            None => Ok(()),
        }
    }

    async fn subscribe_on(
        &mut self,
        master: &str,
        channels: Vec<String>,
    ) -> redis::RedisResult<()> {
        if !self.shards.contains_key(master) {
            let shard = self.connect(master).await?;
            self.shards.insert(master.to_string(), shard);
        }
        let shard = self.shards.get_mut(master).expect("inserted above");
        let results = futures_util::future::join_all(channels.iter().map(|ch| {
            let mut conn = shard.conn.clone();
            async move {
                tokio::time::timeout(
                    REDIS_TIMEOUT,
                    redis::cmd("SSUBSCRIBE").arg(ch).exec_async(&mut conn),
                )
                .await
                .unwrap_or_else(|_| Err(timed_out()))
            }
        }))
        .await;
        let mut failure = None;
        for (ch, result) in channels.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    self.pending.remove(&ch);
                    match room_of(&ch) {
                        // Messages published before the SSUBSCRIBE took
                        // effect, or while the shard was away: from the store.
                        Some(room) => self.inbound.room_subscribed(room),
                        None => self.inbound.signals_subscribed(),
                    }
                    shard.channels.insert(ch);
                }
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => {
                if e.is_connection_dropped() || e.is_timeout() || e.is_io_error() {
                    self.drop_shard(master);
                }
                Err(e)
            }
            None => Ok(()),
        }
    }

    async fn connect(&self, master: &str) -> redis::RedisResult<Shard> {
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        let pushes = self.pushes.clone();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_push_sender(move |push: PushInfo| pushes.send(serial, push));
        let client = topology::client(master)?;
        let conn = tokio::time::timeout(
            REDIS_TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out()))?;
        tracing::info!(%master, "redis cluster relay connected to a shard");
        Ok(Shard {
            serial,
            conn,
            channels: HashSet::new(),
        })
    }

    /// Forgets a shard's connection; its channels wait to be subscribed again.
    fn drop_shard(&mut self, master: &str) {
        if let Some(shard) = self.shards.remove(master) {
            self.pending.extend(shard.channels);
            self.topology = None;
        }
    }

    fn on_push(&mut self, serial: u64, push: PushInfo) {
        let Some(master) = self
            .shards
            .iter()
            .find(|(_, s)| s.serial == serial)
            .map(|(m, _)| m.clone())
        else {
            return; // from a connection since replaced
        };
        match push.kind {
            PushKind::SMessage | PushKind::Message => {
                if let Some(msg) = redis::Msg::from_push_info(push) {
                    self.inbound.arrived(&msg);
                }
            }
            PushKind::Disconnection => {
                tracing::warn!(%master, "redis cluster shard connection lost");
                self.drop_shard(&master);
            }
            PushKind::SUnsubscribe => {
                let Some(ch) = push.data.first().and_then(text) else {
                    return;
                };
                let shard = self.shards.get_mut(&master).expect("found above");
                // Not one we asked to end: its slot moved, or its master
                // became a replica.
                if shard.channels.remove(&ch) && self.wanted.contains(&ch) {
                    tracing::info!(%master, channel = %ch, "redis cluster ended a subscription; resubscribing");
                    self.pending.insert(ch);
                    self.topology = None;
                }
            }
            _ => {}
        }
    }

    /// Moves each channel subscribed on a node that no longer owns its slot.
    async fn check_slots(&mut self) {
        let Ok(topology) = self.cluster.topology(REDIS_TIMEOUT).await else {
            return; // the next failure or check tries again
        };
        let subscribed = self.shards.iter().map(|(m, s)| (m.as_str(), &s.channels));
        for (master, ch) in misplaced(&topology, subscribed) {
            tracing::info!(%master, channel = %ch, "a channel's slot moved; resubscribing");
            if let Some(shard) = self.shards.get_mut(&master) {
                shard.channels.remove(&ch);
                sunsubscribe(&mut shard.conn, &ch).await;
            }
            self.pending.insert(ch);
        }
        // Connections left carrying nothing are closed.
        self.shards.retain(|_, s| !s.channels.is_empty());
        self.topology = Some(topology);
    }
}

/// `channels` grouped by the master owning each one's slot; else the first
/// channel whose slot has none.
fn by_master<'a>(
    topology: &Topology,
    channels: impl IntoIterator<Item = &'a String>,
) -> Result<HashMap<String, Vec<String>>, String> {
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for ch in channels {
        let master = topology
            .master_of(slot::of(ch.as_bytes()))
            .ok_or_else(|| ch.clone())?;
        groups
            .entry(master.to_string())
            .or_default()
            .push(ch.clone());
    }
    Ok(groups)
}

/// The (master, channel) pairs subscribed on a node that no longer owns the
/// channel's slot.
fn misplaced<'a>(
    topology: &Topology,
    subscribed: impl IntoIterator<Item = (&'a str, &'a HashSet<String>)>,
) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for (master, channels) in subscribed {
        for ch in channels {
            if topology.master_of(slot::of(ch.as_bytes())) != Some(master) {
                moved.push((master.to_string(), ch.clone()));
            }
        }
    }
    moved
}

/// Ends a subscription; a failure surfaces as the connection's
/// disconnection.
async fn sunsubscribe(conn: &mut MultiplexedConnection, channel: &str) {
    let mut cmd = redis::cmd("SUNSUBSCRIBE");
    cmd.arg(channel);
    let _ = tokio::time::timeout(REDIS_TIMEOUT, cmd.exec_async(conn)).await;
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two masters: slots 0-8191 on a:1, 8192-16383 on b:2.
    fn halves() -> Topology {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(8191), node("a", 1)]),
            Value::Array(vec![Value::Int(8192), Value::Int(16383), node("b", 2)]),
        ]);
        Topology::parse(&reply, "a:1").unwrap()
    }

    /// Room channels on each half.
    fn rooms_on(low: bool, n: usize) -> Vec<String> {
        (1..)
            .map(channel)
            .filter(|c| (slot::of(c.as_bytes()) < 8192) == low)
            .take(n)
            .collect()
    }

    #[test]
    fn channels_are_grouped_by_the_master_of_their_slot() {
        let (low, high) = (rooms_on(true, 3), rooms_on(false, 2));
        let all: Vec<String> = low.iter().chain(&high).cloned().collect();
        let groups = by_master(&halves(), &all).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups["a:1"], low);
        assert_eq!(groups["b:2"], high);
        let unserved = Topology::parse(
            &Value::Array(vec![Value::Array(vec![
                Value::Int(0),
                Value::Int(8191),
                Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Int(1)]),
            ])]),
            "a:1",
        )
        .unwrap();
        assert_eq!(by_master(&unserved, &high), Err(high[0].clone()));
    }

    #[test]
    fn channels_on_a_node_that_lost_their_slot_are_misplaced() {
        let (low, high) = (rooms_on(true, 2), rooms_on(false, 1));
        // a:1 carries a high-half channel (its slot moved to b:2), and b:2
        // carries nothing wrong.
        let on_a: HashSet<String> = [low[0].clone(), high[0].clone()].into();
        let on_b: HashSet<String> = HashSet::new();
        let on_gone: HashSet<String> = [low[1].clone()].into();
        let mut moved = misplaced(
            &halves(),
            [("a:1", &on_a), ("b:2", &on_b), ("c:3", &on_gone)],
        );
        moved.sort();
        assert_eq!(
            moved,
            vec![
                ("a:1".to_string(), high[0].clone()),
                ("c:3".to_string(), low[1].clone()),
            ]
        );
    }
}
