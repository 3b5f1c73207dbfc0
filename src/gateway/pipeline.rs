//! A connection's stores (SENDs, COMMITs) submitted for commit and not yet
//! answered, their receipts, and the rule that a RECEIPT is never written
//! before what it confirms.
//!
//! Stores are answered oldest first, each with its SENDs' receipts and then
//! its COMMIT's. Any other frame the connection writes (a receipt, an ERROR,
//! a close) first [`settle`](StorePipeline::settle)s: it follows the stores
//! before it. The committer commits each of its worker queues in submission
//! order, and different workers in parallel. So stores may be pipelined only
//! while they all go to the same worker: a store bound for another worker,
//! or spanning several (a multi-room transaction), waits until everything
//! before it is committed, and whatever comes after a multi-worker store
//! waits for it.
//!
//! It must not decide what a store contains or whether it is allowed (the
//! session and the chat do); the receipt frames are the session's.

use std::collections::VecDeque;

use tokio::sync::oneshot;

use super::ending::{End, Flow};
use super::outbox::Outbox;
use crate::auth::AuthUser;
use crate::chat::{Chat, PendingPost, Post};
use crate::committer::CommitResult;
use crate::session::Session;
use crate::stomp::Version;
use crate::store::Appended;

/// Stores a connection may have pending before it waits for the oldest.
const MAX_INFLIGHT_STORES: usize = 256;

/// The committer workers a store's rooms map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// No message (an empty transaction): commits in no particular order.
    None,
    One(usize),
    Many,
}

impl Workers {
    pub fn of(workers: impl IntoIterator<Item = usize>) -> Self {
        workers.into_iter().fold(Workers::None, |acc, w| match acc {
            Workers::None => Workers::One(w),
            Workers::One(x) if x == w => acc,
            _ => Workers::Many,
        })
    }

    /// Whether committing `self` and `other` in parallel could reorder them.
    fn may_reorder(self, other: Workers) -> bool {
        match (self, other) {
            (Workers::None, _) | (_, Workers::None) => false,
            (Workers::One(a), Workers::One(b)) => a != b,
            _ => true,
        }
    }
}

/// A SEND (or a transaction's SENDs) submitted for commit, not answered yet.
struct InFlight {
    result: PendingPost,
    receipts: Vec<Option<String>>,
    /// A COMMIT's own receipt, written after the SENDs'.
    then_receipt: Option<String>,
    workers: Workers,
}

/// Submitted stores, oldest first; answered in this order.
#[derive(Default)]
pub struct StorePipeline {
    inflight: VecDeque<InFlight>,
}

/// Where answers are written, in the session's STOMP version.
pub struct Answers<'a> {
    pub outbox: &'a mut Outbox,
    pub version: Version,
}

impl StorePipeline {
    /// True when a store for `next` must wait until every store in flight
    /// is committed.
    fn must_settle_before(&self, next: Workers) -> bool {
        self.inflight.iter().any(|f| f.workers.may_reorder(next))
    }

    fn push(&mut self, store: InFlight) {
        self.inflight.push_back(store);
    }

    pub fn is_empty(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Submits `posts` (one SEND, or a COMMIT's) for commit, each with the
    /// receipt it asked for, then `then_receipt`.
    pub async fn submit(
        &mut self,
        chat: &Chat,
        sender: &AuthUser,
        posts: Vec<Post>,
        receipts: Vec<Option<String>>,
        then_receipt: Option<String>,
        out: Answers<'_>,
    ) -> Flow {
        let workers = Workers::of(posts.iter().map(|p| chat.commit_worker(p.room.id)));
        let Answers { outbox, version } = out;
        // The client's order is the commit order: never let this store
        // overtake one still in flight on another committer worker.
        if self.must_settle_before(workers) {
            self.settle(Answers { outbox, version }).await?;
        }
        let result = chat.submit(sender, posts).await;
        self.push(InFlight {
            result,
            receipts,
            then_receipt,
            workers,
        });
        // Pipelined, but bounded: beyond the window, wait for the oldest.
        if self.inflight.len() > MAX_INFLIGHT_STORES {
            let result = self.oldest_result().await;
            return self.answer_oldest(result, Answers { outbox, version });
        }
        Ok(())
    }

    /// The oldest store's result, when it is in (never, with none pending).
    /// Cancel-safe: the store stays pending until answered.
    pub async fn oldest_result(&mut self) -> Result<CommitResult, oneshot::error::RecvError> {
        match self.inflight.front_mut() {
            Some(front) => (&mut front.result).await,
            None => std::future::pending().await,
        }
    }

    /// Writes the receipts of the oldest store (its result is in), or ends
    /// the session if it failed.
    pub fn answer_oldest(
        &mut self,
        result: Result<CommitResult, oneshot::error::RecvError>,
        out: Answers<'_>,
    ) -> Flow {
        let Some(done) = self.inflight.pop_front() else {
            return Ok(());
        };
        match result {
            Ok(Ok(appended)) => {
                for (receipt, a) in done.receipts.into_iter().zip(appended) {
                    let m = match &a {
                        Appended::Stored(m) | Appended::Duplicate(m) => m,
                        // A bad `in-reply-to` (the log decides it, under the
                        // room's lock; a transaction's SENDs are all refused
                        // with it) ends the session.
                        Appended::Refused(refusal) => {
                            return Err(End::error(refusal.to_string(), receipt.as_deref()));
                        }
                    };
                    if let Some(r) = receipt {
                        out.outbox
                            .push_frame(&Session::send_receipt(&r, m.id, m.seq), out.version);
                    }
                }
                if let Some(r) = done.then_receipt {
                    out.outbox.push_frame(&Session::receipt(&r), out.version);
                }
                Ok(())
            }
            failed => {
                tracing::error!(error = ?failed.err(), "storing a message failed");
                let receipt = done.receipts.into_iter().flatten().next();
                Err(End::error(
                    "message not stored: server error",
                    receipt.as_deref(),
                ))
            }
        }
    }

    /// Answers every pending store, in order: anything written after this
    /// (a receipt, an ERROR, a close) follows the SENDs before it.
    pub async fn settle(&mut self, out: Answers<'_>) -> Flow {
        let Answers { outbox, version } = out;
        while !self.is_empty() {
            let result = self.oldest_result().await;
            self.answer_oldest(result, Answers { outbox, version })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(workers: Workers) -> InFlight {
        InFlight {
            result: oneshot::channel().1,
            receipts: Vec::new(),
            then_receipt: None,
            workers,
        }
    }

    #[test]
    fn workers_of_a_store() {
        assert_eq!(Workers::of([]), Workers::None);
        assert_eq!(Workers::of([2, 2, 2]), Workers::One(2));
        assert_eq!(Workers::of([2, 3]), Workers::Many);
    }

    #[test]
    fn only_stores_to_one_worker_are_pipelined() {
        let mut p = StorePipeline::default();
        assert!(!p.must_settle_before(Workers::Many), "nothing in flight");
        p.push(in_flight(Workers::One(1)));
        assert!(!p.must_settle_before(Workers::One(1)));
        assert!(!p.must_settle_before(Workers::None));
        assert!(p.must_settle_before(Workers::One(2)));
        assert!(p.must_settle_before(Workers::Many));
        let mut p = StorePipeline::default();
        p.push(in_flight(Workers::Many));
        assert!(
            p.must_settle_before(Workers::One(1)),
            "after a multi-worker store"
        );
    }
}
