//! The entries of a room's log (README, "The room log"): every one is an
//! [`Event`] with the room's gapless seq. A `message` event carries its
//! current state when read back (latest body and mentions, `edited_at`,
//! grouped reactions, or the tombstone once deleted); `edit`, `delete` and
//! `reaction` events point at the message they change (`target`).

use super::Timestamp;
use super::files::FileMeta;

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Message,
    Edit,
    Delete,
    Reaction,
}

impl EventKind {
    /// The name clients see (`type`, `event-type`, SSE `event:`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Edit => "edit",
            EventKind::Delete => "delete",
            EventKind::Reaction => "reaction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "message" => EventKind::Message,
            "edit" => EventKind::Edit,
            "delete" => EventKind::Delete,
            "reaction" => EventKind::Reaction,
            _ => return None,
        })
    }
}

/// The users who reacted to a message with one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ReactionGroup {
    pub key: String,
    pub count: i64,
    /// In the order they reacted.
    pub users: Vec<String>,
}

/// One entry of a room's log. Fields that do not apply to the event's kind
/// are empty (`None`, `""`, `[]`, `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub room: String,
    /// Per room, from 1, rising by exactly 1 per stored event, in commit
    /// order.
    pub seq: i64,
    pub kind: EventKind,
    /// Who wrote, edited, deleted or reacted.
    pub sender: String,
    /// `message`: its current text (`""` once deleted); `edit`: the new text
    /// (`""` once the message is deleted).
    pub body: String,
    /// `message`: the sender's idempotency key.
    pub client_id: Option<String>,
    /// `message`: the seq of the message it replies to.
    pub reply_to: Option<i64>,
    /// `edit`, `delete`, `reaction`: the seq of the message it changes.
    pub target: Option<i64>,
    /// `message`, `edit`: canonical usernames mentioned by `body`.
    pub mentions: Vec<String>,
    /// `reaction`: the key, and whether it was added or removed.
    pub key: Option<String>,
    pub added: Option<bool>,
    /// `message`: when it was last edited.
    pub edited_at: Option<Timestamp>,
    /// `message`: deleted (its text and reactions are gone).
    pub deleted: bool,
    /// `message`: grouped by key in order of first use.
    pub reactions: Vec<ReactionGroup>,
    /// `message`: the files it carries (none once deleted).
    pub attachments: Vec<FileMeta>,
    pub created_at: Timestamp,
}

/// What a writer asks the log to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogWrite {
    /// A new message, optionally replying to the `message` event `reply_to`.
    Message {
        body: String,
        client_id: Option<String>,
        reply_to: Option<i64>,
        /// Ids of files to attach: each one the sender uploaded to the same
        /// room and not yet attached (checked under the room's lock).
        attachments: Vec<String>,
    },
    /// New text for the message `target`; only its sender may.
    Edit { target: i64, body: String },
    /// Deletes the message `target`: its sender may, and so may the
    /// room's owner and moderators (their role is read under the room's
    /// lock, in the batch's plan).
    Delete { target: i64 },
    /// Adds (`added`) or removes the writer's reaction `key` on `target`.
    React {
        target: i64,
        key: String,
        added: bool,
    },
}

/// An event to append. Names are carried along so the stored [`Event`] can
/// be returned without another lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub room_id: i64,
    pub room: String,
    pub sender_id: i64,
    pub sender: String,
    pub change: LogWrite,
    /// Stored only together with the next event of the batch: a STOMP
    /// transaction's SENDs are all stored or all refused (every one but
    /// the last is tied to the next).
    pub tied_to_next: bool,
}

impl NewEvent {
    /// The text the change writes, if any.
    pub fn body(&self) -> Option<&str> {
        match &self.change {
            LogWrite::Message { body, .. } | LogWrite::Edit { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// Why the log refused a change (each is a client error of the README's
/// room-log section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No event with that seq in the room, or it is not a `message`.
    #[error("message not found")]
    MessageNotFound,
    /// Not the sender (edit), nor the sender or the owner (delete).
    #[error("not allowed to change this message")]
    Forbidden,
    #[error("the message is deleted")]
    MessageDeleted,
    /// Removing a reaction the writer does not have.
    #[error("no such reaction")]
    ReactionNotFound,
    /// `reply_to` is not a `message` event of the room.
    #[error("in-reply-to must be the seq of a message in this room")]
    InvalidReply,
    /// An attachment is not a file the sender uploaded to this room, or
    /// it is attached already.
    #[error("each attachment must be a file you uploaded to this room and not yet attached")]
    InvalidAttachment,
}

/// Outcome of appending one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Newly stored with a fresh seq.
    Stored(Event),
    /// Already stored: the original event, nothing new was stored (a
    /// message whose (room, sender, client_id) is taken, or a reaction the
    /// writer already has).
    Duplicate(Event),
    /// Refused; nothing was stored for it.
    Refused(Refusal),
}

impl Appended {
    /// The stored (or original) event; None when refused.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Appended::Stored(e) | Appended::Duplicate(e) => Some(e),
            Appended::Refused(_) => None,
        }
    }
}
