//! [`Store`] on SQLite, the embedded single-node default.
//!
//! SQLite has one writer at a time: every transaction that writes starts
//! with `BEGIN IMMEDIATE`, taking the write lock up front, so read-then-write
//! logic (seq assignment, idempotency, token rotation) cannot interleave with
//! another writer, even one in another process, and waits out `busy_timeout`
//! instead of failing. Timestamps are stored as Unix epoch milliseconds.
//! Queries are parameterised and checked at run time (`query_as` + `FromRow`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Executor, Transaction};

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

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction holding the write lock from its first statement.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file named by `url`, with a
    /// pool of at most `max_connections`, and runs the SQLite migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: the WAL is synced at every commit, so a RECEIPT survives
            // a power loss, not only a crash of the process (README, "SEND";
            // the cost is in BENCHMARKS.md).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT);
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
}

/// A timestamp as stored: Unix epoch milliseconds. Milliseconds are the
/// stored precision, so what is returned on write equals what is read back
/// later.
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
struct Millis(i64);

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
}

#[async_trait]
impl AppendTx for SqliteTx {
    async fn lock_rooms(&mut self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        // The whole database is locked already (BEGIN IMMEDIATE).
        let mut locked = Vec::with_capacity(room_ids.len());
        for &room_id in room_ids {
            let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = ?")
                .bind(room_id)
                .fetch_optional(&mut **self)
                .await?;
            locked.extend(row.map(|(seq,)| (room_id, seq)));
        }
        Ok(locked)
    }

    async fn stored_messages(
        &mut self,
        keys: &[ClientKey],
    ) -> StoreResult<Vec<(ClientKey, Message)>> {
        let mut stored = Vec::new();
        for (room_id, sender_id, client_id) in keys {
            let row: Option<KeyedMessageRow<Millis>> = sqlx::query_as(select_keyed_messages!(
                "WHERE m.room_id = ? AND m.sender_id = ? AND m.client_id = ?"
            ))
            .bind(room_id)
            .bind(sender_id)
            .bind(client_id)
            .fetch_optional(&mut **self)
            .await?;
            stored.extend(row.and_then(KeyedMessageRow::into_keyed));
        }
        Ok(stored)
    }

    async fn set_last_seqs(&mut self, rooms: &[(i64, i64)]) -> StoreResult<()> {
        for &(room_id, last_seq) in rooms {
            sqlx::query("UPDATE rooms SET last_seq = ? WHERE id = ?")
                .bind(last_seq)
                .bind(room_id)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    async fn insert_messages(&mut self, rows: &[NewRow<'_>]) -> StoreResult<Vec<Inserted>> {
        // Taken under the write lock, so it never runs backwards against seq
        // (short of the clock itself doing so).
        let created_at = now();
        let mut inserted = Vec::with_capacity(rows.len());
        for row in rows {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO messages (room_id, seq, sender_id, body, client_id, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(row.room_id)
            .bind(row.seq)
            .bind(row.sender_id)
            .bind(row.body)
            .bind(row.client_id)
            .bind(created_at)
            .fetch_one(&mut **self)
            .await?;
            inserted.push(Inserted {
                room_id: row.room_id,
                seq: row.seq,
                id,
                created_at: created_at.into(),
            });
        }
        Ok(inserted)
    }
}

#[async_trait]
impl RefreshTx for SqliteTx {
    async fn lock_token(&mut self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
        // The whole database is locked already (BEGIN IMMEDIATE).
        let row: Option<RefreshRow<Millis>> =
            sqlx::query_as(select_refresh_tokens!("WHERE t.token_hash = ?"))
                .bind(token_hash)
                .fetch_optional(&mut **self)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn retire(&mut self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        let retired = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = ? \
             WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(Millis::from(now))
        .bind(token_hash)
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
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
        )
        .bind(Millis::from(now))
        .bind(family)
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

async fn insert_refresh_token(
    conn: impl Executor<'_, Database = Sqlite>,
    token_hash: &[u8],
    user_id: i64,
    family: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(family)
    .bind(Millis::from(expires_at))
    .bind(Millis::from(now))
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl StoreHealth for SqliteStore {
    fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, username: &Username, password_hash: &str) -> StoreResult<User> {
        let row: UserRow<Millis> = sqlx::query_as(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) \
             RETURNING id, username, created_at",
        )
        .bind(username.as_str())
        .bind(password_hash)
        .bind(now())
        .fetch_one(&self.pool)
        .await
        .map_err(unique_violation(StoreError::UsernameTaken))?;
        Ok(row.into())
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        // `username` is a NOCASE column: `=` compares case-insensitively.
        let row: Option<CredentialsRow<Millis>> = sqlx::query_as(
            "SELECT id, username, created_at, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow<Millis>> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        let row: Option<UserRow<Millis>> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE id = ?")
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
        let now = Utc::now();
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
impl RoomStore for SqliteStore {
    async fn create_room(
        &self,
        name: &RoomName,
        private: bool,
        owner_id: i64,
    ) -> StoreResult<Room> {
        let now = now();
        let mut tx = self.begin_write().await?;
        let (room_id,): (i64,) = sqlx::query_as(
            "INSERT INTO rooms (name, private, owner_id, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(name.as_str())
        .bind(private)
        .bind(owner_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation(StoreError::RoomExists))?;
        sqlx::query("INSERT INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?)")
            .bind(room_id)
            .bind(owner_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let room: RoomRow<Millis> = sqlx::query_as(select_rooms!("WHERE r.id = ?"))
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(room.into())
    }

    async fn room_by_name(&self, name: &RoomName) -> StoreResult<Option<Room>> {
        let row: Option<RoomRow<Millis>> = sqlx::query_as(select_rooms!("WHERE r.name = ?"))
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow<Millis>> = sqlx::query_as(select_rooms!(
            "WHERE NOT r.private \
                OR EXISTS (SELECT 1 FROM memberships WHERE room_id = r.id AND user_id = ?) \
             ORDER BY r.name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn is_member(&self, room_id: i64, user_id: i64) -> StoreResult<bool> {
        let (member,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?)",
        )
        .bind(room_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(member)
    }

    async fn add_member(&self, room_id: i64, user_id: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn members(&self, room_id: i64) -> StoreResult<Vec<User>> {
        // `username` is NOCASE: sorted case-insensitively, as on Postgres.
        let rows: Vec<UserRow<Millis>> = sqlx::query_as(
            "SELECT u.id, u.username, u.created_at \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ? \
             ORDER BY u.username, u.id",
        )
        .bind(room_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[async_trait]
impl RoomLog for SqliteStore {
    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>> {
        batch::append(self, batch).await
    }

    async fn history(&self, room_id: i64, query: HistoryQuery) -> StoreResult<HistoryPage> {
        let rows: Vec<MessageRow<Millis>> = match query.after {
            Some(after) => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
                ))
                .bind(room_id)
                .bind(after)
                .bind(query.fetch_limit())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
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
        let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(seq,)| seq).ok_or(StoreError::RoomNotFound)
    }
}

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
