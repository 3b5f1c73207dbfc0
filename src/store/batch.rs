//! Appending a batch of events, the same on both backends: lock the batch's
//! rooms, read what the batch depends on (client ids already stored, the
//! messages it targets or replies to, the reactions it adds or removes, the
//! members it may mention), decide every event in input order ([`Plan`]),
//! write the events and their effects on the messages they change, commit,
//! and answer in input order. A backend supplies only the SQL of each step
//! ([`AppendTx`]) and how its transaction holds the rooms until commit.
//!
//! Everything is decided under the room locks, so concurrent edits,
//! deletions and reactions from any instance are checked against the state
//! that the events before them (in seq order) left.

use std::collections::HashMap;

use async_trait::async_trait;

use super::event::{Appended, Change, Event, EventKind, NewEvent, Refusal};
use super::{Backend, StoreError, StoreResult, Timestamp, WriteTx};
use crate::mentions;

/// (room id, sender id, client id): the idempotency key of a message.
pub(super) type ClientKey = (i64, i64, String);

/// (room id, message seq, user id, key): one user's reaction.
pub(super) type ReactionRef = (i64, i64, i64, String);

/// A stored message as the rules of edit, delete, reply and react see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub room_id: i64,
    pub seq: i64,
    pub kind: EventKind,
    pub sender_id: i64,
    pub deleted: bool,
}

/// An event to insert, with the seq it was given.
pub(super) struct NewRow<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub kind: EventKind,
    pub sender_id: i64,
    pub body: &'a str,
    pub client_id: Option<&'a str>,
    pub reply_to: Option<i64>,
    pub target: Option<i64>,
    /// JSON array of canonical usernames.
    pub mentions: String,
    pub key: Option<&'a str>,
    pub added: Option<bool>,
}

/// What the database assigned to an inserted event (on Postgres, the
/// columns its INSERT returns).
#[derive(sqlx::FromRow)]
pub(super) struct Inserted {
    pub room_id: i64,
    pub seq: i64,
    pub id: i64,
    pub created_at: Timestamp,
}

/// A message's text replaced by its latest edit in the batch.
pub(super) struct Edited<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub body: &'a str,
    pub mentions: String,
    /// The edit event: its time is the message's `edited_at`.
    pub edit_seq: i64,
}

/// The changes a batch makes to messages already in the log (or stored
/// earlier in the same batch), applied after its events are inserted.
#[derive(Default)]
pub(super) struct Effects<'a> {
    pub edited: Vec<Edited<'a>>,
    /// Reactions to store, with the seq of the event that added them.
    pub reacted: Vec<(ReactionRef, i64)>,
    pub unreacted: Vec<ReactionRef>,
    /// (room id, seq) of deleted messages: their text, the text of their
    /// edits and their reactions are erased.
    pub erased: Vec<(i64, i64)>,
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
    async fn stored_messages(&mut self, keys: &[ClientKey])
    -> StoreResult<Vec<(ClientKey, Event)>>;
    /// The events at `(room id, seq)` of `at` that exist.
    async fn targets(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Target>>;
    /// Which of `reactions` exist, with the seq of the event that added each.
    async fn reactions(
        &mut self,
        reactions: &[ReactionRef],
    ) -> StoreResult<Vec<(ReactionRef, i64)>>;
    /// Of the `(room id, lowercased name)` pairs, those naming a member of
    /// the room: `(room id, lowercased name, canonical username)`.
    async fn members_named(
        &mut self,
        names: &[(i64, String)],
    ) -> StoreResult<Vec<(i64, String, String)>>;
    /// Sets `rooms.last_seq` of each `(room id, last_seq)`.
    async fn set_last_seqs(&mut self, rooms: &[(i64, i64)]) -> StoreResult<()>;
    /// Inserts `rows`, stamped with one time taken under the room locks (so
    /// it never runs backwards against seq).
    async fn insert_events(&mut self, rows: &[NewRow<'_>]) -> StoreResult<Vec<Inserted>>;
    /// Applies `effects`: edits, then reactions added and removed, then
    /// erasures (which overwrite the text of the message and of all its
    /// edit events, and remove its reactions).
    async fn apply(&mut self, effects: &Effects<'_>) -> StoreResult<()>;
    /// The events at `(room id, seq)` of `at`, in their current state.
    async fn events(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Event>>;
}

/// [`super::RoomLog::append_batch`] on `backend`.
pub(super) async fn append<B: Backend>(
    backend: &B,
    batch: &[NewEvent],
) -> StoreResult<Vec<Appended>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut room_ids: Vec<i64> = batch.iter().map(|e| e.room_id).collect();
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
    // Under the room locks, nothing read here can change before commit.
    let known = Known {
        stored: tx
            .stored_messages(&client_keys(batch))
            .await?
            .into_iter()
            .collect(),
        targets: tx
            .targets(&referenced(batch))
            .await?
            .into_iter()
            .map(|t| ((t.room_id, t.seq), t))
            .collect(),
        reactions: tx
            .reactions(&reaction_refs(batch))
            .await?
            .into_iter()
            .collect(),
        members: {
            let names = mention_candidates(batch);
            if names.is_empty() {
                HashMap::new()
            } else {
                let mut members: HashMap<i64, HashMap<String, String>> = HashMap::new();
                for (room, lower, canonical) in tx.members_named(&names).await? {
                    members.entry(room).or_default().insert(lower, canonical);
                }
                members
            }
        },
    };
    let plan = Plan::new(batch, &locked, known);
    let mut inserted = Vec::new();
    if !plan.rows.is_empty() {
        tx.set_last_seqs(&plan.last_seqs).await?;
        inserted = tx.insert_events(&plan.rows).await?;
        tx.apply(&plan.effects).await?;
    }
    let originals = if plan.originals.is_empty() {
        Vec::new()
    } else {
        tx.events(&plan.originals).await?
    };
    tx.commit().await?;
    Ok(plan.results(batch, inserted, originals))
}

fn client_key(event: &NewEvent) -> Option<ClientKey> {
    match &event.change {
        Change::Message {
            client_id: Some(client_id),
            ..
        } => Some((event.room_id, event.sender_id, client_id.clone())),
        _ => None,
    }
}

fn reaction_ref(event: &NewEvent) -> Option<ReactionRef> {
    match &event.change {
        Change::React { target, key, .. } => {
            Some((event.room_id, *target, event.sender_id, key.clone()))
        }
        _ => None,
    }
}

/// The seq an event targets or replies to.
fn reference(event: &NewEvent) -> Option<i64> {
    match &event.change {
        Change::Message { reply_to, .. } => *reply_to,
        Change::Edit { target, .. }
        | Change::Delete { target, .. }
        | Change::React { target, .. } => Some(*target),
    }
}

/// Distinct values in input order.
fn distinct<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The distinct idempotency keys of `batch`, in input order.
fn client_keys(batch: &[NewEvent]) -> Vec<ClientKey> {
    distinct(batch.iter().filter_map(client_key))
}

/// The distinct `(room id, seq)` that `batch` targets or replies to.
fn referenced(batch: &[NewEvent]) -> Vec<(i64, i64)> {
    distinct(
        batch
            .iter()
            .filter_map(|e| reference(e).map(|seq| (e.room_id, seq))),
    )
}

fn reaction_refs(batch: &[NewEvent]) -> Vec<ReactionRef> {
    distinct(batch.iter().filter_map(reaction_ref))
}

/// The distinct `(room id, lowercased name)` that bodies of `batch` may
/// mention.
fn mention_candidates(batch: &[NewEvent]) -> Vec<(i64, String)> {
    distinct(batch.iter().flat_map(|e| {
        let names = e.body().map(mentions::candidates).unwrap_or_default();
        names.into_iter().map(move |name| (e.room_id, name))
    }))
}

/// What the batch's decisions depend on, read under the room locks.
#[derive(Default)]
struct Known {
    /// Messages already stored under the batch's client ids.
    stored: HashMap<ClientKey, Event>,
    /// The events the batch targets or replies to, by (room id, seq).
    targets: HashMap<(i64, i64), Target>,
    /// Reactions the batch adds or removes that exist, with their seq.
    reactions: HashMap<ReactionRef, i64>,
    /// Per room, the members the batch may mention (lowercased → canonical).
    members: HashMap<i64, HashMap<String, String>>,
}

/// What becomes of one event of a batch.
#[derive(Debug, PartialEq)]
enum Slot {
    /// Already stored before this batch.
    Stored(Box<Event>),
    /// The same as the earlier event at this index of the batch.
    SameAs(usize),
    /// The same as the stored event at (room id, seq) (read after the
    /// writes, in its current state).
    Original(i64, i64),
    /// To be inserted with this seq and these mentions.
    New {
        seq: i64,
        mentions: Vec<String>,
    },
    Refused(Refusal),
}

/// A reaction's state as the batch goes: present (added by the event at
/// this seq, or by the batch's event at this index) or absent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reaction {
    Stored(i64),
    InBatch { index: usize, seq: i64 },
    Absent,
}

/// A batch decided: one slot per event, the rows to insert, their effects
/// and the rooms' new last seqs.
struct Plan<'a> {
    slots: Vec<Slot>,
    rows: Vec<NewRow<'a>>,
    effects: Effects<'a>,
    /// `(room id, last_seq)` of the rooms that got new events.
    last_seqs: Vec<(i64, i64)>,
    /// Stored events that some slot answers with, to read after the writes.
    originals: Vec<(i64, i64)>,
}

impl<'a> Plan<'a> {
    /// `locked`: every room of the batch with its last seq.
    fn new(batch: &'a [NewEvent], locked: &[(i64, i64)], mut known: Known) -> Self {
        let mut last_seq: HashMap<i64, i64> = locked.iter().copied().collect();
        let mut first_in_batch: HashMap<ClientKey, usize> = HashMap::new();
        let mut reactions: HashMap<ReactionRef, Reaction> = HashMap::new();
        let mut edits: HashMap<(i64, i64), Edited<'a>> = HashMap::new();
        let mut slots = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        let mut effects = Effects::default();
        for (index, event) in batch.iter().enumerate() {
            let room = event.room_id;
            if let Some(key) = client_key(event) {
                if let Some(original) = known.stored.get(&key) {
                    slots.push(Slot::Stored(Box::new(original.clone())));
                    continue;
                }
                if let Some(&earlier) = first_in_batch.get(&key) {
                    slots.push(Slot::SameAs(earlier));
                    continue;
                }
            }
            let target = reference(event).and_then(|seq| known.targets.get(&(room, seq)));
            let reaction = reaction_ref(event).map(|r| {
                let state = reactions.get(&r).copied().unwrap_or_else(|| {
                    known
                        .reactions
                        .get(&r)
                        .map_or(Reaction::Absent, |&seq| Reaction::Stored(seq))
                });
                (r, state)
            });
            if let Err(refusal) = check(event, target) {
                slots.push(Slot::Refused(refusal));
                continue;
            }
            // A reaction added again answers with the event that added it.
            match (&event.change, &reaction) {
                (Change::React { added: true, .. }, Some((_, Reaction::Stored(seq)))) => {
                    slots.push(Slot::Original(room, *seq));
                    continue;
                }
                (Change::React { added: true, .. }, Some((_, Reaction::InBatch { index, .. }))) => {
                    slots.push(Slot::SameAs(*index));
                    continue;
                }
                (Change::React { added: false, .. }, Some((_, Reaction::Absent))) => {
                    slots.push(Slot::Refused(Refusal::ReactionNotFound));
                    continue;
                }
                _ => {}
            }

            let seq = last_seq
                .get_mut(&room)
                .expect("every room of the batch is locked");
            *seq += 1;
            let seq = *seq;
            let mentions = event.body().map_or_else(Vec::new, |body| {
                let members = known.members.get(&room);
                members.map_or_else(Vec::new, |m| {
                    mentions::resolve(&mentions::candidates(body), m)
                })
            });
            let mentions_json = serde_json::to_string(&mentions).expect("names serialise");
            let mut row = NewRow {
                room_id: room,
                seq,
                kind: EventKind::Message,
                sender_id: event.sender_id,
                body: "",
                client_id: None,
                reply_to: None,
                target: None,
                mentions: mentions_json.clone(),
                key: None,
                added: None,
            };
            match &event.change {
                Change::Message {
                    body,
                    client_id,
                    reply_to,
                } => {
                    row.body = body;
                    row.client_id = client_id.as_deref();
                    row.reply_to = *reply_to;
                    if let Some(key) = client_key(event) {
                        first_in_batch.insert(key, index);
                    }
                    // Later events of the batch may target it.
                    known.targets.insert(
                        (room, seq),
                        Target {
                            room_id: room,
                            seq,
                            kind: EventKind::Message,
                            sender_id: event.sender_id,
                            deleted: false,
                        },
                    );
                }
                Change::Edit { target, body } => {
                    row.kind = EventKind::Edit;
                    row.body = body;
                    row.target = Some(*target);
                    edits.insert(
                        (room, *target),
                        Edited {
                            room_id: room,
                            seq: *target,
                            body,
                            mentions: mentions_json,
                            edit_seq: seq,
                        },
                    );
                }
                Change::Delete { target, .. } => {
                    row.kind = EventKind::Delete;
                    row.target = Some(*target);
                    if let Some(t) = known.targets.get_mut(&(room, *target)) {
                        t.deleted = true;
                    }
                    edits.remove(&(room, *target));
                    // Its reactions go with it.
                    for (r, state) in reactions.iter_mut() {
                        if r.0 == room && r.1 == *target {
                            *state = Reaction::Absent;
                        }
                    }
                    effects.erased.push((room, *target));
                }
                Change::React { target, key, added } => {
                    row.kind = EventKind::Reaction;
                    row.target = Some(*target);
                    row.key = Some(key);
                    row.added = Some(*added);
                    let (r, _) = reaction.expect("a reaction has a ref");
                    let state = if *added {
                        Reaction::InBatch { index, seq }
                    } else {
                        Reaction::Absent
                    };
                    reactions.insert(r, state);
                }
            }
            rows.push(row);
            slots.push(Slot::New { seq, mentions });
        }

        // Net effect of the batch's reactions against what was stored.
        for (r, state) in reactions {
            let before = known.reactions.get(&r).copied();
            match (state, before) {
                (Reaction::InBatch { seq, .. }, _) => effects.reacted.push((r, seq)),
                (Reaction::Absent, Some(_)) => effects.unreacted.push(r),
                _ => {}
            }
        }
        // Erasures remove every reaction of the message anyway.
        effects.reacted.sort_by_key(|(_, seq)| *seq);
        effects.reacted.retain(|((room, target, ..), _)| {
            !known
                .targets
                .get(&(*room, *target))
                .is_some_and(|t| t.deleted)
        });
        effects.edited = edits.into_values().collect();
        effects.edited.sort_by_key(|e| e.edit_seq);

        let originals = distinct(slots.iter().filter_map(|s| match s {
            Slot::Original(room, seq) => Some((*room, *seq)),
            _ => None,
        }));
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
            effects,
            last_seqs,
            originals,
        }
    }

    /// One result per event of `batch`, in input order.
    fn results(
        self,
        batch: &[NewEvent],
        inserted: Vec<Inserted>,
        originals: Vec<Event>,
    ) -> Vec<Appended> {
        let inserted: HashMap<(i64, i64), Inserted> = inserted
            .into_iter()
            .map(|row| ((row.room_id, row.seq), row))
            .collect();
        let originals: HashMap<(String, i64), Event> = originals
            .into_iter()
            .map(|e| ((e.room.clone(), e.seq), e))
            .collect();
        let mut results: Vec<Appended> = Vec::with_capacity(batch.len());
        for (event, slot) in batch.iter().zip(self.slots) {
            let appended = match slot {
                Slot::Stored(original) => Appended::Duplicate(*original),
                Slot::SameAs(earlier) => match &results[earlier] {
                    Appended::Stored(e) | Appended::Duplicate(e) => Appended::Duplicate(e.clone()),
                    Appended::Refused(r) => Appended::Refused(*r),
                },
                Slot::Original(_, seq) => match originals.get(&(event.room.clone(), seq)) {
                    Some(original) => Appended::Duplicate(original.clone()),
                    // Stored under the lock a moment ago: cannot be missing.
                    None => Appended::Refused(Refusal::MessageNotFound),
                },
                Slot::Refused(refusal) => Appended::Refused(refusal),
                Slot::New { seq, mentions } => {
                    let row = &inserted[&(event.room_id, seq)];
                    Appended::Stored(committed(event, seq, mentions, row))
                }
            };
            results.push(appended);
        }
        results
    }
}

/// Whether `event` may be stored, given the event it targets or replies to
/// (None: no event at that seq in the room).
fn check(event: &NewEvent, target: Option<&Target>) -> Result<(), Refusal> {
    let message = target.filter(|t| t.kind == EventKind::Message);
    match &event.change {
        Change::Message { reply_to: None, .. } => Ok(()),
        Change::Message { .. } => message.map(|_| ()).ok_or(Refusal::InvalidReply),
        Change::Edit { .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else if t.sender_id != event.sender_id {
                Err(Refusal::Forbidden)
            } else {
                Ok(())
            }
        }
        Change::Delete { any, .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else if t.sender_id != event.sender_id && !any {
                Err(Refusal::Forbidden)
            } else {
                Ok(())
            }
        }
        Change::React { .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else {
                Ok(())
            }
        }
    }
}

/// The event as committed (what a live MESSAGE frame shows).
fn committed(event: &NewEvent, seq: i64, mentions: Vec<String>, row: &Inserted) -> Event {
    let mut e = Event {
        id: row.id,
        room: event.room.clone(),
        seq,
        kind: EventKind::Message,
        sender: event.sender.clone(),
        body: String::new(),
        client_id: None,
        reply_to: None,
        target: None,
        mentions,
        key: None,
        added: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        created_at: row.created_at,
    };
    match &event.change {
        Change::Message {
            body,
            client_id,
            reply_to,
        } => {
            e.body = body.clone();
            e.client_id = client_id.clone();
            e.reply_to = *reply_to;
        }
        Change::Edit { target, body } => {
            e.kind = EventKind::Edit;
            e.body = body.clone();
            e.target = Some(*target);
        }
        Change::Delete { target, .. } => {
            e.kind = EventKind::Delete;
            e.target = Some(*target);
        }
        Change::React { target, key, added } => {
            e.kind = EventKind::Reaction;
            e.target = Some(*target);
            e.key = Some(key.clone());
            e.added = Some(*added);
        }
    }
    e
}

#[cfg(test)]
mod tests;
