//! Group commit: sends that arrive at about the same time are stored in one
//! database transaction (each room's seq range assigned inside it: on
//! Postgres one INSERT of all the rows, on SQLite one INSERT per row), then
//! published, then each sender is answered. Durability is unchanged (every
//! answer comes after its commit); the round trips and fsyncs are shared.
//!
//! Requests are spread over `workers` queues by room (a multi-room batch by
//! its first room), so one room's sends are committed in the order they were
//! submitted while different rooms commit in parallel. A worker takes
//! whatever is queued, up to `batch_max` messages, after waiting at most
//! `linger` for more to arrive.
//!
//! That is the only order kept here: per room, in submission order. A
//! connection's own order across rooms (a SEND to one room, then a COMMIT
//! spanning several) is not: stores on different workers commit in
//! parallel. The gateway keeps it by submitting such stores one after the
//! other (`gateway/pipeline.rs`).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::broker::{DynBroker, Published};
use crate::config::CommitSettings;
use crate::store::{Appended, DynStore, NewEvent, StoreError};

pub type CommitResult = Result<Vec<Appended>, StoreError>;

struct Request {
    batch: Vec<NewEvent>,
    submitted: Instant,
    reply: oneshot::Sender<CommitResult>,
}

/// Per-worker queue depth (requests); submitters wait when it is full.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Committer {
    queues: Arc<Vec<mpsc::Sender<Request>>>,
}

impl Committer {
    pub fn start(store: DynStore, broker: DynBroker, settings: CommitSettings) -> Self {
        let queues = (0..settings.workers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(run_worker(
                    Arc::clone(&store),
                    Arc::clone(&broker),
                    settings,
                    rx,
                ));
                tx
            })
            .collect();
        Committer {
            queues: Arc::new(queues),
        }
    }

    /// The worker whose queue commits `room_id`'s messages (in submission
    /// order). A batch is queued by the worker of its first room.
    pub fn worker_of(&self, room_id: i64) -> usize {
        room_id.unsigned_abs() as usize % self.queues.len()
    }

    /// Queues `batch` (stored atomically, in one transaction) and returns
    /// where its result will arrive. Messages are published before the
    /// result is sent.
    pub async fn submit(&self, batch: Vec<NewEvent>) -> oneshot::Receiver<CommitResult> {
        let (reply, rx) = oneshot::channel();
        let room = batch.first().map_or(0, |m| m.room_id);
        let queue = &self.queues[self.worker_of(room)];
        let request = Request {
            batch,
            submitted: Instant::now(),
            reply,
        };
        if let Err(mpsc::error::SendError(request)) = queue.send(request).await {
            let _ = request.reply.send(Err(StoreError::Unavailable));
        }
        rx
    }
}

async fn run_worker(
    store: DynStore,
    broker: DynBroker,
    settings: CommitSettings,
    mut queue: mpsc::Receiver<Request>,
) {
    let mut requests: Vec<Request> = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut size = first.batch.len();
        requests.push(first);
        let deadline = tokio::time::Instant::now() + settings.linger;
        while size < settings.batch_max {
            let next = match queue.try_recv() {
                Ok(r) => r,
                Err(_) if settings.linger.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(r)) => r,
                    _ => break,
                },
            };
            size += next.batch.len();
            requests.push(next);
        }
        commit(&store, &broker, std::mem::take(&mut requests)).await;
    }
}

/// Stores the requests in one transaction, publishes what is new, answers
/// each request. If the database refuses the group because of one of its
/// requests, the group is split in halves, each committed (or split again)
/// in submission order: the bad request is answered with its error, every
/// other one is stored normally, at a cost of about 2·log₂(n) extra
/// transactions instead of one per request. A failure that is not about the
/// requests (the database unreachable) answers them all at once.
async fn commit(store: &DynStore, broker: &DynBroker, requests: Vec<Request>) {
    metrics::histogram!(crate::metrics::COMMIT_BATCH_SIZE)
        .record(requests.iter().map(|r| r.batch.len()).sum::<usize>() as f64);
    let taken = Instant::now();
    let waited = metrics::histogram!(crate::metrics::COMMIT_WAIT);
    for r in &requests {
        waited.record(taken.saturating_duration_since(r.submitted).as_secs_f64());
    }
    // Groups to commit, next one last; the splits of a failed group are
    // pushed right half first, so the left half (earlier requests) goes
    // first and each room's seq follows submission order.
    let mut groups = vec![requests];
    while let Some(mut group) = groups.pop() {
        let started = Instant::now();
        let result = if let [only] = group.as_slice() {
            store.append_batch(&only.batch).await
        } else {
            append_together(store, &mut group).await
        };
        metrics::histogram!(crate::metrics::COMMIT_TRANSACTION)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(appended) => {
                // Each request takes its results off the front, in one pass
                // (splitting the rest off for each would copy it again and
                // again: quadratic in the group's size).
                let mut appended = appended.into_iter();
                let answers = group
                    .into_iter()
                    .map(|r| {
                        let mine = appended.by_ref().take(r.batch.len()).collect();
                        (r, Ok(mine))
                    })
                    .collect();
                finish(broker, answers);
            }
            Err(e) if group.len() > 1 && is_about_the_requests(&e) => {
                tracing::warn!(error = %e, requests = group.len(), "group commit failed; splitting it");
                let mut left = group;
                let right = left.split_off(left.len() / 2);
                groups.push(right);
                groups.push(left);
            }
            Err(e) => {
                if group.len() == 1 {
                    tracing::warn!(error = %e, "a send was refused by the database");
                } else {
                    tracing::error!(error = %e, requests = group.len(), "group commit failed");
                }
                let message = e.to_string();
                let mut errors = std::iter::once(e);
                let answers = group
                    .into_iter()
                    .map(|r| {
                        let error = errors.next().unwrap_or_else(|| same_error(&message));
                        (r, Err(error))
                    })
                    .collect();
                finish(broker, answers);
            }
        }
    }
}

/// Stores the events of several requests as one batch: moved out of the
/// requests into one list and back after the call, never copied.
async fn append_together(store: &DynStore, group: &mut [Request]) -> CommitResult {
    let sizes: Vec<usize> = group.iter().map(|r| r.batch.len()).collect();
    let mut all = Vec::with_capacity(sizes.iter().sum());
    for r in group.iter_mut() {
        all.append(&mut r.batch);
    }
    let result = store.append_batch(&all).await;
    let mut events = all.into_iter();
    for (r, size) in group.iter_mut().zip(sizes) {
        r.batch.extend(events.by_ref().take(size));
    }
    result
}

/// Whether a failed transaction may have failed because of what it stored
/// (a statement the database refused: a constraint, a trigger, bad data),
/// rather than because the database could not serve it (unreachable, busy,
/// out of resources, shutting down): only then does splitting the group help.
fn is_about_the_requests(error: &StoreError) -> bool {
    match error {
        StoreError::RoomNotFound => true,
        StoreError::Database(sqlx::Error::Database(e)) => {
            let postgres = e
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some();
            !e.code().is_some_and(|code| is_transient(postgres, &code))
        }
        StoreError::Database(e) => matches!(
            e,
            sqlx::Error::Encode(_)
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::TypeNotFound { .. }
        ),
        _ => false,
    }
}

/// A database error code that says the database, not the statement, is the
/// problem: a Postgres SQLSTATE of class 08 (connection), 40 (serialisation,
/// deadlock), 53 (resources), 57 (operator intervention, timeouts), 58
/// (system) or a lock timeout; a SQLite (extended) result code whose primary
/// code is BUSY, LOCKED, NOMEM, IOERR, CORRUPT, FULL, CANTOPEN or NOTADB.
fn is_transient(postgres: bool, code: &str) -> bool {
    if postgres {
        ["08", "40", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
            || code == "55P03"
    } else {
        code.parse::<i64>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 11 | 13 | 14 | 26))
    }
}

/// The error of a group for each of its other requests (store errors are
/// not `Clone`).
fn same_error(message: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(message.to_string()))
}

/// Publishes every newly stored message (in commit order), then answers.
fn finish(broker: &DynBroker, answers: Vec<(Request, CommitResult)>) {
    let mut fresh = Vec::new();
    for (r, result) in &answers {
        if let Ok(appended) = result {
            metrics::histogram!(crate::metrics::SEND_TO_COMMIT)
                .record(r.submitted.elapsed().as_secs_f64());
            for (a, new) in appended.iter().zip(&r.batch) {
                if let Appended::Stored(m) = a {
                    fresh.push(Arc::new(Published::new(new.room_id, m)));
                }
            }
        }
    }
    metrics::counter!(crate::metrics::MESSAGES_STORED).increment(fresh.len() as u64);
    broker.publish(fresh);
    for (r, result) in answers {
        let _ = r.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn refused_statements_are_told_apart_from_an_unavailable_database() {
        // Postgres: raise_exception, check_violation vs connection failure,
        // deadlock, too many connections, admin shutdown.
        for code in ["P0001", "23514", "23505", "22021"] {
            assert!(!is_transient(true, code), "{code}");
        }
        for code in ["08006", "40P01", "53300", "57P01", "55P03"] {
            assert!(is_transient(true, code), "{code}");
        }
        // SQLite: CONSTRAINT_TRIGGER (RAISE(ABORT)), CONSTRAINT vs BUSY,
        // BUSY_SNAPSHOT, IOERR_WRITE, FULL.
        for code in ["1811", "19"] {
            assert!(!is_transient(false, code), "{code}");
        }
        for code in ["5", "517", "778", "13"] {
            assert!(is_transient(false, code), "{code}");
        }
    }
}
