//! [`super::Store`] on SQLite, the embedded single-node default.
//!
//! SQLite has one writer at a time: every transaction that writes starts
//! with `BEGIN IMMEDIATE`, taking the write lock up front, so read-then-write
//! logic (seq assignment, idempotency, token rotation) cannot interleave with
//! another writer, even one in another process, and waits out `busy_timeout`
//! instead of failing. Timestamps are stored as Unix epoch milliseconds.
//! This file holds the SQL and the locking, `sqlite/append.rs` the
//! statements of an append; the code that runs them is shared with Postgres
//! (`queries.rs`, `batch.rs`, `refresh.rs`). Queries are parameterised and
//! checked at run time (`query_as` + `FromRow`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Transaction;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::membership::{MembershipQueries, impl_membership};
use super::queries::{Queries, impl_store};
use super::read_state::{ReadStateQueries, impl_read_state};
use super::retention::{RetentionQueries, impl_retention};
use super::rows::{EventRow, select_events, select_refresh_tokens, select_rooms};
use super::search::{SearchIndex, fts_query, impl_search};
use super::{Backend, Event, StoreResult, Timestamp};

mod accounts;
mod append;
mod files;
mod profiles;
mod threads;

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction holding the write lock from its first statement.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Rows per INSERT: 13 parameters each, well under SQLite's 32,766.
const INSERT_ROWS_PER_STATEMENT: usize = 500;

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Every pool, for `StoreHealth::pool_stats`.
    fn pools(&self) -> impl Iterator<Item = &SqlitePool> {
        std::iter::once(&self.pool)
    }

    /// Opens (creating if missing) the database file named by `url`, with a
    /// pool of at most `max_connections`, and runs the SQLite migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: the WAL is synced at every commit, so a RECEIPT survives
            // a power loss, not only a crash of the process (README, "Real-time chat: STOMP over WebSocket", SEND;
            // the cost is in BENCHMARKS.md).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Freed pages are zeroed, so erased text (a deleted message and
            // its edits) does not linger in the database file.
            .pragma("secure_delete", "ON");
        let mut pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection to a file does not go away while idle: no ping
            // (a round trip to the connection's worker thread) per acquire.
            .test_before_acquire(false);
        if url.contains(":memory:") || url.contains("mode=memory") {
            // An in-memory database lives only as long as a connection to it:
            // keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool.connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// `RoomLog::last_seqs` for a non-empty list: one parameter whatever
    /// the number of rooms, a JSON array of ids.
    async fn fetch_last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        let ids = serde_json::to_string(room_ids).expect("ids serialise");
        Ok(sqlx::query_as(
            "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A timestamp as stored: Unix epoch milliseconds. Milliseconds are the
/// stored precision, so what is returned on write equals what is read back
/// later.
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub(super) struct Millis(i64);

impl From<Timestamp> for Millis {
    fn from(at: Timestamp) -> Self {
        Millis(at.timestamp_millis())
    }
}

impl From<Millis> for Timestamp {
    fn from(Millis(millis): Millis) -> Self {
        DateTime::from_timestamp_millis(millis)
            .expect("stored timestamps were written from valid DateTime<Utc> values")
    }
}

fn now() -> Millis {
    Utc::now().into()
}

type SqliteTx = Transaction<'static, Sqlite>;

#[async_trait]
impl Backend for SqliteStore {
    type Tx = SqliteTx;
    /// The write lock is held from the first statement to commit: no other
    /// writer, in this process or another, can come in between.
    async fn begin_write(&self) -> StoreResult<SqliteTx> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// The WAL still holds the pages as they were before the erasure: copy
    /// it into the database file and truncate it, in the background (it
    /// waits for readers). Until then the text is only in the WAL file,
    /// which a dump of the database does not read.
    fn erased(&self) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "checkpoint after an erasure failed");
            }
        });
    }
}

/// The `reactions` of message `m` as JSON text: `[{key, count, users}]`,
/// keys in order of first use, users in order of reacting.
macro_rules! reactions_json {
    () => {
        "(SELECT json_group_array(json_object('key', g.key, 'count', g.n, \
                 'users', json(g.users)) ORDER BY g.first) \
          FROM (SELECT x.reaction_key AS key, count(*) AS n, min(x.seq) AS first, \
                       json_group_array(xu.username ORDER BY x.seq) AS users \
                FROM reactions x JOIN users xu ON xu.id = x.user_id \
                WHERE x.room_id = m.room_id AND x.target_seq = m.seq \
                GROUP BY x.reaction_key) g)"
    };
}
use reactions_json;

/// The current time as stored (epoch milliseconds), computed by SQLite.
macro_rules! now_millis {
    () => {
        "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"
    };
}
use now_millis;

mod administration;

/// Timestamps are epoch milliseconds (`Millis`); `username` is a NOCASE
/// column, so `=` on it and ORDER BY it are case-insensitive. `?n` numbers a
/// bind where the statement uses them out of order.
const SQL: Queries = Queries {
    create_user: concat!(
        "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ",
        now_millis!(),
        ") RETURNING id, username, created_at, display_name, status, avatar_key"
    ),
    // People only: bots and webhook senders never log in with a password.
    user_credentials: "SELECT id, username, created_at, display_name, status, avatar_key, \
                              password_hash FROM users \
                       WHERE username = ? AND deleted_at IS NULL AND kind = 'person'",
    user_by_name: "SELECT id, username, created_at, display_name, status, avatar_key, \
                          kind <> 'person' AS bot FROM users \
                   WHERE username = ? AND deleted_at IS NULL",
    user_by_id: "SELECT id, username, created_at, display_name, status, avatar_key, \
                        kind <> 'person' AS bot FROM users \
                 WHERE id = ? AND deleted_at IS NULL",
    insert_refresh_token: concat!(
        "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) \
         VALUES (?, ?, ?, ?, ",
        now_millis!(),
        ")"
    ),
    // BEGIN IMMEDIATE holds the database's only write lock already.
    lock_refresh_family: None,
    refresh_token: select_refresh_tokens!("WHERE t.token_hash = ?"),
    retire_refresh_token: "UPDATE refresh_tokens SET rotated_at = ?2 \
                           WHERE token_hash = ?1 AND rotated_at IS NULL AND revoked_at IS NULL",
    revoke_refresh_family: "UPDATE refresh_tokens SET revoked_at = ?2 \
                            WHERE family = ?1 AND revoked_at IS NULL",
    touch_login: "UPDATE logins SET last_used_at = ?2 WHERE family = ?1 RETURNING id",
    insert_room: concat!(
        "INSERT INTO rooms (name, private, owner_id, created_at) VALUES (?, ?, ?, ",
        now_millis!(),
        ") RETURNING id"
    ),
    insert_membership: concat!(
        "INSERT INTO memberships (room_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ",
        now_millis!(),
        ")"
    ),
    room_by_id: select_rooms!("WHERE r.id = ?"),
    room_by_name: select_rooms!("WHERE r.name = ?"),
    rooms_visible_to: select_rooms!(
        "WHERE (NOT r.private \
                AND NOT EXISTS (SELECT 1 FROM bans WHERE room_id = r.id AND user_id = ?1)) \
            OR EXISTS (SELECT 1 FROM memberships WHERE room_id = r.id AND user_id = ?1) \
         ORDER BY r.name"
    ),
    history_after: select_events!(
        horizon reactions_json,
        "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
    ),
    history_before: select_events!(
        horizon reactions_json,
        "WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
    ),
    event: select_events!(reactions_json, "WHERE m.room_id = ? AND m.seq = ?"),
    last_seq: "SELECT last_seq FROM rooms WHERE id = ?",
    horizon: "SELECT horizon_seq FROM rooms WHERE id = ?",
};

impl_store!(store: SqliteStore, db: Sqlite, time: Millis, sql: SQL);

// BEGIN IMMEDIATE holds the database's only write lock: reading the room
// row is locking it.
const MEMBERSHIP_SQL: MembershipQueries = MembershipQueries {
    lock_room: "SELECT direct_a IS NOT NULL FROM rooms WHERE id = ?1",
    record_audit: administration::RECORD_AUDIT,
    standing: "SELECT (SELECT role FROM memberships WHERE room_id = ?1 AND user_id = ?2), \
                      EXISTS (SELECT 1 FROM bans WHERE room_id = ?1 AND user_id = ?2)",
    insert_member: concat!(
        "INSERT INTO memberships (room_id, user_id, role, last_read_seq, joined_at) \
         VALUES (?1, ?2, ?3, (SELECT last_seq FROM rooms WHERE id = ?1), ",
        now_millis!(),
        ") ON CONFLICT DO NOTHING"
    ),
    delete_member: "DELETE FROM memberships WHERE room_id = ?1 AND user_id = ?2",
    set_role: "UPDATE memberships SET role = ?3 WHERE room_id = ?1 AND user_id = ?2",
    insert_ban: concat!(
        "INSERT INTO bans (room_id, user_id, banned_by, created_at) VALUES (?1, ?2, ?3, ",
        now_millis!(),
        ") ON CONFLICT DO NOTHING"
    ),
    delete_ban: "DELETE FROM bans WHERE room_id = ?1 AND user_id = ?2",
    delete_room: "DELETE FROM rooms WHERE id = ?1",
    members: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key, m.role, m.last_read_seq \
              FROM memberships m JOIN users u ON u.id = m.user_id \
              WHERE m.room_id = ?1 \
              ORDER BY u.username, u.id",
    member: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key, m.role, m.last_read_seq \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ?1 AND m.user_id = ?2",
    bans: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key \
           FROM bans b JOIN users u ON u.id = b.user_id \
           WHERE b.room_id = ?1 \
           ORDER BY u.username, u.id",
    insert_direct: concat!(
        "INSERT INTO rooms (name, private, owner_id, direct_a, direct_b, created_at) \
         VALUES (?1, 1, ?2, ?2, ?3, ",
        now_millis!(),
        ") ON CONFLICT (name) DO NOTHING RETURNING id"
    ),
    insert_block: concat!(
        "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?1, ?2, ",
        now_millis!(),
        ") ON CONFLICT DO NOTHING"
    ),
    delete_block: "DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2",
    blocks: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key \
             FROM blocks b JOIN users u ON u.id = b.blocked_id \
             WHERE b.blocker_id = ?1 \
             ORDER BY u.username, u.id",
    blocked_names: "SELECT u.username FROM blocks b JOIN users u ON u.id = b.blocked_id \
                    WHERE b.blocker_id = ?1",
    is_blocked: "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2)",
};

// The unread range of each membership is read through the partial index
// `messages_unread_idx` (its WHERE is repeated here so the planner uses it).
const READ_STATE_SQL: ReadStateQueries = ReadStateQueries {
    read_states: "SELECT ms.room_id, ms.role, ms.last_read_seq, \
                         count(x.seq) AS unread, \
                         coalesce(sum(x.mentions LIKE ?2 ESCAPE '\\'), 0) AS mentions, \
                         ms.notify_level, ms.muted_until \
                  FROM memberships ms \
                  LEFT JOIN messages x ON x.room_id = ms.room_id AND x.seq > ms.last_read_seq \
                       AND x.kind = 'message' AND x.deleted = 0 AND x.sender_id <> ?1 \
                       AND x.sender_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?1) \
                  WHERE ms.user_id = ?1 AND (?3 IS NULL OR ms.room_id = ?3) \
                  GROUP BY ms.room_id, ms.role, ms.last_read_seq, ms.notify_level, \
                           ms.muted_until",
    marker: "SELECT last_read_seq FROM memberships WHERE room_id = ?1 AND user_id = ?2",
    move_marker: "UPDATE memberships \
                  SET last_read_seq = max(last_read_seq, \
                      min(?3, (SELECT last_seq FROM rooms WHERE id = ?1))) \
                  WHERE room_id = ?1 AND user_id = ?2 \
                  RETURNING last_read_seq",
    room_ids_of: "SELECT room_id FROM memberships WHERE user_id = ?1",
};

impl_read_state!(store: SqliteStore, sql: READ_STATE_SQL);

// BEGIN IMMEDIATE holds the database's only write lock: reading the room
// row is locking it. The age of a room's oldest event is read through
// `(room_id, seq)`.
const RETENTION_SQL: RetentionQueries = RetentionQueries {
    rooms_to_prune: "SELECT r.id FROM rooms r \
                     WHERE r.id > ?1 AND r.last_seq > r.horizon_seq \
                       AND ((?3 IS NOT NULL AND r.last_seq - r.horizon_seq > ?3) \
                            OR (?4 IS NOT NULL \
                                AND (SELECT m.created_at FROM messages m \
                                     WHERE m.room_id = r.id AND m.seq > r.horizon_seq \
                                     ORDER BY m.seq LIMIT 1) < ?4)) \
                     ORDER BY r.id LIMIT ?2",
    lock_room: "SELECT last_seq, horizon_seq FROM rooms WHERE id = ?1",
    aged_through: "SELECT max(w.seq) FROM \
                   (SELECT seq, created_at FROM messages WHERE room_id = ?1 AND seq > ?2 \
                    ORDER BY seq LIMIT ?3) w \
                   WHERE w.created_at < ?4",
    delete_events: "DELETE FROM messages WHERE room_id = ?1 AND seq > ?2 AND seq <= ?3",
    set_horizon: "UPDATE rooms SET horizon_seq = ?2 WHERE id = ?1",
};

impl_retention!(store: SqliteStore, time: Millis, sql: RETENTION_SQL);

/// One table: the age limit deletes rows (`RETENTION_SQL`).
impl super::LogPartitions for SqliteStore {}

impl_membership!(
    store: SqliteStore,
    db: Sqlite,
    time: Millis,
    sql: MEMBERSHIP_SQL,
    room_by_name: super::SQL.room_by_name,
);

// Search through the FTS5 trigram index `message_search` (see the
// migration), whose rowid is the message id, read newest first: `?1`
// before, `?2` user, `?3` limit, then the FTS5 query and/or the room. The
// scans (no term of 3 characters or more) read `messages` newest first.
const SEARCH_MEMBERSHIPS: &str = select_events!(
    reactions_json,
    "JOIN message_search s ON s.rowid = m.id \
     WHERE s.body MATCH ?4 AND s.rowid < ?1 AND m.kind = 'message' AND m.deleted = 0 \
       AND m.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?2) \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY s.rowid DESC LIMIT ?3"
);
const SEARCH_ROOM: &str = select_events!(
    reactions_json,
    "JOIN message_search s ON s.rowid = m.id \
     WHERE s.body MATCH ?4 AND s.rowid < ?1 AND m.kind = 'message' AND m.deleted = 0 \
       AND m.room_id = ?5 \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY s.rowid DESC LIMIT ?3"
);
const SCAN_MEMBERSHIPS: &str = select_events!(
    reactions_json,
    "WHERE m.id < ?1 AND m.kind = 'message' AND m.deleted = 0 \
       AND m.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?2) \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY m.id DESC LIMIT ?3"
);
const SCAN_ROOM: &str = select_events!(
    reactions_json,
    "WHERE m.id < ?1 AND m.kind = 'message' AND m.deleted = 0 AND m.room_id = ?4 \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY m.id DESC LIMIT ?3"
);

/// (user_id, before, limit) → `EventRow`s mentioning the user, newest first.
const MENTIONS: &str = select_events!(
    reactions_json,
    "JOIN mentions x ON x.message_id = m.id \
     WHERE x.user_id = ?1 AND x.message_id < ?2 AND m.kind = 'message' AND m.deleted = 0 \
       AND x.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?1) \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?1 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY x.message_id DESC LIMIT ?3"
);

#[async_trait]
impl SearchIndex for SqliteStore {
    async fn candidates(
        &self,
        user_id: i64,
        room_id: Option<i64>,
        long: &[String],
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        let sql = match (long.is_empty(), room_id) {
            (false, None) => SEARCH_MEMBERSHIPS,
            (false, Some(_)) => SEARCH_ROOM,
            (true, None) => SCAN_MEMBERSHIPS,
            (true, Some(_)) => SCAN_ROOM,
        };
        let mut query = sqlx::query_as::<_, EventRow<Millis>>(sql)
            .bind(before)
            .bind(user_id)
            .bind(limit);
        if !long.is_empty() {
            query = query.bind(fts_query(long));
        }
        if let Some(room_id) = room_id {
            query = query.bind(room_id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

impl_search!(store: SqliteStore, time: Millis, mentions: MENTIONS);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_syncs_each_commit() {
        let path =
            std::env::temp_dir().join(format!("parley-sync-{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqliteStore::connect(&url, 2).await.unwrap();
        // PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
        let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(level, 2, "SQLite must run with synchronous=FULL");
        store.pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
