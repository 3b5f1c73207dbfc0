//! Replay: a room's stored events after a seq, read page by page in seq
//! order until the store has no more.
//!
//! This is the one way the service reads "what came after seq N": a STOMP
//! `since-seq` subscription, an SSE stream's `Last-Event-ID` / `since_seq`,
//! and the hub's gap fill and catch-up all page through a [`Replay`]. It owns
//! the page size; the caller decides what to do with each page (and may ask
//! for less than a page, e.g. when its outbox has little room). It only
//! reads the store: it knows nothing of subscribers, frames or sockets.
//!
//! Retention (README, "Retention"): when a page shows that the room's
//! horizon lies above the cursor, the events in between are pruned; the
//! cursor jumps to the horizon and [`Replay::passed_horizon`] tells the
//! caller once, so it can signal it (a `horizon` MESSAGE / SSE event)
//! before the page's events.

use crate::store::{DynStore, Event, HistoryQuery, StoreResult};

/// Most events read per query.
pub const PAGE: usize = 200;

/// A cursor over one room's history after a seq.
pub struct Replay {
    store: DynStore,
    room_id: i64,
    /// The highest seq read (or skipped) so far.
    after: i64,
    done: bool,
    /// A horizon the last page jumped to, not yet taken by the caller.
    passed: Option<i64>,
}

impl Replay {
    /// Messages of `room_id` with a seq above `after`.
    pub fn after(store: DynStore, room_id: i64, after: i64) -> Self {
        Replay {
            store,
            room_id,
            after,
            done: false,
            passed: None,
        }
    }

    /// The highest seq read so far (the `after` it started from before the
    /// first page).
    pub fn position(&self) -> i64 {
        self.after
    }

    /// True once a page came back with nothing beyond it.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Moves the cursor forward to `seq` when the caller already has
    /// everything up to it (never backwards).
    pub fn skip_to(&mut self, seq: i64) {
        self.after = self.after.max(seq);
    }

    /// The horizon the last page jumped to (the events between the cursor
    /// and it are pruned), once; None when nothing was skipped.
    pub fn passed_horizon(&mut self) -> Option<i64> {
        self.passed.take()
    }

    /// The next page: at most `max` events (and at most [`PAGE`], at least
    /// one), in seq order, all above the room's horizon (see
    /// [`Replay::passed_horizon`]). `None` once the replay is done; an
    /// empty page can only be the last one. On an error the cursor stays
    /// where it was.
    pub async fn next_page(&mut self, max: usize) -> StoreResult<Option<Vec<Event>>> {
        if self.done {
            return Ok(None);
        }
        let query = HistoryQuery {
            before: None,
            after: Some(self.after),
            limit: max.clamp(1, PAGE) as i64,
        };
        let page = self.store.history(self.room_id, query).await?;
        if page.horizon_seq > self.after {
            self.after = page.horizon_seq;
            self.passed = Some(page.horizon_seq);
        }
        if let Some(last) = page.events.last() {
            self.after = last.seq;
        }
        self.done = !page.has_more;
        Ok(Some(page.events))
    }
}
