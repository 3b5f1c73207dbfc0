//! Deciding a batch of events ([`Plan`]): pure, no I/O. Given what the
//! database holds under the room locks ([`Known`]), every event of the batch
//! is decided in input order: a fresh seq, the original it repeats, or a
//! refusal, each against the log as the events before it left it (an edit
//! after a deletion in the same batch is refused like one after a deletion
//! already stored). The plan also gathers the rows to insert and their
//! effects on the messages they change. `batch.rs` runs it, after reading
//! what `plan/known.rs` lists.
//!
//! It is the one owner of every send rule that depends on the log or on a
//! role: a reply's target, who may edit, delete or react to which message
//! (a moderator's role is read under the lock, like the rest). The edges
//! check none of it beforehand. Events tied together
//! ([`NewEvent::tied_to_next`]: a STOMP transaction's SENDs) are stored all
//! or none: a refusal of one refuses the group, and what its other events
//! decided is undone.
//!
//! Threads are decided here too (`plan/threads.rs`): the thread a reply
//! joins, stored with it, its root's summary and who follows it.

use std::collections::{HashMap, HashSet};

use super::audit::NewAuditEntry;
use super::batch::{ClientKey, Edited, Effects, Inserted, NewRow, ReactionRef, Target};
use super::event::{Appended, Event, EventKind, LogWrite, NewEvent, Refusal};
use crate::mentions;

mod attachments;
mod check;
mod known;
mod threads;

pub(super) use check::check;

pub(super) use known::{
    Known, attachment_ids, client_keys, deleters, mention_candidates, names_to_look_up,
    reaction_refs, referenced,
};
use known::{client_key, distinct, reaction_ref, reference};
use threads::{Reply, Threads};
pub(super) use threads::{ThreadEffects, summary_row, thread_keys};

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

/// What the batch's events decided so far have changed: the log as the
/// next event sees it. Kept apart from [`Known`] so that a tied group
/// ([`NewEvent::tied_to_next`]) with a refusal is undone as a whole
/// ([`Decided::mark`], [`Decided::undo`]).
struct Decided<'a> {
    last_seq: HashMap<i64, i64>,
    first_in_batch: HashMap<ClientKey, usize>,
    reactions: HashMap<ReactionRef, Reaction>,
    edits: HashMap<(i64, i64), Edited<'a>>,
    /// The events the batch targets or replies to, and the messages it
    /// stores (later events may target them).
    targets: HashMap<(i64, i64), Target>,
    threads: Threads,
    /// Files attached by the batch so far.
    claimed: HashSet<String>,
    rows: Vec<NewRow<'a>>,
    effects: Effects<'a>,
}

/// What [`Decided`] was before a tied group: its maps, and how many rows
/// and erasures it had (the group only adds to those).
struct Mark<'a> {
    last_seq: HashMap<i64, i64>,
    first_in_batch: HashMap<ClientKey, usize>,
    reactions: HashMap<ReactionRef, Reaction>,
    edits: HashMap<(i64, i64), Edited<'a>>,
    targets: HashMap<(i64, i64), Target>,
    threads: Threads,
    claimed: HashSet<String>,
    rows: usize,
    erased: usize,
    audited: usize,
    attached: usize,
}

impl<'a> Plan<'a> {
    /// `locked`: every room of the batch with its last seq.
    pub(super) fn new(batch: &'a [NewEvent], locked: &[(i64, i64)], mut known: Known) -> Self {
        let mut decided = Decided {
            last_seq: locked.iter().copied().collect(),
            first_in_batch: HashMap::new(),
            reactions: HashMap::new(),
            edits: HashMap::new(),
            targets: std::mem::take(&mut known.targets),
            threads: Threads::new(std::mem::take(&mut known.threads)),
            claimed: HashSet::new(),
            rows: Vec::new(),
            effects: Effects::default(),
        };
        let mut slots = Vec::with_capacity(batch.len());
        // The first index of the tied group being decided, and the state
        // before it.
        let mut group: Option<(usize, Mark<'a>)> = None;
        for (index, event) in batch.iter().enumerate() {
            if event.tied_to_next && group.is_none() {
                group = Some((index, decided.mark()));
            }
            slots.push(decided.decide(index, event, &known));
            let group_ends = !event.tied_to_next || index + 1 == batch.len();
            if let Some((first, before)) = group.take_if(|_| group_ends) {
                let refused = slots[first..].iter().find_map(|s| match s {
                    Slot::Refused(r) => Some(*r),
                    _ => None,
                });
                if let Some(refusal) = refused {
                    decided.undo(before);
                    for slot in &mut slots[first..] {
                        *slot = Slot::Refused(refusal);
                    }
                }
            }
        }
        let Decided {
            last_seq,
            reactions,
            edits,
            targets,
            threads,
            rows,
            mut effects,
            ..
        } = decided;
        effects.threads = threads.into_effects();

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
            !targets.get(&(*room, *target)).is_some_and(|t| t.deleted)
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

impl<'a> Decided<'a> {
    fn mark(&self) -> Mark<'a> {
        Mark {
            last_seq: self.last_seq.clone(),
            first_in_batch: self.first_in_batch.clone(),
            reactions: self.reactions.clone(),
            edits: self.edits.clone(),
            targets: self.targets.clone(),
            threads: self.threads.clone(),
            claimed: self.claimed.clone(),
            rows: self.rows.len(),
            erased: self.effects.erased.len(),
            audited: self.effects.audited.len(),
            attached: self.effects.attached.len(),
        }
    }

    /// Back to `mark`: what the events decided since then did is undone.
    fn undo(&mut self, mark: Mark<'a>) {
        self.last_seq = mark.last_seq;
        self.first_in_batch = mark.first_in_batch;
        self.reactions = mark.reactions;
        self.edits = mark.edits;
        self.targets = mark.targets;
        self.threads = mark.threads;
        self.claimed = mark.claimed;
        self.rows.truncate(mark.rows);
        self.effects.erased.truncate(mark.erased);
        self.effects.audited.truncate(mark.audited);
        self.effects.attached.truncate(mark.attached);
    }

    /// Decides the event at `index` of the batch against the log as the
    /// events before it left it.
    fn decide(&mut self, index: usize, event: &'a NewEvent, known: &Known) -> Slot {
        let room = event.room_id;
        if let Some(key) = client_key(event) {
            if let Some(original) = known.stored.get(&key) {
                return Slot::Stored(Box::new(original.clone()));
            }
            if let Some(&earlier) = self.first_in_batch.get(&key) {
                return Slot::SameAs(earlier);
            }
        }
        let target = reference(event).and_then(|seq| self.targets.get(&(room, seq)).cloned());
        let reaction = reaction_ref(event).map(|r| {
            let state = self.reactions.get(&r).copied().unwrap_or_else(|| {
                known
                    .reactions
                    .get(&r)
                    .map_or(Reaction::Absent, |&seq| Reaction::Stored(seq))
            });
            (r, state)
        });
        let moderator = event.moderates || known.moderators.contains(&(room, event.sender_id));
        if let Err(refusal) = check(event, target.as_ref(), moderator) {
            return Slot::Refused(refusal);
        }
        let files = match attachments::claim(event, known, &self.claimed) {
            Ok(files) => files,
            Err(refusal) => return Slot::Refused(refusal),
        };
        // A reaction added again answers with the event that added it.
        match (&event.change, &reaction) {
            (LogWrite::React { added: true, .. }, Some((_, Reaction::Stored(seq)))) => {
                return Slot::Original(room, *seq);
            }
            (LogWrite::React { added: true, .. }, Some((_, Reaction::InBatch { index, .. }))) => {
                return Slot::SameAs(*index);
            }
            (LogWrite::React { added: false, .. }, Some((_, Reaction::Absent))) => {
                return Slot::Refused(Refusal::ReactionNotFound);
            }
            _ => {}
        }

        let seq = self
            .last_seq
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
            thread_root: None,
            target: None,
            mentions: mentions_json,
            key: None,
            added: None,
            attachments: String::from("[]"),
            newly_mentioned: None,
        };
        match &event.change {
            LogWrite::Message {
                body,
                client_id,
                reply_to,
                ..
            } => {
                for file in &files {
                    self.claimed.insert(file.id.clone());
                    self.effects.attached.push((file.id.clone(), room, seq));
                }
                if !files.is_empty() {
                    row.attachments = serde_json::to_string(&files).expect("files serialise");
                }
                row.body = body;
                row.client_id = client_id.as_deref();
                row.reply_to = *reply_to;
                // Checked above: a reply's target is a message of the room.
                row.thread_root = target.as_ref().map(|t| {
                    let reply = Reply {
                        seq,
                        sender_id: event.sender_id,
                        sender: &event.sender,
                        mentions: !mentions.is_empty(),
                    };
                    self.threads.reply(t, reply)
                });
                if let Some(key) = client_key(event) {
                    self.first_in_batch.insert(key, index);
                }
                // Later events of the batch may target it.
                self.targets.insert(
                    (room, seq),
                    Target {
                        room_id: room,
                        seq,
                        kind: EventKind::Message,
                        sender_id: event.sender_id,
                        deleted: false,
                        thread: row.thread_root,
                        mentions: mentions.clone(),
                    },
                );
            }
            LogWrite::Edit { target, body } => {
                row.kind = EventKind::Edit;
                row.body = body;
                row.target = Some(*target);
                // Checked above: a live message of the editor's. Only the
                // users its text did not mention yet are notified, and
                // follow its thread.
                if let Some(edited) = self.targets.get_mut(&(room, *target)) {
                    let added = mentions::added(&edited.mentions, &mentions);
                    edited.mentions = mentions.clone();
                    if !added.is_empty() {
                        let ids = added
                            .iter()
                            .filter_map(|name| known.member_ids.get(&(room, name.clone())));
                        self.threads.mentioned_by_edit(edited, ids.copied());
                        row.newly_mentioned =
                            Some(serde_json::to_string(&added).expect("names serialise"));
                    }
                }
                self.edits.insert(
                    (room, *target),
                    Edited {
                        room_id: room,
                        seq: *target,
                        body,
                        mentions: row.mentions.clone(),
                        edit_seq: seq,
                    },
                );
            }
            LogWrite::Delete { target } => {
                row.kind = EventKind::Delete;
                row.target = Some(*target);
                if let Some(t) = self.targets.get_mut(&(room, *target)) {
                    t.deleted = true;
                    self.threads.deleted(t);
                    // Deleted by someone else: audited with the deletion.
                    if t.sender_id != event.sender_id {
                        self.effects.audited.push(NewAuditEntry::message_deleted(
                            event.sender_id,
                            room,
                            t.sender_id,
                            *target,
                        ));
                    }
                }
                self.edits.remove(&(room, *target));
                // Its reactions go with it.
                for (r, state) in self.reactions.iter_mut() {
                    if r.0 == room && r.1 == *target {
                        *state = Reaction::Absent;
                    }
                }
                self.effects.erased.push((room, *target));
            }
            LogWrite::React { target, key, added } => {
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
                self.reactions.insert(r, state);
            }
        }
        self.rows.push(row);
        Slot::New {
            row: self.rows.len() - 1,
            mentions,
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
        thread: row.thread_root,
        thread_summary: None,
        target: row.target,
        mentions,
        key: row.key.map(str::to_owned),
        added: row.added,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        attachments: serde_json::from_str(&row.attachments).unwrap_or_default(),
        created_at: stored.created_at,
    }
}

#[cfg(test)]
mod tests;
