//! Fan-out of committed messages to the subscribers of a room.
//!
//! [`Broker`] is the interface the send path and the gateway use: publish
//! after commit, subscribe/unsubscribe local subscribers. [`LocalBroker`] is
//! the in-process implementation (one instance). Both it and the Redis relay
//! deliver through a [`Hub`], which owns the per-room ordering guarantee:
//! each local subscriber gets each message exactly once, in seq order.

mod hub;
mod local;
mod presence;
mod redis;
mod shards;
mod slot;
mod topology;
mod transport;
mod viewers;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::stomp::{EncodedMessage, SubscriptionHeader};
use crate::store::{Event, Room, StoreResult};
use crate::views::Activity;

pub use hub::{Hub, PresenceGuard};
pub use local::LocalBroker;
pub use redis::{RedisBroker, RedisUrlError};
pub use viewers::{Viewer, Viewers};

/// A committed event, encoded once for every subscriber; or what stands in
/// for one (a `hidden` placeholder), or the last word of a subscription
/// (`access_revoked`).
#[derive(Debug)]
pub struct Published {
    pub room_id: i64,
    /// The event's seq (0 for `access_revoked`, which has none).
    pub seq: i64,
    /// `event-type` and SSE `event:`: `message`, `edit`, `delete`,
    /// `reaction`, `hidden`, `horizon` or `access_revoked`.
    pub event_type: &'static str,
    /// Who sent the event (canonical username; empty when none).
    pub sender: Box<str>,
    /// The subscription ends with this: nothing is delivered after it.
    pub revokes: bool,
    /// An activity signal: no seq, delivered at most once, never replayed.
    pub ephemeral: bool,
    pub message_id: i64,
    /// `message-id` as text (also the `ack` value for client-ack subscribers).
    pub message_id_text: String,
    /// The room's name.
    pub room: Box<str>,
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
        let at = EventAt {
            room_id,
            id: event.id,
            room: &event.room,
            seq: event.seq,
        };
        Published::encode(at, event.kind.as_str(), &event.sender, json)
    }

    /// The event as a viewer who blocks its sender gets it (README,
    /// "Members, moderation and blocking"): its seq, nothing else.
    pub fn new_for(room_id: i64, event: &Event, viewer: &Viewer) -> Self {
        if viewer.blocks(&event.sender) {
            Published::hidden(EventAt {
                room_id,
                id: event.id,
                room: &event.room,
                seq: event.seq,
            })
        } else {
            Published::new(room_id, event)
        }
    }

    /// A `hidden` placeholder for the event at `at`.
    pub fn hidden(at: EventAt<'_>) -> Self {
        let json = Bytes::from(crate::views::hidden_json(at.room, at.seq));
        Published::encode(at, "hidden", "", json)
    }

    /// The placeholder standing in for this event.
    pub fn to_hidden(&self) -> Self {
        Published::hidden(EventAt {
            room_id: self.room_id,
            id: self.message_id,
            room: &self.room,
            seq: self.seq,
        })
    }

    /// The last MESSAGE of a subscription whose user lost access to `room`.
    pub fn revoked(room_id: i64, room: &str, reason: RevokeReason) -> Self {
        let json = Bytes::from(crate::views::revoked_json(room, reason.as_str()));
        let destination = crate::destination::of_room(room);
        let message_id_text = format!("access_revoked-{room_id}");
        let frame = EncodedMessage::new(
            &[
                ("destination", &destination),
                ("message-id", &message_id_text),
                ("event-type", "access_revoked"),
                ("content-type", "application/json"),
            ],
            &json,
        );
        Published {
            room_id,
            seq: 0,
            event_type: "access_revoked",
            sender: Box::from(""),
            revokes: true,
            ephemeral: false,
            message_id: 0,
            message_id_text,
            room: Box::from(room),
            json,
            frame,
            born: std::time::Instant::now(),
        }
    }

    /// The first MESSAGE of a replay that starts below the room's retention
    /// horizon (README, "Retention"): `horizon_seq` is where the replay goes
    /// on from (its `seq`, so a resume after it starts there).
    pub fn horizon(room_id: i64, room: &str, horizon_seq: i64) -> Self {
        let json = Bytes::from(crate::views::horizon_json(room, horizon_seq));
        let destination = crate::destination::of_room(room);
        let message_id_text = format!("horizon-{room_id}-{horizon_seq}");
        let frame = EncodedMessage::new(
            &[
                ("destination", &destination),
                ("message-id", &message_id_text),
                ("event-type", "horizon"),
                ("content-type", "application/json"),
            ],
            &json,
        );
        Published {
            room_id,
            seq: horizon_seq,
            event_type: "horizon",
            sender: Box::from(""),
            revokes: false,
            ephemeral: false,
            message_id: 0,
            message_id_text,
            room: Box::from(room),
            json,
            frame,
            born: std::time::Instant::now(),
        }
    }

    /// An activity signal of `room` (README, "Read markers, unread counts,
    /// typing and presence"): `event_type` and its JSON, sent by `user`.
    pub fn activity(
        room_id: i64,
        room: &str,
        event_type: &'static str,
        user: &str,
        json: Bytes,
    ) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let destination = crate::destination::of_activity(room);
        let message_id_text = format!("activity-{n}");
        let frame = EncodedMessage::new(
            &[
                ("destination", &destination),
                ("message-id", &message_id_text),
                ("event-type", event_type),
                ("content-type", "application/json"),
            ],
            &json,
        );
        Published {
            room_id,
            seq: 0,
            event_type,
            sender: Box::from(user),
            revokes: false,
            ephemeral: true,
            message_id: 0,
            message_id_text,
            room: Box::from(room),
            json,
            frame,
            born: std::time::Instant::now(),
        }
    }

    /// From the event's JSON as another instance published it.
    pub fn encode(at: EventAt<'_>, event_type: &'static str, sender: &str, json: Bytes) -> Self {
        let destination = crate::destination::of_room(at.room);
        let message_id_text = at.id.to_string();
        let seq_text = at.seq.to_string();
        let frame = EncodedMessage::new(
            &[
                ("destination", &destination),
                ("message-id", &message_id_text),
                ("seq", &seq_text),
                ("event-type", event_type),
                ("content-type", "application/json"),
            ],
            &json,
        );
        Published {
            room_id: at.room_id,
            seq: at.seq,
            event_type,
            sender: Box::from(sender),
            revokes: false,
            ephemeral: false,
            room: Box::from(at.room),
            message_id: at.id,
            message_id_text,
            json,
            frame,
            born: std::time::Instant::now(),
        }
    }
}

/// Where an event is: its room (id and name), id and seq.
#[derive(Debug, Clone, Copy)]
pub struct EventAt<'a> {
    pub room_id: i64,
    pub id: i64,
    pub room: &'a str,
    pub seq: i64,
}

/// Why a user lost access to a room (the `reason` of `access_revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Left,
    Removed,
    Banned,
    RoomDeleted,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Left => "left",
            RevokeReason::Removed => "removed",
            RevokeReason::Banned => "banned",
            RevokeReason::RoomDeleted => "room_deleted",
        }
    }
}

/// A change every instance acts on at once, relayed like events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// `user_id` (everyone, when None: the room was deleted) lost access
    /// to the room: each of their subscriptions to it gets a last
    /// `access_revoked` and nothing after it.
    Revoked {
        room_id: i64,
        room: String,
        user_id: Option<i64>,
        reason: RevokeReason,
    },
    /// The users `user_id` blocks changed.
    Blocks { user_id: i64 },
    /// `user_id` came online on `instance` (their first connection there
    /// opened) or went offline there (their last one closed).
    Presence {
        instance: String,
        user_id: i64,
        username: String,
        online: bool,
    },
    /// A change of each of `users`' own room list (contract section 17):
    /// `update` is a `user_updates::UserUpdate` as JSON, opaque here; the
    /// hub hands it to the watcher `Hub::watch_user_updates` set, in
    /// signal order.
    UserUpdate {
        users: Vec<i64>,
        update: serde_json::Value,
    },
}

/// Which subscription a delivery is for, and how its MESSAGE frames are
/// written. Each registration has its own (the connection tells a
/// subscription from an earlier one with the same id by pointer).
#[derive(Debug)]
pub struct Recipient {
    /// The client's subscription id.
    pub id: String,
    /// The room subscribed to.
    pub room: Box<str>,
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
    /// Of the room's activity (else of its log).
    pub activity: bool,
    /// The user it delivers to.
    pub viewer: Arc<Viewer>,
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
    /// Delivers `activity` to the subscribers of the room's activity, on
    /// this instance and others: at most once, no seq, nothing stored.
    fn publish_activity(&self, room_id: i64, activity: &Activity);
    /// Acts on `signal` on this instance (returning once it has), and
    /// relays it to the others.
    async fn signal(&self, signal: Signal);
    /// `user_id` holds a connection here (a WebSocket after CONNECTED, an
    /// event stream): online, on every instance, until the guard drops.
    fn present(&self, user_id: i64, username: &str) -> PresenceGuard;
    /// Whether `user_id` is online on any instance.
    fn is_online(&self, user_id: i64) -> bool;
    /// The viewer of `user_id` on this instance (kept up to date while held).
    async fn viewer(&self, user_id: i64) -> StoreResult<Arc<Viewer>>;
    /// Where the record of revocations stands now (see `revoked_since`).
    fn revocation_mark(&self) -> u64;
    /// Whether `user_id` lost access to `room_id` (or the room was
    /// deleted) since `revocation_mark` answered `mark`.
    fn revoked_since(&self, room_id: i64, user_id: i64, mark: u64) -> bool;
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
    pub async fn open(
        broker: &DynBroker,
        room: &Room,
        viewer: Arc<Viewer>,
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
            viewer,
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
