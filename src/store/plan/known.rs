//! What a batch's decisions depend on: the keys of what `batch.rs` reads
//! under the room locks (client ids, targets, reactions, mentioned names,
//! deleters' roles), and what it read ([`Known`]).

use std::collections::{HashMap, HashSet};

use crate::mentions;
use crate::store::ThreadSummary;
use crate::store::batch::{ClientKey, ReactionRef, Target};
use crate::store::event::{Event, LogWrite, NewEvent};
use crate::store::files::Attachable;

pub(in crate::store) fn client_key(event: &NewEvent) -> Option<ClientKey> {
    match &event.change {
        LogWrite::Message {
            client_id: Some(client_id),
            ..
        } => Some((event.room_id, event.sender_id, client_id.clone())),
        _ => None,
    }
}

pub(in crate::store) fn reaction_ref(event: &NewEvent) -> Option<ReactionRef> {
    match &event.change {
        LogWrite::React { target, key, .. } => {
            Some((event.room_id, *target, event.sender_id, key.clone()))
        }
        _ => None,
    }
}

/// The seq an event targets or replies to.
pub(in crate::store) fn reference(event: &NewEvent) -> Option<i64> {
    match &event.change {
        LogWrite::Message { reply_to, .. } => *reply_to,
        LogWrite::Edit { target, .. }
        | LogWrite::Delete { target, .. }
        | LogWrite::React { target, .. } => Some(*target),
    }
}

/// Distinct values in input order.
pub(in crate::store) fn distinct<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The distinct idempotency keys of `batch`, in input order.
pub(in crate::store) fn client_keys(batch: &[NewEvent]) -> Vec<ClientKey> {
    distinct(batch.iter().filter_map(client_key))
}

/// The distinct `(room id, seq)` that `batch` targets or replies to.
pub(in crate::store) fn referenced(batch: &[NewEvent]) -> Vec<(i64, i64)> {
    distinct(
        batch
            .iter()
            .filter_map(|e| reference(e).map(|seq| (e.room_id, seq))),
    )
}

pub(in crate::store) fn reaction_refs(batch: &[NewEvent]) -> Vec<ReactionRef> {
    distinct(batch.iter().filter_map(reaction_ref))
}

/// Per event of `batch`, the lowercased names its body may mention (each
/// body is read once).
pub(in crate::store) fn mention_candidates(batch: &[NewEvent]) -> Vec<Vec<String>> {
    batch
        .iter()
        .map(|e| e.body().map(mentions::candidates).unwrap_or_default())
        .collect()
}

/// The distinct `(room id, lowercased name)` among `candidates` (one list
/// per event of `batch`): whom to look up among the rooms' members.
pub(in crate::store) fn names_to_look_up(
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
pub(in crate::store) struct Known {
    /// Messages already stored under the batch's client ids.
    pub(in crate::store) stored: HashMap<ClientKey, Event>,
    /// The events the batch targets or replies to, by (room id, seq).
    pub(in crate::store) targets: HashMap<(i64, i64), Target>,
    /// Reactions the batch adds or removes that exist, with their seq.
    pub(in crate::store) reactions: HashMap<ReactionRef, i64>,
    /// Per event, the names its body may mention ([`mention_candidates`]).
    pub(in crate::store) candidates: Vec<Vec<String>>,
    /// Per room, the members the batch may mention (lowercased → canonical).
    pub(in crate::store) members: HashMap<i64, HashMap<String, String>>,
    /// The user id of each of those members, by (room id, canonical name).
    pub(in crate::store) member_ids: HashMap<(i64, String), i64>,
    /// (room id, user id) of the batch's deleters who are the room's owner
    /// or a moderator ([`deleters`]).
    pub(in crate::store) moderators: HashSet<(i64, i64)>,
    /// The stored summaries of the threads of the targets
    /// ([`super::thread_keys`]), by (room id, root seq).
    pub(in crate::store) threads: HashMap<(i64, i64), ThreadSummary>,
    /// The files the batch attaches that exist and may be attached, by id
    /// ([`attachment_ids`]).
    pub(in crate::store) files: HashMap<String, Attachable>,
}

/// The distinct file ids the batch's messages attach.
pub(in crate::store) fn attachment_ids(batch: &[NewEvent]) -> Vec<String> {
    let mut ids: Vec<String> = batch
        .iter()
        .flat_map(|e| match &e.change {
            LogWrite::Message { attachments, .. } => attachments.clone(),
            _ => Vec::new(),
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The distinct `(room id, sender id)` of the batch's deletions: whose
/// role to read (a moderator may delete anyone's message).
pub(in crate::store) fn deleters(batch: &[NewEvent]) -> Vec<(i64, i64)> {
    distinct(batch.iter().filter_map(|e| match e.change {
        LogWrite::Delete { .. } => Some((e.room_id, e.sender_id)),
        _ => None,
    }))
}
