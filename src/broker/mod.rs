//! Fan-out of committed messages to the subscribers of a room.
//!
//! [`Broker`] is the interface the send path and the gateway use: publish
//! after commit, subscribe/unsubscribe local subscribers. [`LocalBroker`] is
//! the in-process implementation (one instance). Both it and the Redis relay
//! deliver through a [`Hub`], which owns the per-room ordering guarantee:
//! each local subscriber gets each message exactly once, in seq order.

mod hub;
mod local;
mod redis;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::stomp::{EncodedMessage, SubscriptionHeader};
use crate::store::{Event, EventKind};

pub use hub::Hub;
pub use local::LocalBroker;
pub use redis::{RedisBroker, RedisUrlError};

/// A committed message, encoded once for every subscriber.
#[derive(Debug)]
pub struct Published {
    pub room_id: i64,
    pub seq: i64,
    /// The event's type (`event-type`, SSE `event:`).
    pub kind: EventKind,
    pub message_id: i64,
    /// `message-id` as text (also the `ack` value for client-ack subscribers).
    pub message_id_text: String,
    /// The message object as JSON (MESSAGE body, SSE data).
    pub json: Bytes,
    /// The MESSAGE frame minus the per-subscriber headers.
    pub frame: EncodedMessage,
    /// When this instance built it (right after commit, or on relay arrival).
    pub born: std::time::Instant,
}

impl Published {
    pub fn new(room_id: i64, event: &Event) -> Self {
        let json = Bytes::from(crate::views::event_json(event));
        Published::encode(room_id, event.id, &event.room, event.seq, event.kind, json)
    }

    /// From the event's JSON as another instance published it.
    pub fn encode(
        room_id: i64,
        id: i64,
        room: &str,
        seq: i64,
        kind: EventKind,
        json: Bytes,
    ) -> Self {
        let destination = crate::destination::of_room(room);
        let message_id_text = id.to_string();
        let seq_text = seq.to_string();
        let frame = EncodedMessage::new(
            &[
                ("destination", &destination),
                ("message-id", &message_id_text),
                ("seq", &seq_text),
                ("event-type", kind.as_str()),
                ("content-type", "application/json"),
            ],
            &json,
        );
        Published {
            room_id,
            seq,
            kind,
            message_id: id,
            message_id_text,
            json,
            frame,
            born: std::time::Instant::now(),
        }
    }
}

/// Which subscription a delivery is for, and how its MESSAGE frames are
/// written. Each registration has its own (the connection tells a
/// subscription from an earlier one with the same id by pointer).
#[derive(Debug)]
pub struct Recipient {
    /// The client's subscription id.
    pub id: String,
    pub header: SubscriptionHeader,
    /// Client-ack modes get an `ack` header.
    pub wants_ack: bool,
}

/// One message for one subscription, queued on its connection.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Published>,
    pub recipient: Arc<Recipient>,
}

/// What is registered with the broker for one subscription: its
/// [`Recipient`], its connection's bounded queue, and a signal raised when
/// the queue overflows (the connection then ends as a slow consumer; the
/// room never waits for it).
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub recipient: Arc<Recipient>,
    pub queue: mpsc::Sender<Delivery>,
    pub overflow: Arc<Notify>,
}

/// Identifies a registered subscriber for `unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberKey(pub u64);

#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Publishes committed messages (in commit order) to every subscriber of
    /// their rooms, on this instance and others.
    fn publish(&self, messages: Vec<Arc<Published>>);
    /// Registers a local subscriber of `room_id`. Every message committed
    /// after this returns is delivered to it.
    async fn subscribe(&self, room_id: i64, subscriber: Subscriber) -> SubscriberKey;
    fn unsubscribe(&self, room_id: i64, key: SubscriberKey);
    /// False while the relay between instances is down.
    fn is_ready(&self) -> bool;
}

pub type DynBroker = Arc<dyn Broker>;

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
    pub async fn open(broker: &DynBroker, room_id: i64, capacity: usize) -> Self {
        let (tx, queue) = mpsc::channel(capacity.max(1));
        let overflow = Arc::new(Notify::new());
        let subscriber = Subscriber {
            recipient: Arc::new(Recipient {
                id: String::new(),
                header: SubscriptionHeader::new(crate::stomp::Version::V1_2, ""),
                wants_ack: false,
            }),
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
