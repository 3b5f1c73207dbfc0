//! What both backends read back: the columns of a user, a room or a
//! message, decoded into the store's types, and the constraint errors they
//! turn into. A row is generic over how its backend stores a timestamp
//! (`timestamptz` on Postgres, epoch milliseconds on SQLite).

use sqlx::FromRow;

use super::batch::{ClientKey, Target};
use super::membership::Member;
use super::{
    DirectPair, Event, EventKind, Profile, Room, StoreError, ThreadSummary, Timestamp, User,
};
use crate::domain::Role;

/// `SELECT` of full [`Event`]s in their current state (aliases `m`, `r`,
/// `u`, and `th` for a root's thread summary; `$reactions` names the backend's macro for the `reactions` JSON of
/// message `m`), followed by `$rest`. With `keyed`, the ids of a message's
/// idempotency key come first (see [`KeyedEventRow`]); with `horizon`, the
/// room's retention horizon (see [`HorizonEventRow`]); with `unread`, the
/// column given (`… AS unread, `, see [`UnreadEventRow`]).
macro_rules! select_events {
    ($reactions:ident, $rest:literal) => {
        $crate::store::rows::select_events!(@ $reactions, "", $rest)
    };
    (horizon $reactions:ident, $rest:literal) => {
        $crate::store::rows::select_events!(@ $reactions, "r.horizon_seq, ", $rest)
    };
    (unread $reactions:ident, $unread:literal, $rest:literal) => {
        $crate::store::rows::select_events!(@ $reactions, $unread, $rest)
    };
    (keyed $reactions:ident, $rest:literal) => {
        $crate::store::rows::select_events!(@ $reactions, "m.room_id, m.sender_id, ", $rest)
    };
    (@ $reactions:ident, $key:literal, $rest:literal) => {
        concat!(
            "SELECT ",
            $key,
            "m.id, r.name AS room, m.seq, m.kind, u.username AS sender, m.body, m.client_id, \
             m.reply_to, m.target_seq AS target, m.mentions, m.reaction_key AS key, m.added, \
             m.edited_at, m.deleted, m.created_at, m.attachments, m.thread_root AS thread, \
             th.reply_count AS thread_reply_count, th.last_reply_seq AS thread_last_reply_seq, \
             th.participants AS thread_participants, \
             CASE WHEN m.kind = 'message' AND NOT m.deleted THEN ",
            $reactions!(),
            " ELSE '[]' END AS reactions \
             FROM messages m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.sender_id \
             LEFT JOIN threads th ON th.room_id = m.room_id AND th.root_seq = m.seq ",
            $rest
        )
    };
}
pub(crate) use select_events;

/// `SELECT` of a full [`Room`] (aliases `r`, `o`), followed by `$rest`.
macro_rules! select_rooms {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.name, r.private, o.username AS owner, r.created_at, r.last_seq, \
                    r.direct_a, da.username AS direct_a_name, \
                    r.direct_b, db.username AS direct_b_name \
             FROM rooms r JOIN users o ON o.id = r.owner_id \
             LEFT JOIN users da ON da.id = r.direct_a LEFT JOIN users db ON db.id = r.direct_b ",
            $rest
        )
    };
}
pub(crate) use select_rooms;

/// `SELECT` of a refresh token with its user (alias `t`), followed by `$rest`.
macro_rules! select_refresh_tokens {
    ($rest:literal) => {
        concat!(
            "SELECT t.family, t.expires_at, t.rotated_at, t.revoked_at, \
                    u.id AS user_id, u.username, u.created_at AS user_created_at, \
                    u.display_name, u.status, u.avatar_key \
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id ",
            $rest
        )
    };
}
pub(crate) use select_refresh_tokens;

#[derive(FromRow)]
pub(super) struct UserRow<T> {
    id: i64,
    username: String,
    created_at: T,
    display_name: Option<String>,
    status: Option<String>,
    avatar_key: Option<String>,
    /// Selected where a `user` object is shown (`kind <> 'person' AS bot`).
    #[sqlx(default)]
    bot: bool,
}

impl<T: Into<Timestamp>> From<UserRow<T>> for User {
    fn from(row: UserRow<T>) -> Self {
        User {
            id: row.id,
            username: row.username,
            created_at: row.created_at.into(),
            profile: Profile {
                display_name: row.display_name,
                status: row.status,
                avatar_key: row.avatar_key,
            },
            bot: row.bot,
        }
    }
}

/// A user and their password hash.
#[derive(FromRow)]
pub(super) struct CredentialsRow<T> {
    #[sqlx(flatten)]
    user: UserRow<T>,
    password_hash: String,
}

impl<T: Into<Timestamp>> From<CredentialsRow<T>> for (User, String) {
    fn from(row: CredentialsRow<T>) -> Self {
        (row.user.into(), row.password_hash)
    }
}

#[derive(FromRow)]
pub(super) struct RoomRow<T> {
    id: i64,
    name: String,
    private: bool,
    owner: String,
    created_at: T,
    last_seq: i64,
    direct_a: Option<i64>,
    direct_a_name: Option<String>,
    direct_b: Option<i64>,
    direct_b_name: Option<String>,
}

impl<T: Into<Timestamp>> From<RoomRow<T>> for Room {
    fn from(row: RoomRow<T>) -> Self {
        Room {
            id: row.id,
            name: row.name,
            private: row.private,
            owner: row.owner,
            created_at: row.created_at.into(),
            last_seq: row.last_seq,
            direct: match (
                row.direct_a,
                row.direct_a_name,
                row.direct_b,
                row.direct_b_name,
            ) {
                (Some(a), Some(a_name), Some(b), Some(b_name)) => Some(DirectPair {
                    users: [(a, a_name), (b, b_name)],
                }),
                _ => None,
            },
        }
    }
}

/// A member: the user, their role and read marker.
#[derive(FromRow)]
pub(super) struct MemberRow<T> {
    #[sqlx(flatten)]
    user: UserRow<T>,
    role: String,
    last_read_seq: i64,
}

impl<T: Into<Timestamp>> From<MemberRow<T>> for Member {
    fn from(row: MemberRow<T>) -> Self {
        Member {
            user: row.user.into(),
            // The column's CHECK allows only the three roles.
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            last_read_seq: row.last_read_seq,
        }
    }
}

#[derive(FromRow)]
pub(super) struct EventRow<T> {
    id: i64,
    room: String,
    seq: i64,
    kind: String,
    sender: String,
    body: String,
    client_id: Option<String>,
    reply_to: Option<i64>,
    target: Option<i64>,
    /// JSON array of usernames.
    mentions: String,
    key: Option<String>,
    added: Option<bool>,
    edited_at: Option<T>,
    deleted: bool,
    /// JSON array of `{key, count, users}`.
    reactions: String,
    /// JSON array of `FileMeta` (`store/files.rs`).
    attachments: String,
    created_at: T,
    thread: Option<i64>,
    /// The summary's columns, when the message is a thread's root.
    thread_reply_count: Option<i64>,
    thread_last_reply_seq: Option<i64>,
    /// JSON array of usernames.
    thread_participants: Option<String>,
}

impl<T: Into<Timestamp>> From<EventRow<T>> for Event {
    fn from(row: EventRow<T>) -> Self {
        Event {
            id: row.id,
            room: row.room,
            seq: row.seq,
            // The columns' CHECK constraints admit only what was written.
            kind: EventKind::parse(&row.kind).unwrap_or(EventKind::Message),
            sender: row.sender,
            body: row.body,
            client_id: row.client_id,
            reply_to: row.reply_to,
            thread: row.thread,
            thread_summary: match (row.thread_reply_count, row.thread_last_reply_seq) {
                (Some(reply_count), Some(last_reply_seq)) => Some(ThreadSummary {
                    reply_count,
                    last_reply_seq,
                    participants: row
                        .thread_participants
                        .and_then(|p| serde_json::from_str(&p).ok())
                        .unwrap_or_default(),
                }),
                _ => None,
            },
            target: row.target,
            mentions: serde_json::from_str(&row.mentions).unwrap_or_default(),
            key: row.key,
            added: row.added,
            edited_at: row.edited_at.map(Into::into),
            deleted: row.deleted,
            reactions: serde_json::from_str(&row.reactions).unwrap_or_default(),
            attachments: serde_json::from_str(&row.attachments).unwrap_or_default(),
            created_at: row.created_at.into(),
        }
    }
}

/// A stored event with the ids of its idempotency key.
#[derive(FromRow)]
pub(super) struct KeyedEventRow<T> {
    room_id: i64,
    sender_id: i64,
    #[sqlx(flatten)]
    event: EventRow<T>,
}

impl<T: Into<Timestamp>> KeyedEventRow<T> {
    /// The message under its key; None for a message without client id.
    pub(super) fn into_keyed(self) -> Option<(ClientKey, Event)> {
        let client_id = self.event.client_id.clone()?;
        Some(((self.room_id, self.sender_id, client_id), self.event.into()))
    }
}

/// A followed thread's root with the follower's unread replies.
#[derive(FromRow)]
pub(super) struct UnreadEventRow<T> {
    pub(super) unread: i64,
    #[sqlx(flatten)]
    pub(super) event: EventRow<T>,
}

/// A history row with the room's retention horizon, read in the same
/// statement (so the two agree: every event with seq <= it is gone).
#[derive(FromRow)]
pub(super) struct HorizonEventRow<T> {
    pub(super) horizon_seq: i64,
    #[sqlx(flatten)]
    pub(super) event: EventRow<T>,
}

impl<T: Into<Timestamp>> From<HorizonEventRow<T>> for Event {
    fn from(row: HorizonEventRow<T>) -> Self {
        row.event.into()
    }
}

/// What the rules of edit, delete, reply and react read of a stored event.
#[derive(FromRow)]
pub(super) struct TargetRow {
    room_id: i64,
    seq: i64,
    kind: String,
    sender_id: i64,
    deleted: bool,
    thread_root: Option<i64>,
    /// JSON array of the canonical usernames its text mentions.
    mentions: String,
}

/// `SELECT` of [`TargetRow`]s, followed by `$rest`.
macro_rules! select_targets {
    ($rest:literal) => {
        concat!(
            "SELECT room_id, seq, kind, sender_id, deleted, thread_root, mentions FROM messages ",
            $rest
        )
    };
}
pub(crate) use select_targets;

impl From<TargetRow> for Target {
    fn from(row: TargetRow) -> Self {
        Target {
            room_id: row.room_id,
            seq: row.seq,
            kind: EventKind::parse(&row.kind).unwrap_or(EventKind::Message),
            sender_id: row.sender_id,
            deleted: row.deleted,
            thread: row.thread_root,
            mentions: serde_json::from_str(&row.mentions).unwrap_or_default(),
        }
    }
}

/// A refresh token as stored, with its user.
#[derive(FromRow)]
pub(super) struct RefreshRow<T> {
    family: String,
    expires_at: T,
    rotated_at: Option<T>,
    revoked_at: Option<T>,
    user_id: i64,
    username: String,
    user_created_at: T,
    display_name: Option<String>,
    status: Option<String>,
    avatar_key: Option<String>,
}

/// A refresh token as the rotation rules see it (`refresh.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RefreshToken {
    pub family: String,
    pub expires_at: Timestamp,
    pub rotated: bool,
    pub revoked: bool,
    pub user: User,
}

impl<T: Into<Timestamp>> From<RefreshRow<T>> for RefreshToken {
    fn from(row: RefreshRow<T>) -> Self {
        RefreshToken {
            family: row.family,
            expires_at: row.expires_at.into(),
            rotated: row.rotated_at.is_some(),
            revoked: row.revoked_at.is_some(),
            user: User {
                id: row.user_id,
                username: row.username,
                created_at: row.user_created_at.into(),
                profile: Profile {
                    display_name: row.display_name,
                    status: row.status,
                    avatar_key: row.avatar_key,
                },
                // Only people have refresh tokens.
                bot: false,
            },
        }
    }
}

/// Maps a unique-constraint violation to `taken` (the name is in use), any
/// other failure to [`StoreError::Database`].
pub(super) fn unique_violation(taken: StoreError) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => taken,
        _ => err.into(),
    }
}

/// A user with their administration state (`administration.rs`).
#[derive(FromRow)]
pub(super) struct AdminUserRow<T> {
    #[sqlx(flatten)]
    user: UserRow<T>,
    email: Option<String>,
    deactivated: bool,
}

impl<T: Into<Timestamp>> From<AdminUserRow<T>> for super::administration::AdminUser {
    fn from(row: AdminUserRow<T>) -> Self {
        super::administration::AdminUser {
            user: row.user.into(),
            email: row.email,
            deactivated: row.deactivated,
        }
    }
}

/// A report with its room, reporter and message (`administration.rs`).
#[derive(FromRow)]
pub(super) struct ReportRow<T> {
    id: i64,
    room_id: i64,
    room: String,
    seq: i64,
    reporter: String,
    reason: String,
    created_at: T,
    action: Option<String>,
    sender: Option<String>,
    body: Option<String>,
}

impl<T: Into<Timestamp>> From<ReportRow<T>> for super::administration::Report {
    fn from(row: ReportRow<T>) -> Self {
        super::administration::Report {
            id: row.id,
            room_id: row.room_id,
            room: row.room,
            seq: row.seq,
            reporter: row.reporter,
            reason: row.reason,
            created_at: row.created_at.into(),
            action: row.action,
            sender: row.sender,
            body: row.body,
        }
    }
}

/// An audit entry with its users' names (`audit.rs`).
#[derive(FromRow)]
pub(super) struct AuditRow<T> {
    id: i64,
    at: T,
    actor: Option<String>,
    action: String,
    room: Option<String>,
    target: Option<String>,
    detail: Option<String>,
}

impl<T: Into<Timestamp>> From<AuditRow<T>> for super::audit::AuditEntry {
    fn from(row: AuditRow<T>) -> Self {
        super::audit::AuditEntry {
            id: row.id,
            at: row.at.into(),
            actor: row.actor,
            action: row.action,
            room: row.room,
            target: row.target,
            detail: row.detail,
        }
    }
}
