//! Appending a batch of messages, the same on both backends: lock the
//! batch's rooms, find the client ids already stored, give every new
//! message the next seq of its room, insert, commit, and answer in input
//! order. A backend supplies only the SQL of each step ([`AppendTx`]) and
//! how its transaction holds the rooms until commit.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Appended, Backend, Message, NewMessage, StoreError, StoreResult, Timestamp, WriteTx};

/// (room id, sender id, client id): the idempotency key of a message.
pub(super) type ClientKey = (i64, i64, String);

/// A message to insert, with the seq it was given.
pub(super) struct NewRow<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub body: &'a str,
    pub client_id: Option<&'a str>,
}

/// What the database assigned to an inserted message (on Postgres, the
/// columns its INSERT returns).
#[derive(sqlx::FromRow)]
pub(super) struct Inserted {
    pub room_id: i64,
    pub seq: i64,
    pub id: i64,
    pub created_at: Timestamp,
}

/// The steps of an append, each one statement (or a few) of SQL, all in
/// one write transaction.
#[async_trait]
pub(super) trait AppendTx: WriteTx {
    /// Locks the rooms `room_ids` (ascending, distinct: so two batches never
    /// wait for each other in a cycle) until commit, and returns
    /// `(room id, last_seq)` of those that exist.
    async fn lock_rooms(&mut self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// The messages already stored under any of `keys`.
    async fn stored_messages(
        &mut self,
        keys: &[ClientKey],
    ) -> StoreResult<Vec<(ClientKey, Message)>>;
    /// Sets `rooms.last_seq` of each `(room id, last_seq)`.
    async fn set_last_seqs(&mut self, rooms: &[(i64, i64)]) -> StoreResult<()>;
    /// Inserts `rows`, stamped with one time taken under the room locks (so
    /// it never runs backwards against seq).
    async fn insert_messages(&mut self, rows: &[NewRow<'_>]) -> StoreResult<Vec<Inserted>>;
}

/// [`super::RoomLog::append_batch`] on `backend`.
pub(super) async fn append<B: Backend>(
    backend: &B,
    batch: &[NewMessage],
) -> StoreResult<Vec<Appended>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut room_ids: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
    room_ids.sort_unstable();
    room_ids.dedup();

    let mut tx = backend.begin_write().await?;
    // Until commit, every other writer of these rooms (from any instance)
    // waits here: seq follows commit order.
    let locked = tx.lock_rooms(&room_ids).await?;
    if locked.len() != room_ids.len() {
        // Dropping `tx` rolls back.
        return Err(StoreError::RoomNotFound);
    }
    // Under the room locks, no concurrent batch can store one of these keys
    // between this lookup and our insert.
    let stored = tx.stored_messages(&client_keys(batch)).await?;
    let plan = Plan::new(batch, &locked, stored.into_iter().collect());
    let mut inserted = Vec::new();
    if !plan.rows.is_empty() {
        tx.set_last_seqs(&plan.last_seqs).await?;
        inserted = tx.insert_messages(&plan.rows).await?;
    }
    tx.commit().await?;
    Ok(plan.results(batch, inserted))
}

fn client_key(message: &NewMessage) -> Option<ClientKey> {
    message
        .client_id
        .clone()
        .map(|client_id| (message.room_id, message.sender_id, client_id))
}

/// The distinct idempotency keys of `batch`, in input order.
fn client_keys(batch: &[NewMessage]) -> Vec<ClientKey> {
    let mut keys: Vec<ClientKey> = Vec::new();
    for key in batch.iter().filter_map(client_key) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// What becomes of one message of a batch.
#[derive(Debug, PartialEq)]
enum Slot {
    /// Already stored before this batch.
    Stored(Message),
    /// Same key as the earlier message at this index of the batch.
    SameAs(usize),
    /// To be inserted with this seq.
    New(i64),
}

/// A batch decided: one slot per message, the rows to insert and the rooms'
/// new last seqs.
struct Plan<'a> {
    slots: Vec<Slot>,
    rows: Vec<NewRow<'a>>,
    /// `(room id, last_seq)` of the rooms that got new messages.
    last_seqs: Vec<(i64, i64)>,
}

impl<'a> Plan<'a> {
    /// `locked`: every room of the batch with its last seq; `stored`: the
    /// messages already stored under the batch's keys.
    fn new(
        batch: &'a [NewMessage],
        locked: &[(i64, i64)],
        stored: HashMap<ClientKey, Message>,
    ) -> Self {
        let mut last_seq: HashMap<i64, i64> = locked.iter().copied().collect();
        let mut first_in_batch: HashMap<ClientKey, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            if let Some(key) = client_key(message) {
                if let Some(original) = stored.get(&key) {
                    slots.push(Slot::Stored(original.clone()));
                    continue;
                }
                if let Some(&earlier) = first_in_batch.get(&key) {
                    slots.push(Slot::SameAs(earlier));
                    continue;
                }
                first_in_batch.insert(key, index);
            }
            let seq = last_seq
                .get_mut(&message.room_id)
                .expect("every room of the batch is locked");
            *seq += 1;
            slots.push(Slot::New(*seq));
            rows.push(NewRow {
                room_id: message.room_id,
                seq: *seq,
                sender_id: message.sender_id,
                body: &message.body,
                client_id: message.client_id.as_deref(),
            });
        }
        let last_seqs = locked
            .iter()
            .filter_map(|&(room_id, before)| {
                let after = last_seq[&room_id];
                (after != before).then_some((room_id, after))
            })
            .collect();
        Plan {
            slots,
            rows,
            last_seqs,
        }
    }

    /// One result per message of `batch`, in input order.
    fn results(self, batch: &[NewMessage], inserted: Vec<Inserted>) -> Vec<Appended> {
        let inserted: HashMap<(i64, i64), Inserted> = inserted
            .into_iter()
            .map(|row| ((row.room_id, row.seq), row))
            .collect();
        let mut results: Vec<Appended> = Vec::with_capacity(batch.len());
        for (message, slot) in batch.iter().zip(self.slots) {
            let appended = match slot {
                Slot::Stored(original) => Appended::Duplicate(original),
                Slot::SameAs(earlier) => Appended::Duplicate(results[earlier].message().clone()),
                Slot::New(seq) => {
                    let row = &inserted[&(message.room_id, seq)];
                    Appended::Stored(Message {
                        id: row.id,
                        room: message.room.clone(),
                        seq,
                        sender: message.sender.clone(),
                        body: message.body.clone(),
                        client_id: message.client_id.clone(),
                        created_at: row.created_at,
                    })
                }
            };
            results.push(appended);
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(room_id: i64, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room_id,
            room: format!("room-{room_id}"),
            sender_id: 7,
            sender: "alice".into(),
            body: "hi".into(),
            client_id: client_id.map(str::to_owned),
        }
    }

    #[test]
    fn each_room_continues_its_seq_and_repeats_take_none() {
        let batch = [
            new(1, Some("a")),
            new(2, None),
            new(1, Some("a")),
            new(1, None),
        ];
        let plan = Plan::new(&batch, &[(1, 10), (2, 0), (3, 5)], HashMap::new());
        assert_eq!(
            plan.slots,
            [Slot::New(11), Slot::New(1), Slot::SameAs(0), Slot::New(12)]
        );
        assert_eq!(plan.last_seqs, [(1, 12), (2, 1)], "room 3 is untouched");
        let rows: Vec<(i64, i64)> = plan.rows.iter().map(|r| (r.room_id, r.seq)).collect();
        assert_eq!(rows, [(1, 11), (2, 1), (1, 12)]);
    }

    #[test]
    fn a_stored_key_is_the_original_every_time() {
        let original = Message {
            id: 3,
            room: "room-1".into(),
            seq: 4,
            sender: "alice".into(),
            body: "first".into(),
            client_id: Some("a".into()),
            created_at: Timestamp::UNIX_EPOCH,
        };
        let batch = [new(1, Some("a")), new(1, Some("a"))];
        assert_eq!(client_keys(&batch), [(1, 7, "a".to_owned())]);
        let stored = HashMap::from([((1, 7, "a".to_owned()), original.clone())]);
        let plan = Plan::new(&batch, &[(1, 4)], stored);
        assert!(plan.rows.is_empty() && plan.last_seqs.is_empty());
        assert_eq!(
            plan.results(&batch, Vec::new()),
            [
                Appended::Duplicate(original.clone()),
                Appended::Duplicate(original)
            ]
        );
    }
}
