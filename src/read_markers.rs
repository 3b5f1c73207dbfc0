//! Read markers, written often (every ACK of an `ack:client` subscription,
//! every `PUT …/read`) and coalesced: one task takes whatever marks are
//! queued, keeps the highest per (room, user), moves them in one
//! transaction (`ReadStateStore::mark_read`), answers the callers that
//! wait, and announces each marker that moved on the room's activity. A
//! burst of ACKs is one write, and none is on the send path's transaction.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::broker::DynBroker;
use crate::store::{DynStore, StoreError};
use crate::views::Activity;

/// Marks waiting to be written; past it, ACK-driven marks are dropped (a
/// later ACK moves the marker anyway) and `PUT`s wait.
const QUEUE: usize = 65_536;
/// Marks written per transaction at most.
const BATCH_MAX: usize = 1024;

/// The marker as it now is, or None for a non-member.
pub type MarkResult = Result<Option<i64>, StoreError>;

struct Mark {
    room_id: i64,
    user_id: i64,
    username: String,
    seq: i64,
    answer: Option<oneshot::Sender<MarkResult>>,
}

#[derive(Clone)]
pub struct ReadMarkers {
    queue: mpsc::Sender<Mark>,
}

impl ReadMarkers {
    pub fn start(store: DynStore, broker: DynBroker) -> Self {
        let (queue, marks) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, broker, marks));
        ReadMarkers { queue }
    }

    /// Moves the marker of `user_id` in `room_id` to `seq` (never back,
    /// never past the room's last seq) and answers where it now is (None:
    /// not a member).
    pub async fn mark(&self, room_id: i64, user_id: i64, username: &str, seq: i64) -> MarkResult {
        let (answer, result) = oneshot::channel();
        let mark = Mark {
            room_id,
            user_id,
            username: username.to_string(),
            seq,
            answer: Some(answer),
        };
        if self.queue.send(mark).await.is_err() {
            return Err(StoreError::Unavailable);
        }
        result.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// The same without waiting for it (an ACK).
    pub fn mark_later(&self, room_id: i64, user_id: i64, username: &str, seq: i64) {
        let mark = Mark {
            room_id,
            user_id,
            username: username.to_string(),
            seq,
            answer: None,
        };
        if self.queue.try_send(mark).is_err() {
            tracing::debug!("read markers queue full; an ACK's marker is left to the next one");
        }
    }
}

async fn write_loop(store: DynStore, broker: DynBroker, mut queue: mpsc::Receiver<Mark>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while queue.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut highest: HashMap<(i64, i64), (i64, String)> = HashMap::new();
        for m in &batch {
            let entry = highest
                .entry((m.room_id, m.user_id))
                .or_insert((m.seq, m.username.clone()));
            entry.0 = entry.0.max(m.seq);
        }
        let marks: Vec<(i64, i64, i64)> = highest
            .iter()
            .map(|(&(room, user), &(seq, _))| (room, user, seq))
            .collect();
        let result = store.mark_read(&marks).await;
        let now: HashMap<(i64, i64), i64> = match &result {
            Ok(moves) => moves
                .iter()
                .map(|m| ((m.room_id, m.user_id), m.after))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, marks = marks.len(), "writing read markers failed");
                HashMap::new()
            }
        };
        if let Ok(moves) = &result {
            for m in moves.iter().filter(|m| m.after > m.before) {
                let Some((_, user)) = highest.get(&(m.room_id, m.user_id)) else {
                    continue;
                };
                let activity = Activity::Read {
                    user: user.clone(),
                    last_read_seq: m.after,
                };
                broker.publish_activity(m.room_id, &activity);
            }
        }
        for m in batch.drain(..) {
            if let Some(answer) = m.answer {
                let answered = match &result {
                    Ok(_) => Ok(now.get(&(m.room_id, m.user_id)).copied()),
                    Err(_) => Err(StoreError::Unavailable),
                };
                let _ = answer.send(answered);
            }
        }
    }
}
