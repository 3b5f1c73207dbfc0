//! The JSON of a room's ephemeral activity signals.

use serde::Serialize;
use utoipa::ToSchema;

/// An ephemeral signal of a room's activity (README, "Read markers, unread
/// counts, typing and presence"): the body of a MESSAGE on
/// `/topic/rooms/{name}/activity`, with `event-type` its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activity {
    /// `user` is typing; show it for `expires_in_ms`.
    Typing { user: String, expires_in_ms: u64 },
    /// `user`'s read marker moved.
    Read { user: String, last_read_seq: i64 },
    /// `user` came online or went offline.
    Presence { user: String, online: bool },
    /// `user`'s membership changed (`change`: `joined`, `left`, `removed`,
    /// `banned`, `unbanned`, `role`), by `by`.
    Member {
        user: String,
        change: String,
        role: Option<String>,
        by: Option<String>,
    },
}

impl Activity {
    /// Its `type` (the MESSAGE's `event-type`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Activity::Typing { .. } => "typing",
            Activity::Read { .. } => "read",
            Activity::Presence { .. } => "presence",
            Activity::Member { .. } => "member",
        }
    }

    /// The user it is about.
    pub fn user(&self) -> &str {
        match self {
            Activity::Typing { user, .. }
            | Activity::Read { user, .. }
            | Activity::Presence { user, .. }
            | Activity::Member { user, .. } => user,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("activity serialises")
    }
}
