//! The JSON shapes of the contract's objects (`user`, `room`, the events of
//! a room's log), shared by REST, STOMP MESSAGE bodies and Server-Sent
//! Events: users, rooms and members here, the room log's events and
//! notices in `events.rs`, the activity signals in `activity.rs`.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::avatars::AvatarLinks;
use crate::config::Administrators;
use crate::store::{AdminUser, Member, ReadState, Room, Timestamp, User};

mod activity;
mod admin;
mod events;
mod files;
pub(crate) mod words;

pub use activity::Activity;
pub use admin::{AdminUserView, AuditEntryView, ReportView};
pub use events::{
    AccessRevokedView, DeleteView, EditView, EventView, HiddenView, HorizonView, MessageView,
    ReactionEventView, ReactionView, ThreadSummaryView, event_json, hidden_json, horizon_json,
    revoked_json,
};
pub use files::{FileView, ImageView};

/// RFC 3339 UTC with milliseconds: `2026-11-24T18:00:01.123Z` (chrono's
/// RFC 3339 writer: no format string parsed per call, as `format` would).
pub fn format_time(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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

/// A user: the account and its profile (README, "Accounts").
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
    /// Present (and true) only for a server administrator (`ADMIN_USERS`),
    /// shown to everyone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub admin: bool,
    /// 1–64 characters without control characters, or null. Clients show
    /// it beside the username, never instead of it.
    #[schema(min_length = 1, max_length = 64, example = "Alice Liddell")]
    pub display_name: Option<&'a str>,
    /// Up to 140 characters without control characters, or null.
    #[schema(max_length = 140, example = "in the garden")]
    pub status: Option<&'a str>,
    /// A square image of at most 256 px, at a signed URL that works without
    /// a token until it expires (`FILE_URL_TTL_SECS`); null when the user
    /// has none.
    #[schema(example = "/api/v1/avatars/4f0c…?expires=1796140800&sig=9a1e…")]
    pub avatar_url: Option<String>,
    /// True for a bot (README, "Bots and webhooks").
    pub bot: bool,
}

/// What every `user` object is shown with: who the administrators are
/// (`ADMIN_USERS`, shown as `"admin": true`) and the key that signs avatar
/// URLs. Built once with the state (`AppState::user_views`), so a handler
/// turns a stored user into its view in one call.
#[derive(Debug, Clone)]
pub struct UserViews {
    admins: Administrators,
    avatars: AvatarLinks,
}

impl UserViews {
    pub fn new(admins: Administrators, avatars: AvatarLinks) -> Self {
        UserViews { admins, avatars }
    }

    /// Signs and checks avatar URLs (`GET /avatars/{id}` checks them).
    pub fn avatars(&self) -> &AvatarLinks {
        &self.avatars
    }

    /// `u` as clients see it.
    pub fn user<'a>(&self, u: &'a User) -> UserView<'a> {
        UserView {
            id: u.id,
            username: &u.username,
            created_at: u.created_at,
            admin: self.admins.contains(&u.username),
            display_name: u.profile.display_name.as_deref(),
            status: u.profile.status.as_deref(),
            avatar_url: u
                .profile
                .avatar_key
                .as_deref()
                .map(|key| self.avatars.url(key, now_secs())),
            bot: u.bot,
        }
    }

    /// A room's member `m` as clients see them.
    pub fn member<'a>(&self, m: &'a Member) -> MemberView<'a> {
        MemberView {
            user: self.user(&m.user),
            role: m.role.as_str(),
            last_read_seq: m.last_read_seq,
        }
    }

    /// `u` as administrators see them.
    pub fn admin_user<'a>(&self, u: &'a AdminUser) -> AdminUserView<'a> {
        AdminUserView {
            user: self.user(&u.user),
            email: u.email.as_deref(),
            deactivated: u.deactivated,
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    /// When the caller is notified of the room's messages.
    pub notifications: NotificationsView,
}

/// A member's notification setting in a room (README, "Notifications").
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Notifications)]
pub struct NotificationsView {
    /// `all`, `mentions` or `none`; the default is `all` in a direct
    /// conversation and `mentions` elsewhere.
    #[schema(schema_with = crate::views::words::notify_level)]
    pub level: &'static str,
    /// No notification before this time (RFC 3339, UTC, milliseconds);
    /// null when not muted.
    #[serde(serialize_with = "optional_time")]
    #[schema(value_type = Option<String>, format = DateTime, example = json!(null))]
    pub muted_until: Option<Timestamp>,
}

impl NotificationsView {
    /// The setting as stored (`level` `None`: the default of the room's
    /// kind); a mute that has ended shows as null.
    pub fn of(direct: bool, level: Option<&str>, muted_until: Option<Timestamp>) -> Self {
        let level = match level {
            Some("all") => "all",
            Some("none") => "none",
            Some(_) => "mentions",
            None if direct => "all",
            None => "mentions",
        };
        NotificationsView {
            level,
            muted_until: muted_until.filter(|t| *t > chrono::Utc::now()),
        }
    }
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
                notifications: NotificationsView::of(
                    r.direct.is_some(),
                    s.notify_level.as_deref(),
                    s.muted_until,
                ),
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let at = chrono::Utc.timestamp_millis_opt(1_764_007_201_003).unwrap();
        assert_eq!(super::format_time(&at), "2025-11-24T18:00:01.003Z");
        let whole = chrono::Utc.timestamp_millis_opt(1_764_007_201_000).unwrap();
        assert_eq!(super::format_time(&whole), "2025-11-24T18:00:01.000Z");
    }
}
