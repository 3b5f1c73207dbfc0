//! A connection's stores (SENDs, COMMITs) submitted for commit and not yet
//! answered, and the rule that keeps them in the order the client sent them.
//!
//! The committer commits each of its worker queues in submission order, and
//! different workers in parallel. So stores may be pipelined only while they
//! all go to the same worker: a store bound for another worker, or spanning
//! several (a multi-room transaction), waits until everything before it is
//! committed, and whatever comes after a multi-worker store waits for it.

use std::collections::VecDeque;

use crate::chat::PendingPost;

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
pub struct InFlight {
    pub result: PendingPost,
    pub receipts: Vec<Option<String>>,
    /// A COMMIT's own receipt, written after the SENDs'.
    pub then_receipt: Option<String>,
    pub workers: Workers,
}

/// Submitted stores, oldest first; answered in this order.
#[derive(Default)]
pub struct StorePipeline {
    inflight: VecDeque<InFlight>,
}

impl StorePipeline {
    /// True when a store for `next` must wait until every store in flight
    /// is committed.
    pub fn must_settle_before(&self, next: Workers) -> bool {
        self.inflight.iter().any(|f| f.workers.may_reorder(next))
    }

    pub fn push(&mut self, store: InFlight) {
        self.inflight.push_back(store);
    }

    pub fn oldest(&mut self) -> Option<&mut InFlight> {
        self.inflight.front_mut()
    }

    pub fn pop_oldest(&mut self) -> Option<InFlight> {
        self.inflight.pop_front()
    }

    pub fn len(&self) -> usize {
        self.inflight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inflight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(workers: Workers) -> InFlight {
        InFlight {
            result: tokio::sync::oneshot::channel().1,
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
