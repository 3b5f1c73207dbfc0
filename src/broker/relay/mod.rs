//! The Redis relay between instances. After commit, each message is
//! published once to the Redis channel of its room; every instance
//! subscribes only to the rooms that have local subscribers, and hands what
//! arrives to its hub, which orders by seq and drops what it already
//! delivered (including this instance's own messages, delivered locally at
//! publish time). Signals travel on one channel every instance subscribes
//! to (and, those that must stay in order with a room's messages, in a
//! cluster also on the room's channel).
//!
//! With one Redis server (`REDIS_URL`) the instance holds ONE pub/sub
//! connection ([`single`]); in a Redis Cluster (`REDIS_CLUSTER_NODES`) the
//! channels are shard channels: `SPUBLISH` to the master owning the room's
//! slot, one `SSUBSCRIBE` connection per shard ([`shards`]), so a room's
//! traffic touches one shard only. [`Transport`] is the seam; the wire
//! format ([`wire`]) and what is done with arrivals ([`inbound`]) are the
//! same for both.
//!
//! If Redis goes away, local delivery goes on, `is_ready` turns false, the
//! relay reconnects with capped exponential backoff, resubscribes, and
//! re-reads from the database every message of its rooms committed
//! meanwhile, so nothing stored during the outage is missed; the signals'
//! users are told they may have missed some.
//!
//! The hub reports rooms gaining and losing local subscribers under its
//! lock, so the SUBSCRIBE / UNSUBSCRIBE commands for one room reach the
//! relay in the order of the room's changes (a room emptied as another
//! subscriber arrives ends subscribed).

mod inbound;
mod publish;
mod shards;
mod single;
mod slot;
mod topology;
mod transport;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::hub::Hub;
use super::published::Published;
use super::signal::Signals;
use crate::views::Activity;
use inbound::{Inbound, RoomCommand};
use publish::{PUBLISH_QUEUE, Publisher, publish_loop};
pub use transport::{RedisUrlError, Transport};
use wire::Outgoing;

/// The relay of one instance: its publish queue and whether its
/// subscriptions stand.
pub struct Relay {
    publish: mpsc::Sender<Outgoing>,
    ready: Arc<AtomicBool>,
    transport: Transport,
}

impl Relay {
    /// Starts the relay tasks for `hub`. Connection failures are not
    /// fatal: the relay keeps retrying while the instance serves locally.
    pub fn start(transport: Transport, hub: &Arc<Hub>, signals: &Arc<Signals>) -> Self {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        hub.watch_rooms(move |room_id, active| {
            let _ = commands_tx.send(if active {
                RoomCommand::Subscribe(room_id)
            } else {
                RoomCommand::Unsubscribe(room_id)
            });
        });
        let ready = Arc::new(AtomicBool::new(false));
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(Publisher::new(transport.clone()), publish_rx));
        let inbound = Inbound {
            hub: Arc::clone(hub),
            signals: Arc::clone(signals),
        };
        match &transport {
            Transport::Single(client) => tokio::spawn(single::subscribe_loop(
                client.clone(),
                inbound,
                commands_rx,
                Arc::clone(&ready),
            )),
            Transport::Cluster(cluster) => tokio::spawn(shards::subscribe_loop(
                Arc::clone(cluster),
                inbound,
                commands_rx,
                Arc::clone(&ready),
            )),
        };
        Relay {
            publish: publish_tx,
            ready,
            transport,
        }
    }

    /// False while a subscription is away (then messages from other
    /// instances may be late: they come from the database).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Relays a committed event.
    pub fn event(&self, message: &Published) {
        if self.publish.try_send(Outgoing::event(message)).is_err() {
            tracing::warn!(
                "redis publish queue full; other instances will fill the gap from the database"
            );
        }
    }

    /// Relays an activity signal (at most once: dropped when the queue is
    /// full).
    pub fn activity(&self, room_id: i64, activity: &Activity) {
        if self
            .publish
            .try_send(Outgoing::activity(room_id, activity))
            .is_err()
        {
            tracing::debug!("redis publish queue full; an activity signal is not relayed");
        }
    }

    /// Relays a signal; one that must stay in order with `room`'s messages
    /// also goes on the room's channel in a cluster (where the signals
    /// channel is on another shard).
    pub fn signal(&self, name: &'static str, json: Bytes, room: Option<i64>) {
        if let (true, Some(room_id)) = (self.transport.is_cluster(), room) {
            let _ = self.publish.try_send(Outgoing::room_signal(room_id, &json));
        }
        if self.publish.try_send(Outgoing::signal(json)).is_err() {
            tracing::warn!(
                signal = name,
                "redis publish queue full; a signal is not relayed"
            );
        }
    }
}
