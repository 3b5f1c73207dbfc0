//! A `since-seq` replay in progress: stored messages after the SUBSCRIBE's
//! `since-seq` are read page by page into the outbox, as it has room,
//! between the select loop's other work. While one runs the connection
//! handles no client frame, and the SUBSCRIBE's receipt is written only when
//! it is done.
//!
//! It owns the cursor and the page size. Which copies reach the client (the
//! seam with live delivery) is [`Subscriptions`]' rule, not this one's.

use super::outbox::Outbox;
use super::subscriptions::Subscriptions;
use crate::store::{DynStore, HistoryQuery, Room, StoreError};

/// History page size when replaying (at most; also bounded by the room left
/// in the outbox).
const REPLAY_PAGE: usize = 200;

pub struct Replay {
    subscription: String,
    room: Room,
    cursor: i64,
    /// The SUBSCRIBE's receipt, written once the replay is done.
    receipt: Option<String>,
}

/// What one page left to do.
pub enum Step {
    More,
    /// The replay reached the room's end: live delivery has taken over.
    Done {
        receipt: Option<String>,
    },
}

impl Replay {
    pub fn new(subscription: String, room: Room, since: i64, receipt: Option<String>) -> Self {
        Replay {
            subscription,
            room,
            cursor: since,
            receipt,
        }
    }

    /// The outbox room the replay waits for before reading its next page,
    /// so that pages are neither tiny nor over the bound.
    pub fn ready(outbox: &Outbox) -> bool {
        outbox.room() >= REPLAY_PAGE.min(outbox.bound() / 2).max(1)
    }

    /// Reads the next page into the outbox (as much as it has room for).
    pub async fn next_page(
        &mut self,
        store: &DynStore,
        subscriptions: &mut Subscriptions,
        outbox: &mut Outbox,
    ) -> Result<Step, StoreError> {
        let query = HistoryQuery {
            before: None,
            after: Some(self.cursor),
            limit: REPLAY_PAGE.min(outbox.room()).max(1) as i64,
        };
        let page = store.history(self.room.id, query).await?;
        let done = !page.has_more;
        subscriptions.replayed(
            &self.subscription,
            self.room.id,
            &page.messages,
            done,
            outbox,
        );
        if let Some(last) = page.messages.last() {
            self.cursor = last.seq;
        }
        Ok(if done {
            Step::Done {
                receipt: self.receipt.take(),
            }
        } else {
            Step::More
        })
    }
}
