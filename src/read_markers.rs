//! Read markers, written often (every ACK of an `ack:client` subscription,
//! every `PUT …/read`) and coalesced: one task takes whatever marks are
//! queued, keeps the highest per (room, user), moves them in one
//! transaction (`ReadStateStore::mark_read`), answers the callers that
//! wait, and announces each marker that moved on the room's activity. A
//! burst of ACKs is one write, and none is on the send path's transaction.
//!
//! Thread read markers (README, "Threads") are queued and written the same
//! way (`ThreadStore::mark_threads_read`), in their own transaction of the
//! same round; they are not announced.

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
    /// A thread's marker: the root's seq; None for the room's.
    thread: Option<i64>,
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
            thread: None,
            user_id,
            username: username.to_string(),
            seq,
            answer: Some(answer),
        };
        self.submit(mark, result).await
    }

    /// Moves the thread read marker of `user_id` in the thread of `root_seq`
    /// to `seq` (never back, never past the thread's latest reply) and
    /// answers where it now is (None: the user does not follow the thread).
    pub async fn mark_thread(
        &self,
        room_id: i64,
        root_seq: i64,
        user_id: i64,
        seq: i64,
    ) -> MarkResult {
        let (answer, result) = oneshot::channel();
        let mark = Mark {
            room_id,
            thread: Some(root_seq),
            user_id,
            username: String::new(),
            seq,
            answer: Some(answer),
        };
        self.submit(mark, result).await
    }

    async fn submit(&self, mark: Mark, result: oneshot::Receiver<MarkResult>) -> MarkResult {
        if self.queue.send(mark).await.is_err() {
            return Err(StoreError::Unavailable);
        }
        result.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// The same without waiting for it (an ACK).
    pub fn mark_later(&self, room_id: i64, user_id: i64, username: &str, seq: i64) {
        let mark = Mark {
            room_id,
            thread: None,
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
        write_thread_marks(store.as_ref(), &mut batch).await;
        if batch.is_empty() {
            continue;
        }
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

/// Takes the thread marks out of `batch`, writes the highest per (room,
/// thread, user) in one transaction, and answers them.
async fn write_thread_marks(store: &dyn crate::store::Store, batch: &mut Vec<Mark>) {
    let (threads, rooms): (Vec<Mark>, Vec<Mark>) =
        batch.drain(..).partition(|m| m.thread.is_some());
    *batch = rooms;
    if threads.is_empty() {
        return;
    }
    let mut highest: HashMap<(i64, i64, i64), i64> = HashMap::new();
    for m in &threads {
        let root = m.thread.unwrap_or_default();
        let entry = highest.entry((m.room_id, root, m.user_id)).or_insert(m.seq);
        *entry = (*entry).max(m.seq);
    }
    let marks: Vec<(i64, i64, i64, i64)> = highest
        .iter()
        .map(|(&(room, root, user), &seq)| (room, root, user, seq))
        .collect();
    let result = store.mark_threads_read(&marks).await;
    let now: HashMap<(i64, i64, i64), i64> = match &result {
        Ok(moved) => moved
            .iter()
            .map(|&(room, root, user, after)| ((room, root, user), after))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, marks = marks.len(), "writing thread read markers failed");
            HashMap::new()
        }
    };
    for m in threads {
        let key = (m.room_id, m.thread.unwrap_or_default(), m.user_id);
        let answered = match &result {
            Ok(_) => Ok(now.get(&key).copied()),
            Err(_) => Err(StoreError::Unavailable),
        };
        if let Some(answer) = m.answer {
            let _ = answer.send(answered);
        }
    }
}
