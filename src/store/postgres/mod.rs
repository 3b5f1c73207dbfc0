//! [`super::Store`] on Postgres, for production: several instances share one
//! database, so every invariant lives in the database itself. Per-room `seq`
//! is handed out under the row lock on `rooms` (writers from any process
//! serialise there, so seq follows commit order without gaps, and an
//! idempotency key is looked up under the same lock: the room log is
//! partitioned by time (`partitions.rs`), where neither can be a unique
//! constraint); the other uniqueness rules are constraints; refresh-token
//! rotation runs under row locks.
//! This file holds the SQL and the locking, `append.rs` the statements of
//! an append and `partitions.rs` the room log's time partitions; the code
//! that runs them is shared with SQLite (`queries.rs`, `batch.rs`,
//! `refresh.rs`). Queries are parameterised and checked at run time
//! (`query_as` + `FromRow`).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Transaction;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};

use super::Timestamp;
use super::membership::{MembershipQueries, impl_membership};
use super::queries::{Queries, impl_store};
use super::read_state::{ReadStateQueries, impl_read_state};
use super::retention::{RetentionQueries, impl_retention};
use super::rows::{EventRow, select_events, select_refresh_tokens, select_rooms};
use super::search::{SearchIndex, impl_search, like_pattern};
use super::threads::{ThreadQueries, impl_threads};
use super::{Backend, Event, StoreResult};

mod accounts;
mod administration;
mod append;
mod files;
mod partitions;
mod profiles;

/// How long a request waits for a pooled connection before failing, instead
/// of hanging when the database is unreachable or the pool is exhausted.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The appends' connections' `application_name`.
pub const APPENDS_APPLICATION_NAME: &str = "parley-appends";

/// A pool of at most `size` connections, acquired as described at
/// [`PING_WHEN_IDLE_FOR`].
fn pool_options(size: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// The appends' pool: `size` connections (one per commit worker), opened
/// when first needed. sqlx hands idle connections out in turn, so a pool
/// shared with every other query sends a worker's commits to a different
/// backend each time: one asleep for longer (slower to wake) and, for its
/// first five runs of a statement, planning it anew (Postgres' custom
/// plans). Here a worker keeps finding the same backend, and every
/// statement runs on its generic plan from the first (`plan_cache_mode`):
/// the appends' statements look rows up by key, which a generic plan does
/// as well (BENCHMARKS.md, "Issue 29: the floor under a commit, and the appends'
/// own connections").
/// They show in `pg_stat_activity` as [`APPENDS_APPLICATION_NAME`].
fn appends_pool(size: u32, options: PgConnectOptions) -> PgPool {
    pool_options(size).connect_lazy_with(
        options
            .application_name(APPENDS_APPLICATION_NAME)
            .options([("plan_cache_mode", "force_generic_plan")]),
    )
}

/// A pooled connection idle at least this long is pinged before it is
/// handed out (one that has gone away while idle, say across a database
/// restart, is replaced); one used more recently is handed out as it is,
/// so a busy pool spends no round trip per acquire (sqlx would ping on
/// every acquire: a fifth round trip in every commit).
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// The room log's appends (README, "Configuration":
    /// `DATABASE_MAX_CONNECTIONS`): a connection per commit worker, taken
    /// from the pool's size, so a worker's statements run on a backend that
    /// is warm and has their generic plans (see [`appends_pool`]). None
    /// when the size leaves no room for it: `pool` serves them.
    appends: Option<PgPool>,
}

impl PostgresStore {
    /// Connects pools of at most `max_connections` in all (`appenders` of
    /// them, at most half, for the room log's appends) and runs the
    /// Postgres migrations (sqlx serialises concurrent migrators with an
    /// advisory lock, so instances may start together).
    pub async fn connect(url: &str, max_connections: u32, appenders: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // At most half the pool: the rest serves every other query.
        let appenders = appenders.min(max_connections / 2);
        let pool = pool_options(max_connections - appenders)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let appends = (appenders > 0).then(|| appends_pool(appenders, options));
        Ok(Self { pool, appends })
    }

    /// Where the room log's appends run.
    fn appends(&self) -> &PgPool {
        self.appends.as_ref().unwrap_or(&self.pool)
    }

    /// Every pool, for `StoreHealth::pool_stats`.
    fn pools(&self) -> impl Iterator<Item = &PgPool> {
        std::iter::once(&self.pool).chain(&self.appends)
    }

    /// `RoomLog::last_seqs` for a non-empty list: the ids as one array.
    async fn fetch_last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        Ok(
            sqlx::query_as("SELECT id, last_seq FROM rooms WHERE id = ANY($1)")
                .bind(room_ids)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

type PgTx = Transaction<'static, Postgres>;

/// The `reactions` of message `m` as JSON text: `[{key, count, users}]`,
/// keys in order of first use, users in order of reacting.
macro_rules! reactions_json {
    () => {
        "(SELECT COALESCE(json_agg(json_build_object('key', g.key, 'count', g.n, \
                 'users', g.users) ORDER BY g.first), '[]'::json)::text \
          FROM (SELECT x.reaction_key AS key, count(*) AS n, min(x.seq) AS first, \
                       json_agg(xu.username ORDER BY x.seq) AS users \
                FROM reactions x JOIN users xu ON xu.id = x.user_id \
                WHERE x.room_id = m.room_id AND x.target_seq = m.seq \
                GROUP BY x.reaction_key) g)"
    };
}
use reactions_json;

/// Ids are `int8`, timestamps `timestamptz` rounded to milliseconds by the
/// columns' defaults; names compare case-insensitively through `lower()`.
const SQL: Queries = Queries {
    create_user: "INSERT INTO users (username, password_hash) VALUES ($1, $2) \
                  RETURNING id, username, created_at, display_name, status, avatar_key",
    // People only: bots and webhook senders never log in with a password.
    user_credentials: "SELECT id, username, created_at, display_name, status, avatar_key, \
                              password_hash FROM users \
                       WHERE lower(username) = lower($1) AND deleted_at IS NULL \
                         AND kind = 'person'",
    user_by_name: "SELECT id, username, created_at, display_name, status, avatar_key, \
                          kind <> 'person' AS bot FROM users \
                   WHERE lower(username) = lower($1) AND deleted_at IS NULL",
    user_by_id: "SELECT id, username, created_at, display_name, status, avatar_key, \
                        kind <> 'person' AS bot FROM users \
                 WHERE id = $1 AND deleted_at IS NULL",
    insert_refresh_token: "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) \
                           VALUES ($1, $2, $3, $4)",
    // The family's advisory lock (first key "PRLY", second a hash of the
    // family) before the token's row lock: every operation that updates a
    // family's tokens takes them in that order, so two of them never
    // deadlock.
    lock_refresh_family: Some(
        "SELECT pg_advisory_xact_lock(1347570777, hashtext(family)) \
         FROM refresh_tokens WHERE token_hash = $1",
    ),
    refresh_token: select_refresh_tokens!("WHERE t.token_hash = $1 FOR UPDATE OF t"),
    retire_refresh_token: "UPDATE refresh_tokens SET rotated_at = $2 \
                           WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
    revoke_refresh_family: "UPDATE refresh_tokens SET revoked_at = $2 \
                            WHERE family = $1 AND revoked_at IS NULL",
    touch_login: "UPDATE logins SET last_used_at = $2 WHERE family = $1 RETURNING id",
    insert_room: "INSERT INTO rooms (name, private, owner_id) VALUES ($1, $2, $3) RETURNING id",
    insert_membership: "INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, 'owner')",
    room_by_id: select_rooms!("WHERE r.id = $1"),
    room_by_name: select_rooms!("WHERE r.name = $1"),
    // COLLATE "C": the same byte order as SQLite, whatever the database locale.
    rooms_visible_to: select_rooms!(
        "WHERE (NOT r.private \
                AND NOT EXISTS (SELECT 1 FROM bans WHERE room_id = r.id AND user_id = $1)) \
            OR EXISTS (SELECT 1 FROM memberships WHERE room_id = r.id AND user_id = $1) \
         ORDER BY r.name COLLATE \"C\""
    ),
    // Above the horizon only: a partition being dropped is still readable
    // for a moment after the horizon moved over it (`partitions.rs`).
    history_after: select_events!(
        horizon reactions_json,
        "WHERE m.room_id = $1 AND m.seq > $2 AND m.seq > r.horizon_seq ORDER BY m.seq LIMIT $3"
    ),
    history_before: select_events!(
        horizon reactions_json,
        "WHERE m.room_id = $1 AND m.seq < $2 AND m.seq > r.horizon_seq \
         ORDER BY m.seq DESC LIMIT $3"
    ),
    event: select_events!(
        reactions_json,
        "WHERE m.room_id = $1 AND m.seq = $2 AND m.seq > r.horizon_seq"
    ),
    last_seq: "SELECT last_seq FROM rooms WHERE id = $1",
    horizon: "SELECT horizon_seq FROM rooms WHERE id = $1",
};

impl_store!(store: PostgresStore, db: Postgres, time: Timestamp, sql: SQL);

// Users are listed in case-insensitive byte order, as SQLite's NOCASE
// column sorts.
const MEMBERSHIP_SQL: MembershipQueries = MembershipQueries {
    lock_room: "SELECT direct_a IS NOT NULL FROM rooms WHERE id = $1 FOR UPDATE",
    record_audit: administration::RECORD_AUDIT,
    standing: "SELECT (SELECT role FROM memberships WHERE room_id = $1 AND user_id = $2), \
                      EXISTS (SELECT 1 FROM bans WHERE room_id = $1 AND user_id = $2)",
    insert_member: "INSERT INTO memberships (room_id, user_id, role, last_read_seq) \
                    SELECT $1, $2, $3, last_seq FROM rooms WHERE id = $1 \
                    ON CONFLICT DO NOTHING",
    delete_member: "DELETE FROM memberships WHERE room_id = $1 AND user_id = $2",
    set_role: "UPDATE memberships SET role = $3 WHERE room_id = $1 AND user_id = $2",
    insert_ban: "INSERT INTO bans (room_id, user_id, banned_by) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
    delete_ban: "DELETE FROM bans WHERE room_id = $1 AND user_id = $2",
    // Events have no foreign key to their room (migration 0007), nor their
    // reactions and mentions to them (0008): all go in the same statement,
    // under the room lock taken by `lock_room` (every part of it sees the
    // rows as they were before it).
    delete_room: "WITH events AS (DELETE FROM messages WHERE room_id = $1), \
                       reacted AS (DELETE FROM reactions WHERE room_id = $1), \
                       mentioned AS (DELETE FROM mentions WHERE message_id IN \
                                     (SELECT id FROM messages WHERE room_id = $1)) \
                  DELETE FROM rooms WHERE id = $1",
    members: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key, m.role, m.last_read_seq \
              FROM memberships m JOIN users u ON u.id = m.user_id \
              WHERE m.room_id = $1 \
              ORDER BY lower(u.username) COLLATE \"C\", u.id",
    member: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key, m.role, m.last_read_seq \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = $1 AND m.user_id = $2",
    bans: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key \
           FROM bans b JOIN users u ON u.id = b.user_id \
           WHERE b.room_id = $1 \
           ORDER BY lower(u.username) COLLATE \"C\", u.id",
    insert_direct: "INSERT INTO rooms (name, private, owner_id, direct_a, direct_b) \
                    VALUES ($1, TRUE, $2, $2, $3) \
                    ON CONFLICT (name) DO NOTHING RETURNING id",
    insert_block: "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) \
                   ON CONFLICT DO NOTHING",
    delete_block: "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
    blocks: "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar_key \
             FROM blocks b JOIN users u ON u.id = b.blocked_id \
             WHERE b.blocker_id = $1 \
             ORDER BY lower(u.username) COLLATE \"C\", u.id",
    blocked_names: "SELECT u.username FROM blocks b JOIN users u ON u.id = b.blocked_id \
                    WHERE b.blocker_id = $1",
    is_blocked: "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2)",
};

// The unread range of each membership is an index-only scan of
// `messages_room_seq_idx`, which carries the columns filtered here
// (migrations 0007 and 0008). LATERAL: one such scan per membership and
// partition; a join lets the planner hash every partition whole once there
// are several (BENCHMARKS.md, "Retention: the room log in time partitions").
const READ_STATE_SQL: ReadStateQueries = ReadStateQueries {
    read_states: "SELECT ms.room_id, ms.role, ms.last_read_seq, c.unread, c.mentions, \
                         ms.notify_level, \
                         (extract(epoch FROM ms.muted_until) * 1000)::int8 \
                  FROM memberships ms \
                  CROSS JOIN LATERAL \
                      (SELECT count(*) AS unread, \
                              count(*) FILTER (WHERE x.mentions LIKE $2) AS mentions \
                       FROM messages x \
                       WHERE x.room_id = ms.room_id AND x.seq > ms.last_read_seq \
                         AND x.kind = 'message' AND NOT x.deleted AND x.sender_id <> $1 \
                         AND x.sender_id NOT IN \
                             (SELECT blocked_id FROM blocks WHERE blocker_id = $1)) c \
                  WHERE ms.user_id = $1 AND ($3::int8 IS NULL OR ms.room_id = $3)",
    marker: "SELECT last_read_seq FROM memberships WHERE room_id = $1 AND user_id = $2 \
             FOR UPDATE",
    move_marker: "UPDATE memberships m \
                  SET last_read_seq = GREATEST(m.last_read_seq, LEAST($3, r.last_seq)) \
                  FROM rooms r WHERE r.id = m.room_id AND m.room_id = $1 AND m.user_id = $2 \
                  RETURNING m.last_read_seq",
    room_ids_of: "SELECT room_id FROM memberships WHERE user_id = $1",
};

impl_read_state!(store: PostgresStore, sql: READ_STATE_SQL);

// Above the horizon only, as history (a partition being dropped). A room's
// threads: `threads_room_latest_idx` backwards, each root through
// `(room_id, seq)`; replies and unread ranges: `messages_thread_idx`.
const THREADS_SQL: ThreadQueries = ThreadQueries {
    room_threads: select_events!(
        reactions_json,
        "WHERE m.room_id = $1 AND th.reply_count > 0 AND th.last_reply_seq < $3 \
           AND m.seq > r.horizon_seq \
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 \
                                                   AND b.blocked_id = m.sender_id) \
         ORDER BY th.last_reply_seq DESC LIMIT $4"
    ),
    replies: select_events!(
        reactions_json,
        "WHERE m.room_id = $1 AND m.thread_root = $2 AND m.seq > $3 AND m.seq > r.horizon_seq \
         ORDER BY m.seq LIMIT $4"
    ),
    following: "SELECT last_read_seq FROM thread_follows \
                WHERE room_id = $1 AND root_seq = $2 AND user_id = $3",
    follow: "INSERT INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             SELECT room_id, root_seq, $3, last_reply_seq FROM threads \
             WHERE room_id = $1 AND root_seq = $2 \
             ON CONFLICT (room_id, root_seq, user_id) \
             DO UPDATE SET last_read_seq = thread_follows.last_read_seq \
             RETURNING root_seq",
    unfollow: "DELETE FROM thread_follows WHERE room_id = $1 AND root_seq = $2 AND user_id = $3",
    followed: select_events!(
        unread reactions_json,
        "fu.unread, ",
        "JOIN thread_follows f ON f.room_id = m.room_id AND f.root_seq = m.seq \
         CROSS JOIN LATERAL (SELECT count(*) AS unread FROM messages x \
              WHERE x.room_id = f.room_id AND x.thread_root = f.root_seq \
                AND x.seq > f.last_read_seq AND NOT x.deleted AND x.sender_id <> $1 \
                AND x.sender_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = $1)) fu \
         WHERE f.user_id = $1 AND th.reply_count > 0 AND m.seq > r.horizon_seq \
           AND ($3 OR fu.unread > 0) \
           AND EXISTS (SELECT 1 FROM memberships ms \
                       WHERE ms.room_id = f.room_id AND ms.user_id = $1) \
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 \
                                                   AND b.blocked_id = m.sender_id) \
         ORDER BY th.last_reply_at DESC, m.id DESC LIMIT $2"
    ),
    move_marker: "UPDATE thread_follows f \
                  SET last_read_seq = GREATEST(f.last_read_seq, LEAST($4, th.last_reply_seq)) \
                  FROM threads th \
                  WHERE th.room_id = f.room_id AND th.root_seq = f.root_seq \
                    AND f.room_id = $1 AND f.root_seq = $2 AND f.user_id = $3 \
                  RETURNING f.last_read_seq",
};

impl_threads!(store: PostgresStore, time: Timestamp, sql: THREADS_SQL);

// The room's row lock is the one writers take (`lock_rooms`): a prune batch
// waits for the batch being committed and the next one waits for it. The
// age of a room's oldest event is read through `(room_id, seq)`. By age,
// rows are only deleted below `messages_row_pruned_before()`, in the legacy
// partition (migration 0008): newer events go with their partition
// (`partitions.rs`). A batch deletes its events' reactions, mentions and
// thread summaries (with their follows) too (they have no foreign key to them).
const RETENTION_SQL: RetentionQueries = RetentionQueries {
    rooms_to_prune: "SELECT r.id FROM rooms r \
                     WHERE r.id > $1 AND r.last_seq > r.horizon_seq \
                       AND (($3::int8 IS NOT NULL AND r.last_seq - r.horizon_seq > $3) \
                            OR ($4::timestamptz IS NOT NULL \
                                AND (SELECT m.created_at FROM messages m \
                                     WHERE m.room_id = r.id AND m.seq > r.horizon_seq \
                                     ORDER BY m.seq LIMIT 1) \
                                    < LEAST($4, messages_row_pruned_before()))) \
                     ORDER BY r.id LIMIT $2",
    lock_room: "SELECT last_seq, horizon_seq FROM rooms WHERE id = $1 FOR UPDATE",
    aged_through: "SELECT max(w.seq) FROM \
                   (SELECT seq, created_at FROM messages WHERE room_id = $1 AND seq > $2 \
                    ORDER BY seq LIMIT $3) w \
                   WHERE w.created_at < LEAST($4, messages_row_pruned_before())",
    delete_events: "WITH reacted AS (DELETE FROM reactions \
                                     WHERE room_id = $1 AND target_seq > $2 AND target_seq <= $3), \
                         mentioned AS (DELETE FROM mentions WHERE message_id IN \
                                       (SELECT id FROM messages \
                                        WHERE room_id = $1 AND seq > $2 AND seq <= $3)), \
                         threaded AS (DELETE FROM threads \
                                      WHERE room_id = $1 AND root_seq > $2 AND root_seq <= $3) \
                    DELETE FROM messages WHERE room_id = $1 AND seq > $2 AND seq <= $3",
    set_horizon: "UPDATE rooms SET horizon_seq = $2 WHERE id = $1",
};

impl_retention!(store: PostgresStore, time: Timestamp, sql: RETENTION_SQL);

impl_membership!(
    store: PostgresStore,
    db: Postgres,
    time: Timestamp,
    sql: MEMBERSHIP_SQL,
    room_by_name: super::SQL.room_by_name,
);

#[async_trait]
impl Backend for PostgresStore {
    type Tx = PgTx;
    async fn begin_write(&self) -> StoreResult<PgTx> {
        Ok(self.pool.begin().await?)
    }

    async fn begin_append(&self) -> StoreResult<PgTx> {
        Ok(self.appends().begin().await?)
    }

    // One round trip instead of four (BEGIN, the room locks, the INSERT,
    // COMMIT): most batches are plain messages.
    const INSERTS_UNLOCKED: bool = true;

    async fn insert_unlocked(
        &self,
        counts: &[(i64, i64)],
        rows: &[super::batch::NewRow<'_>],
    ) -> StoreResult<(Vec<super::batch::Inserted>, Vec<(i64, i64)>)> {
        append::insert_unlocked(self.appends(), counts, rows).await
    }
}

/// Search: the trigram index on `lower(body COLLATE "und-x-icu")` (see the
/// migration) serves each long term as a `LIKE` of the same expression.
const CANDIDATES: &str = select_events!(
    reactions_json,
    "WHERE m.kind = 'message' AND NOT m.deleted AND m.id < $1 \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 \
                                               AND b.blocked_id = m.sender_id) "
);

/// (user_id, before, limit) → `EventRow`s mentioning the user, newest first.
const MENTIONS: &str = select_events!(
    reactions_json,
    "JOIN mentions x ON x.message_id = m.id \
     WHERE x.user_id = $1 AND x.message_id < $2 AND m.kind = 'message' AND NOT m.deleted \
       AND x.room_id IN (SELECT room_id FROM memberships WHERE user_id = $1) \
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 \
                                               AND b.blocked_id = m.sender_id) \
     ORDER BY x.message_id DESC LIMIT $3"
);

/// How many of its scope's newest messages an indexed search reads before
/// it asks the index (README, "Search and mentions": common terms).
const PROBE: i64 = 1000;

/// The search's SQL: `$1` before, `$2` user, `$3` limit, `$4` the room (if
/// any), then the terms. With `probe`, only among the scope's newest
/// [`PROBE`] messages (a materialized list, so the GIN index is not used);
/// else through the index.
fn candidates_sql(room: bool, terms: usize, probe: bool) -> String {
    let scope = |alias: &str| match room {
        true => format!("AND {alias}.room_id = $4 "),
        false => {
            format!("AND {alias}.room_id IN (SELECT room_id FROM memberships WHERE user_id = $2) ")
        }
    };
    let mut sql = String::new();
    if probe {
        sql.push_str(&format!(
            "WITH recent AS MATERIALIZED (SELECT p.id FROM messages p \
             WHERE p.kind = 'message' AND NOT p.deleted AND p.id < $1 {}\
             ORDER BY p.id DESC LIMIT {PROBE}) ",
            scope("p")
        ));
    }
    sql.push_str(CANDIDATES);
    if probe {
        sql.push_str("AND m.id IN (SELECT id FROM recent) ");
    } else {
        sql.push_str(&scope("m"));
    }
    let first_term = if room { 5 } else { 4 };
    for i in 0..terms {
        sql.push_str(&format!(
            "AND lower(m.body COLLATE \"und-x-icu\") \
             LIKE lower(${} COLLATE \"und-x-icu\") ",
            first_term + i
        ));
    }
    sql.push_str("ORDER BY m.id DESC LIMIT $3");
    sql
}

impl PostgresStore {
    async fn search_rows(
        &self,
        sql: &str,
        user_id: i64,
        room_id: Option<i64>,
        long: &[String],
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        let mut query = sqlx::query_as::<_, EventRow<Timestamp>>(sql)
            .bind(before)
            .bind(user_id)
            .bind(limit);
        if let Some(room_id) = room_id {
            query = query.bind(room_id);
        }
        for term in long {
            query = query.bind(like_pattern(term));
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[async_trait]
impl SearchIndex for PostgresStore {
    async fn candidates(
        &self,
        user_id: i64,
        room_id: Option<i64>,
        long: &[String],
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        let room = room_id.is_some();
        if !long.is_empty() {
            // A common term fills its page among the newest messages; the
            // index, which answers unordered, would hand over every match.
            let sql = candidates_sql(room, long.len(), true);
            let recent = self
                .search_rows(&sql, user_id, room_id, long, before, limit)
                .await?;
            if recent.len() as i64 == limit {
                return Ok(recent);
            }
        }
        let sql = candidates_sql(room, long.len(), false);
        self.search_rows(&sql, user_id, room_id, long, before, limit)
            .await
    }
}

impl_search!(store: PostgresStore, time: Timestamp, mentions: MENTIONS);
