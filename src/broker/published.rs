//! What the broker hands to subscribers: a committed event encoded once
//! ([`Published`]: its JSON and its MESSAGE frame, shared by every
//! subscriber), or what stands in for one (a `hidden` placeholder, a
//! `horizon` notice, a last word like `access_revoked`), or an activity
//! signal. And the one thing the fan-out asks of a subscriber's user
//! ([`Audience`]): whose events they get only as `hidden`.

use bytes::Bytes;

use crate::stomp::EncodedMessage;
use crate::store::Event;

/// Whom a subscription delivers to, as far as the fan-out needs to know:
/// the user (a revocation picks their subscriptions by it) and the senders
/// whose events reach them only as `hidden` placeholders (README, "Members,
/// moderation and blocking"). The `viewers` service keeps it up to date;
/// it is asked on the fan-out path, so it must answer without waiting.
pub trait Audience: Send + Sync + std::fmt::Debug {
    fn user_id(&self) -> i64;
    /// Whether events sent by `sender` (canonical username) are hidden
    /// from this user.
    fn blocks(&self, sender: &str) -> bool;
}

/// A committed event, encoded once for every subscriber; or what stands in
/// for one (a `hidden` placeholder), or the last word of a subscription
/// (`access_revoked`).
#[derive(Debug)]
pub struct Published {
    pub room_id: i64,
    /// The event's seq (0 for a notice that has none, like `access_revoked`).
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

    /// The event as `audience` gets it (README, "Members, moderation and
    /// blocking"): if they block its sender, its seq and nothing else.
    pub fn new_for(room_id: i64, event: &Event, audience: &dyn Audience) -> Self {
        if audience.blocks(&event.sender) {
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

    /// A notice of `room` that is not an event of its log (no `seq`
    /// header): `event_type` with its JSON, under `message_id_text`, at
    /// `seq` for the subscription's bookkeeping (0 when it has none).
    pub fn notice(
        room_id: i64,
        room: &str,
        event_type: &'static str,
        message_id_text: String,
        seq: i64,
        json: Bytes,
    ) -> Self {
        let destination = crate::destination::of_room(room);
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
            seq,
            event_type,
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

    /// The first MESSAGE of a replay that starts below the room's retention
    /// horizon (README, "Retention"): `horizon_seq` is where the replay goes
    /// on from (its `seq`, so a resume after it starts there).
    pub fn horizon(room_id: i64, room: &str, horizon_seq: i64) -> Self {
        let json = Bytes::from(crate::views::horizon_json(room, horizon_seq));
        let message_id_text = format!("horizon-{room_id}-{horizon_seq}");
        Published::notice(room_id, room, "horizon", message_id_text, horizon_seq, json)
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
