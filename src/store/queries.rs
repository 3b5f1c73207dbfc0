//! The store's queries, written once for both backends: [`Queries`] names
//! each statement with what it binds and returns, a backend fills it with
//! its SQL, and [`impl_store!`] implements the store traits from it for
//! that backend's pool and transaction. Only what cannot be one statement
//! of the same shape on both (appending a batch, in `AppendTx`) stays in
//! the backend files.

/// One backend's SQL. Binds are listed in order (`$n` on Postgres, `?n` on
/// SQLite); "→ X" is the row each result row decodes into (`rows.rs`).
pub(super) struct Queries {
    /// (username, password_hash) → `UserRow`. A name taken in any letter
    /// case violates a unique constraint.
    pub create_user: &'static str,
    /// (username) → `CredentialsRow`, case-insensitively.
    pub user_credentials: &'static str,
    /// (username) → `UserRow`, case-insensitively.
    pub user_by_name: &'static str,
    /// (id) → `UserRow`.
    pub user_by_id: &'static str,
    /// (token_hash, user_id, family, expires_at).
    pub insert_refresh_token: &'static str,
    /// (token_hash): run first in a rotation or logout, to lock the token's
    /// family until commit. None where the transaction already holds the
    /// only write lock.
    pub lock_refresh_family: Option<&'static str>,
    /// (token_hash) → `RefreshRow`, locked until commit.
    pub refresh_token: &'static str,
    /// (token_hash, now): marks the token rotated if it is neither rotated
    /// nor revoked.
    pub retire_refresh_token: &'static str,
    /// (family, now): revokes every token of the family not revoked yet.
    pub revoke_refresh_family: &'static str,
    /// (family, now) → (id): marks the family's login used.
    pub touch_login: &'static str,
    /// (name, private, owner_id) → (id). A taken name violates a unique
    /// constraint.
    pub insert_room: &'static str,
    /// (room_id, user_id): the owner's membership of a new room (role
    /// `owner`).
    pub insert_membership: &'static str,
    /// (id) → `RoomRow`.
    pub room_by_id: &'static str,
    /// (name) → `RoomRow`.
    pub room_by_name: &'static str,
    /// (user_id) → `RoomRow`s: public rooms the user is not banned from and
    /// the user's, by name (byte order).
    pub rooms_visible_to: &'static str,
    /// (room_id, after, limit) → `HorizonEventRow`s with seq > after,
    /// ascending.
    pub history_after: &'static str,
    /// (room_id, before, limit) → `HorizonEventRow`s with seq < before,
    /// descending.
    pub history_before: &'static str,
    /// (room_id) → (horizon_seq): for a page that found no row.
    pub horizon: &'static str,
    /// (room_id, seq) → `EventRow`.
    pub event: &'static str,
    /// (room_id) → (last_seq).
    pub last_seq: &'static str,
}

/// Implements `StoreHealth`, `UserStore`, `RoomStore` and `RoomLog` for
/// `$store` (a struct with a `pool` field, implementing `Backend` with a
/// `Transaction` of database `$db`) and `RefreshTx` for that transaction,
/// from the queries `$sql`, with timestamps stored as `$time`. Expands to a
/// module `shared` in the backend's module.
macro_rules! impl_store {
    (store: $store:ident, db: $db:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod shared {
            use async_trait::async_trait;
            use sqlx::{Database, Encode, Executor, FromRow, Pool, Transaction, Type};

            /// How this backend stores a timestamp.
            use super::$time as Stored;
            use super::{$db, $sql, $store};
            use $crate::domain::{RoomName, Username};
            use $crate::store::refresh::{self, RefreshTx};
            use $crate::store::rows::{
                CredentialsRow, EventRow, HorizonEventRow, RefreshRow, RefreshToken, RoomRow,
                UserRow, unique_violation,
            };
            use $crate::store::{
                Appended, Backend, Event, HistoryPage, HistoryQuery, LoginId, NewEvent, Room,
                RoomLog, RoomStore, Rotation, StoreError, StoreHealth, StoreResult, Timestamp,
                User, UserStore, batch,
            };

            /// The row that `sql` finds for `key`, if any, as a `T`.
            async fn fetch_optional<'a, R, T>(
                pool: &Pool<$db>,
                sql: &'a str,
                key: impl 'a + Encode<'a, $db> + Type<$db> + Send,
            ) -> StoreResult<Option<T>>
            where
                R: for<'r> FromRow<'r, <$db as Database>::Row> + Send + Unpin + Into<T>,
            {
                let row: Option<R> = sqlx::query_as(sql).bind(key).fetch_optional(pool).await?;
                Ok(row.map(Into::into))
            }

            /// The rows that `sql` finds for `key`, as `T`s.
            async fn fetch_all<'a, R, T>(
                pool: &Pool<$db>,
                sql: &'a str,
                key: impl 'a + Encode<'a, $db> + Type<$db> + Send,
            ) -> StoreResult<Vec<T>>
            where
                R: for<'r> FromRow<'r, <$db as Database>::Row> + Send + Unpin + Into<T>,
            {
                let rows: Vec<R> = sqlx::query_as(sql).bind(key).fetch_all(pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn insert_refresh_token(
                conn: impl Executor<'_, Database = $db>,
                token_hash: &[u8],
                user_id: i64,
                family: &str,
                expires_at: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query($sql.insert_refresh_token)
                    .bind(token_hash)
                    .bind(user_id)
                    .bind(family)
                    .bind(Stored::from(expires_at))
                    .execute(conn)
                    .await?;
                Ok(())
            }

            #[async_trait]
            impl StoreHealth for $store {
                async fn ping(&self) -> StoreResult<()> {
                    self.pool.execute("SELECT 1").await?;
                    Ok(())
                }

                fn pool_stats(&self) -> (u32, usize) {
                    self.pools().fold((0, 0), |(open, idle), pool| {
                        (open + pool.size(), idle + pool.num_idle())
                    })
                }
            }

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, username: &Username, hash: &str) -> StoreResult<User> {
                    let row: UserRow<Stored> = sqlx::query_as($sql.create_user)
                        .bind(username.as_str())
                        .bind(hash)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unique_violation(StoreError::UsernameTaken))?;
                    Ok(row.into())
                }

                async fn user_credentials(
                    &self,
                    name: &str,
                ) -> StoreResult<Option<(User, String)>> {
                    fetch_optional::<CredentialsRow<Stored>, _>(
                        &self.pool,
                        $sql.user_credentials,
                        name,
                    )
                    .await
                }

                async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
                    fetch_optional::<UserRow<Stored>, _>(&self.pool, $sql.user_by_name, name).await
                }

                async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
                    fetch_optional::<UserRow<Stored>, _>(&self.pool, $sql.user_by_id, id).await
                }

                async fn insert_refresh_token(
                    &self,
                    token_hash: &[u8],
                    user_id: i64,
                    family: &str,
                    expires_at: Timestamp,
                ) -> StoreResult<()> {
                    insert_refresh_token(&self.pool, token_hash, user_id, family, expires_at).await
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

                async fn revoke_refresh_family(
                    &self,
                    hash: &[u8],
                    now: Timestamp,
                ) -> StoreResult<bool> {
                    refresh::revoke(self, hash, now).await
                }
            }

            #[async_trait]
            impl RefreshTx for Transaction<'static, $db> {
                async fn lock_token(&mut self, hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
                    if let Some(lock) = $sql.lock_refresh_family {
                        sqlx::query(lock).bind(hash).execute(&mut **self).await?;
                    }
                    let row: Option<RefreshRow<Stored>> = sqlx::query_as($sql.refresh_token)
                        .bind(hash)
                        .fetch_optional(&mut **self)
                        .await?;
                    Ok(row.map(Into::into))
                }

                async fn retire(&mut self, hash: &[u8], now: Timestamp) -> StoreResult<bool> {
                    let retired = sqlx::query($sql.retire_refresh_token)
                        .bind(hash)
                        .bind(Stored::from(now))
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
                ) -> StoreResult<()> {
                    insert_refresh_token(&mut **self, token_hash, user_id, family, expires_at).await
                }

                async fn touch_login(
                    &mut self,
                    family: &str,
                    now: Timestamp,
                ) -> StoreResult<Option<LoginId>> {
                    let row: Option<(i64,)> = sqlx::query_as($sql.touch_login)
                        .bind(family)
                        .bind(Stored::from(now))
                        .fetch_optional(&mut **self)
                        .await?;
                    Ok(row.map(|(id,)| LoginId(id)))
                }

                async fn revoke_family(&mut self, family: &str, now: Timestamp) -> StoreResult<()> {
                    sqlx::query($sql.revoke_refresh_family)
                        .bind(family)
                        .bind(Stored::from(now))
                        .execute(&mut **self)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl RoomStore for $store {
                async fn create_room(
                    &self,
                    name: &RoomName,
                    private: bool,
                    owner_id: i64,
                ) -> StoreResult<Room> {
                    let mut tx = self.begin_write().await?;
                    let (room_id,): (i64,) = sqlx::query_as($sql.insert_room)
                        .bind(name.as_str())
                        .bind(private)
                        .bind(owner_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unique_violation(StoreError::RoomExists))?;
                    sqlx::query($sql.insert_membership)
                        .bind(room_id)
                        .bind(owner_id)
                        .execute(&mut *tx)
                        .await?;
                    let room: RoomRow<Stored> = sqlx::query_as($sql.room_by_id)
                        .bind(room_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(room.into())
                }

                async fn room_by_name(&self, name: &RoomName) -> StoreResult<Option<Room>> {
                    let name = name.as_str();
                    fetch_optional::<RoomRow<Stored>, _>(&self.pool, $sql.room_by_name, name).await
                }

                async fn room_by_id(&self, id: i64) -> StoreResult<Option<Room>> {
                    fetch_optional::<RoomRow<Stored>, _>(&self.pool, $sql.room_by_id, id).await
                }

                async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
                    fetch_all::<RoomRow<Stored>, _>(&self.pool, $sql.rooms_visible_to, user_id)
                        .await
                }
            }

            #[async_trait]
            impl RoomLog for $store {
                async fn append_batch(&self, batch: &[NewEvent]) -> StoreResult<Vec<Appended>> {
                    batch::append(self, batch).await
                }

                async fn history(
                    &self,
                    room_id: i64,
                    query: HistoryQuery,
                ) -> StoreResult<HistoryPage> {
                    let (sql, cursor) = match query.after {
                        Some(after) => ($sql.history_after, after),
                        None => ($sql.history_before, query.before_seq()),
                    };
                    let rows: Vec<HorizonEventRow<Stored>> = sqlx::query_as(sql)
                        .bind(room_id)
                        .bind(cursor)
                        .bind(query.fetch_limit())
                        .fetch_all(&self.pool)
                        .await?;
                    let horizon_seq = match rows.first() {
                        Some(row) => row.horizon_seq,
                        // Read after the empty page: a horizon that moved
                        // meanwhile only says that more is gone.
                        None => sqlx::query_as::<_, (i64,)>($sql.horizon)
                            .bind(room_id)
                            .fetch_optional(&self.pool)
                            .await?
                            .map_or(0, |(h,)| h),
                    };
                    Ok(HistoryPage::from_fetched(rows, &query, horizon_seq))
                }

                async fn event(&self, room_id: i64, seq: i64) -> StoreResult<Option<Event>> {
                    let row: Option<EventRow<Stored>> = sqlx::query_as($sql.event)
                        .bind(room_id)
                        .bind(seq)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(Into::into))
                }

                async fn last_seq(&self, room_id: i64) -> StoreResult<i64> {
                    let row: Option<(i64,)> = sqlx::query_as($sql.last_seq)
                        .bind(room_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|(seq,)| seq).ok_or(StoreError::RoomNotFound)
                }

                async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
                    if room_ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    // How a list of ids is bound differs per backend.
                    self.fetch_last_seqs(room_ids).await
                }
            }
        }
    };
}
pub(super) use impl_store;
