//! A `since-seq` replay in progress: stored messages after the SUBSCRIBE's
//! `since-seq` are read page by page into the outbox, as it has room,
//! between the select loop's other work. While one runs the connection
//! handles no client frame, and the SUBSCRIBE's receipt is written only when
//! it is done.
//!
//! It pages through the service's one replay cursor ([`crate::replay`]) and
//! sizes each page to the outbox's room. A replay that starts below the
//! room's retention horizon writes a `horizon` MESSAGE before the first
//! event it still has (README, "Retention"). Which copies reach the client (the
//! seam with live delivery) is [`LiveSubscriptions`]' rule, not this one's.

use super::outbox::Outbox;
use super::subscriptions::LiveSubscriptions;
use crate::broker::Published;
use crate::replay::{self, PAGE};
use crate::store::{DynStore, Room, StoreError};

/// One subscription's `since-seq` replay (its cursor is a [`replay::Replay`]).
pub struct SubscriptionReplay {
    subscription: String,
    room_id: i64,
    room: String,
    cursor: replay::Replay,
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

impl SubscriptionReplay {
    pub fn new(
        store: DynStore,
        subscription: String,
        room: Room,
        since: i64,
        receipt: Option<String>,
    ) -> Self {
        SubscriptionReplay {
            subscription,
            room_id: room.id,
            cursor: replay::Replay::after(store, room.id, since),
            room: room.name,
            receipt,
        }
    }

    /// The outbox room the replay waits for before reading its next page,
    /// so that pages are neither tiny nor over the bound.
    pub fn ready(outbox: &Outbox) -> bool {
        outbox.room() >= PAGE.min(outbox.bound() / 2).max(1)
    }

    /// Reads the next page into the outbox (as much as it has room for).
    pub async fn next_page(
        &mut self,
        subscriptions: &mut LiveSubscriptions,
        outbox: &mut Outbox,
    ) -> Result<Step, StoreError> {
        let page = self.cursor.next_page(outbox.room()).await?;
        let messages = page.unwrap_or_default();
        let done = self.cursor.is_done();
        if let Some(horizon) = self.cursor.passed_horizon() {
            let notice = Published::horizon(self.room_id, &self.room, horizon);
            if !subscriptions.replayed_horizon(&self.subscription, &notice, outbox) {
                return Ok(Step::Done {
                    receipt: self.receipt.take(),
                });
            }
        }
        let live =
            subscriptions.replayed(&self.subscription, self.room_id, &messages, done, outbox);
        Ok(if done || !live {
            Step::Done {
                receipt: self.receipt.take(),
            }
        } else {
            Step::More
        })
    }
}
