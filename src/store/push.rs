//! Notification levels, push subscriptions and the push outbox (README,
//! "Notifications"): [`PushStore`] on both backends. Which stored events are
//! due to whom is decided in the append transaction (`queue_pushes` of
//! `batch.rs`, with each backend's statement here); this module also owns
//! what happens to the rows afterwards: claimed with a lease, then deleted once
//! sent or retried later (docs/ARCHITECTURE.md, "The push outbox").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sqlite::Millis;
use super::{Backend, PostgresStore, SqliteStore, StoreResult, Timestamp, WriteTx};

/// A browser's `PushSubscription`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushSubscription {
    pub id: i64,
    pub user_id: i64,
    pub endpoint: String,
    /// The user agent's P-256 public key, base64url (RFC 8291).
    pub p256dh: String,
    /// The authentication secret, base64url (RFC 8291).
    pub auth: String,
    /// Milliseconds since the epoch, as the browser gave it.
    pub expiration_time: Option<i64>,
}

/// An outbox row claimed by this instance until its lease ends, with what
/// sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedPush {
    pub id: i64,
    /// `dm`, `mention`, `thread` or `room`.
    pub reason: String,
    pub attempts: i32,
    /// When the event was stored (retries stop an hour later), epoch ms.
    pub created_ms: i64,
    pub subscription_id: i64,
    pub user_id: i64,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub room: String,
    pub seq: i64,
    /// Null when the event is gone (pruned).
    pub sender: Option<String>,
    pub body: Option<String>,
    /// The message was deleted: it is not pushed.
    pub deleted: Option<bool>,
}

impl ClaimedPush {
    pub fn created_at(&self) -> Timestamp {
        DateTime::<Utc>::from_timestamp_millis(self.created_ms).unwrap_or_else(Utc::now)
    }
}

/// A subscription to store, as the browser gave it (checked by the caller).
#[derive(Debug, Clone, Copy)]
pub struct NewPushSubscription<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
    pub expiration_time: Option<i64>,
}

#[async_trait]
pub trait PushStore: Send + Sync + 'static {
    /// Sets `user_id`'s level (`None`: the default) and mute in the room;
    /// false when they are not a member.
    async fn set_notifications(
        &self,
        room_id: i64,
        user_id: i64,
        level: Option<&str>,
        muted_until: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// Stores the subscription (the same endpoint again replaces its keys
    /// and keeps its id), then deletes the user's oldest beyond `keep`
    /// with their queued pushes; concurrent calls for one user are
    /// serialised by a lock on the user's row, so `keep` holds.
    async fn add_push_subscription(
        &self,
        user_id: i64,
        new: NewPushSubscription<'_>,
        keep: i64,
    ) -> StoreResult<PushSubscription>;
    /// The user's subscriptions, oldest first.
    async fn push_subscriptions(&self, user_id: i64) -> StoreResult<Vec<PushSubscription>>;
    /// Deletes subscription `id` (of `user_id` when given) and its queued
    /// pushes; false when there was none.
    async fn delete_push_subscription(&self, id: i64, user_id: Option<i64>) -> StoreResult<bool>;
    /// Claims up to `limit` due outbox rows for `lease_ms`: no other claim,
    /// from any instance, gets them until the lease ends.
    async fn claim_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>>;
    /// The row was handled (sent, or not to be sent): it is deleted.
    async fn push_done(&self, id: i64) -> StoreResult<()>;
    /// The row is tried again at `at`.
    async fn push_retry(&self, id: i64, at: Timestamp) -> StoreResult<()>;
}

/// The INSERT of [`POSTGRES_QUEUE_PUSHES`], reading what is due from
/// `e (room_id, seq, sender_id, mentions, thread_root, only_mentions)`
/// (`only_mentions`: an edit's newly mentioned users, reason `mention`
/// alone). Also a step of the messages' own INSERT statement
/// (`postgres/append.rs`), where `e` is the messages it inserted. Each
/// reason is read through its own index (the room's row; `lower(username)`;
/// `thread_follows`' key; the partial `memberships_notify_all_idx`), never
/// the room's whole membership; rank picks one reason per user (README,
/// "Notifications").
macro_rules! postgres_push_insert {
    () => {
        "INSERT INTO push_outbox (subscription_id, room_id, seq, reason) \
    SELECT p.id, d.room_id, d.seq, \
           CASE d.rank WHEN 1 THEN 'dm' WHEN 2 THEN 'mention' WHEN 3 THEN 'thread' \
                ELSE 'room' END \
    FROM (SELECT c.room_id, c.seq, c.sender_id, c.user_id, min(c.rank) AS rank FROM ( \
              SELECT e.room_id, e.seq, e.sender_id, \
                     CASE WHEN r.direct_a = e.sender_id THEN r.direct_b ELSE r.direct_a END \
                         AS user_id, \
                     1 AS rank \
              FROM e JOIN rooms r ON r.id = e.room_id \
              WHERE r.direct_a IS NOT NULL AND NOT e.only_mentions \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, u.id, 2 \
              FROM e CROSS JOIN LATERAL jsonb_array_elements_text(e.mentions::jsonb) n (name) \
              JOIN users u ON lower(u.username) = lower(n.name) \
              WHERE e.mentions <> '[]' \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, f.user_id, 3 \
              FROM e JOIN thread_follows f \
                   ON f.room_id = e.room_id AND f.root_seq = e.thread_root \
              WHERE e.thread_root IS NOT NULL AND NOT e.only_mentions \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, ms.user_id, 4 \
              FROM e JOIN memberships ms ON ms.room_id = e.room_id AND ms.notify_level = 'all' \
              WHERE NOT e.only_mentions \
          ) c GROUP BY c.room_id, c.seq, c.sender_id, c.user_id) d \
    JOIN memberships ms ON ms.room_id = d.room_id AND ms.user_id = d.user_id \
    JOIN push_subscriptions p ON p.user_id = d.user_id \
    WHERE d.user_id <> d.sender_id \
      AND ms.notify_level IS DISTINCT FROM 'none' \
      AND (ms.muted_until IS NULL OR ms.muted_until <= now()) \
      AND NOT EXISTS (SELECT 1 FROM blocks b \
                      WHERE b.blocker_id = d.user_id AND b.blocked_id = d.sender_id)"
    };
}
pub(super) use postgres_push_insert;

/// `AppendTx::queue_pushes` for a batch's new messages and edits, as arrays
/// (room ids, seqs, sender ids, mentions JSON, thread roots, only mentions).
/// Public so that a test can check its plan.
pub const POSTGRES_QUEUE_PUSHES: &str = concat!(
    "WITH e (room_id, seq, sender_id, mentions, thread_root, only_mentions) AS \
          (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int8[], \
                                $6::bool[])) ",
    postgres_push_insert!()
);

/// `AppendTx::queue_pushes` for one message: (room id, seq, sender id,
/// mentions JSON, now in epoch ms, thread root or NULL, only mentions: an
/// edit's newly mentioned users, reason `mention` alone). Each reason is
/// read through its own index (the room's row; `users.username`;
/// `thread_follows`' key; `memberships_notify_all_idx`); rank picks one
/// reason per user (README, "Notifications").
// SQLite's planner, left to itself, reads every membership of the room (a
// room of 5,000 costs 5,000 rows a message): the members at `all` through
// the primary key, or the room's memberships first and the due users
// within them. `INDEXED BY` and `CROSS JOIN` (which SQLite takes as the
// order of the loops) keep it on the due users; the tests below check the
// plan.
pub(super) const SQLITE_QUEUE_PUSHES: &str = "\
    INSERT INTO push_outbox (subscription_id, room_id, seq, reason, created_at, not_before) \
    SELECT p.id, ?1, ?2, \
           CASE d.rank WHEN 1 THEN 'dm' WHEN 2 THEN 'mention' WHEN 3 THEN 'thread' \
                ELSE 'room' END, \
           ?5, ?5 \
    FROM (SELECT c.user_id, min(c.rank) AS rank FROM ( \
              SELECT CASE WHEN r.direct_a = ?3 THEN r.direct_b ELSE r.direct_a END AS user_id, \
                     1 AS rank \
              FROM rooms r WHERE r.id = ?1 AND r.direct_a IS NOT NULL AND NOT ?7 \
              UNION ALL \
              SELECT u.id, 2 FROM json_each(?4) n JOIN users u ON u.username = n.value \
              UNION ALL \
              SELECT f.user_id, 3 FROM thread_follows f \
              WHERE ?6 IS NOT NULL AND NOT ?7 AND f.room_id = ?1 AND f.root_seq = ?6 \
              UNION ALL \
              SELECT ms.user_id, 4 FROM memberships ms INDEXED BY memberships_notify_all_idx \
              WHERE NOT ?7 AND ms.room_id = ?1 AND ms.notify_level = 'all' \
          ) c GROUP BY c.user_id) d \
    CROSS JOIN memberships ms ON ms.room_id = ?1 AND ms.user_id = d.user_id \
    CROSS JOIN push_subscriptions p ON p.user_id = d.user_id \
    WHERE d.user_id <> ?3 \
      AND (ms.notify_level IS NULL OR ms.notify_level <> 'none') \
      AND (ms.muted_until IS NULL OR ms.muted_until <= ?5) \
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = d.user_id AND b.blocked_id = ?3)";

/// One backend's SQL for [`PushStore`] (claiming excepted: each backend
/// has its own way to keep concurrent claims apart, `claim_due_pushes`).
struct PushQueries {
    /// (room_id, user_id, level, muted_until).
    set_notifications: &'static str,
    /// (user_id): locks the user's row until commit (subscribing).
    lock_user: &'static str,
    /// (user_id, endpoint, p256dh, auth, expiration_time, created_at) →
    /// the subscription.
    upsert_subscription: &'static str,
    /// (user_id, keep): deletes all but the newest `keep`.
    keep_newest: &'static str,
    /// (user_id) → the subscriptions, oldest first.
    subscriptions: &'static str,
    /// (id, user_id or NULL).
    delete_subscription: &'static str,
    /// (id).
    done: &'static str,
    /// (id, at).
    retry: &'static str,
}

/// The columns of a [`PushSubscription`].
macro_rules! subscription_columns {
    () => {
        "id, user_id, endpoint, p256dh, auth, expiration_time"
    };
}

/// Implements [`PushStore`] for `$store` from `$sql`, with timestamps
/// stored as `$time`; claiming is `$store::claim_due_pushes`.
macro_rules! impl_push {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        #[async_trait]
        impl PushStore for $store {
            async fn set_notifications(
                &self,
                room_id: i64,
                user_id: i64,
                level: Option<&str>,
                muted_until: Option<Timestamp>,
            ) -> StoreResult<bool> {
                let done = sqlx::query($sql.set_notifications)
                    .bind(room_id)
                    .bind(user_id)
                    .bind(level)
                    .bind(muted_until.map($time::from))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn add_push_subscription(
                &self,
                user_id: i64,
                new: NewPushSubscription<'_>,
                keep: i64,
            ) -> StoreResult<PushSubscription> {
                let mut tx = self.begin_write().await?;
                sqlx::query($sql.lock_user)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let stored: PushSubscription = sqlx::query_as($sql.upsert_subscription)
                    .bind(user_id)
                    .bind(new.endpoint)
                    .bind(new.p256dh)
                    .bind(new.auth)
                    .bind(new.expiration_time)
                    .bind($time::from(Utc::now()))
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query($sql.keep_newest)
                    .bind(user_id)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
                WriteTx::commit(tx).await?;
                Ok(stored)
            }

            async fn push_subscriptions(&self, user_id: i64) -> StoreResult<Vec<PushSubscription>> {
                Ok(sqlx::query_as($sql.subscriptions)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn delete_push_subscription(
                &self,
                id: i64,
                user_id: Option<i64>,
            ) -> StoreResult<bool> {
                let done = sqlx::query($sql.delete_subscription)
                    .bind(id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn claim_pushes(
                &self,
                limit: i64,
                lease_ms: i64,
            ) -> StoreResult<Vec<ClaimedPush>> {
                self.claim_due_pushes(limit, lease_ms).await
            }

            async fn push_done(&self, id: i64) -> StoreResult<()> {
                sqlx::query($sql.done).bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn push_retry(&self, id: i64, at: Timestamp) -> StoreResult<()> {
                sqlx::query($sql.retry)
                    .bind(id)
                    .bind($time::from(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

// `FOR NO KEY UPDATE`: subscribing serialises per user without holding off
// the foreign keys that point at the user's row.
const POSTGRES_PUSH_SQL: PushQueries = PushQueries {
    set_notifications: "UPDATE memberships SET notify_level = $3, muted_until = $4 \
                        WHERE room_id = $1 AND user_id = $2",
    lock_user: "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
    upsert_subscription: concat!(
        "INSERT INTO push_subscriptions \
             (user_id, endpoint, p256dh, auth, expiration_time, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, \
             auth = EXCLUDED.auth, expiration_time = EXCLUDED.expiration_time \
         RETURNING ",
        subscription_columns!()
    ),
    keep_newest: "DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN \
                  (SELECT id FROM push_subscriptions WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
    subscriptions: concat!(
        "SELECT ",
        subscription_columns!(),
        " FROM push_subscriptions WHERE user_id = $1 ORDER BY id"
    ),
    delete_subscription: "DELETE FROM push_subscriptions \
                          WHERE id = $1 AND ($2::int8 IS NULL OR user_id = $2)",
    done: "DELETE FROM push_outbox WHERE id = $1",
    retry: "UPDATE push_outbox SET attempts = attempts + 1, not_before = $2 WHERE id = $1",
};

// One writer at a time (`BEGIN IMMEDIATE`): subscribing needs no row lock.
const SQLITE_PUSH_SQL: PushQueries = PushQueries {
    set_notifications: "UPDATE memberships SET notify_level = ?3, muted_until = ?4 \
                        WHERE room_id = ?1 AND user_id = ?2",
    lock_user: "SELECT 1 FROM users WHERE id = ?1",
    upsert_subscription: concat!(
        "INSERT INTO push_subscriptions \
             (user_id, endpoint, p256dh, auth, expiration_time, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, \
             auth = excluded.auth, expiration_time = excluded.expiration_time \
         RETURNING ",
        subscription_columns!()
    ),
    keep_newest: "DELETE FROM push_subscriptions WHERE user_id = ?1 AND id NOT IN \
                  (SELECT id FROM push_subscriptions WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)",
    subscriptions: concat!(
        "SELECT ",
        subscription_columns!(),
        " FROM push_subscriptions WHERE user_id = ?1 ORDER BY id"
    ),
    delete_subscription: "DELETE FROM push_subscriptions WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
    done: "DELETE FROM push_outbox WHERE id = ?1",
    retry: "UPDATE push_outbox SET attempts = attempts + 1, not_before = ?2 WHERE id = ?1",
};

impl_push!(store: PostgresStore, time: Timestamp, sql: POSTGRES_PUSH_SQL);
impl_push!(store: SqliteStore, time: Millis, sql: SQLITE_PUSH_SQL);

impl PostgresStore {
    async fn claim_due_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>> {
        // SKIP LOCKED: instances claiming together take different rows; the
        // lease (`not_before` moved ahead) keeps them apart afterwards.
        Ok(sqlx::query_as(
            "WITH claimed AS ( \
                 UPDATE push_outbox o \
                 SET not_before = now() + make_interval(secs => $2::float8 / 1000) \
                 WHERE o.id IN (SELECT id FROM push_outbox WHERE not_before <= now() \
                                ORDER BY not_before LIMIT $1 FOR UPDATE SKIP LOCKED) \
                 RETURNING o.id, o.subscription_id, o.room_id, o.seq, o.reason, o.attempts, \
                           o.created_at) \
             SELECT c.id, c.reason, c.attempts, \
                    (extract(epoch FROM c.created_at) * 1000)::int8 AS created_ms, \
                    s.id AS subscription_id, s.user_id, s.endpoint, s.p256dh, s.auth, \
                    r.name AS room, c.seq, u.username AS sender, m.body, m.deleted \
             FROM claimed c \
             JOIN push_subscriptions s ON s.id = c.subscription_id \
             JOIN rooms r ON r.id = c.room_id \
             LEFT JOIN messages m ON m.room_id = c.room_id AND m.seq = c.seq \
                  AND m.seq > r.horizon_seq \
             LEFT JOIN users u ON u.id = m.sender_id \
             ORDER BY c.id",
        )
        .bind(limit)
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl SqliteStore {
    async fn claim_due_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>> {
        // One writer at a time (BEGIN IMMEDIATE): the claim and the read
        // see the same rows.
        let now = Utc::now().timestamp_millis();
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE push_outbox SET not_before = ?3 \
             WHERE id IN (SELECT id FROM push_outbox WHERE not_before <= ?2 \
                          ORDER BY not_before LIMIT ?1) \
             RETURNING id",
        )
        .bind(limit)
        .bind(now)
        .bind(now + lease_ms)
        .fetch_all(&mut *tx)
        .await?;
        let claimed = if ids.is_empty() {
            Vec::new()
        } else {
            let ids = serde_json::to_string(&ids).expect("ids serialise");
            sqlx::query_as(
                "SELECT o.id, o.reason, o.attempts, o.created_at AS created_ms, \
                        s.id AS subscription_id, s.user_id, s.endpoint, s.p256dh, s.auth, \
                        r.name AS room, o.seq, u.username AS sender, m.body, \
                        m.deleted <> 0 AS deleted \
                 FROM push_outbox o \
                 JOIN push_subscriptions s ON s.id = o.subscription_id \
                 JOIN rooms r ON r.id = o.room_id \
                 LEFT JOIN messages m ON m.room_id = o.room_id AND m.seq = o.seq \
                 LEFT JOIN users u ON u.id = m.sender_id \
                 WHERE o.id IN (SELECT value FROM json_each(?1)) \
                 ORDER BY o.id",
            )
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?
        };
        WriteTx::commit(tx).await?;
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `SQLITE_QUEUE_PUSHES`, one detail per step.
    async fn sqlite_plan(store: &SqliteStore) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {SQLITE_QUEUE_PUSHES}"))
                .bind(1_i64)
                .bind(2_i64)
                .bind(3_i64)
                .bind("[]")
                .bind(0_i64)
                .bind(Option::<i64>::None)
                .bind(false)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    #[tokio::test]
    async fn on_sqlite_a_message_reads_only_the_members_at_all_never_the_whole_room() {
        let store = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        let plan = sqlite_plan(&store).await;
        assert!(
            plan.iter()
                .any(|d| d.contains("memberships_notify_all_idx (room_id=?)")),
            "the members at `all` are read through their partial index: {plan:#?}"
        );
        assert!(
            !plan
                .iter()
                .any(|d| d.ends_with("USING PRIMARY KEY (room_id=?)") || d.starts_with("SCAN ms")),
            "no step reads every membership of the room: {plan:#?}"
        );
    }
}
