//! SQLite's SQL for `AdminStore` and the audit log (`administration.rs`,
//! `audit.rs`). Timestamps are epoch milliseconds; `username` is NOCASE.

use super::{Millis, SqliteStore};
use crate::store::administration::{AdminQueries, impl_administration};

/// (actor_id, action, room_id, target_id, detail): one audit entry, the
/// room's name read by the same statement.
pub(super) const RECORD_AUDIT: &str = concat!(
    "INSERT INTO audit_log (actor_id, action, room_id, room, target_id, detail, at) \
     VALUES (?1, ?2, ?3, (SELECT name FROM rooms WHERE id = ?3), ?4, ?5, ",
    now_millis!(),
    ")"
);

/// The columns of a `ReportRow` (aliases `p` the report, `m` its message).
macro_rules! select_reports {
    ($rest:literal) => {
        concat!(
            "SELECT p.id, p.room_id, r.name AS room, p.seq, u.username AS reporter, p.reason, \
                    p.created_at, p.action, s.username AS sender, m.body AS body \
             FROM reports p JOIN rooms r ON r.id = p.room_id \
             JOIN users u ON u.id = p.reporter_id \
             LEFT JOIN messages m ON m.room_id = p.room_id AND m.seq = p.seq \
                                 AND m.kind = 'message' \
             LEFT JOIN users s ON s.id = m.sender_id ",
            $rest
        )
    };
}

const SQL: AdminQueries = AdminQueries {
    is_deactivated: "SELECT EXISTS (SELECT 1 FROM users \
                     WHERE id = ?1 AND deactivated_at IS NOT NULL)",
    refresh_owner_deactivated: "SELECT EXISTS (SELECT 1 FROM refresh_tokens t \
                                JOIN users u ON u.id = t.user_id \
                                WHERE t.token_hash = ?1 AND u.deactivated_at IS NOT NULL)",
    deactivate: concat!(
        "UPDATE users SET deactivated_at = ",
        now_millis!(),
        " WHERE id = ?1 AND deactivated_at IS NULL"
    ),
    reactivate: "UPDATE users SET deactivated_at = NULL \
                 WHERE id = ?1 AND deactivated_at IS NOT NULL",
    admin_users: "SELECT id, username, created_at, display_name, status, avatar_key, \
                         kind <> 'person' AS bot, email, \
                         deactivated_at IS NOT NULL AS deactivated \
                  FROM users \
                  WHERE deleted_at IS NULL \
                    AND (?1 IS NULL OR lower(username) LIKE ?1 ESCAPE '\\') \
                    AND (?2 IS NULL OR id < ?2) \
                  ORDER BY id DESC LIMIT ?3",
    insert_report: concat!(
        "INSERT INTO reports (room_id, seq, reporter_id, reason, created_at) \
         VALUES (?1, ?2, ?3, ?4, ",
        now_millis!(),
        ") ON CONFLICT DO NOTHING RETURNING id"
    ),
    report_id: "SELECT id FROM reports WHERE room_id = ?1 AND seq = ?2 AND reporter_id = ?3",
    report_by_id: select_reports!("WHERE p.id = ?1"),
    reports: select_reports!(
        "WHERE (?1 IS NULL OR p.room_id = ?1) \
         ORDER BY p.resolved_at IS NOT NULL, p.id DESC LIMIT ?2"
    ),
    resolve_report: concat!(
        "UPDATE reports SET resolved_at = ",
        now_millis!(),
        ", resolved_by = ?2, action = ?3 \
         WHERE id = ?1 AND resolved_at IS NULL RETURNING room_id"
    ),
    record_audit: RECORD_AUDIT,
    audit_log: "SELECT a.id, a.at, ua.username AS actor, a.action, a.room, \
                       ut.username AS target, a.detail \
                FROM audit_log a \
                LEFT JOIN users ua ON ua.id = a.actor_id \
                LEFT JOIN users ut ON ut.id = a.target_id \
                WHERE (?1 IS NULL OR a.room_id = ?1) AND a.id < ?2 \
                ORDER BY a.id DESC LIMIT ?3",
};

impl_administration!(store: SqliteStore, db: Sqlite, time: Millis, sql: SQL);
