//! [`crate::store::ProfileStore`] on SQLite: its SQL. `BEGIN IMMEDIATE`
//! holds the database's only write lock, so reading a row is locking it.

use super::{Millis, SqliteStore, now_millis, reactions_json};
use crate::store::profiles::{ProfileQueries, impl_profiles};
use crate::store::rows::{select_events, select_rooms};

/// The columns of a `UserRow`.
macro_rules! user_columns {
    () => {
        "id, username, created_at, display_name, status, avatar_key"
    };
}

const PROFILE_SQL: ProfileQueries = ProfileQueries {
    // `username` is NOCASE.
    name_reserved: "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)",
    update_profile: concat!(
        "UPDATE users SET display_name = CASE WHEN ?2 THEN ?3 ELSE display_name END, \
                          status = CASE WHEN ?4 THEN ?5 ELSE status END \
         WHERE id = ?1 AND deleted_at IS NULL RETURNING ",
        user_columns!()
    ),
    lock_account: "SELECT username, avatar_key FROM users WHERE id = ? AND deleted_at IS NULL",
    set_avatar: concat!(
        "UPDATE users SET avatar_key = ?2 WHERE id = ?1 RETURNING ",
        user_columns!()
    ),
    queue_erasure: "INSERT INTO file_erasures (file_id, user_id, due_at) VALUES (?, ?, ?)",
    unqueue_erasure: "DELETE FROM file_erasures WHERE file_id = ?",
    erase_now: concat!(
        "INSERT INTO file_erasures (file_id, user_id, due_at) VALUES (?, ?, ",
        now_millis!(),
        ")"
    ),
    memberships_of: select_rooms!(
        "JOIN memberships mm ON mm.room_id = r.id WHERE mm.user_id = ? ORDER BY r.id"
    ),
    messages_of: select_events!(
        reactions_json,
        "WHERE m.sender_id = ?1 AND m.kind = 'message' AND NOT m.deleted AND m.id > ?2 \
           AND m.seq > r.horizon_seq \
         ORDER BY m.id LIMIT ?3"
    ),
    messages_to_erase: "SELECT m.id, m.room_id, r.name, m.seq \
                        FROM messages m JOIN rooms r ON r.id = m.room_id \
                        WHERE m.sender_id = ?1 AND m.kind = 'message' AND NOT m.deleted \
                          AND m.id > ?2 \
                        ORDER BY m.id LIMIT ?3",
    room_peers: "SELECT DISTINCT b.user_id FROM memberships a \
                 JOIN memberships b ON b.room_id = a.room_id WHERE a.user_id = ?",
    record_audit: super::administration::RECORD_AUDIT,
    close_account: concat!(
        "UPDATE users SET deleted_at = ",
        now_millis!(),
        ", password_hash = '!', display_name = NULL, status = NULL, avatar_key = NULL, \
         owner_id = NULL \
         WHERE id = ?"
    ),
    delete_refresh_tokens: "DELETE FROM refresh_tokens WHERE user_id = ?",
    delete_blocks: "DELETE FROM blocks WHERE blocker_id = ?",
    delete_bot_token: "DELETE FROM bot_tokens WHERE user_id = ?",
    lock_room: "SELECT direct_a IS NOT NULL FROM rooms WHERE id = ?",
    role: "SELECT role FROM memberships WHERE room_id = ? AND user_id = ?",
    successor: "SELECT m.user_id, u.username, m.role \
                FROM memberships m JOIN users u ON u.id = m.user_id \
                WHERE m.room_id = ?1 AND m.user_id <> ?2 AND u.deleted_at IS NULL \
                ORDER BY (m.role = 'moderator') DESC, m.joined_at, m.user_id LIMIT 1",
    promote_owner: "UPDATE memberships SET role = 'owner' WHERE room_id = ? AND user_id = ?",
    set_owner: "UPDATE rooms SET owner_id = ?2 WHERE id = ?1",
    delete_member: "DELETE FROM memberships WHERE room_id = ? AND user_id = ?",
    mark_erased: concat!(
        "UPDATE users SET erased_at = ",
        now_millis!(),
        " WHERE id = ?"
    ),
    erasures_pending: "SELECT id, username FROM users \
                       WHERE deleted_at IS NOT NULL AND erased_at IS NULL ORDER BY id",
};

impl_profiles!(store: SqliteStore, db: Sqlite, time: Millis, sql: PROFILE_SQL);
