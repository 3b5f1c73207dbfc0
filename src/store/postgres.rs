//! [`Store`] on Postgres, for production: several instances share one
//! database, so every invariant lives in the database itself. Per-room `seq`
//! is handed out under the row lock on `rooms` (writers from any process
//! serialise there, so seq follows commit order without gaps); uniqueness and
//! idempotency are constraints; refresh-token rotation runs under row locks.
//! Queries are parameterised and checked at run time (`query_as` + `FromRow`).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::{Executor, FromRow, Transaction};

use super::batch::{self, AppendTx, ClientKey, Inserted, NewRow};
use super::refresh::{self, RefreshTx};
use super::rows::{
    CredentialsRow, KeyedMessageRow, MessageRow, RefreshRow, RefreshToken, RoomRow, UserRow,
    select_keyed_messages, select_messages, select_refresh_tokens, select_rooms, unique_violation,
};
use super::{
    Appended, Backend, HistoryPage, HistoryQuery, Message, NewMessage, Room, RoomLog, RoomStore,
    Rotation, StoreError, StoreHealth, StoreResult, Timestamp, User, UserStore,
};
use crate::domain::{RoomName, Username};

/// How long a request waits for a pooled connection before failing, instead
/// of hanging when the database is unreachable or the pool is exhausted.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// First key of the advisory locks that serialise work on one refresh-token
/// family (the second key is a hash of the family).
const REFRESH_FAMILY_LOCK: i32 = 0x5052_4c59; // "PRLY"

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
}

type PgTx = Transaction<'static, Postgres>;

#[async_trait]
impl Backend for PostgresStore {
    type Tx = PgTx;
    async fn begin_write(&self) -> StoreResult<PgTx> {
        Ok(self.pool.begin().await?)
    }
}

#[derive(FromRow)]
struct InsertedRow {
    id: i64,
    room_id: i64,
    seq: i64,
    created_at: Timestamp,
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
    ) -> StoreResult<Vec<(ClientKey, Message)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let room_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let sender_ids: Vec<i64> = keys.iter().map(|k| k.1).collect();
        let client_ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        let rows: Vec<KeyedMessageRow<Timestamp>> = sqlx::query_as(select_keyed_messages!(
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
            .filter_map(KeyedMessageRow::into_keyed)
            .collect())
    }

    async fn set_last_seqs(&mut self, rooms: &[(i64, i64)]) -> StoreResult<()> {
        let (ids, seqs): (Vec<i64>, Vec<i64>) = rooms.iter().copied().unzip();
        sqlx::query(
            "UPDATE rooms SET last_seq = bumped.last_seq \
             FROM UNNEST($1::int8[], $2::int8[]) AS bumped(id, last_seq) \
             WHERE rooms.id = bumped.id",
        )
        .bind(&ids)
        .bind(&seqs)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    async fn insert_messages(&mut self, rows: &[NewRow<'_>]) -> StoreResult<Vec<Inserted>> {
        let rooms: Vec<i64> = rows.iter().map(|r| r.room_id).collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let senders: Vec<i64> = rows.iter().map(|r| r.sender_id).collect();
        let bodies: Vec<&str> = rows.iter().map(|r| r.body).collect();
        let client_ids: Vec<Option<&str>> = rows.iter().map(|r| r.client_id).collect();
        // statement_timestamp(): taken after the room locks were granted.
        let inserted: Vec<InsertedRow> = sqlx::query_as(
            "INSERT INTO messages (room_id, seq, sender_id, body, client_id, created_at) \
             SELECT room_id, seq, sender_id, body, client_id, \
                    date_trunc('milliseconds', statement_timestamp()) \
             FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[]) \
                  AS new(room_id, seq, sender_id, body, client_id) \
             RETURNING id, room_id, seq, created_at",
        )
        .bind(&rooms)
        .bind(&seqs)
        .bind(&senders)
        .bind(&bodies)
        .bind(&client_ids)
        .fetch_all(&mut **self)
        .await?;
        Ok(inserted
            .into_iter()
            .map(|row| Inserted {
                room_id: row.room_id,
                seq: row.seq,
                id: row.id,
                created_at: row.created_at,
            })
            .collect())
    }
}

#[async_trait]
impl RefreshTx for PgTx {
    async fn lock_token(&mut self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
        // The family lock first, then the row lock: every operation that
        // updates a family's tokens takes them in that order, so two of them
        // never deadlock.
        sqlx::query(
            "SELECT pg_advisory_xact_lock($1, hashtext(family)) \
             FROM refresh_tokens WHERE token_hash = $2",
        )
        .bind(REFRESH_FAMILY_LOCK)
        .bind(token_hash)
        .execute(&mut **self)
        .await?;
        let row: Option<RefreshRow<Timestamp>> = sqlx::query_as(select_refresh_tokens!(
            "WHERE t.token_hash = $1 FOR UPDATE OF t"
        ))
        .bind(token_hash)
        .fetch_optional(&mut **self)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn retire(&mut self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        let retired = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 \
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut **self)
        .await?;
        Ok(retired.rows_affected() == 1)
    }

    async fn insert_token(
        &mut self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        insert_refresh_token(&mut **self, token_hash, user_id, family, expires_at, now).await
    }

    async fn revoke_family(&mut self, family: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
        )
        .bind(family)
        .bind(now)
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

async fn insert_refresh_token(
    conn: impl Executor<'_, Database = Postgres>,
    token_hash: &[u8],
    user_id: i64,
    family: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, date_trunc('milliseconds', $5::timestamptz))",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(family)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl StoreHealth for PostgresStore {
    fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, username: &Username, password_hash: &str) -> StoreResult<User> {
        let row: UserRow<Timestamp> = sqlx::query_as(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2) \
             RETURNING id, username, created_at",
        )
        .bind(username.as_str())
        .bind(password_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(unique_violation(StoreError::UsernameTaken))?;
        Ok(row.into())
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let row: Option<CredentialsRow<Timestamp>> = sqlx::query_as(
            "SELECT id, username, created_at, password_hash FROM users \
             WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow<Timestamp>> = sqlx::query_as(
            "SELECT id, username, created_at FROM users WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        let row: Option<UserRow<Timestamp>> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let now = chrono::Utc::now();
        insert_refresh_token(&self.pool, token_hash, user_id, family, expires_at, now).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        refresh::rotate(self, old_hash, new_hash, new_expires_at, now).await
    }

    async fn revoke_refresh_family(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        refresh::revoke(self, token_hash, now).await
    }
}

#[async_trait]
impl RoomStore for PostgresStore {
    async fn create_room(
        &self,
        name: &RoomName,
        private: bool,
        owner_id: i64,
    ) -> StoreResult<Room> {
        let mut tx = self.pool.begin().await?;
        let (room_id,): (i64,) = sqlx::query_as(
            "INSERT INTO rooms (name, private, owner_id) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name.as_str())
        .bind(private)
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation(StoreError::RoomExists))?;
        sqlx::query("INSERT INTO memberships (room_id, user_id) VALUES ($1, $2)")
            .bind(room_id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        let room: RoomRow<Timestamp> = sqlx::query_as(select_rooms!("WHERE r.id = $1"))
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(room.into())
    }

    async fn room_by_name(&self, name: &RoomName) -> StoreResult<Option<Room>> {
        let row: Option<RoomRow<Timestamp>> = sqlx::query_as(select_rooms!("WHERE r.name = $1"))
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        // COLLATE "C": the same byte order as SQLite, whatever the database locale.
        let rows: Vec<RoomRow<Timestamp>> = sqlx::query_as(select_rooms!(
            "WHERE NOT r.private \
                OR EXISTS (SELECT 1 FROM memberships WHERE room_id = r.id AND user_id = $1) \
             ORDER BY r.name COLLATE \"C\""
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn is_member(&self, room_id: i64, user_id: i64) -> StoreResult<bool> {
        let (member,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE room_id = $1 AND user_id = $2)",
        )
        .bind(room_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(member)
    }

    async fn add_member(&self, room_id: i64, user_id: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(room_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn members(&self, room_id: i64) -> StoreResult<Vec<User>> {
        // Case-insensitive byte order, as SQLite's NOCASE column sorts.
        let rows: Vec<UserRow<Timestamp>> = sqlx::query_as(
            "SELECT u.id, u.username, u.created_at \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = $1 \
             ORDER BY lower(u.username) COLLATE \"C\", u.id",
        )
        .bind(room_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[async_trait]
impl RoomLog for PostgresStore {
    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>> {
        batch::append(self, batch).await
    }

    async fn history(&self, room_id: i64, query: HistoryQuery) -> StoreResult<HistoryPage> {
        let rows: Vec<MessageRow<Timestamp>> = match query.after {
            Some(after) => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
                ))
                .bind(room_id)
                .bind(after)
                .bind(query.fetch_limit())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
                ))
                .bind(room_id)
                .bind(query.before_seq())
                .bind(query.fetch_limit())
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(HistoryPage::from_fetched(rows, &query))
    }

    async fn last_seq(&self, room_id: i64) -> StoreResult<i64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(seq,)| seq).ok_or(StoreError::RoomNotFound)
    }
}
