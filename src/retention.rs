//! The pruner (README, "Retention"): with `RETENTION_DAYS` or
//! `RETENTION_MAX_EVENTS_PER_ROOM` set, a background task wakes every
//! `RETENTION_INTERVAL_SECS`, finds the rooms holding events past the
//! policy and deletes them oldest first, [`BATCH`] rows per transaction with
//! a pause between transactions, so a writer of the room waits for one
//! small batch at most and the send path is never blocked for long.
//!
//! On Postgres the same task keeps the room log's time partitions, with or
//! without a limit: each pass adds those due `ahead` of now, and with
//! `RETENTION_DAYS` drops the ones whose events are all past it before the
//! row-by-row pass (which, there, only deletes by age what is older than
//! the partitioning).
//!
//! What a batch deletes, and the horizon it leaves, is the store's job
//! (`store::retention`); this task only paces it. Several instances may run
//! it at once: each batch re-reads the room's horizon under the room's
//! lock, so two pruners take turns and never delete twice.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::RetentionSettings;
use crate::store::{
    DynStore, LogPartitions, PartitionLayout, RetentionPolicy, RetentionStore, StoreResult,
};

/// Most events deleted per transaction.
pub const BATCH: i64 = 1000;
/// Between two batches, so that writers and readers get the database.
const PAUSE: Duration = Duration::from_millis(20);
/// Rooms read per query while looking for work.
const ROOMS_PER_QUERY: i64 = 100;

/// Starts the background task (partitions and pruning); it stops at
/// shutdown.
pub fn start(store: DynStore, settings: RetentionSettings, shutdown: watch::Receiver<bool>) {
    let policy = RetentionPolicy {
        max_age: settings.max_age,
        max_events: settings.max_events,
    };
    tokio::spawn(run(
        store,
        policy,
        settings.partitions,
        settings.interval,
        shutdown,
    ));
}

async fn run(
    store: DynStore,
    policy: RetentionPolicy,
    layout: PartitionLayout,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    if policy.prunes() {
        tracing::info!(
            max_age_days = policy.max_age.map(|a| a.as_secs() / 86_400),
            max_events = policy.max_events,
            interval_secs = interval.as_secs_f64(),
            "retention: pruning in the background"
        );
    }
    // Often enough that the partitions ahead never run out.
    let mut tick = tokio::time::interval(interval.min(layout.width / 4));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // Dropping a pass midway rolls its open transaction back.
        let pass = tokio::select! {
            pass = pass(&*store, &policy, &layout) => pass,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match pass {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: pruned events"),
            Err(e) => tracing::warn!(error = %e, "retention: pruning failed; retrying next pass"),
        }
    }
}

/// One pass of the task: partitions added, expired ones dropped, then
/// [`prune_pass`]. Answers how many events went.
pub async fn pass<S: RetentionStore + LogPartitions + ?Sized>(
    store: &S,
    policy: &RetentionPolicy,
    layout: &PartitionLayout,
) -> StoreResult<u64> {
    let added = store.add_partitions(layout).await?;
    if added > 0 {
        tracing::debug!(added, "retention: room log partitions added");
    }
    let mut deleted = 0;
    if let Some(cutoff) = policy.cutoff(chrono::Utc::now()) {
        for dropped in store.drop_partitions(cutoff).await? {
            metrics::counter!(crate::metrics::RETENTION_PRUNED).increment(dropped.events);
            deleted += dropped.events;
        }
    }
    if policy.prunes() {
        deleted += prune_pass(store, policy).await?;
    }
    Ok(deleted)
}

/// One pass over every room: prunes each down to `policy` as of now, batch
/// by batch. Answers how many events were deleted.
pub async fn prune_pass<S: RetentionStore + ?Sized>(
    store: &S,
    policy: &RetentionPolicy,
) -> StoreResult<u64> {
    let now = chrono::Utc::now();
    let mut after = 0;
    let mut deleted = 0;
    loop {
        let rooms = store
            .rooms_to_prune(policy, now, after, ROOMS_PER_QUERY)
            .await?;
        let Some(&last) = rooms.last() else {
            return Ok(deleted);
        };
        after = last;
        for room_id in rooms {
            while let Some(pruned) = store.prune_room(room_id, policy, now, BATCH).await? {
                tracing::debug!(
                    room_id,
                    horizon_seq = pruned.horizon_seq,
                    deleted = pruned.deleted,
                    "retention: batch pruned"
                );
                metrics::counter!(crate::metrics::RETENTION_PRUNED).increment(pruned.deleted);
                deleted += pruned.deleted;
                tokio::time::sleep(PAUSE).await;
            }
        }
    }
}
