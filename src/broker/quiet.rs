//! With a relay between instances, a message can be lost on the way
//! without any later message revealing the hole (the last one of a burst,
//! a publish dropped from a full queue). So every [`QUIET_CHECK_EVERY`]
//! the rooms that delivered nothing for a while are compared with the
//! database, in one query per [`QUIET_CHECK_CHUNK`] of them, and those
//! behind it catch up.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::hub::Hub;
use crate::store::DynStore;

/// How often quiet rooms are compared with the database (relay only).
pub const QUIET_CHECK_EVERY: Duration = Duration::from_secs(2);
/// A room that delivered nothing for this long is quiet.
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// Rooms per `last_seqs` query of a quiet check.
const QUIET_CHECK_CHUNK: usize = 500;

/// Starts comparing the hub's quiet rooms with the database, for as long
/// as the hub exists.
pub fn start(hub: &Arc<Hub>, store: DynStore) {
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(QUIET_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(hub) = Weak::upgrade(&hub) else {
                return;
            };
            check_once(&hub, &store).await;
        }
    });
}

/// One pass: the quiet rooms, then one `last_seqs` query per chunk of
/// them; rooms behind the store are caught up.
async fn check_once(hub: &Arc<Hub>, store: &DynStore) {
    let quiet = hub.quiet_rooms(QUIET_AFTER);
    for chunk in quiet.chunks(QUIET_CHECK_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|&(id, _)| id).collect();
        let stored = match store.last_seqs(&ids).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, rooms = ids.len(), "quiet-room check failed");
                return;
            }
        };
        let expected: HashMap<i64, i64> = chunk.iter().copied().collect();
        for (room_id, last) in stored {
            if expected.get(&room_id).is_some_and(|&next| last >= next) {
                tracing::info!(room_id, last, "quiet room is behind the store; catching up");
                hub.resync(room_id);
            }
        }
    }
}
