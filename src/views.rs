//! The JSON shapes of the contract's objects (`user`, `room`, `message`),
//! shared by REST, STOMP MESSAGE bodies and Server-Sent Events.

use serde::{Serialize, Serializer};

use crate::store::{Message, Room, Timestamp, User};

/// RFC 3339 UTC with milliseconds: `2026-11-24T18:00:01.123Z`.
pub fn format_time(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn time<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

#[derive(Debug, Serialize)]
pub struct UserView<'a> {
    pub id: i64,
    pub username: &'a str,
    #[serde(serialize_with = "time")]
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

#[derive(Debug, Serialize)]
pub struct RoomView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub private: bool,
    pub owner: &'a str,
    #[serde(serialize_with = "time")]
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

#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    pub id: i64,
    pub room: &'a str,
    pub seq: i64,
    pub sender: &'a str,
    pub body: &'a str,
    pub client_id: Option<&'a str>,
    #[serde(serialize_with = "time")]
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
