//! Deciding a batch of events ([`Plan`]): pure, no I/O. Given what the
//! database holds under the room locks ([`Known`]), every event of the batch
//! is decided in input order: a fresh seq, the original it repeats, or a
//! refusal, each against the log as the events before it left it (an edit
//! after a deletion in the same batch is refused like one after a deletion
//! already stored). The plan also gathers the rows to insert and their
//! effects on the messages they change. `batch.rs` runs it.

use std::collections::HashMap;

use super::batch::{ClientKey, Edited, Effects, Inserted, NewRow, ReactionRef, Target};
use super::event::{Appended, Change, Event, EventKind, NewEvent, Refusal};
use crate::mentions;

pub(super) fn client_key(event: &NewEvent) -> Option<ClientKey> {
    match &event.change {
        Change::Message {
            client_id: Some(client_id),
            ..
        } => Some((event.room_id, event.sender_id, client_id.clone())),
        _ => None,
    }
}

pub(super) fn reaction_ref(event: &NewEvent) -> Option<ReactionRef> {
    match &event.change {
        Change::React { target, key, .. } => {
            Some((event.room_id, *target, event.sender_id, key.clone()))
        }
        _ => None,
    }
}

/// The seq an event targets or replies to.
pub(super) fn reference(event: &NewEvent) -> Option<i64> {
    match &event.change {
        Change::Message { reply_to, .. } => *reply_to,
        Change::Edit { target, .. }
        | Change::Delete { target, .. }
        | Change::React { target, .. } => Some(*target),
    }
}

/// Distinct values in input order.
pub(super) fn distinct<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The distinct idempotency keys of `batch`, in input order.
pub(super) fn client_keys(batch: &[NewEvent]) -> Vec<ClientKey> {
    distinct(batch.iter().filter_map(client_key))
}

/// The distinct `(room id, seq)` that `batch` targets or replies to.
pub(super) fn referenced(batch: &[NewEvent]) -> Vec<(i64, i64)> {
    distinct(
        batch
            .iter()
            .filter_map(|e| reference(e).map(|seq| (e.room_id, seq))),
    )
}

pub(super) fn reaction_refs(batch: &[NewEvent]) -> Vec<ReactionRef> {
    distinct(batch.iter().filter_map(reaction_ref))
}

/// Per event of `batch`, the lowercased names its body may mention (each
/// body is read once).
pub(super) fn mention_candidates(batch: &[NewEvent]) -> Vec<Vec<String>> {
    batch
        .iter()
        .map(|e| e.body().map(mentions::candidates).unwrap_or_default())
        .collect()
}

/// The distinct `(room id, lowercased name)` among `candidates` (one list
/// per event of `batch`): whom to look up among the rooms' members.
pub(super) fn names_to_look_up(
    batch: &[NewEvent],
    candidates: &[Vec<String>],
) -> Vec<(i64, String)> {
    distinct(
        batch
            .iter()
            .zip(candidates)
            .flat_map(|(e, names)| names.iter().map(move |name| (e.room_id, name.clone()))),
    )
}

/// What the batch's decisions depend on, read under the room locks.
#[derive(Default)]
pub(super) struct Known {
    /// Messages already stored under the batch's client ids.
    pub(super) stored: HashMap<ClientKey, Event>,
    /// The events the batch targets or replies to, by (room id, seq).
    pub(super) targets: HashMap<(i64, i64), Target>,
    /// Reactions the batch adds or removes that exist, with their seq.
    pub(super) reactions: HashMap<ReactionRef, i64>,
    /// Per event, the names its body may mention ([`mention_candidates`]).
    pub(super) candidates: Vec<Vec<String>>,
    /// Per room, the members the batch may mention (lowercased → canonical).
    pub(super) members: HashMap<i64, HashMap<String, String>>,
}

/// What becomes of one event of a batch.
#[derive(Debug, PartialEq)]
pub(super) enum Slot {
    /// Already stored before this batch.
    Stored(Box<Event>),
    /// The same as the earlier event at this index of the batch.
    SameAs(usize),
    /// The same as the stored event at (room id, seq) (read after the
    /// writes, in its current state).
    Original(i64, i64),
    /// To be inserted as the plan's row at this index, with these mentions.
    New {
        row: usize,
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
pub(super) struct Plan<'a> {
    pub(super) slots: Vec<Slot>,
    pub(super) rows: Vec<NewRow<'a>>,
    pub(super) effects: Effects<'a>,
    /// `(room id, last_seq)` of the rooms that got new events.
    pub(super) last_seqs: Vec<(i64, i64)>,
    /// Stored events that some slot answers with, to read after the writes.
    pub(super) originals: Vec<(i64, i64)>,
}

impl<'a> Plan<'a> {
    /// `locked`: every room of the batch with its last seq.
    pub(super) fn new(batch: &'a [NewEvent], locked: &[(i64, i64)], mut known: Known) -> Self {
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
            let mentions = match (known.candidates.get(index), known.members.get(&room)) {
                (Some(names), Some(members)) => mentions::resolve(names, members),
                _ => Vec::new(),
            };
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
            slots.push(Slot::New {
                row: rows.len(),
                mentions,
            });
            rows.push(row);
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
    pub(super) fn results(
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
                Slot::New { row, mentions } => {
                    let row = &self.rows[row];
                    let stored = &inserted[&(row.room_id, row.seq)];
                    Appended::Stored(committed(event, row, mentions, stored))
                }
            };
            results.push(appended);
        }
        results
    }
}

/// Whether `event` may be stored, given the event it targets or replies to
/// (None: no event at that seq in the room).
pub(super) fn check(event: &NewEvent, target: Option<&Target>) -> Result<(), Refusal> {
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
fn committed(event: &NewEvent, row: &NewRow, mentions: Vec<String>, stored: &Inserted) -> Event {
    Event {
        id: stored.id,
        room: event.room.clone(),
        seq: row.seq,
        kind: row.kind,
        sender: event.sender.clone(),
        body: row.body.to_owned(),
        client_id: row.client_id.map(str::to_owned),
        reply_to: row.reply_to,
        target: row.target,
        mentions,
        key: row.key.map(str::to_owned),
        added: row.added,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        created_at: stored.created_at,
    }
}

#[cfg(test)]
mod tests;
