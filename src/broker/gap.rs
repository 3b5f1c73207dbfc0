//! Filling a room's holes from the database: the messages a room's local
//! subscribers have not been handed yet are all stored (publish follows
//! commit), so they are read page by page ([`crate::replay`]) and handed
//! to the sequencer again, which drops what it already delivered.
//!
//! It works on any [`Sequencer`] (the hub is the one), so it knows nothing
//! of subscribers.

use std::sync::Arc;

use super::published::Published;
use crate::replay::{self, Replay};
use crate::store::DynStore;

/// Pages read per catch-up (bounds the work after a long outage; the hole
/// left beyond it is filled as later messages arrive).
const MAX_RESYNC_PAGES: usize = 50;

/// What a catch-up needs of the per-room sequencer.
pub trait Sequencer: Send + Sync + 'static {
    fn store(&self) -> &DynStore;
    /// The seq the room's subscribers expect next; None when the room has
    /// none here (or its start is not known yet).
    fn next_seq(&self, room_id: i64) -> Option<i64>;
    fn deliver(self: &Arc<Self>, message: Arc<Published>);
    /// The room's events up to `horizon` were pruned: go on after it.
    fn skip_pruned(self: &Arc<Self>, room_id: i64, horizon: i64);
}

/// Delivers stored messages from the room's next seq on, page by page,
/// until the store has no more (bounded by [`MAX_RESYNC_PAGES`]).
pub async fn catch_up<S: Sequencer>(sequencer: &Arc<S>, room_id: i64) {
    let mut replay: Option<Replay> = None;
    for _ in 0..MAX_RESYNC_PAGES {
        let Some(next) = sequencer.next_seq(room_id) else {
            return;
        };
        let replay = replay
            .get_or_insert_with(|| Replay::after(sequencer.store().clone(), room_id, next - 1));
        // Live messages may have moved `next` on since the last page.
        replay.skip_to(next - 1);
        match replay.next_page(replay::PAGE).await {
            Ok(Some(page)) => {
                if let Some(horizon) = replay.passed_horizon() {
                    sequencer.skip_pruned(room_id, horizon);
                }
                tracing::debug!(
                    room_id,
                    from = next,
                    count = page.len(),
                    "delivering from the store"
                );
                for m in &page {
                    sequencer.deliver(Arc::new(Published::new(room_id, m)));
                }
                if replay.is_done() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(room_id, error = %e, "reading missed messages failed");
                return;
            }
        }
    }
}
