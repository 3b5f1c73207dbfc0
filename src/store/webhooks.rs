//! A room's webhooks (README, "Bots and webhooks"): incoming ones (a URL
//! with a secret, kept as its SHA-256), outgoing ones (the room's events
//! POSTed in seq order from a durable cursor by whichever instance holds the
//! webhook's lease) and slash commands. The messages of incoming webhooks
//! and commands are stored under a `webhook:NAME` account (`users.kind =
//! 'webhook'`), one per name, which no one can sign in as.

use async_trait::async_trait;

use super::{Backend, PostgresStore, SqliteStore, StoreResult, Timestamp};

/// What a webhook does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    Incoming,
    Outgoing,
    Command,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Incoming => "incoming",
            WebhookKind::Outgoing => "outgoing",
            WebhookKind::Command => "command",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incoming" => Some(WebhookKind::Incoming),
            "outgoing" => Some(WebhookKind::Outgoing),
            "command" => Some(WebhookKind::Command),
            _ => None,
        }
    }
}

/// A stored webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub room_id: i64,
    pub kind: WebhookKind,
    pub name: String,
    /// The `webhook:NAME` account its messages are stored under (incoming,
    /// command).
    pub user_id: Option<i64>,
    /// SHA-256 of an incoming webhook's URL secret.
    pub secret_hash: Option<Vec<u8>>,
    /// The HMAC key of outgoing webhooks and commands.
    pub signing_key: Option<Vec<u8>>,
    pub url: Option<String>,
    /// Outgoing: the event kinds delivered, comma-separated.
    pub events: Option<String>,
    pub command: Option<String>,
    pub created_at: Timestamp,
    /// Outgoing: the last seq delivered or given up on.
    pub cursor_seq: i64,
}

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    pub room_id: i64,
    pub kind: WebhookKind,
    pub name: &'a str,
    pub secret_hash: Option<&'a [u8]>,
    pub signing_key: Option<&'a [u8]>,
    pub url: Option<&'a str>,
    pub events: Option<&'a str>,
    pub command: Option<&'a str>,
    pub created_by: i64,
}

/// One delivery attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub seq: i64,
    pub delivered: bool,
    /// The HTTP status answered; None when none came (timeout, connection).
    pub code: Option<i32>,
    pub at: Timestamp,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Stores the webhook (for incoming ones and commands, with the
    /// `webhook:NAME` account, made on first use); an outgoing one's cursor
    /// starts at the room's last seq. None when the room already has a
    /// command of that name.
    async fn create_webhook(&self, new: &NewWebhook<'_>) -> StoreResult<Option<Webhook>>;
    /// The room's webhooks, oldest first.
    async fn webhooks_of(&self, room_id: i64) -> StoreResult<Vec<Webhook>>;
    async fn webhook(&self, id: i64) -> StoreResult<Option<Webhook>>;
    /// The room's command `/command`.
    async fn command_webhook(&self, room_id: i64, command: &str) -> StoreResult<Option<Webhook>>;
    /// Deletes the room's webhook `id` (and its delivery log); false when
    /// the room has none such.
    async fn delete_webhook(&self, room_id: i64, id: i64) -> StoreResult<bool>;
    /// Every outgoing webhook: (id, room id).
    async fn outgoing_webhooks(&self) -> StoreResult<Vec<(i64, i64)>>;
    /// Takes or renews the lease of outgoing webhook `id` for `holder`
    /// for `ttl_ms`: granted when free, expired or already `holder`'s.
    /// The webhook (with its cursor) when granted.
    async fn take_lease(&self, id: i64, holder: &str, ttl_ms: i64) -> StoreResult<Option<Webhook>>;
    /// Gives the lease up (shutdown), if `holder` has it.
    async fn release_lease(&self, id: i64, holder: &str) -> StoreResult<()>;
    /// Records an attempt at `seq`; when `done` (delivered, or given up on)
    /// the cursor moves to `seq`, in the same transaction, and only while
    /// `holder` holds the lease (false otherwise: nothing is recorded).
    async fn record_delivery(
        &self,
        id: i64,
        holder: &str,
        seq: i64,
        delivery: (bool, Option<i32>),
        done: bool,
    ) -> StoreResult<bool>;
    /// Moves the cursor to `seq` (events the webhook does not deliver),
    /// only while `holder` holds the lease (false otherwise).
    async fn advance_cursor(&self, id: i64, holder: &str, seq: i64) -> StoreResult<bool>;
    /// The newest `limit` attempts, newest first.
    async fn deliveries(&self, id: i64, limit: i64) -> StoreResult<Vec<Delivery>>;
    /// Deletes all but the newest `keep` attempts of webhook `id`.
    async fn trim_deliveries(&self, id: i64, keep: i64) -> StoreResult<()>;
}

struct WebhookQueries {
    webhook_user_insert: &'static str,
    webhook_user: &'static str,
    insert: &'static str,
    of_room: &'static str,
    by_id: &'static str,
    command: &'static str,
    delete: &'static str,
    outgoing: &'static str,
    take_lease: &'static str,
    release_lease: &'static str,
    holds_lease: &'static str,
    insert_delivery: &'static str,
    advance_held: &'static str,
    deliveries: &'static str,
    trim_deliveries: &'static str,
}

macro_rules! columns {
    () => {
        "id, room_id, kind, name, user_id, secret_hash, signing_key, url, events, \
         command, created_at, cursor_seq"
    };
}

macro_rules! sqlite_now {
    () => {
        "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"
    };
}

const SQLITE: WebhookQueries = WebhookQueries {
    webhook_user_insert: concat!(
        "INSERT INTO users (username, password_hash, created_at, kind) VALUES (?1, '', ",
        sqlite_now!(),
        ", 'webhook') ON CONFLICT DO NOTHING"
    ),
    webhook_user: "SELECT id FROM users WHERE username = ?1 AND kind = 'webhook'",
    insert: concat!(
        "INSERT INTO webhooks (room_id, kind, name, user_id, secret_hash, signing_key, url, \
         events, command, created_by, created_at, cursor_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
        sqlite_now!(),
        ", (SELECT last_seq FROM rooms WHERE id = ?1)) RETURNING ",
        columns!()
    ),
    of_room: concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE room_id = ?1 ORDER BY id"
    ),
    by_id: concat!("SELECT ", columns!(), " FROM webhooks WHERE id = ?1"),
    command: concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE room_id = ?1 AND kind = 'command' AND command = ?2"
    ),
    delete: "DELETE FROM webhooks WHERE room_id = ?1 AND id = ?2",
    outgoing: "SELECT id, room_id FROM webhooks WHERE kind = 'outgoing' ORDER BY id",
    take_lease: concat!(
        "UPDATE webhooks SET lease_holder = ?2, lease_until = ",
        sqlite_now!(),
        " + ?3 WHERE id = ?1 AND kind = 'outgoing' AND (lease_holder = ?2 OR lease_holder IS NULL \
         OR lease_until < ",
        sqlite_now!(),
        ") RETURNING ",
        columns!()
    ),
    release_lease: "UPDATE webhooks SET lease_holder = NULL, lease_until = 0 \
                    WHERE id = ?1 AND lease_holder = ?2",
    holds_lease: "SELECT 1 FROM webhooks WHERE id = ?1 AND lease_holder = ?2",
    insert_delivery: concat!(
        "INSERT INTO webhook_deliveries (webhook_id, seq, status, code, at) VALUES (?1, ?2, ?3, ?4, ",
        sqlite_now!(),
        ")"
    ),
    advance_held: "UPDATE webhooks SET cursor_seq = max(cursor_seq, ?2) \
                   WHERE id = ?1 AND lease_holder = ?3",
    deliveries: "SELECT seq, status, code, at FROM webhook_deliveries WHERE webhook_id = ?1 \
                 ORDER BY id DESC LIMIT ?2",
    trim_deliveries: "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND id < \
                      (SELECT min(id) FROM (SELECT id FROM webhook_deliveries \
                       WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2))",
};

const POSTGRES: WebhookQueries = WebhookQueries {
    webhook_user_insert: "INSERT INTO users (username, password_hash, kind) \
                          VALUES ($1, '', 'webhook') ON CONFLICT DO NOTHING",
    webhook_user: "SELECT id FROM users WHERE lower(username) = lower($1) AND kind = 'webhook'",
    insert: concat!(
        "INSERT INTO webhooks (room_id, kind, name, user_id, secret_hash, signing_key, url, \
         events, command, created_by, cursor_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         (SELECT last_seq FROM rooms WHERE id = $1)) RETURNING ",
        columns!()
    ),
    of_room: concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE room_id = $1 ORDER BY id"
    ),
    by_id: concat!("SELECT ", columns!(), " FROM webhooks WHERE id = $1"),
    command: concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE room_id = $1 AND kind = 'command' AND command = $2"
    ),
    delete: "DELETE FROM webhooks WHERE room_id = $1 AND id = $2",
    outgoing: "SELECT id, room_id FROM webhooks WHERE kind = 'outgoing' ORDER BY id",
    take_lease: concat!(
        "UPDATE webhooks SET lease_holder = $2, \
         lease_until = clock_timestamp() + $3 * interval '1 millisecond' \
         WHERE id = $1 AND kind = 'outgoing' AND (lease_holder = $2 OR lease_holder IS NULL \
         OR lease_until < clock_timestamp()) RETURNING ",
        columns!()
    ),
    release_lease: "UPDATE webhooks SET lease_holder = NULL, lease_until = 'epoch' \
                    WHERE id = $1 AND lease_holder = $2",
    holds_lease: "SELECT 1 FROM webhooks WHERE id = $1 AND lease_holder = $2 FOR UPDATE",
    insert_delivery: "INSERT INTO webhook_deliveries (webhook_id, seq, status, code) \
                      VALUES ($1, $2, $3, $4)",
    advance_held: "UPDATE webhooks SET cursor_seq = greatest(cursor_seq, $2) \
                   WHERE id = $1 AND lease_holder = $3",
    deliveries: "SELECT seq, status, code, at FROM webhook_deliveries WHERE webhook_id = $1 \
                 ORDER BY id DESC LIMIT $2",
    trim_deliveries: "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id < \
                      (SELECT min(id) FROM (SELECT id FROM webhook_deliveries \
                       WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2) newest)",
};

#[derive(sqlx::FromRow)]
struct WebhookRow<T> {
    id: i64,
    room_id: i64,
    kind: String,
    name: String,
    user_id: Option<i64>,
    secret_hash: Option<Vec<u8>>,
    signing_key: Option<Vec<u8>>,
    url: Option<String>,
    events: Option<String>,
    command: Option<String>,
    created_at: T,
    cursor_seq: i64,
}

impl<T: Into<Timestamp>> From<WebhookRow<T>> for Webhook {
    fn from(r: WebhookRow<T>) -> Self {
        Webhook {
            id: r.id,
            room_id: r.room_id,
            // The column's CHECK allows only the three kinds.
            kind: WebhookKind::parse(&r.kind).unwrap_or(WebhookKind::Incoming),
            name: r.name,
            user_id: r.user_id,
            secret_hash: r.secret_hash,
            signing_key: r.signing_key,
            url: r.url,
            events: r.events,
            command: r.command,
            created_at: r.created_at.into(),
            cursor_seq: r.cursor_seq,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow<T> {
    seq: i64,
    status: String,
    code: Option<i32>,
    at: T,
}

/// The account name the messages of webhook or command `name` are stored
/// under (a `:` no username can contain, so it names no person or bot).
pub fn sender_name(name: &str) -> String {
    format!("webhook:{name}")
}

macro_rules! impl_webhooks {
    ($store:ty, $time:ty, $sql:expr) => {
        #[async_trait]
        impl WebhookStore for $store {
            async fn create_webhook(&self, new: &NewWebhook<'_>) -> StoreResult<Option<Webhook>> {
                let mut tx = self.begin_write().await?;
                let user_id = if new.kind == WebhookKind::Outgoing {
                    None
                } else {
                    let sender = sender_name(new.name);
                    sqlx::query($sql.webhook_user_insert)
                        .bind(&sender)
                        .execute(&mut *tx)
                        .await?;
                    let id: Option<i64> = sqlx::query_scalar($sql.webhook_user)
                        .bind(&sender)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // A name taken by another kind of account cannot be, as
                    // no username has a `:`; refuse it all the same.
                    let Some(id) = id else { return Ok(None) };
                    Some(id)
                };
                let row: Result<WebhookRow<$time>, sqlx::Error> = sqlx::query_as($sql.insert)
                    .bind(new.room_id)
                    .bind(new.kind.as_str())
                    .bind(new.name)
                    .bind(user_id)
                    .bind(new.secret_hash)
                    .bind(new.signing_key)
                    .bind(new.url)
                    .bind(new.events)
                    .bind(new.command)
                    .bind(new.created_by)
                    .fetch_one(&mut *tx)
                    .await;
                let row = match row {
                    Ok(row) => row,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                tx.commit().await?;
                Ok(Some(row.into()))
            }

            async fn webhooks_of(&self, room_id: i64) -> StoreResult<Vec<Webhook>> {
                let rows: Vec<WebhookRow<$time>> = sqlx::query_as($sql.of_room)
                    .bind(room_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn webhook(&self, id: i64) -> StoreResult<Option<Webhook>> {
                let row: Option<WebhookRow<$time>> = sqlx::query_as($sql.by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn command_webhook(
                &self,
                room_id: i64,
                command: &str,
            ) -> StoreResult<Option<Webhook>> {
                let row: Option<WebhookRow<$time>> = sqlx::query_as($sql.command)
                    .bind(room_id)
                    .bind(command)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn delete_webhook(&self, room_id: i64, id: i64) -> StoreResult<bool> {
                let done = sqlx::query($sql.delete)
                    .bind(room_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn outgoing_webhooks(&self) -> StoreResult<Vec<(i64, i64)>> {
                Ok(sqlx::query_as($sql.outgoing).fetch_all(&self.pool).await?)
            }

            async fn take_lease(
                &self,
                id: i64,
                holder: &str,
                ttl_ms: i64,
            ) -> StoreResult<Option<Webhook>> {
                let mut tx = self.begin_write().await?;
                let row: Option<WebhookRow<$time>> = sqlx::query_as($sql.take_lease)
                    .bind(id)
                    .bind(holder)
                    .bind(ttl_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn release_lease(&self, id: i64, holder: &str) -> StoreResult<()> {
                sqlx::query($sql.release_lease)
                    .bind(id)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn record_delivery(
                &self,
                id: i64,
                holder: &str,
                seq: i64,
                (delivered, code): (bool, Option<i32>),
                done: bool,
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                // A finished event moves the cursor, checking the lease in
                // the same statement; an attempt to retry only checks it.
                let held = if done {
                    sqlx::query($sql.advance_held)
                        .bind(id)
                        .bind(seq)
                        .bind(holder)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0
                } else {
                    let held: Option<i32> = sqlx::query_scalar($sql.holds_lease)
                        .bind(id)
                        .bind(holder)
                        .fetch_optional(&mut *tx)
                        .await?;
                    held.is_some()
                };
                if !held {
                    return Ok(false);
                }
                sqlx::query($sql.insert_delivery)
                    .bind(id)
                    .bind(seq)
                    .bind(if delivered { "delivered" } else { "failed" })
                    .bind(code)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn advance_cursor(&self, id: i64, holder: &str, seq: i64) -> StoreResult<bool> {
                let done = sqlx::query($sql.advance_held)
                    .bind(id)
                    .bind(seq)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn deliveries(&self, id: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
                let rows: Vec<DeliveryRow<$time>> = sqlx::query_as($sql.deliveries)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| Delivery {
                        seq: r.seq,
                        delivered: r.status == "delivered",
                        code: r.code,
                        at: r.at.into(),
                    })
                    .collect())
            }

            async fn trim_deliveries(&self, id: i64, keep: i64) -> StoreResult<()> {
                sqlx::query($sql.trim_deliveries)
                    .bind(id)
                    .bind(keep)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

impl_webhooks!(SqliteStore, super::sqlite::Millis, SQLITE);
impl_webhooks!(PostgresStore, Timestamp, POSTGRES);
