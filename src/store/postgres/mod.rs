//! [`super::Store`] on Postgres, for production: several instances share one
//! database, so every invariant lives in the database itself. Per-room `seq`
//! is handed out under the row lock on `rooms` (writers from any process
//! serialise there, so seq follows commit order without gaps, and an
//! idempotency key is looked up under the same lock: the room log is
//! partitioned by time (`partitions.rs`), where neither can be a unique
//! constraint); the other uniqueness rules are constraints; refresh-token
//! rotation runs under row locks.
//! This file holds the SQL and the locking; the code that runs it is shared
//! with SQLite (`queries.rs`, `batch.rs`, `refresh.rs`). Queries are
//! parameterised and checked at run time (`query_as` + `FromRow`).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Transaction;
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};

use super::Timestamp;
use super::batch::{AppendTx, ClientKey, Effects, Inserted, NewRow, ReactionRef, Target};
use super::membership::{MembershipQueries, impl_membership};
use super::queries::{Queries, impl_store};
use super::read_state::{ReadStateQueries, impl_read_state};
use super::retention::{RetentionQueries, impl_retention};
use super::rows::{
    EventRow, KeyedEventRow, TargetRow, select_events, select_refresh_tokens, select_rooms,
    select_targets,
};
use super::search::{SearchIndex, impl_search, like_pattern};
use super::{Backend, Event, StoreResult};

mod partitions;

/// How long a request waits for a pooled connection before failing, instead
/// of hanging when the database is unreachable or the pool is exhausted.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects a pool of at most `max_connections` and runs the Postgres
    /// migrations (sqlx serialises concurrent migrators with an advisory
    /// lock, so instances may start together).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
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

/// Ids are `int8`, timestamps `timestamptz` rounded to milliseconds by the
/// columns' defaults; names compare case-insensitively through `lower()`.
const SQL: Queries = Queries {
    create_user: "INSERT INTO users (username, password_hash) VALUES ($1, $2) \
                  RETURNING id, username, created_at",
    user_credentials: "SELECT id, username, created_at, password_hash FROM users \
                       WHERE lower(username) = lower($1)",
    user_by_name: "SELECT id, username, created_at FROM users WHERE lower(username) = lower($1)",
    user_by_id: "SELECT id, username, created_at FROM users WHERE id = $1",
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
    members: "SELECT u.id, u.username, u.created_at, m.role, m.last_read_seq \
              FROM memberships m JOIN users u ON u.id = m.user_id \
              WHERE m.room_id = $1 \
              ORDER BY lower(u.username) COLLATE \"C\", u.id",
    member: "SELECT u.id, u.username, u.created_at, m.role, m.last_read_seq \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = $1 AND m.user_id = $2",
    bans: "SELECT u.id, u.username, u.created_at \
           FROM bans b JOIN users u ON u.id = b.user_id \
           WHERE b.room_id = $1 \
           ORDER BY lower(u.username) COLLATE \"C\", u.id",
    insert_direct: "INSERT INTO rooms (name, private, owner_id, direct_a, direct_b) \
                    VALUES ($1, TRUE, $2, $2, $3) \
                    ON CONFLICT (name) DO NOTHING RETURNING id",
    insert_block: "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) \
                   ON CONFLICT DO NOTHING",
    delete_block: "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
    blocks: "SELECT u.id, u.username, u.created_at \
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
    read_states: "SELECT ms.room_id, ms.role, ms.last_read_seq, c.unread, c.mentions \
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

// The room's row lock is the one writers take (`lock_rooms`): a prune batch
// waits for the batch being committed and the next one waits for it. The
// age of a room's oldest event is read through `(room_id, seq)`. By age,
// rows are only deleted below `messages_row_pruned_before()`, in the legacy
// partition (migration 0008): newer events go with their partition
// (`partitions.rs`). A batch deletes its events' reactions and mentions too
// (they have no foreign key to them).
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
                                        WHERE room_id = $1 AND seq > $2 AND seq <= $3)) \
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
}

#[async_trait]
impl AppendTx for PgTx {
    async fn lock_rooms(&mut self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        // Other writers of these rooms wait on the row locks until commit.
        Ok(sqlx::query_as(
            "SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(room_ids)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn stored_messages(
        &mut self,
        keys: &[ClientKey],
    ) -> StoreResult<Vec<(ClientKey, Event)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let room_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let sender_ids: Vec<i64> = keys.iter().map(|k| k.1).collect();
        let client_ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        let rows: Vec<KeyedEventRow<Timestamp>> = sqlx::query_as(select_events!(
            keyed reactions_json,
            "WHERE (m.room_id, m.sender_id, m.client_id) IN \
                   (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[]))"
        ))
        .bind(&room_ids)
        .bind(&sender_ids)
        .bind(&client_ids)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(KeyedEventRow::into_keyed)
            .collect())
    }

    async fn targets(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Target>> {
        if at.is_empty() {
            return Ok(Vec::new());
        }
        let (rooms, seqs): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        // Above the horizon (read under the rooms' locks): see `history_after`.
        let rows: Vec<TargetRow> = sqlx::query_as(select_targets!(
            "WHERE (room_id, seq) IN (SELECT * FROM UNNEST($1::int8[], $2::int8[])) \
               AND seq > (SELECT r.horizon_seq FROM rooms r WHERE r.id = messages.room_id)"
        ))
        .bind(&rooms)
        .bind(&seqs)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn reactions(
        &mut self,
        reactions: &[ReactionRef],
    ) -> StoreResult<Vec<(ReactionRef, i64)>> {
        if reactions.is_empty() {
            return Ok(Vec::new());
        }
        let columns = ReactionColumns::of(reactions.iter());
        let rows: Vec<(i64, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT room_id, target_seq, user_id, reaction_key, seq FROM reactions \
             WHERE (room_id, target_seq, user_id, reaction_key) IN \
                   (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[]))",
        )
        .bind(&columns.rooms)
        .bind(&columns.targets)
        .bind(&columns.users)
        .bind(&columns.keys)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(room, target, user, key, seq)| ((room, target, user, key), seq))
            .collect())
    }

    async fn members_named(
        &mut self,
        names: &[(i64, String)],
    ) -> StoreResult<Vec<(i64, String, String)>> {
        let rooms: Vec<i64> = names.iter().map(|n| n.0).collect();
        let lower: Vec<&str> = names.iter().map(|n| n.1.as_str()).collect();
        Ok(sqlx::query_as(
            "SELECT wanted.room_id, wanted.name, u.username \
             FROM UNNEST($1::int8[], $2::text[]) AS wanted(room_id, name) \
             JOIN users u ON lower(u.username) = wanted.name \
             JOIN memberships ms ON ms.room_id = wanted.room_id AND ms.user_id = u.id",
        )
        .bind(&rooms)
        .bind(&lower)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn insert_events(
        &mut self,
        last_seqs: &[(i64, i64)],
        rows: &[NewRow<'_>],
    ) -> StoreResult<Vec<Inserted>> {
        let (bumped_ids, bumped_seqs): (Vec<i64>, Vec<i64>) = last_seqs.iter().copied().unzip();
        let rooms: Vec<i64> = rows.iter().map(|r| r.room_id).collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        let senders: Vec<i64> = rows.iter().map(|r| r.sender_id).collect();
        let bodies: Vec<&str> = rows.iter().map(|r| r.body).collect();
        let client_ids: Vec<Option<&str>> = rows.iter().map(|r| r.client_id).collect();
        let replies: Vec<Option<i64>> = rows.iter().map(|r| r.reply_to).collect();
        let targets: Vec<Option<i64>> = rows.iter().map(|r| r.target).collect();
        let mentions: Vec<&str> = rows.iter().map(|r| r.mentions.as_str()).collect();
        let keys: Vec<Option<&str>> = rows.iter().map(|r| r.key).collect();
        let added: Vec<Option<bool>> = rows.iter().map(|r| r.added).collect();
        // One statement, one round trip: the rooms' last_seq and the rows.
        // statement_timestamp(): taken after the room locks were granted.
        Ok(sqlx::query_as(
            "WITH bumped AS (UPDATE rooms SET last_seq = b.last_seq \
                             FROM UNNEST($12::int8[], $13::int8[]) AS b(id, last_seq) \
                             WHERE rooms.id = b.id) \
             INSERT INTO messages (room_id, seq, kind, sender_id, body, client_id, reply_to, \
                                   target_seq, mentions, reaction_key, added, created_at) \
             SELECT room_id, seq, kind, sender_id, body, client_id, reply_to, target_seq, \
                    mentions, reaction_key, added, \
                    date_trunc('milliseconds', statement_timestamp()) \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::text[], \
                         $6::text[], $7::int8[], $8::int8[], $9::text[], $10::text[], \
                         $11::bool[]) \
                  AS new(room_id, seq, kind, sender_id, body, client_id, reply_to, \
                         target_seq, mentions, reaction_key, added) \
             RETURNING id, room_id, seq, created_at",
        )
        .bind(&rooms)
        .bind(&seqs)
        .bind(&kinds)
        .bind(&senders)
        .bind(&bodies)
        .bind(&client_ids)
        .bind(&replies)
        .bind(&targets)
        .bind(&mentions)
        .bind(&keys)
        .bind(&added)
        .bind(&bumped_ids)
        .bind(&bumped_seqs)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn apply(&mut self, effects: &Effects<'_>) -> StoreResult<()> {
        if !effects.edited.is_empty() {
            let e = &effects.edited;
            let rooms: Vec<i64> = e.iter().map(|e| e.room_id).collect();
            let seqs: Vec<i64> = e.iter().map(|e| e.seq).collect();
            let bodies: Vec<&str> = e.iter().map(|e| e.body).collect();
            let mentions: Vec<&str> = e.iter().map(|e| e.mentions.as_str()).collect();
            let edit_seqs: Vec<i64> = e.iter().map(|e| e.edit_seq).collect();
            sqlx::query(
                "UPDATE messages m SET body = e.body, mentions = e.mentions, \
                        edited_at = edit.created_at \
                 FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int8[]) \
                      AS e(room_id, seq, body, mentions, edit_seq) \
                 JOIN messages edit ON edit.room_id = e.room_id AND edit.seq = e.edit_seq \
                 WHERE m.room_id = e.room_id AND m.seq = e.seq",
            )
            .bind(&rooms)
            .bind(&seqs)
            .bind(&bodies)
            .bind(&mentions)
            .bind(&edit_seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.reacted.is_empty() {
            let columns = ReactionColumns::of(effects.reacted.iter().map(|(r, _)| r));
            let seqs: Vec<i64> = effects.reacted.iter().map(|(_, seq)| *seq).collect();
            sqlx::query(
                "INSERT INTO reactions (room_id, target_seq, user_id, reaction_key, seq) \
                 SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int8[]) \
                 ON CONFLICT (room_id, target_seq, reaction_key, user_id) \
                 DO UPDATE SET seq = EXCLUDED.seq",
            )
            .bind(&columns.rooms)
            .bind(&columns.targets)
            .bind(&columns.users)
            .bind(&columns.keys)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.unreacted.is_empty() {
            let columns = ReactionColumns::of(effects.unreacted.iter());
            sqlx::query(
                "DELETE FROM reactions WHERE (room_id, target_seq, user_id, reaction_key) IN \
                 (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[]))",
            )
            .bind(&columns.rooms)
            .bind(&columns.targets)
            .bind(&columns.users)
            .bind(&columns.keys)
            .execute(&mut **self)
            .await?;
        }
        if !effects.erased.is_empty() {
            let (rooms, seqs): (Vec<i64>, Vec<i64>) = effects.erased.iter().copied().unzip();
            // The message, then every edit of it: the text is overwritten,
            // not flagged.
            sqlx::query(
                "UPDATE messages m SET body = '', mentions = '[]', \
                        deleted = (m.kind = 'message') \
                 FROM UNNEST($1::int8[], $2::int8[]) AS d(room_id, seq) \
                 WHERE m.room_id = d.room_id \
                   AND ((m.seq = d.seq AND m.kind = 'message') \
                        OR (m.target_seq = d.seq AND m.kind = 'edit'))",
            )
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
            sqlx::query(
                "DELETE FROM reactions WHERE (room_id, target_seq) IN \
                 (SELECT * FROM UNNEST($1::int8[], $2::int8[]))",
            )
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn events(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Event>> {
        let (rooms, seqs): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        let rows: Vec<EventRow<Timestamp>> = sqlx::query_as(select_events!(
            reactions_json,
            "WHERE (m.room_id, m.seq) IN (SELECT * FROM UNNEST($1::int8[], $2::int8[]))"
        ))
        .bind(&rooms)
        .bind(&seqs)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// Reaction refs as one array per column, for `UNNEST`.
struct ReactionColumns<'a> {
    rooms: Vec<i64>,
    targets: Vec<i64>,
    users: Vec<i64>,
    keys: Vec<&'a str>,
}

impl<'a> ReactionColumns<'a> {
    fn of(refs: impl Iterator<Item = &'a ReactionRef>) -> Self {
        let mut c = ReactionColumns {
            rooms: Vec::new(),
            targets: Vec::new(),
            users: Vec::new(),
            keys: Vec::new(),
        };
        for (room, target, user, key) in refs {
            c.rooms.push(*room);
            c.targets.push(*target);
            c.users.push(*user);
            c.keys.push(key);
        }
        c
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
