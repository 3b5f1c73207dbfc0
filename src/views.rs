//! The JSON shapes of the contract's objects (`user`, `room`, the events of
//! a room's log), shared by REST, STOMP MESSAGE bodies and Server-Sent
//! Events.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::store::{Event, EventKind, Member, ReadState, Room, Timestamp, User};

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

/// A chat room, as one user sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Room)]
pub struct RoomView<'a> {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "general")]
    pub name: &'a str,
    /// A private room is invisible to non-members (a direct conversation
    /// is always private).
    pub private: bool,
    /// Username of the creator; null for a direct conversation.
    #[schema(example = "alice")]
    pub owner: Option<&'a str>,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    pub created_at: Timestamp,
    /// `room`, or `direct` for a direct conversation.
    #[schema(schema_with = crate::http::openapi::words::room_kind)]
    pub kind: &'static str,
    /// The other user of a direct conversation; null for a room.
    #[schema(example = json!(null))]
    pub peer: Option<&'a str>,
    /// The room's highest seq.
    #[schema(example = 7)]
    pub last_seq: i64,
    /// The caller's membership; null when not a member.
    pub membership: Option<MembershipView>,
}

/// The caller's membership of a room, with what they have not read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Membership)]
pub struct MembershipView {
    /// `owner`, `moderator` or `member`.
    #[schema(schema_with = crate::http::openapi::words::role)]
    pub role: &'static str,
    /// The read marker: every event up to this seq is read.
    #[schema(example = 5)]
    pub last_read_seq: i64,
    /// `message` events after the marker, not deleted, not the caller's own,
    /// not from users the caller blocks.
    #[schema(example = 2)]
    pub unread: i64,
    /// Those of them that mention the caller.
    #[schema(example = 0)]
    pub mentions: i64,
}

impl<'a> RoomView<'a> {
    /// The room as `user_id` sees it, with their read state when a member.
    pub fn for_user(r: &'a Room, user_id: i64, state: Option<&ReadState>) -> Self {
        RoomView {
            id: r.id,
            name: &r.name,
            private: r.private,
            owner: r.owner(),
            created_at: r.created_at,
            kind: if r.direct.is_some() { "direct" } else { "room" },
            peer: r.peer_of(user_id),
            last_seq: r.last_seq,
            membership: state.map(|s| MembershipView {
                role: s.role.as_str(),
                last_read_seq: s.last_read_seq,
                unread: s.unread,
                mentions: s.mentions,
            }),
        }
    }
}

/// A member of a room: the user, their role and read marker.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberView<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    /// `owner`, `moderator` or `member`.
    #[schema(schema_with = crate::http::openapi::words::role)]
    pub role: &'static str,
    /// The seq up to which the member has read (their join point until
    /// they read further).
    #[schema(example = 0)]
    pub last_read_seq: i64,
}

impl<'a> From<&'a Member> for MemberView<'a> {
    fn from(m: &'a Member) -> Self {
        MemberView {
            user: UserView::from(&m.user),
            role: m.role.as_str(),
            last_read_seq: m.last_read_seq,
        }
    }
}

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
    #[schema(schema_with = crate::http::openapi::words::message)]
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
    #[schema(schema_with = crate::http::openapi::words::edit)]
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
    #[schema(schema_with = crate::http::openapi::words::delete)]
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
    #[schema(schema_with = crate::http::openapi::words::reaction)]
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
    #[schema(schema_with = crate::http::openapi::words::hidden)]
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
    #[schema(schema_with = crate::http::openapi::words::access_revoked)]
    pub kind: &'static str,
    #[schema(example = "general")]
    pub room: &'a str,
    /// `left`, `removed`, `banned` or `room_deleted`.
    #[schema(schema_with = crate::http::openapi::words::revoke_reason)]
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
    #[schema(schema_with = crate::http::openapi::words::horizon)]
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

fn optional_time<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
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
