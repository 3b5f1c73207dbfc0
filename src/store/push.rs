//! Notification levels, push subscriptions and the push outbox (README,
//! "Notifications"): [`PushStore`] on both backends. Which stored events are
//! due to whom is decided in the append transaction (`queue_pushes` of
//! `batch.rs`, SQL in each backend's `append.rs`); this module owns what
//! happens to the rows afterwards: claimed with a lease, then deleted once
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
