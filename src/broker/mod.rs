//! Fan-out of committed messages to the subscribers of a room, on this
//! instance and, through the Redis relay, on every other.
//!
//! [`Broker`] is what the send path, the edges and the services use:
//! publish after commit, publish activity, subscribe/unsubscribe local
//! subscribers, raise signals. It delivers through its [`Hub`], which owns
//! the per-room ordering guarantee (each local subscriber gets each message
//! exactly once, in seq order), and, with Redis, relays through its
//! [`relay::Relay`]. Features that span instances (presence, revocation,
//! blocking, …) are services outside the broker: each defines its own
//! [`Signal`] and registers a handler with [`Broker::signals`]; none
//! widens the broker (docs/ARCHITECTURE.md, "Services on the broker, and
//! adding a signal").
//!
//! Files: `hub.rs` (sequencer and fan-out), `gap.rs` (holes filled from the
//! store), `quiet.rs` (quiet rooms compared with the store, with a relay),
//! `published.rs` and `subscriber.rs` (what is delivered, to whom),
//! `signal.rs` (the signal registry), `relay/` (Redis). Nothing in them
//! imports this file.

mod gap;
mod hub;
mod published;
mod quiet;
mod relay;
mod signal;
mod subscriber;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use crate::stomp::SubscriptionHeader;
use crate::store::{DynStore, Room};
use crate::views::Activity;

pub use hub::{Hub, RoomAudience};
pub use published::{Audience, EventAt, Published};
pub use relay::{RedisUrlError, Transport};
pub use signal::{FollowUp, Signal, Signals};
pub use subscriber::{Delivery, Recipient, Subscriber, SubscriberKey};

use relay::Relay;

/// The broker of this instance: its hub, and its relay to the other
/// instances (None: the in-process broker of a single instance).
pub struct Broker {
    hub: Arc<Hub>,
    relay: Option<Relay>,
    signals: Arc<Signals>,
}

/// The broker as the send path, the edges and the services share it.
pub type DynBroker = Arc<Broker>;

impl Broker {
    /// The in-process broker: one instance, publish goes straight to the hub.
    pub fn local(store: DynStore) -> Arc<Broker> {
        Arc::new(Broker {
            hub: Hub::new(store),
            relay: None,
            signals: Arc::new(Signals::default()),
        })
    }

    /// A broker relaying through `transport` (one Redis server or a
    /// cluster); its hub compares quiet rooms with the store, since a
    /// message may be lost on the way.
    pub fn relayed(transport: Transport, store: DynStore) -> Arc<Broker> {
        let hub = Hub::new(store.clone());
        let signals = Arc::new(Signals::default());
        let relay = Relay::start(transport, &hub, &signals);
        quiet::start(&hub, store);
        Arc::new(Broker {
            hub,
            relay: Some(relay),
            signals,
        })
    }

    /// Publishes committed messages (in commit order) to every subscriber of
    /// their rooms, on this instance (at once, without waiting for the
    /// round trip) and others.
    pub fn publish(&self, messages: Vec<Arc<Published>>) {
        for m in messages {
            self.hub.deliver(Arc::clone(&m));
            if let Some(relay) = &self.relay {
                relay.event(&m);
            }
        }
    }

    /// Delivers `activity` to the subscribers of the room's activity, on
    /// this instance and others: at most once, no seq, nothing stored.
    pub fn publish_activity(&self, room_id: i64, activity: &Activity) {
        self.hub.deliver_activity(room_id, activity);
        if let Some(relay) = &self.relay {
            relay.activity(room_id, activity);
        }
    }

    /// Registers a local subscriber of `room_id`. Every message committed
    /// after this returns is delivered to it.
    pub async fn subscribe(&self, room_id: i64, subscriber: Subscriber) -> SubscriberKey {
        self.hub.subscribe(room_id, subscriber).await
    }

    pub fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        self.hub.unsubscribe(room_id, key);
    }

    /// Acts on `signal` on this instance (returning once its handlers
    /// have, follow-ups included), and relays it to the others.
    pub async fn signal<S: Signal>(&self, signal: S) {
        for follow_up in self.signals.raise(&signal) {
            follow_up.await;
        }
        if let Some(relay) = &self.relay {
            relay.signal(S::NAME, signal::encode(&signal), signal.room_id());
        }
    }

    /// False while the relay between instances is down.
    pub fn is_ready(&self) -> bool {
        self.relay.as_ref().is_none_or(Relay::is_ready)
    }

    /// Where services register for the signals they handle.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// This instance's fan-out, for services acting on local subscribers
    /// only (each instance acts on its own).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The Redis the instances share, if any (services keeping state of
    /// their own there: presence sets).
    pub fn redis(&self) -> Option<&Transport> {
        self.relay.as_ref().map(Relay::transport)
    }
}

/// A room's live messages for an HTTP consumer (Server-Sent Events, long
/// polling): a bounded queue registered with the broker, unregistered when
/// dropped.
pub struct RoomFeed {
    broker: DynBroker,
    room_id: i64,
    key: SubscriberKey,
    pub queue: mpsc::Receiver<Delivery>,
    /// Raised when the queue overflowed (the feed missed messages).
    pub overflow: Arc<Notify>,
}

impl RoomFeed {
    pub async fn open<A: Audience + 'static>(
        broker: &DynBroker,
        room: &Room,
        audience: Arc<A>,
        capacity: usize,
    ) -> Self {
        let room_id = room.id;
        let (tx, queue) = mpsc::channel(capacity.max(1));
        let overflow = Arc::new(Notify::new());
        let subscriber = Subscriber {
            recipient: Arc::new(Recipient {
                id: String::new(),
                room: Box::from(room.name.as_str()),
                header: SubscriptionHeader::new(crate::stomp::Version::V1_2, ""),
                wants_ack: false,
            }),
            audience,
            activity: false,
            queue: tx,
            overflow: Arc::clone(&overflow),
        };
        let key = broker.subscribe(room_id, subscriber).await;
        RoomFeed {
            broker: Arc::clone(broker),
            room_id,
            key,
            queue,
            overflow,
        }
    }
}

impl Drop for RoomFeed {
    fn drop(&mut self) {
        self.broker.unsubscribe(self.room_id, self.key);
    }
}
