//! Each member's read marker and what it leaves unread (README, "Read
//! markers, unread counts, typing and presence"): [`ReadStateStore`],
//! written once for both backends from [`ReadStateQueries`].

use async_trait::async_trait;

use super::{StoreResult, Timestamp};
use crate::domain::Role;

/// A user's standing in one room they belong to, as room objects show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    pub room_id: i64,
    pub role: Role,
    pub last_read_seq: i64,
    /// `message` events after the marker, not deleted, not their own, not
    /// from users they block.
    pub unread: i64,
    /// Those of them that mention the user.
    pub mentions: i64,
    /// The notification level they chose (`all`, `mentions`, `none`);
    /// `None`: the default (README, "Notifications").
    pub notify_level: Option<String>,
    /// Notifications are off until then.
    pub muted_until: Option<Timestamp>,
}

/// A read marker that a batch of [`ReadStateStore::mark_read`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerMove {
    pub room_id: i64,
    pub user_id: i64,
    pub before: i64,
    pub after: i64,
}

#[async_trait]
pub trait ReadStateStore: Send + Sync + 'static {
    /// The read state of `user_id` (canonical name `username`) in each room
    /// they belong to, or only in `room_id`; one query.
    async fn read_states(
        &self,
        user_id: i64,
        username: &str,
        room_id: Option<i64>,
    ) -> StoreResult<Vec<ReadState>>;
    /// Moves each (room, user) marker to max(marker, min(seq, the room's
    /// last seq)), in one transaction; answers every member's marker as it
    /// now is (`before` = `after` when it did not move). Non-members are
    /// left out.
    async fn mark_read(&self, marks: &[(i64, i64, i64)]) -> StoreResult<Vec<MarkerMove>>;
    /// The ids of the rooms `user_id` belongs to.
    async fn room_ids_of(&self, user_id: i64) -> StoreResult<Vec<i64>>;
}

/// One backend's SQL for [`ReadStateStore`].
pub(super) struct ReadStateQueries {
    /// (user_id, mention pattern, room_id or NULL) → (room_id, role,
    /// last_read_seq, unread, mentions, notify_level, muted_until as epoch
    /// milliseconds).
    pub read_states: &'static str,
    /// (room_id, user_id) → (last_read_seq), the row locked until commit.
    pub marker: &'static str,
    /// (room_id, user_id, seq) → (last_read_seq).
    pub move_marker: &'static str,
    /// (user_id) → (room_id).
    pub room_ids_of: &'static str,
}

/// The `LIKE` pattern matching a `mentions` JSON array that holds `username`
/// (usernames are `[A-Za-z0-9_.-]`: only `_` needs escaping, with `\`).
pub(super) fn mention_pattern(username: &str) -> String {
    format!("%\"{}\"%", username.replace('_', "\\_"))
}

/// Implements [`ReadStateStore`] for `$store` from `$sql`.
macro_rules! impl_read_state {
    (store: $store:ident, sql: $sql:ident $(,)?) => {
        mod read_state_impl {
            use async_trait::async_trait;

            use super::{$sql, $store};
            use $crate::domain::Role;
            use $crate::store::read_state::{
                MarkerMove, ReadState, ReadStateStore, mention_pattern,
            };
            use $crate::store::{Backend, StoreResult};

            #[async_trait]
            impl ReadStateStore for $store {
                async fn read_states(
                    &self,
                    user_id: i64,
                    username: &str,
                    room_id: Option<i64>,
                ) -> StoreResult<Vec<ReadState>> {
                    #[allow(clippy::type_complexity)]
                    let rows: Vec<(
                        i64,
                        String,
                        i64,
                        i64,
                        i64,
                        Option<String>,
                        Option<i64>,
                    )> = sqlx::query_as($sql.read_states)
                        .bind(user_id)
                        .bind(mention_pattern(username))
                        .bind(room_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(
                            |(room_id, role, last_read_seq, unread, mentions, level, muted)| {
                                ReadState {
                                    room_id,
                                    role: Role::parse(&role).unwrap_or(Role::Member),
                                    last_read_seq,
                                    unread,
                                    mentions,
                                    notify_level: level,
                                    muted_until: muted
                                        .and_then(chrono::DateTime::from_timestamp_millis),
                                }
                            },
                        )
                        .collect())
                }

                async fn mark_read(
                    &self,
                    marks: &[(i64, i64, i64)],
                ) -> StoreResult<Vec<MarkerMove>> {
                    let mut tx = self.begin_write().await?;
                    let mut moved = Vec::with_capacity(marks.len());
                    for &(room_id, user_id, seq) in marks {
                        let before: Option<(i64,)> = sqlx::query_as($sql.marker)
                            .bind(room_id)
                            .bind(user_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some((before,)) = before else { continue };
                        let (after,): (i64,) = sqlx::query_as($sql.move_marker)
                            .bind(room_id)
                            .bind(user_id)
                            .bind(seq)
                            .fetch_one(&mut *tx)
                            .await?;
                        moved.push(MarkerMove {
                            room_id,
                            user_id,
                            before,
                            after,
                        });
                    }
                    tx.commit().await?;
                    Ok(moved)
                }

                async fn room_ids_of(&self, user_id: i64) -> StoreResult<Vec<i64>> {
                    let rows: Vec<(i64,)> = sqlx::query_as($sql.room_ids_of)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(id,)| id).collect())
                }
            }
        }
    };
}
pub(super) use impl_read_state;
