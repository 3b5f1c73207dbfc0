//! [`Store`] on SQLite, the embedded single-node default.
//!
//! SQLite has one writer at a time: every transaction that writes starts
//! with `BEGIN IMMEDIATE`, taking the write lock up front, so read-then-write
//! logic (seq assignment, idempotency, token rotation) cannot interleave with
//! another writer, even one in another process, and waits out `busy_timeout`
//! instead of failing. Timestamps are stored as Unix epoch milliseconds.
//! Queries are parameterised and checked at run time (`query_as` + `FromRow`).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Executor, FromRow};

use super::{
    Appended, HistoryPage, HistoryQuery, Message, NewMessage, Room, Rotation, Store, StoreError,
    StoreResult, Timestamp, User,
};

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction holding the write lock from its first statement.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// `SELECT` of a full [`Message`] (aliases `m`, `r`, `u`), followed by `$rest`.
macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT m.id, r.name AS room, m.seq, u.username AS sender, m.body, m.client_id, \
             m.created_at \
             FROM messages m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.sender_id ",
            $rest
        )
    };
}

/// `SELECT` of a full [`Room`] (aliases `r`, `o`), followed by `$rest`.
macro_rules! select_rooms {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.name, r.private, o.username AS owner, r.created_at \
             FROM rooms r JOIN users o ON o.id = r.owner_id ",
            $rest
        )
    };
}

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

/// Milliseconds are the stored precision: what is returned on write equals
/// what is read back later.
fn to_millis(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

fn from_millis(millis: i64) -> Timestamp {
    DateTime::from_timestamp_millis(millis)
        .expect("stored timestamps were written from valid DateTime<Utc> values")
}

fn now_millis() -> i64 {
    to_millis(Utc::now())
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    username: String,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            created_at: from_millis(row.created_at),
        }
    }
}

#[derive(FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

#[derive(FromRow)]
struct RoomRow {
    id: i64,
    name: String,
    private: bool,
    owner: String,
    created_at: i64,
}

impl From<RoomRow> for Room {
    fn from(row: RoomRow) -> Self {
        Room {
            id: row.id,
            name: row.name,
            private: row.private,
            owner: row.owner,
            created_at: from_millis(row.created_at),
        }
    }
}

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    room: String,
    seq: i64,
    sender: String,
    body: String,
    client_id: Option<String>,
    created_at: i64,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            room: row.room,
            seq: row.seq,
            sender: row.sender,
            body: row.body,
            client_id: row.client_id,
            created_at: from_millis(row.created_at),
        }
    }
}

#[derive(FromRow)]
struct RefreshRow {
    family: String,
    expires_at: i64,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
    user_id: i64,
    username: String,
    user_created_at: i64,
}

/// (room id, sender id, client id): the idempotency key of a message.
type ClientKey = (i64, i64, String);

fn client_key(message: &NewMessage) -> Option<ClientKey> {
    message
        .client_id
        .clone()
        .map(|client_id| (message.room_id, message.sender_id, client_id))
}

/// What becomes of one message of a batch.
enum Slot {
    /// Already stored before this batch.
    Stored(Message),
    /// Same key as the earlier message at this index of the batch.
    SameAs(usize),
    /// To be inserted with this seq.
    New(i64),
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Messages already stored under the keys of `batch`'s messages.
async fn stored_originals(
    conn: &mut SqliteConnection,
    batch: &[NewMessage],
) -> StoreResult<HashMap<ClientKey, Message>> {
    let mut stored = HashMap::new();
    for key in batch.iter().filter_map(client_key) {
        if stored.contains_key(&key) {
            continue;
        }
        let row: Option<MessageRow> = sqlx::query_as(select_messages!(
            "WHERE m.room_id = ? AND m.sender_id = ? AND m.client_id = ?"
        ))
        .bind(key.0)
        .bind(key.1)
        .bind(&key.2)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            stored.insert(key, row.into());
        }
    }
    Ok(stored)
}

async fn refresh_token(
    conn: &mut SqliteConnection,
    token_hash: &[u8],
) -> StoreResult<Option<RefreshRow>> {
    let row = sqlx::query_as(
        "SELECT t.family, t.expires_at, t.rotated_at, t.revoked_at, \
                u.id AS user_id, u.username, u.created_at AS user_created_at \
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

async fn revoke_family(conn: &mut SqliteConnection, family: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(family)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    async fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User> {
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) \
             RETURNING id, username, created_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::UsernameTaken
            } else {
                err.into()
            }
        })?;
        Ok(row.into())
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        // `username` is a NOCASE column: `=` compares case-insensitively.
        let row: Option<CredentialsRow> = sqlx::query_as(
            "SELECT id, username, created_at, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.user.into(), row.password_hash)))
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn create_room(&self, name: &str, private: bool, owner_id: i64) -> StoreResult<Room> {
        let now = now_millis();
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let (room_id,): (i64,) = sqlx::query_as(
            "INSERT INTO rooms (name, private, owner_id, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(name)
        .bind(private)
        .bind(owner_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::RoomExists
            } else {
                err.into()
            }
        })?;
        sqlx::query("INSERT INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?)")
            .bind(room_id)
            .bind(owner_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let room: RoomRow = sqlx::query_as(select_rooms!("WHERE r.id = ?"))
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(room.into())
    }

    async fn room_by_name(&self, name: &str) -> StoreResult<Option<Room>> {
        let row: Option<RoomRow> = sqlx::query_as(select_rooms!("WHERE r.name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow> = sqlx::query_as(select_rooms!(
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
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn members(&self, room_id: i64) -> StoreResult<Vec<User>> {
        // `username` is NOCASE: sorted case-insensitively, as on Postgres.
        let rows: Vec<UserRow> = sqlx::query_as(
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

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut room_ids: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
        room_ids.sort_unstable();
        room_ids.dedup();

        // The write lock is held from here to commit: no other writer, in
        // this process or another, can hand out seqs or store these keys.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let mut locked: Vec<(i64, i64)> = Vec::with_capacity(room_ids.len());
        for &room_id in &room_ids {
            let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = ?")
                .bind(room_id)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some((seq,)) => locked.push((room_id, seq)),
                // Dropping `tx` rolls back.
                None => return Err(StoreError::RoomNotFound),
            }
        }
        let mut last_seq: HashMap<i64, i64> = locked.iter().copied().collect();

        let stored = stored_originals(&mut tx, batch).await?;
        let mut first_in_batch: HashMap<ClientKey, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            if let Some(key) = client_key(message) {
                if let Some(original) = stored.get(&key) {
                    slots.push(Slot::Stored(original.clone()));
                    continue;
                }
                if let Some(&earlier) = first_in_batch.get(&key) {
                    slots.push(Slot::SameAs(earlier));
                    continue;
                }
                first_in_batch.insert(key, index);
            }
            let seq = last_seq
                .get_mut(&message.room_id)
                .expect("every room of the batch is locked");
            *seq += 1;
            slots.push(Slot::New(*seq));
        }

        for &(room_id, before) in &locked {
            let after = last_seq[&room_id];
            if after != before {
                sqlx::query("UPDATE rooms SET last_seq = ? WHERE id = ?")
                    .bind(after)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // Taken under the write lock, so it never runs backwards against seq
        // (short of the clock itself doing so).
        let created_at = now_millis();
        let mut ids: HashMap<usize, i64> = HashMap::new();
        for (index, (message, slot)) in batch.iter().zip(&slots).enumerate() {
            if let Slot::New(seq) = slot {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO messages (room_id, seq, sender_id, body, client_id, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(message.room_id)
                .bind(seq)
                .bind(message.sender_id)
                .bind(&message.body)
                .bind(&message.client_id)
                .bind(created_at)
                .fetch_one(&mut *tx)
                .await?;
                ids.insert(index, id);
            }
        }
        tx.commit().await?;

        let mut results: Vec<Appended> = Vec::with_capacity(batch.len());
        for (index, (message, slot)) in batch.iter().zip(slots).enumerate() {
            let appended = match slot {
                Slot::Stored(original) => Appended::Duplicate(original),
                Slot::SameAs(earlier) => Appended::Duplicate(results[earlier].message().clone()),
                Slot::New(seq) => Appended::Stored(Message {
                    id: ids[&index],
                    room: message.room.clone(),
                    seq,
                    sender: message.sender.clone(),
                    body: message.body.clone(),
                    client_id: message.client_id.clone(),
                    created_at: from_millis(created_at),
                }),
            };
            results.push(appended);
        }
        Ok(results)
    }

    async fn history(&self, room_id: i64, query: HistoryQuery) -> StoreResult<HistoryPage> {
        let limit = query.limit.max(0);
        // One row beyond the page tells whether there is more.
        let fetch = limit + 1;
        let rows: Vec<MessageRow> = match query.after {
            Some(after) => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
                ))
                .bind(room_id)
                .bind(after)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
                ))
                .bind(room_id)
                .bind(query.before.unwrap_or(i64::MAX))
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(HistoryPage::from_fetched(
            rows.into_iter().map(Into::into).collect(),
            &query,
        ))
    }

    async fn last_seq(&self, room_id: i64) -> StoreResult<i64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(seq,)| seq).ok_or(StoreError::RoomNotFound)
    }

    async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One parameter whatever the number of rooms: a JSON array of ids.
        let ids = serde_json::to_string(room_ids).expect("ids serialise");
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(family)
        .bind(to_millis(expires_at))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        let now = to_millis(now);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let Some(token) = refresh_token(&mut tx, old_hash).await? else {
            return Ok(Rotation::Invalid);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        // Claim the token only if it is still unrotated. Under BEGIN IMMEDIATE
        // nothing can have changed since the read above, but the condition
        // keeps two rotations from both winning even if that ever changes.
        let claimed = token.rotated_at.is_none()
            && sqlx::query(
                "UPDATE refresh_tokens SET rotated_at = ? \
                 WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        if !claimed {
            // A retired token came back: whoever holds it is not (only) the
            // legitimate client. Kill the whole login.
            revoke_family(&mut tx, &token.family, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(new_hash)
        .bind(token.user_id)
        .bind(&token.family)
        .bind(to_millis(new_expires_at))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(User {
            id: token.user_id,
            username: token.username,
            created_at: from_millis(token.user_created_at),
        }))
    }

    async fn revoke_refresh_family(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        let now = to_millis(now);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let Some(token) = refresh_token(&mut tx, token_hash).await? else {
            return Ok(false);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Ok(false);
        }
        // A live token ends its login; an already-rotated one comes from
        // whoever copied it, and ends the login too (as on refresh), but is
        // not itself a valid logout.
        revoke_family(&mut tx, &token.family, now).await?;
        tx.commit().await?;
        Ok(token.rotated_at.is_none())
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
