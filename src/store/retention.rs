//! Retention (README, "Retention"): deleting the oldest events of a room
//! past `RETENTION_DAYS` / `RETENTION_MAX_EVENTS_PER_ROOM`, a small batch per
//! transaction ([`RetentionStore`]), written once for both backends from
//! [`RetentionQueries`].
//!
//! Only a prefix of a room's log is ever deleted: every event with seq <=
//! the room's `horizon_seq`, which moves forward in the transaction that
//! deletes, under the room's lock (the one writers take), so a history page
//! or a replay reads the horizon and the events that agree with it, an
//! edit, reaction or reply never targets a row deleted under its feet, and
//! pruners of several instances only take turns. `last_seq` is left alone:
//! a seq is never handed out twice. The decision of how far to go is
//! [`next_horizon`], pure.
//!
//! On Postgres the log is also partitioned by time ([`LogPartitions`]): an
//! age limit drops a whole partition once all its events are past it, and
//! the row-by-row pass only reads what is older than the partitioning
//! (docs/SCALING.md, "Retention: the room log in time partitions").

use std::time::Duration;

use async_trait::async_trait;

use super::{StoreResult, Timestamp};
// A setting (`config`), which the partition maintenance takes.
pub use crate::config::PartitionLayout;

/// What may be kept (both unset: everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Events older than this are pruned.
    pub max_age: Option<Duration>,
    /// Only the newest this many events of each room are kept (> 0).
    pub max_events: Option<i64>,
}

impl RetentionPolicy {
    /// True when anything is ever pruned.
    pub fn prunes(&self) -> bool {
        self.max_age.is_some() || self.max_events.is_some()
    }

    /// Events created before this are past `max_age` at `now`.
    pub fn cutoff(&self, now: Timestamp) -> Option<Timestamp> {
        let age = chrono::Duration::from_std(self.max_age?).ok()?;
        now.checked_sub_signed(age)
    }
}

/// A time partition dropped whole, with its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedPartition {
    pub name: String,
    /// Events it held.
    pub events: u64,
    /// Rooms whose horizon moved over them.
    pub rooms: usize,
}

/// The room log's time partitions. Only Postgres has any; the default
/// methods, which do nothing, are SQLite's.
#[async_trait]
pub trait LogPartitions: Send + Sync + 'static {
    /// Adds partitions after the newest one until they reach
    /// `layout.ahead` past now (one spans a gap first). Answers how many.
    async fn add_partitions(&self, _layout: &PartitionLayout) -> StoreResult<u32> {
        Ok(0)
    }
    /// Drops every partition whose events were all created before `cutoff`,
    /// oldest first, each after moving the horizon of every room with
    /// events in it over them (under the rooms' locks), without blocking
    /// appends or reads. Instances take turns; one that finds another at
    /// it answers nothing.
    async fn drop_partitions(&self, _cutoff: Timestamp) -> StoreResult<Vec<DroppedPartition>> {
        Ok(Vec::new())
    }
}

/// One batch pruned from a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub room_id: i64,
    /// The room's horizon now: every event with seq <= it is gone.
    pub horizon_seq: i64,
    /// Rows deleted by this batch.
    pub deleted: u64,
}

/// Where a room's horizon moves next, or None when nothing is to be pruned.
/// `horizon` and `last_seq` are the room's, read under its lock;
/// `aged_through` the highest seq among the first `batch` events above the
/// horizon that are past the policy's age (None: none is, or no age limit).
/// At most `batch` events go per call.
pub fn next_horizon(
    horizon: i64,
    last_seq: i64,
    max_events: Option<i64>,
    aged_through: Option<i64>,
    batch: i64,
) -> Option<i64> {
    let over_count = max_events.map(|keep| last_seq - keep.max(0));
    let wanted = over_count.max(aged_through)?.min(last_seq);
    (wanted > horizon).then(|| wanted.min(horizon + batch.max(1)))
}

#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Ids above `after` of rooms holding events past `policy` at `now`,
    /// ascending, at most `limit`.
    async fn rooms_to_prune(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>>;
    /// Deletes at most `batch` of the oldest events of `room_id` that are
    /// past `policy` at `now`, and moves its horizon over them, in one
    /// transaction under the room's lock. None when nothing is to be pruned
    /// (or the room is gone).
    async fn prune_room(
        &self,
        room_id: i64,
        policy: &RetentionPolicy,
        now: Timestamp,
        batch: i64,
    ) -> StoreResult<Option<Pruned>>;
}

/// One backend's SQL for [`RetentionStore`].
pub(super) struct RetentionQueries {
    /// (after, limit, max_events or NULL, cutoff or NULL) → (id).
    pub rooms_to_prune: &'static str,
    /// (room_id) → (last_seq, horizon_seq), the room locked until commit.
    pub lock_room: &'static str,
    /// (room_id, horizon, batch, cutoff) → (highest seq or NULL) among the
    /// first `batch` events above the horizon, of those created before the
    /// cutoff.
    pub aged_through: &'static str,
    /// (room_id, horizon, new horizon): deletes the events in between.
    pub delete_events: &'static str,
    /// (room_id, new horizon).
    pub set_horizon: &'static str,
}

/// Implements [`RetentionStore`] for `$store` (timestamps stored as
/// `$time`) from `$sql`.
macro_rules! impl_retention {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod retention_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::retention::{Pruned, RetentionPolicy, RetentionStore, next_horizon};
            use $crate::store::{Backend, StoreResult, Timestamp};

            #[async_trait]
            impl RetentionStore for $store {
                async fn rooms_to_prune(
                    &self,
                    policy: &RetentionPolicy,
                    now: Timestamp,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Vec<i64>> {
                    let rows: Vec<(i64,)> = sqlx::query_as($sql.rooms_to_prune)
                        .bind(after)
                        .bind(limit)
                        .bind(policy.max_events)
                        .bind(policy.cutoff(now).map(Stored::from))
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(id,)| id).collect())
                }

                async fn prune_room(
                    &self,
                    room_id: i64,
                    policy: &RetentionPolicy,
                    now: Timestamp,
                    batch: i64,
                ) -> StoreResult<Option<Pruned>> {
                    let mut tx = self.begin_write().await?;
                    let room: Option<(i64, i64)> = sqlx::query_as($sql.lock_room)
                        .bind(room_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((last_seq, horizon)) = room else {
                        return Ok(None);
                    };
                    let aged_through = match policy.cutoff(now) {
                        None => None,
                        Some(cutoff) => {
                            let (seq,): (Option<i64>,) = sqlx::query_as($sql.aged_through)
                                .bind(room_id)
                                .bind(horizon)
                                .bind(batch)
                                .bind(Stored::from(cutoff))
                                .fetch_one(&mut *tx)
                                .await?;
                            seq
                        }
                    };
                    let Some(to) =
                        next_horizon(horizon, last_seq, policy.max_events, aged_through, batch)
                    else {
                        return Ok(None); // dropping `tx` rolls back
                    };
                    let deleted = sqlx::query($sql.delete_events)
                        .bind(room_id)
                        .bind(horizon)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query($sql.set_horizon)
                        .bind(room_id)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(Pruned {
                        room_id,
                        horizon_seq: to,
                        deleted,
                    }))
                }
            }
        }
    };
}
pub(super) use impl_retention;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_pruned_without_a_limit() {
        assert_eq!(next_horizon(0, 100, None, None, 1000), None);
    }

    #[test]
    fn the_count_keeps_the_newest_events() {
        assert_eq!(next_horizon(0, 100, Some(30), None, 1000), Some(70));
        assert_eq!(next_horizon(70, 100, Some(30), None, 1000), None);
        assert_eq!(next_horizon(0, 20, Some(30), None, 1000), None);
    }

    #[test]
    fn a_batch_moves_the_horizon_at_most_batch_events() {
        assert_eq!(next_horizon(0, 5000, Some(10), None, 1000), Some(1000));
        assert_eq!(next_horizon(1000, 5000, Some(10), None, 1000), Some(2000));
        assert_eq!(next_horizon(0, 5000, None, Some(4000), 500), Some(500));
    }

    #[test]
    fn the_stricter_of_age_and_count_wins() {
        assert_eq!(next_horizon(0, 100, Some(30), Some(90), 1000), Some(90));
        assert_eq!(next_horizon(0, 100, Some(30), Some(10), 1000), Some(70));
        assert_eq!(next_horizon(0, 100, None, Some(10), 1000), Some(10));
    }

    #[test]
    fn the_horizon_never_moves_back_nor_past_the_last_seq() {
        assert_eq!(next_horizon(50, 100, None, Some(40), 1000), None);
        assert_eq!(next_horizon(50, 100, None, Some(200), 1000), Some(100));
    }

    #[test]
    fn the_cutoff_is_now_minus_the_age() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        let policy = RetentionPolicy {
            max_age: Some(Duration::from_secs(86_400)),
            max_events: None,
        };
        assert_eq!(
            policy.cutoff(now),
            chrono::DateTime::from_timestamp(1_000_000 - 86_400, 0)
        );
        assert_eq!(RetentionPolicy::default().cutoff(now), None);
        assert!(!RetentionPolicy::default().prunes());
        assert!(policy.prunes());
    }
}
