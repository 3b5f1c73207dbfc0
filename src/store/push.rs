//! Notification levels, push subscriptions and the push outbox (README,
//! "Notifications"): [`PushStore`] on both backends. Which stored events are
//! due to whom is decided in the append transaction (`queue_pushes` of
//! `batch.rs`, with each backend's statement here); this module also owns
//! what happens to the rows afterwards: claimed with a lease, then deleted once
//! sent or retried later (docs/ARCHITECTURE.md, "The push outbox").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
    /// Stores the subscription (the same endpoint again replaces its keys).
    async fn add_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        expiration_time: Option<i64>,
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

/// The INSERT of [`POSTGRES_QUEUE_PUSHES`], reading the new messages from
/// `e (room_id, seq, sender_id, mentions, thread_root)`: also a step of the
/// messages' own INSERT statement (`postgres/append.rs`), where `e` is the
/// rows it inserted.
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
              FROM e JOIN rooms r ON r.id = e.room_id WHERE r.direct_a IS NOT NULL \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, u.id, 2 \
              FROM e CROSS JOIN LATERAL jsonb_array_elements_text(e.mentions::jsonb) n (name) \
              JOIN users u ON lower(u.username) = lower(n.name) \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, f.user_id, 3 \
              FROM e JOIN thread_follows f \
                   ON f.room_id = e.room_id AND f.root_seq = e.thread_root \
              UNION ALL \
              SELECT e.room_id, e.seq, e.sender_id, ms.user_id, 4 \
              FROM e JOIN memberships ms ON ms.room_id = e.room_id AND ms.notify_level = 'all' \
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

/// `AppendTx::queue_pushes` for a batch's new messages, as arrays (room
/// ids, seqs, sender ids, mentions JSON, thread roots). Each reason is read
/// through its own index (the room's row; `lower(username)`;
/// `thread_follows`' key; the partial `memberships_notify_all_idx`), never
/// the room's whole membership; rank picks one reason per user (README,
/// "Notifications").
pub(super) const POSTGRES_QUEUE_PUSHES: &str = concat!(
    "WITH e (room_id, seq, sender_id, mentions, thread_root) AS \
          (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int8[])) ",
    postgres_push_insert!()
);

/// `AppendTx::queue_pushes` for one message: (room id, seq, sender id,
/// mentions JSON, now in epoch ms, thread root or NULL). Each reason is
/// read through its own index (the room's row; `users.username`;
/// `thread_follows`' key; `memberships_notify_all_idx`); rank picks one
/// reason per user (README, "Notifications").
pub(super) const SQLITE_QUEUE_PUSHES: &str = "\
    INSERT INTO push_outbox (subscription_id, room_id, seq, reason, created_at, not_before) \
    SELECT p.id, ?1, ?2, \
           CASE d.rank WHEN 1 THEN 'dm' WHEN 2 THEN 'mention' WHEN 3 THEN 'thread' \
                ELSE 'room' END, \
           ?5, ?5 \
    FROM (SELECT c.user_id, min(c.rank) AS rank FROM ( \
              SELECT CASE WHEN r.direct_a = ?3 THEN r.direct_b ELSE r.direct_a END AS user_id, \
                     1 AS rank \
              FROM rooms r WHERE r.id = ?1 AND r.direct_a IS NOT NULL \
              UNION ALL \
              SELECT u.id, 2 FROM json_each(?4) n JOIN users u ON u.username = n.value \
              UNION ALL \
              SELECT f.user_id, 3 FROM thread_follows f \
              WHERE ?6 IS NOT NULL AND f.room_id = ?1 AND f.root_seq = ?6 \
              UNION ALL \
              SELECT ms.user_id, 4 FROM memberships ms \
              WHERE ms.room_id = ?1 AND ms.notify_level = 'all' \
          ) c GROUP BY c.user_id) d \
    JOIN memberships ms ON ms.room_id = ?1 AND ms.user_id = d.user_id \
    JOIN push_subscriptions p ON p.user_id = d.user_id \
    WHERE d.user_id <> ?3 \
      AND (ms.notify_level IS NULL OR ms.notify_level <> 'none') \
      AND (ms.muted_until IS NULL OR ms.muted_until <= ?5) \
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = d.user_id AND b.blocked_id = ?3)";

const SUBSCRIPTION_COLUMNS: &str = "id, user_id, endpoint, p256dh, auth, expiration_time";

#[async_trait]
impl PushStore for PostgresStore {
    async fn set_notifications(
        &self,
        room_id: i64,
        user_id: i64,
        level: Option<&str>,
        muted_until: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE memberships SET notify_level = $3, muted_until = $4 \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(level)
        .bind(muted_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        expiration_time: Option<i64>,
    ) -> StoreResult<PushSubscription> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, expiration_time) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, \
                 auth = EXCLUDED.auth, expiration_time = EXCLUDED.expiration_time \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        ))
        .bind(user_id)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(expiration_time)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn push_subscriptions(&self, user_id: i64) -> StoreResult<Vec<PushSubscription>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_push_subscription(&self, id: i64, user_id: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM push_subscriptions WHERE id = $1 AND ($2::int8 IS NULL OR user_id = $2)",
        )
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>> {
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

    async fn push_done(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM push_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn push_retry(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE push_outbox SET attempts = attempts + 1, not_before = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn set_notifications(
        &self,
        room_id: i64,
        user_id: i64,
        level: Option<&str>,
        muted_until: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE memberships SET notify_level = ?3, muted_until = ?4 \
             WHERE room_id = ?1 AND user_id = ?2",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(level)
        .bind(muted_until.map(|t| t.timestamp_millis()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        expiration_time: Option<i64>,
    ) -> StoreResult<PushSubscription> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO push_subscriptions \
                 (user_id, endpoint, p256dh, auth, expiration_time, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, \
                 auth = excluded.auth, expiration_time = excluded.expiration_time \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        ))
        .bind(user_id)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(expiration_time)
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn push_subscriptions(&self, user_id: i64) -> StoreResult<Vec<PushSubscription>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE user_id = ?1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_push_subscription(&self, id: i64, user_id: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM push_subscriptions WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        )
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>> {
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

    async fn push_done(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM push_outbox WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn push_retry(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE push_outbox SET attempts = attempts + 1, not_before = ?2 WHERE id = ?1",
        )
        .bind(id)
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
