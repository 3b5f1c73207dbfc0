//! Who belongs to a room and in which role, who is banned from it, direct
//! conversations, and who blocks whom: [`MembershipStore`], written once
//! for both backends like `queries.rs` ([`MembershipQueries`] names each
//! statement, [`impl_membership!`] implements the trait from a backend's
//! SQL). Every change of a room's membership is decided by
//! `moderation::decide` inside one transaction that holds the room's lock.

use async_trait::async_trait;

use super::moderation::{Denial, Effect, MembershipRequest, Standing};
use super::{Room, StoreResult, User};
use crate::domain::Role;

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// Their read marker (the room's last seq when they joined, until they
    /// read further).
    pub last_read_seq: i64,
}

#[async_trait]
pub trait MembershipStore: Send + Sync + 'static {
    /// Where `user_id` stands in `room_id`: role if a member, banned or not.
    async fn standing(&self, room_id: i64, user_id: i64) -> StoreResult<Standing>;
    /// Members, by username case-insensitively, then id.
    async fn members(&self, room_id: i64) -> StoreResult<Vec<Member>>;
    async fn member(&self, room_id: i64, user_id: i64) -> StoreResult<Option<Member>>;
    /// Banned users, by username case-insensitively, then id.
    async fn bans(&self, room_id: i64) -> StoreResult<Vec<User>>;
    /// Decides `action` by `actor_id` on `target_id` (the same user for
    /// `Join`, `Leave`, `Delete`) and applies it, in one transaction under
    /// the room's lock. `RoomNotFound` when the room is gone.
    async fn moderate(
        &self,
        room_id: i64,
        actor_id: i64,
        target_id: i64,
        action: MembershipRequest,
    ) -> StoreResult<Result<Effect, Denial>>;
    /// The direct conversation of users `a` and `b` (distinct), created
    /// with both as members if it does not exist yet: (room, created).
    /// Two users opening it at once get the same room.
    async fn open_direct(&self, a: i64, b: i64) -> StoreResult<(Room, bool)>;
    /// Idempotent.
    async fn block(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()>;
    /// Idempotent.
    async fn unblock(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()>;
    /// The users `blocker_id` blocks, by username case-insensitively.
    async fn blocks(&self, blocker_id: i64) -> StoreResult<Vec<User>>;
    /// The usernames of the users `blocker_id` blocks.
    async fn blocked_names(&self, blocker_id: i64) -> StoreResult<Vec<String>>;
    async fn is_blocked(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<bool>;
}

/// One backend's SQL for [`MembershipStore`]. Binds in order; "→ X" is
/// the row each result row decodes into.
pub(super) struct MembershipQueries {
    /// (room_id) → (is direct), the room locked until commit (or, where
    /// the transaction holds the only write lock already, just read).
    pub lock_room: &'static str,
    /// (actor_id, action, room_id, target_id, detail): the action's audit
    /// entry (`audit.rs`), written before its statements.
    pub record_audit: &'static str,
    /// (room_id, user_id) → (role or NULL, banned).
    pub standing: &'static str,
    /// (room_id, user_id, role): a membership starting at the room's last
    /// seq.
    pub insert_member: &'static str,
    /// (room_id, user_id).
    pub delete_member: &'static str,
    /// (room_id, user_id, role).
    pub set_role: &'static str,
    /// (room_id, user_id, banned_by), unless banned already.
    pub insert_ban: &'static str,
    /// (room_id, user_id).
    pub delete_ban: &'static str,
    /// (room_id): the room, its log, memberships and bans.
    pub delete_room: &'static str,
    /// (room_id) → `MemberRow`s, ordered.
    pub members: &'static str,
    /// (room_id, user_id) → `MemberRow`.
    pub member: &'static str,
    /// (room_id) → `UserRow`s, ordered.
    pub bans: &'static str,
    /// (name, a, b): a private direct room owned by `a` (shown without an
    /// owner), unless the name exists → (id).
    pub insert_direct: &'static str,
    /// (blocker_id, blocked_id), unless it exists.
    pub insert_block: &'static str,
    /// (blocker_id, blocked_id).
    pub delete_block: &'static str,
    /// (blocker_id) → `UserRow`s, ordered.
    pub blocks: &'static str,
    /// (blocker_id) → (username of the blocked user).
    pub blocked_names: &'static str,
    /// (blocker_id, blocked_id) → (bool).
    pub is_blocked: &'static str,
}

/// Implements [`MembershipStore`] for `$store` (with a `pool` field and a
/// `Backend` whose transactions are on database `$db`) from `$sql`
/// (a [`MembershipQueries`]) and the room query `$room_by_name`, timestamps
/// stored as `$time`.
macro_rules! impl_membership {
    (store: $store:ident, db: $db:ident, time: $time:ident, sql: $sql:ident,
     room_by_name: $room_by_name:expr $(,)?) => {
        mod membership_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::domain::{Role, RoomName};
            use $crate::store::audit::{NewAuditEntry, record_audit};
            use $crate::store::membership::{Member, MembershipStore};
            use $crate::store::moderation::{self, Denial, Effect, MembershipRequest, Standing};
            use $crate::store::rows::{MemberRow, RoomRow, UserRow};
            use $crate::store::{Backend, Room, StoreError, StoreResult, User};

            /// The standing of `user_id` in `room_id`, read with `conn`.
            async fn standing<'c, E>(conn: E, room_id: i64, user_id: i64) -> StoreResult<Standing>
            where
                E: sqlx::Executor<'c, Database = sqlx::$db>,
            {
                let (role, banned): (Option<String>, bool) = sqlx::query_as($sql.standing)
                    .bind(room_id)
                    .bind(user_id)
                    .fetch_one(conn)
                    .await?;
                Ok(Standing {
                    role: role.as_deref().and_then(Role::parse),
                    banned,
                })
            }

            #[async_trait]
            impl MembershipStore for $store {
                async fn standing(&self, room_id: i64, user_id: i64) -> StoreResult<Standing> {
                    standing(&self.pool, room_id, user_id).await
                }

                async fn members(&self, room_id: i64) -> StoreResult<Vec<Member>> {
                    let rows: Vec<MemberRow<Stored>> = sqlx::query_as($sql.members)
                        .bind(room_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn member(&self, room_id: i64, user_id: i64) -> StoreResult<Option<Member>> {
                    let row: Option<MemberRow<Stored>> = sqlx::query_as($sql.member)
                        .bind(room_id)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(Into::into))
                }

                async fn bans(&self, room_id: i64) -> StoreResult<Vec<User>> {
                    let rows: Vec<UserRow<Stored>> = sqlx::query_as($sql.bans)
                        .bind(room_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn moderate(
                    &self,
                    room_id: i64,
                    actor_id: i64,
                    target_id: i64,
                    action: MembershipRequest,
                ) -> StoreResult<Result<Effect, Denial>> {
                    let mut tx = self.begin_write().await?;
                    let direct: Option<(bool,)> = sqlx::query_as($sql.lock_room)
                        .bind(room_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((direct,)) = direct else {
                        return Err(StoreError::RoomNotFound);
                    };
                    let actor = standing(&mut *tx, room_id, actor_id).await?;
                    let target = if target_id == actor_id {
                        actor
                    } else {
                        standing(&mut *tx, room_id, target_id).await?
                    };
                    let effect = match moderation::decide(action, direct, actor, target) {
                        Ok(effect) => effect,
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                    // The entry goes in with the action (README, "Administration"):
                    // before a room deletion, while the room's name is there.
                    if let Some(entry) =
                        NewAuditEntry::of_membership(action, effect, room_id, actor_id, target_id)
                    {
                        record_audit!(&mut *tx, $sql.record_audit, &entry)?;
                    }
                    let run = |sql: &'static str| sqlx::query(sql).bind(room_id).bind(target_id);
                    match effect {
                        Effect::Nothing => {}
                        Effect::Join => {
                            run($sql.insert_member)
                                .bind(Role::Member.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                        Effect::Drop => {
                            run($sql.delete_member).execute(&mut *tx).await?;
                        }
                        Effect::Ban { .. } => {
                            run($sql.delete_member).execute(&mut *tx).await?;
                            run($sql.insert_ban)
                                .bind(actor_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Effect::Unban => {
                            run($sql.delete_ban).execute(&mut *tx).await?;
                        }
                        Effect::SetRole(role) => {
                            run($sql.set_role)
                                .bind(role.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                        Effect::DeleteRoom => {
                            sqlx::query($sql.delete_room)
                                .bind(room_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    if effect == Effect::DeleteRoom {
                        self.erased();
                    }
                    Ok(Ok(effect))
                }

                async fn open_direct(&self, a: i64, b: i64) -> StoreResult<(Room, bool)> {
                    let (a, b) = (a.min(b), a.max(b));
                    let name = RoomName::direct(a, b);
                    let mut tx = self.begin_write().await?;
                    let created: Option<(i64,)> = sqlx::query_as($sql.insert_direct)
                        .bind(name.as_str())
                        .bind(a)
                        .bind(b)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some((room_id,)) = created {
                        for user in [a, b] {
                            sqlx::query($sql.insert_member)
                                .bind(room_id)
                                .bind(user)
                                .bind(Role::Member.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    // Created here, or by whoever committed it first (this
                    // statement sees their commit).
                    let room: Option<RoomRow<Stored>> = sqlx::query_as($room_by_name)
                        .bind(name.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    let room: Room = room.ok_or(StoreError::RoomNotFound)?.into();
                    Ok((room, created.is_some()))
                }

                async fn block(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()> {
                    sqlx::query($sql.insert_block)
                        .bind(blocker_id)
                        .bind(blocked_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn unblock(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()> {
                    sqlx::query($sql.delete_block)
                        .bind(blocker_id)
                        .bind(blocked_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn blocks(&self, blocker_id: i64) -> StoreResult<Vec<User>> {
                    let rows: Vec<UserRow<Stored>> = sqlx::query_as($sql.blocks)
                        .bind(blocker_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn blocked_names(&self, blocker_id: i64) -> StoreResult<Vec<String>> {
                    let rows: Vec<(String,)> = sqlx::query_as($sql.blocked_names)
                        .bind(blocker_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(name,)| name).collect())
                }

                async fn is_blocked(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<bool> {
                    let (blocked,): (bool,) = sqlx::query_as($sql.is_blocked)
                        .bind(blocker_id)
                        .bind(blocked_id)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(blocked)
                }
            }
        }
    };
}
pub(super) use impl_membership;
