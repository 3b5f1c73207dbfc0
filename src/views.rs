//! The JSON shapes of the contract's objects (`user`, `room`, the events of
//! a room's log), shared by REST, STOMP MESSAGE bodies and Server-Sent
//! Events: users, rooms and members here, the room log's events and
//! notices in `events.rs`, the activity signals in `activity.rs`.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::store::{Member, ReadState, Room, Timestamp, User};

mod activity;
mod events;
pub(crate) mod words;

pub use activity::Activity;
pub use events::{
    AccessRevokedView, DeleteView, EditView, EventView, HiddenView, HorizonView, MessageView,
    ReactionEventView, ReactionView, event_json, hidden_json, horizon_json, revoked_json,
};

/// RFC 3339 UTC with milliseconds: `2026-11-24T18:00:01.123Z`.
pub fn format_time(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn time<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

fn optional_time<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
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
    /// True for a bot (README, "Bots and webhooks").
    pub bot: bool,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        UserView {
            id: u.id,
            username: &u.username,
            created_at: u.created_at,
            bot: u.bot,
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
    #[schema(schema_with = crate::views::words::room_kind)]
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
    #[schema(schema_with = crate::views::words::role)]
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
    #[schema(schema_with = crate::views::words::role)]
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
