//! What an account holds besides its credentials (README, "Accounts"):
//! the profile (display name, status, avatar), and what closing an account
//! does to the rows it owns. [`ProfileStore`] is written once for both
//! backends from [`ProfileQueries`], like `membership.rs`.
//!
//! A closed account keeps its `users` row, so its name stays reserved and
//! the room log's events keep their sender; it can no longer sign in, and
//! every lookup of a live user (`user_by_name`, `user_by_id`, logins)
//! skips it. Erasing what it wrote is the `accounts` service's work, in
//! bounded steps; `erased_at` records that it finished.

use async_trait::async_trait;

use super::{Event, Room, StoreResult, Timestamp, User};
use crate::domain::{DisplayName, Role, Status};

/// A `PATCH /me`: each field `None` when absent (unchanged), `Some(None)`
/// when `null` (cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub display_name: Option<Option<DisplayName>>,
    pub status: Option<Option<Status>>,
}

/// One message of a closing account still to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: i64,
    pub room_id: i64,
    pub room: String,
    pub seq: i64,
}

/// A live account just closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedAccount {
    pub username: String,
    /// The avatar object it had (to remove from storage).
    pub avatar_key: Option<String>,
}

/// What leaving a room did, for a closing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    /// Not a member (any more).
    NotMember,
    /// The membership is gone.
    Left,
    /// The user owned the room: it passed to this member (id, username),
    /// and the user's membership is gone.
    HandedOver {
        to: (i64, String),
        role_before: Role,
    },
    /// The user owned the room and is its only member: nothing changed
    /// (the room is to be deleted, through the usual room deletion).
    Alone,
}

#[async_trait]
pub trait ProfileStore: Send + Sync + 'static {
    /// Whether any account, live or closed, has `username` in any letter
    /// case.
    async fn name_reserved(&self, username: &str) -> StoreResult<bool>;
    /// Applies `change` to a live account's profile; the user as it now is
    /// (None: no such live account).
    async fn update_profile(
        &self,
        user_id: i64,
        change: &ProfileChange,
    ) -> StoreResult<Option<User>>;
    /// Queues avatar object `key` of `user_id` for erasure at `due` (README,
    /// "Files": the durable erasure queue), before the object is written:
    /// if it is never recorded as the avatar (a crash), it goes anyway.
    async fn expect_avatar(&self, key: &str, user_id: i64, due: Timestamp) -> StoreResult<()>;
    /// Sets (or with None, removes) a live account's avatar object: the
    /// user as it now is and the object it replaced, read and written in
    /// one transaction, which also takes `key` off the erasure queue and
    /// queues the replaced object for erasure now (None: no such live
    /// account).
    async fn set_avatar(
        &self,
        user_id: i64,
        key: Option<&str>,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    /// The rooms `user_id` belongs to, by room id.
    async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Room>>;
    /// Up to `limit` `message` events `user_id` sent that still exist
    /// (not deleted, not pruned), in their current state, by id, after
    /// message id `after`.
    async fn messages_of(&self, user_id: i64, after: i64, limit: i64) -> StoreResult<Vec<Event>>;
    /// Like [`messages_of`](Self::messages_of), only what erasing needs.
    async fn messages_to_erase(
        &self,
        user_id: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<SentMessage>>;
    /// The users who share a room with `user_id` (themself included when
    /// they belong to any), each once.
    async fn room_peers(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// Closes a live account in one transaction: marked deleted, its
    /// password and profile gone (its avatar object queued for erasure),
    /// its refresh tokens and its blocks of others deleted; a bot's API
    /// token deleted and its owner cleared (no longer listed). None when
    /// there was no such live account.
    /// `closed_by`: the administrator who closed it, recorded in the
    /// audit log in the same transaction (None: the user themself).
    async fn close_account(
        &self,
        user_id: i64,
        closed_by: Option<i64>,
    ) -> StoreResult<Option<ClosedAccount>>;
    /// Leaves `room_id` for a closing account, under the room's lock:
    /// an owned room passes to its oldest moderator, else its oldest
    /// member.
    async fn depart(&self, room_id: i64, user_id: i64) -> StoreResult<Departure>;
    /// Records that a closed account's erasure finished.
    async fn mark_erased(&self, user_id: i64) -> StoreResult<()>;
    /// Closed accounts whose erasure has not finished: (id, username).
    async fn erasures_pending(&self) -> StoreResult<Vec<(i64, String)>>;
}

/// One backend's SQL for [`ProfileStore`]. Binds in order; "→ X" is the
/// row each result row decodes into.
pub(super) struct ProfileQueries {
    /// (username) → (bool).
    pub name_reserved: &'static str,
    /// (id, set display_name, display_name, set status, status) →
    /// `UserRow`, a live account only.
    pub update_profile: &'static str,
    /// (id) → (username, avatar_key), a live account's row locked until
    /// commit.
    pub lock_account: &'static str,
    /// (id, avatar_key) → `UserRow`.
    pub set_avatar: &'static str,
    /// (file_id, user_id, due_at): an object onto the erasure queue.
    pub queue_erasure: &'static str,
    /// (file_id): an object off the erasure queue.
    pub unqueue_erasure: &'static str,
    /// (file_id, user_id): an object onto the erasure queue, due now.
    pub erase_now: &'static str,
    /// (user_id) → `RoomRow`s, by room id.
    pub memberships_of: &'static str,
    /// (user_id, after, limit) → `EventRow`s.
    pub messages_of: &'static str,
    /// (user_id, after, limit) → (id, room_id, room, seq).
    pub messages_to_erase: &'static str,
    /// (user_id) → (user_id), distinct.
    pub room_peers: &'static str,
    /// (id): a live account closed (a bot's owner cleared too).
    pub close_account: &'static str,
    /// One audit entry (`administration::RECORD_AUDIT` of the backend).
    pub record_audit: &'static str,
    /// (user_id): its refresh tokens.
    pub delete_refresh_tokens: &'static str,
    /// (user_id): the blocks it made.
    pub delete_blocks: &'static str,
    /// (user_id): a bot's API token.
    pub delete_bot_token: &'static str,
    /// (room_id) → (is direct), the room locked until commit.
    pub lock_room: &'static str,
    /// (room_id, user_id) → (role).
    pub role: &'static str,
    /// (room_id, user_id) → (id, username): the member the room passes to.
    pub successor: &'static str,
    /// (room_id, user_id): the member's role becomes `owner`.
    pub promote_owner: &'static str,
    /// (room_id, user_id): the room's owner.
    pub set_owner: &'static str,
    /// (room_id, user_id).
    pub delete_member: &'static str,
    /// (id).
    pub mark_erased: &'static str,
    /// () → (id, username).
    pub erasures_pending: &'static str,
}

/// Implements [`ProfileStore`] for `$store` (with a `pool` field and a
/// `Backend` whose transactions are on database `$db`) from `$sql` (an
/// [`ProfileQueries`]), timestamps stored as `$time`.
macro_rules! impl_profiles {
    (store: $store:ident, db: $db:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod profiles_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::domain::Role;
            use $crate::store::profiles::{
                ClosedAccount, Departure, ProfileChange, ProfileStore, SentMessage,
            };
            use $crate::store::rows::{EventRow, RoomRow, UserRow};
            use $crate::store::{Backend, Event, Room, StoreError, StoreResult, Timestamp, User};

            #[async_trait]
            impl ProfileStore for $store {
                async fn name_reserved(&self, username: &str) -> StoreResult<bool> {
                    let (taken,): (bool,) = sqlx::query_as($sql.name_reserved)
                        .bind(username)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(taken)
                }

                async fn update_profile(
                    &self,
                    user_id: i64,
                    change: &ProfileChange,
                ) -> StoreResult<Option<User>> {
                    let name = change.display_name.as_ref();
                    let status = change.status.as_ref();
                    let row: Option<UserRow<Stored>> = sqlx::query_as($sql.update_profile)
                        .bind(user_id)
                        .bind(name.is_some())
                        .bind(name.and_then(|n| n.as_ref()).map(|n| n.as_str()))
                        .bind(status.is_some())
                        .bind(status.and_then(|s| s.as_ref()).map(|s| s.as_str()))
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(Into::into))
                }

                async fn expect_avatar(
                    &self,
                    key: &str,
                    user_id: i64,
                    due: Timestamp,
                ) -> StoreResult<()> {
                    sqlx::query($sql.queue_erasure)
                        .bind(key)
                        .bind(user_id)
                        .bind(Stored::from(due))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn set_avatar(
                    &self,
                    user_id: i64,
                    key: Option<&str>,
                ) -> StoreResult<Option<(User, Option<String>)>> {
                    let mut tx = self.begin_write().await?;
                    let old: Option<(String, Option<String>)> = sqlx::query_as($sql.lock_account)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((_, old)) = old else {
                        return Ok(None);
                    };
                    let row: UserRow<Stored> = sqlx::query_as($sql.set_avatar)
                        .bind(user_id)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                    if let Some(key) = key {
                        sqlx::query($sql.unqueue_erasure)
                            .bind(key)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some(old) = &old {
                        sqlx::query($sql.erase_now)
                            .bind(old)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(Some((row.into(), old)))
                }

                async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Room>> {
                    let rows: Vec<RoomRow<Stored>> = sqlx::query_as($sql.memberships_of)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn messages_of(
                    &self,
                    user_id: i64,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Vec<Event>> {
                    let rows: Vec<EventRow<Stored>> = sqlx::query_as($sql.messages_of)
                        .bind(user_id)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn messages_to_erase(
                    &self,
                    user_id: i64,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Vec<SentMessage>> {
                    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as($sql.messages_to_erase)
                        .bind(user_id)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, room_id, room, seq)| SentMessage {
                            id,
                            room_id,
                            room,
                            seq,
                        })
                        .collect())
                }

                async fn room_peers(&self, user_id: i64) -> StoreResult<Vec<i64>> {
                    let rows: Vec<(i64,)> = sqlx::query_as($sql.room_peers)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(id,)| id).collect())
                }

                async fn close_account(
                    &self,
                    user_id: i64,
                    closed_by: Option<i64>,
                ) -> StoreResult<Option<ClosedAccount>> {
                    let mut tx = self.begin_write().await?;
                    let closed: Option<(String, Option<String>)> =
                        sqlx::query_as($sql.lock_account)
                            .bind(user_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some((username, avatar_key)) = closed else {
                        return Ok(None);
                    };
                    sqlx::query($sql.close_account)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    if let Some(actor_id) = closed_by {
                        let entry = $crate::store::audit::NewAuditEntry {
                            actor_id,
                            action: $crate::store::audit::AuditAction::UserDeleted,
                            room_id: None,
                            target_id: Some(user_id),
                            detail: None,
                        };
                        $crate::store::audit::record_audit!(&mut *tx, $sql.record_audit, &entry)?;
                    }
                    if let Some(old) = &avatar_key {
                        sqlx::query($sql.erase_now)
                            .bind(old)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for sql in [
                        $sql.delete_refresh_tokens,
                        $sql.delete_blocks,
                        $sql.delete_bot_token,
                    ] {
                        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(ClosedAccount {
                        username,
                        avatar_key,
                    }))
                }

                async fn depart(&self, room_id: i64, user_id: i64) -> StoreResult<Departure> {
                    let mut tx = self.begin_write().await?;
                    let direct: Option<(bool,)> = sqlx::query_as($sql.lock_room)
                        .bind(room_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((direct,)) = direct else {
                        return Err(StoreError::RoomNotFound);
                    };
                    let role: Option<(String,)> = sqlx::query_as($sql.role)
                        .bind(room_id)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((role,)) = role else {
                        return Ok(Departure::NotMember);
                    };
                    let mut departure = Departure::Left;
                    if !direct && Role::parse(&role) == Some(Role::Owner) {
                        let next: Option<(i64, String, String)> = sqlx::query_as($sql.successor)
                            .bind(room_id)
                            .bind(user_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some((next_id, next_name, next_role)) = next else {
                            return Ok(Departure::Alone);
                        };
                        for sql in [$sql.promote_owner, $sql.set_owner] {
                            sqlx::query(sql)
                                .bind(room_id)
                                .bind(next_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        departure = Departure::HandedOver {
                            to: (next_id, next_name),
                            role_before: Role::parse(&next_role).unwrap_or(Role::Member),
                        };
                    }
                    sqlx::query($sql.delete_member)
                        .bind(room_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(departure)
                }

                async fn mark_erased(&self, user_id: i64) -> StoreResult<()> {
                    sqlx::query($sql.mark_erased)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn erasures_pending(&self) -> StoreResult<Vec<(i64, String)>> {
                    Ok(sqlx::query_as($sql.erasures_pending)
                        .fetch_all(&self.pool)
                        .await?)
                }
            }
        }
    };
}
pub(super) use impl_profiles;
