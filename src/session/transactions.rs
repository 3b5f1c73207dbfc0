//! Transactions: BEGIN opens one, its SENDs are buffered until COMMIT
//! stores them together (or ABORT drops them), within two bounds: open
//! transactions per session and SENDs per transaction.

use std::collections::HashMap;

use crate::stomp::ClientFrame;

use super::headers::{Fatal, Outcome, receipt_action, required_id};
use super::{Action, SendRequest};

/// The session's open transactions and their buffered SENDs.
pub(super) struct Transactions {
    open: HashMap<String, Vec<SendRequest>>,
    max_open: usize,
    max_sends: usize,
}

impl Transactions {
    pub(super) fn new(max_open: usize, max_sends: usize) -> Self {
        Transactions {
            open: HashMap::new(),
            max_open,
            max_sends,
        }
    }

    pub(super) fn is_open(&self, tx: &str) -> bool {
        self.open.contains_key(tx)
    }

    pub(super) fn begin(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?.to_string();
        if self.open.contains_key(&tx) {
            return Err(Fatal::new(format!("transaction {tx} already started")));
        }
        if self.open.len() >= self.max_open {
            return Err(Fatal::new(format!(
                "too many open transactions (at most {})",
                self.max_open
            )));
        }
        self.open.insert(tx, Vec::new());
        Ok(receipt_action(frame))
    }

    /// Buffers `send` in transaction `tx`.
    pub(super) fn add(&mut self, tx: &str, send: SendRequest) -> Result<(), Fatal> {
        let max = self.max_sends;
        let pending = self
            .open
            .get_mut(tx)
            .ok_or_else(|| Fatal::new(format!("unknown transaction {tx}")))?;
        if pending.len() >= max {
            // The session closes: the transaction is dropped whole.
            return Err(Fatal::new(format!(
                "too many SENDs in transaction {tx} (at most {max})"
            )));
        }
        pending.push(send);
        Ok(())
    }

    pub(super) fn commit(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?;
        let sends = self
            .open
            .remove(tx)
            .ok_or_else(|| Fatal::new(format!("unknown transaction {tx}")))?;
        Ok(vec![Action::Store {
            sends,
            then_receipt: frame.header("receipt").map(str::to_string),
        }])
    }

    pub(super) fn abort(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?;
        self.open
            .remove(tx)
            .ok_or_else(|| Fatal::new(format!("unknown transaction {tx}")))?;
        Ok(receipt_action(frame))
    }
}
