//! [`Store`] on Postgres, for production: several instances share one
//! database, so every invariant lives in the database itself. Per-room `seq`
//! is handed out under the row lock on `rooms` (writers from any process
//! serialise there, so seq follows commit order without gaps); uniqueness and
//! idempotency are constraints; refresh-token rotation runs under row locks.
//! Queries are parameterised and checked at run time (`query_as` + `FromRow`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Executor, FromRow};

use super::{
    Appended, HistoryPage, HistoryQuery, Message, NewMessage, Room, Rotation, Store, StoreError,
    StoreResult, Timestamp, User,
};

/// How long a request waits for a pooled connection before failing, instead
/// of hanging when the database is unreachable or the pool is exhausted.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// First key of the advisory locks that serialise work on one refresh-token
/// family (the second key is a hash of the family).
const REFRESH_FAMILY_LOCK: i32 = 0x5052_4c59; // "PRLY"

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

#[derive(FromRow)]
struct UserRow {
    id: i64,
    username: String,
    created_at: Timestamp,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            created_at: row.created_at,
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
    created_at: Timestamp,
}

impl From<RoomRow> for Room {
    fn from(row: RoomRow) -> Self {
        Room {
            id: row.id,
            name: row.name,
            private: row.private,
            owner: row.owner,
            created_at: row.created_at,
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
    created_at: Timestamp,
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
            created_at: row.created_at,
        }
    }
}

/// A stored message with the ids of its idempotency key.
#[derive(FromRow)]
struct KeyedMessageRow {
    room_id: i64,
    sender_id: i64,
    #[sqlx(flatten)]
    message: MessageRow,
}

#[derive(FromRow)]
struct InsertedRow {
    id: i64,
    room_id: i64,
    seq: i64,
    created_at: Timestamp,
}

#[derive(FromRow)]
struct RefreshRow {
    family: String,
    expires_at: Timestamp,
    rotated_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    user_id: i64,
    username: String,
    user_created_at: Timestamp,
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
    conn: &mut PgConnection,
    batch: &[NewMessage],
) -> StoreResult<HashMap<ClientKey, Message>> {
    let keys: Vec<ClientKey> = batch.iter().filter_map(client_key).collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let room_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let sender_ids: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let client_ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows: Vec<KeyedMessageRow> = sqlx::query_as(
        "SELECT m.room_id, m.sender_id, m.id, r.name AS room, m.seq, u.username AS sender, \
                m.body, m.client_id, m.created_at \
         FROM messages m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.sender_id \
         WHERE (m.room_id, m.sender_id, m.client_id) IN \
               (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[]))",
    )
    .bind(&room_ids)
    .bind(&sender_ids)
    .bind(&client_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let client_id = row.message.client_id.clone()?;
            Some(((row.room_id, row.sender_id, client_id), row.message.into()))
        })
        .collect())
}

/// Locks the refresh token `token_hash` (and, first, its whole family) for
/// the rest of the transaction. Rotation, reuse detection and logout all
/// update every token of a family; taking the family lock before any row
/// lock keeps two of them on one family from deadlocking.
async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> StoreResult<Option<RefreshRow>> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock($1, hashtext(family)) \
         FROM refresh_tokens WHERE token_hash = $2",
    )
    .bind(REFRESH_FAMILY_LOCK)
    .bind(token_hash)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query_as(
        "SELECT t.family, t.expires_at, t.rotated_at, t.revoked_at, \
                u.id AS user_id, u.username, u.created_at AS user_created_at \
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

async fn revoke_family(conn: &mut PgConnection, family: &str, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    async fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User> {
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2) \
             RETURNING id, username, created_at",
        )
        .bind(username)
        .bind(password_hash)
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
        let row: Option<CredentialsRow> = sqlx::query_as(
            "SELECT id, username, created_at, password_hash FROM users \
             WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.user.into(), row.password_hash)))
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, created_at FROM users WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn create_room(&self, name: &str, private: bool, owner_id: i64) -> StoreResult<Room> {
        let mut tx = self.pool.begin().await?;
        let (room_id,): (i64,) = sqlx::query_as(
            "INSERT INTO rooms (name, private, owner_id) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(private)
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::RoomExists
            } else {
                err.into()
            }
        })?;
        sqlx::query("INSERT INTO memberships (room_id, user_id) VALUES ($1, $2)")
            .bind(room_id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        let room: RoomRow = sqlx::query_as(select_rooms!("WHERE r.id = $1"))
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(room.into())
    }

    async fn room_by_name(&self, name: &str) -> StoreResult<Option<Room>> {
        let row: Option<RoomRow> = sqlx::query_as(select_rooms!("WHERE r.name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        // COLLATE "C": the same byte order as SQLite, whatever the database locale.
        let rows: Vec<RoomRow> = sqlx::query_as(select_rooms!(
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
        let rows: Vec<UserRow> = sqlx::query_as(
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

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut room_ids: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
        room_ids.sort_unstable();
        room_ids.dedup();

        let mut tx = self.pool.begin().await?;
        // Lock the rooms in ascending id order, so two batches never wait for
        // each other in a cycle. Until commit, every other writer of these
        // rooms (from any instance) waits here: seq follows commit order.
        let locked: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&room_ids)
        .fetch_all(&mut *tx)
        .await?;
        if locked.len() != room_ids.len() {
            // Dropping `tx` rolls back.
            return Err(StoreError::RoomNotFound);
        }
        let mut last_seq: HashMap<i64, i64> = locked.iter().copied().collect();

        // Under the room locks, no concurrent batch can store one of these
        // keys between this lookup and our insert.
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

        let mut new_rooms = Vec::new();
        let mut new_seqs = Vec::new();
        let mut new_senders = Vec::new();
        let mut new_bodies = Vec::new();
        let mut new_client_ids = Vec::new();
        for (message, slot) in batch.iter().zip(&slots) {
            if let Slot::New(seq) = slot {
                new_rooms.push(message.room_id);
                new_seqs.push(*seq);
                new_senders.push(message.sender_id);
                new_bodies.push(message.body.as_str());
                new_client_ids.push(message.client_id.as_deref());
            }
        }

        let mut inserted: HashMap<(i64, i64), InsertedRow> = HashMap::new();
        if !new_rooms.is_empty() {
            let (bumped_rooms, bumped_seqs): (Vec<i64>, Vec<i64>) = locked
                .iter()
                .filter_map(|&(room_id, before)| {
                    let after = last_seq[&room_id];
                    (after != before).then_some((room_id, after))
                })
                .unzip();
            sqlx::query(
                "UPDATE rooms SET last_seq = bumped.last_seq \
                 FROM UNNEST($1::int8[], $2::int8[]) AS bumped(id, last_seq) \
                 WHERE rooms.id = bumped.id",
            )
            .bind(&bumped_rooms)
            .bind(&bumped_seqs)
            .execute(&mut *tx)
            .await?;

            // statement_timestamp(): taken after the room locks were granted.
            let rows: Vec<InsertedRow> = sqlx::query_as(
                "INSERT INTO messages (room_id, seq, sender_id, body, client_id, created_at) \
                 SELECT room_id, seq, sender_id, body, client_id, \
                        date_trunc('milliseconds', statement_timestamp()) \
                 FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[]) \
                      AS new(room_id, seq, sender_id, body, client_id) \
                 RETURNING id, room_id, seq, created_at",
            )
            .bind(&new_rooms)
            .bind(&new_seqs)
            .bind(&new_senders)
            .bind(&new_bodies)
            .bind(&new_client_ids)
            .fetch_all(&mut *tx)
            .await?;
            inserted = rows
                .into_iter()
                .map(|row| ((row.room_id, row.seq), row))
                .collect();
        }
        tx.commit().await?;

        let mut results: Vec<Appended> = Vec::with_capacity(batch.len());
        for (message, slot) in batch.iter().zip(slots) {
            let appended = match slot {
                Slot::Stored(original) => Appended::Duplicate(original),
                Slot::SameAs(earlier) => Appended::Duplicate(results[earlier].message().clone()),
                Slot::New(seq) => {
                    let row = &inserted[&(message.room_id, seq)];
                    Appended::Stored(Message {
                        id: row.id,
                        room: message.room.clone(),
                        seq,
                        sender: message.sender.clone(),
                        body: message.body.clone(),
                        client_id: message.client_id.clone(),
                        created_at: row.created_at,
                    })
                }
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
                    "WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
                ))
                .bind(room_id)
                .bind(after)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(select_messages!(
                    "WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
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
        let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(seq,)| seq).ok_or(StoreError::RoomNotFound)
    }

    async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, last_seq FROM rooms WHERE id = ANY($1)")
                .bind(room_ids)
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
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(family)
        .bind(expires_at)
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
        let mut tx = self.pool.begin().await?;
        let Some(token) = lock_refresh_token(&mut tx, old_hash).await? else {
            return Ok(Rotation::Invalid);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if token.rotated_at.is_some() {
            // A retired token came back: whoever holds it is not (only) the
            // legitimate client. Kill the whole login.
            revoke_family(&mut tx, &token.family, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Reused);
        }
        sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
            .bind(old_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(new_hash)
        .bind(token.user_id)
        .bind(&token.family)
        .bind(new_expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(User {
            id: token.user_id,
            username: token.username,
            created_at: token.user_created_at,
        }))
    }

    async fn revoke_refresh_family(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(token) = lock_refresh_token(&mut tx, token_hash).await? else {
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
