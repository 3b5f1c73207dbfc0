//! The JSON of a room log's events (`message`, `edit`, `delete`,
//! `reaction`, and `hidden` for a blocked sender's) and of the notices
//! written on the same streams (`access_revoked`, `horizon`).

use serde::Serialize;
use utoipa::ToSchema;

use super::files::FileView;
use super::{optional_time, time};
use crate::store::{Event, EventKind, Timestamp};

/// A `message` event: a chat message in its current state (README, "The
/// room log").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView<'a> {
    /// Unique across rooms; the `message-id` of STOMP MESSAGE and RECEIPT frames.
    #[schema(example = 42)]
    pub id: i64,
    /// Name of the room.
    #[schema(example = "general")]
    pub room: &'a str,
    /// Per room: starts at 1 and rises by exactly 1 per stored event, in
    /// commit order. A jump means missed events (fetch them with `?after=`).
    #[schema(example = 7, minimum = 1)]
    pub seq: i64,
    /// Always `message`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::message)]
    pub kind: &'static str,
    /// Username of the sender.
    #[schema(example = "alice")]
    pub sender: &'a str,
    /// The latest text; `""` once deleted.
    #[schema(example = "hi @bob")]
    pub body: &'a str,
    /// The sender's `client-id` / `Idempotency-Key`; null unless one was given.
    #[schema(required = true, example = "c-123")]
    pub client_id: Option<&'a str>,
    /// The seq of the message this one replies to.
    #[schema(required = true, example = json!(null))]
    pub reply_to: Option<i64>,
    /// Members of the room mentioned with `@name`, canonical usernames in
    /// order of first appearance.
    #[schema(example = json!(["bob"]))]
    pub mentions: &'a [String],
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:01.123Z")]
    pub created_at: Timestamp,
    /// When it was last edited (RFC 3339), null if never.
    #[serde(serialize_with = "optional_time")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub edited_at: Option<Timestamp>,
    /// Deleted: `body` is `""`, `mentions` and `reactions` are empty.
    pub deleted: bool,
    /// Grouped by key in order of first use.
    pub reactions: Vec<ReactionView<'a>>,
    /// The files it carries (`[]` when none, and once deleted); their URLs
    /// are signed when the event is rendered.
    pub attachments: Vec<FileView<'a>>,
}

/// The users who reacted to a message with one key.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Reactions)]
pub struct ReactionView<'a> {
    #[schema(example = "👍")]
    pub key: &'a str,
    #[schema(example = 2)]
    pub count: i64,
    /// Usernames in the order they reacted.
    #[schema(example = json!(["bob", "carol"]))]
    pub users: &'a [String],
}

/// An `edit` event: new text for the message `target`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EditEvent)]
pub struct EditView<'a> {
    pub id: i64,
    pub room: &'a str,
    pub seq: i64,
    /// Always `edit`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::edit)]
    pub kind: &'static str,
    pub sender: &'a str,
    /// The seq of the edited message.
    pub target: i64,
    /// The new text (`""` once the message is deleted).
    pub body: &'a str,
    pub mentions: &'a [String],
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A `delete` event: the message `target` was deleted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeleteEvent)]
pub struct DeleteView<'a> {
    pub id: i64,
    pub room: &'a str,
    pub seq: i64,
    /// Always `delete`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::delete)]
    pub kind: &'static str,
    /// Who deleted it.
    pub sender: &'a str,
    pub target: i64,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A `reaction` event: `sender` added (or removed) `key` on message `target`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReactionEvent)]
pub struct ReactionEventView<'a> {
    pub id: i64,
    pub room: &'a str,
    pub seq: i64,
    /// Always `reaction`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::reaction)]
    pub kind: &'static str,
    pub sender: &'a str,
    pub target: i64,
    #[schema(example = "👍")]
    pub key: &'a str,
    pub added: bool,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// One event of a room's log; `type` tells which.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Event, discriminator(property_name = "type", mapping(
    ("message" = "#/components/schemas/Message"),
    ("edit" = "#/components/schemas/EditEvent"),
    ("delete" = "#/components/schemas/DeleteEvent"),
    ("reaction" = "#/components/schemas/ReactionEvent"),
    ("hidden" = "#/components/schemas/HiddenEvent"),
)))]
pub enum EventView<'a> {
    Message(MessageView<'a>),
    Edit(EditView<'a>),
    Delete(DeleteView<'a>),
    Reaction(ReactionEventView<'a>),
    Hidden(HiddenView<'a>),
}

/// What stands in for an event whose sender the reader blocks: its seq,
/// so the reader's seq stays gapless, and nothing else.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HiddenEvent)]
pub struct HiddenView<'a> {
    /// `hidden`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::hidden)]
    pub kind: &'static str,
    #[schema(example = "general")]
    pub room: &'a str,
    #[schema(example = 7)]
    pub seq: i64,
}

impl<'a> EventView<'a> {
    /// The event as a reader sees it: a placeholder when `hidden` (the
    /// reader blocks its sender).
    pub fn seen(e: &'a Event, hidden: bool) -> Self {
        if hidden {
            EventView::Hidden(HiddenView {
                kind: "hidden",
                room: &e.room,
                seq: e.seq,
            })
        } else {
            EventView::from(e)
        }
    }
}

/// The JSON of a `hidden` placeholder.
pub fn hidden_json(room: &str, seq: i64) -> Vec<u8> {
    let view = HiddenView {
        kind: "hidden",
        room,
        seq,
    };
    serde_json::to_vec(&view).expect("placeholder serialises")
}

/// The body of the last MESSAGE (or SSE event) of a subscription whose
/// user lost access to the room.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccessRevoked)]
pub struct AccessRevokedView<'a> {
    /// `access_revoked`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::access_revoked)]
    pub kind: &'static str,
    #[schema(example = "general")]
    pub room: &'a str,
    /// `left`, `removed`, `banned` or `room_deleted`.
    #[schema(schema_with = crate::views::words::revoke_reason)]
    pub reason: &'a str,
}

/// The JSON of an `access_revoked` notice.
pub fn revoked_json(room: &str, reason: &str) -> Vec<u8> {
    let view = AccessRevokedView {
        kind: "access_revoked",
        room,
        reason,
    };
    serde_json::to_vec(&view).expect("notice serialises")
}

/// The first MESSAGE (or SSE event) of a replay that starts below the
/// room's retention horizon (README, "Retention"): the events with seq <=
/// `horizon_seq` are pruned and can no longer be had.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Horizon)]
pub struct HorizonView<'a> {
    /// `horizon`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::views::words::horizon)]
    pub kind: &'static str,
    #[schema(example = "general")]
    pub room: &'a str,
    /// Every event with seq <= this is pruned; the replay goes on from the
    /// next one.
    #[schema(example = 120)]
    pub horizon_seq: i64,
}

/// The JSON of a `horizon` notice.
pub fn horizon_json(room: &str, horizon_seq: i64) -> Vec<u8> {
    let view = HorizonView {
        kind: "horizon",
        room,
        horizon_seq,
    };
    serde_json::to_vec(&view).expect("notice serialises")
}

impl<'a> From<&'a Event> for EventView<'a> {
    fn from(e: &'a Event) -> Self {
        let kind = e.kind.as_str();
        let target = e.target.unwrap_or_default();
        match e.kind {
            EventKind::Message => EventView::Message(MessageView {
                id: e.id,
                room: &e.room,
                seq: e.seq,
                kind,
                sender: &e.sender,
                body: &e.body,
                client_id: e.client_id.as_deref(),
                reply_to: e.reply_to,
                mentions: &e.mentions,
                created_at: e.created_at,
                edited_at: e.edited_at,
                deleted: e.deleted,
                reactions: e
                    .reactions
                    .iter()
                    .map(|r| ReactionView {
                        key: &r.key,
                        count: r.count,
                        users: &r.users,
                    })
                    .collect(),
                attachments: e.attachments.iter().map(FileView::of).collect(),
            }),
            EventKind::Edit => EventView::Edit(EditView {
                id: e.id,
                room: &e.room,
                seq: e.seq,
                kind,
                sender: &e.sender,
                target,
                body: &e.body,
                mentions: &e.mentions,
                created_at: e.created_at,
            }),
            EventKind::Delete => EventView::Delete(DeleteView {
                id: e.id,
                room: &e.room,
                seq: e.seq,
                kind,
                sender: &e.sender,
                target,
                created_at: e.created_at,
            }),
            EventKind::Reaction => EventView::Reaction(ReactionEventView {
                id: e.id,
                room: &e.room,
                seq: e.seq,
                kind,
                sender: &e.sender,
                target,
                key: e.key.as_deref().unwrap_or_default(),
                added: e.added.unwrap_or_default(),
                created_at: e.created_at,
            }),
        }
    }
}

/// The event as its JSON body bytes.
pub fn event_json(e: &Event) -> Vec<u8> {
    serde_json::to_vec(&EventView::from(e)).expect("event serialises")
}
