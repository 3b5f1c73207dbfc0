//! The JSON shapes of the contract's objects (`user`, `room`, `message`),
//! shared by REST, STOMP MESSAGE bodies and Server-Sent Events.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::store::{Message, Room, Timestamp, User};

/// RFC 3339 UTC with milliseconds: `2026-11-24T18:00:01.123Z`.
pub fn format_time(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn time<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView<'a> {
    #[schema(example = 1)]
    pub id: i64,
    /// Unique ignoring letter case.
    #[schema(example = "alice")]
    pub username: &'a str,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    pub created_at: Timestamp,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        UserView {
            id: u.id,
            username: &u.username,
            created_at: u.created_at,
        }
    }
}

/// A chat room.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Room)]
pub struct RoomView<'a> {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "general")]
    pub name: &'a str,
    /// A private room is invisible to non-members.
    pub private: bool,
    /// Username of the creator.
    #[schema(example = "alice")]
    pub owner: &'a str,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    pub created_at: Timestamp,
}

impl<'a> From<&'a Room> for RoomView<'a> {
    fn from(r: &'a Room) -> Self {
        RoomView {
            id: r.id,
            name: &r.name,
            private: r.private,
            owner: &r.owner,
            created_at: r.created_at,
        }
    }
}

/// A stored chat message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView<'a> {
    /// Unique across rooms; the `message-id` of STOMP MESSAGE and RECEIPT frames.
    #[schema(example = 42)]
    pub id: i64,
    /// Name of the room.
    #[schema(example = "general")]
    pub room: &'a str,
    /// Per room: starts at 1 and rises by exactly 1 per stored message, in
    /// commit order. A jump means missed messages (fetch them with `?after=`).
    #[schema(example = 7, minimum = 1)]
    pub seq: i64,
    /// Username of the sender.
    #[schema(example = "alice")]
    pub sender: &'a str,
    #[schema(example = "hello")]
    pub body: &'a str,
    /// The sender's `client-id` / `Idempotency-Key`; null unless one was given.
    #[schema(required = true, example = "c-123")]
    pub client_id: Option<&'a str>,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:01.123Z")]
    pub created_at: Timestamp,
}

impl<'a> From<&'a Message> for MessageView<'a> {
    fn from(m: &'a Message) -> Self {
        MessageView {
            id: m.id,
            room: &m.room,
            seq: m.seq,
            sender: &m.sender,
            body: &m.body,
            client_id: m.client_id.as_deref(),
            created_at: m.created_at,
        }
    }
}

/// The message as its JSON body bytes.
pub fn message_json(m: &Message) -> Vec<u8> {
    serde_json::to_vec(&MessageView::from(m)).expect("message serialises")
}
