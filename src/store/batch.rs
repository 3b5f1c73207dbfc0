//! Appending a batch of events, the same on both backends: lock the batch's
//! rooms, read what the batch depends on (client ids already stored, the
//! messages it targets or replies to, the reactions it adds or removes, the
//! members it may mention, whether its deleters moderate the room, the
//! summaries of the threads it may change), decide every event in input
//! order (`plan.rs`),
//! write the events and their effects on the messages they change, commit,
//! and answer in input order. A backend supplies only the SQL of each step
//! ([`AppendTx`]) and how its transaction holds the rooms until commit.
//!
//! Everything is decided under the room locks, so concurrent edits,
//! deletions and reactions from any instance are checked against the state
//! that the events before them (in seq order) left. A batch whose decisions
//! read nothing but the rooms' `last_seq` (plain messages: no client id,
//! reply, attachment or mention) needs no lock taken beforehand: where the
//! backend can ([`Backend::insert_unlocked`]), its rooms' seqs are raised
//! and its rows inserted in one autocommitted step, which holds the rooms'
//! rows until it commits.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use super::audit::NewAuditEntry;
use super::event::{Appended, Event, EventKind, NewEvent};
use super::files::Attachable;
use super::plan::{
    Known, Plan, ThreadEffects, attachment_ids, client_keys, deleters, mention_candidates,
    names_to_look_up, reaction_refs, referenced, thread_keys,
};
use super::{Backend, StoreError, StoreResult, ThreadSummary, Timestamp, WriteTx};

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
    /// The root of the message's thread, if it is a reply.
    pub thread: Option<i64>,
    /// The canonical usernames its current text mentions (an edit
    /// notifies only those it adds).
    pub mentions: Vec<String>,
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
    /// A reply: the root of its thread (decided by the plan).
    pub thread_root: Option<i64>,
    pub target: Option<i64>,
    /// JSON array of canonical usernames.
    pub mentions: String,
    pub key: Option<&'a str>,
    pub added: Option<bool>,
    /// JSON array of the files a message carries (`FileMeta`).
    pub attachments: String,
    /// An edit that mentions users the text before it did not: their
    /// canonical usernames as a JSON array (not stored with the event;
    /// `AppendTx::queue_pushes` notifies them).
    pub newly_mentioned: Option<String>,
}

/// A new message, or one an edit made mention more users, whose pushes
/// `AppendTx::queue_pushes` decides.
pub(super) struct DueCheck<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    /// JSON array of canonical usernames.
    pub mentions: &'a str,
    /// The root of its thread, if it is a reply.
    pub thread_root: Option<i64>,
    /// An edit: only `mentions` (those it added) are due, and only for
    /// being mentioned (README, "Notifications").
    pub only_mentions: bool,
}

impl<'a> DueCheck<'a> {
    /// What `row` makes due: a new message, or an edit that adds mentions.
    fn of(row: &'a NewRow<'_>) -> Option<Self> {
        match (row.kind, row.newly_mentioned.as_deref(), row.target) {
            (EventKind::Message, _, _) => Some(DueCheck {
                room_id: row.room_id,
                seq: row.seq,
                sender_id: row.sender_id,
                mentions: row.mentions.as_str(),
                thread_root: row.thread_root,
                only_mentions: false,
            }),
            (EventKind::Edit, Some(added), Some(edited)) => Some(DueCheck {
                room_id: row.room_id,
                seq: edited,
                sender_id: row.sender_id,
                mentions: added,
                thread_root: None,
                only_mentions: true,
            }),
            _ => None,
        }
    }
}

/// What the database assigned to an inserted event.
pub(super) struct Inserted {
    pub room_id: i64,
    pub seq: i64,
    pub id: i64,
    pub created_at: Timestamp,
}

/// A message's text replaced by its latest edit in the batch.
#[derive(Clone)]
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
    /// edits, their reactions and their files are erased.
    pub erased: Vec<(i64, i64)>,
    /// Thread summaries and follows (`plan/threads.rs`).
    pub threads: ThreadEffects,
    /// Audit entries of messages deleted by someone other than their
    /// sender (`audit.rs`), written in the same transaction.
    pub audited: Vec<NewAuditEntry>,
    /// (file id, room id, seq of the message now carrying it).
    pub attached: Vec<(String, i64, i64)>,
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
    /// The stored summaries of the threads `(room id, root seq)` of `at`
    /// that exist.
    async fn threads(&mut self, at: &[(i64, i64)])
    -> StoreResult<Vec<((i64, i64), ThreadSummary)>>;
    /// Which of `reactions` exist, with the seq of the event that added each.
    async fn reactions(
        &mut self,
        reactions: &[ReactionRef],
    ) -> StoreResult<Vec<(ReactionRef, i64)>>;
    /// Of the `(room id, lowercased name)` pairs, those naming a member of
    /// the room: `(room id, lowercased name, canonical username, user id)`.
    async fn members_named(
        &mut self,
        names: &[(i64, String)],
    ) -> StoreResult<Vec<(i64, String, String, i64)>>;
    /// The files of `ids` that exist and may still be attached (uploaded
    /// less than a day ago, so the sweeper does not take them meanwhile).
    async fn attachable(&mut self, ids: &[String]) -> StoreResult<Vec<Attachable>>;
    /// Of the `(room id, user id)` pairs, those whose user is the room's
    /// owner or one of its moderators.
    async fn moderators(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<(i64, i64)>>;
    /// Sets `rooms.last_seq` of each `(room id, last_seq)` of `last_seqs`
    /// and inserts `rows`, stamped with one time taken under the room locks
    /// (so it never runs backwards against seq); with `pushes`, then queues
    /// the pushes their messages are due, as [`queue_pushes`] of
    /// [`due_checks`] would (on Postgres in the same statement).
    ///
    /// [`queue_pushes`]: AppendTx::queue_pushes
    async fn insert_events(
        &mut self,
        last_seqs: &[(i64, i64)],
        rows: &[NewRow<'_>],
        pushes: bool,
    ) -> StoreResult<Vec<Inserted>>;
    /// Applies `effects`: edits, then reactions added and removed, then
    /// erasures (which overwrite the text of the message and of all its
    /// edit events, and remove its reactions and its files), then files
    /// attached, then the thread summaries (their `last_reply_at` from the
    /// event at `last_reply_seq`) and follows, a follow that exists left as
    /// it is.
    async fn apply(&mut self, effects: &Effects<'_>) -> StoreResult<()>;
    /// Queues a push (README, "Notifications") on each subscription of each
    /// member due one for the new message: the other user of a direct
    /// conversation, those it mentions, the followers of its thread (after
    /// this batch's follows are written), those at level `all` (for an edit,
    /// [`DueCheck::only_mentions`], only those it newly mentions); never the
    /// sender, users who block them, members at `none` or muted. A few
    /// indexed reads per message, however many members the room has: each
    /// reason is looked up through its own index (the room's row,
    /// usernames, `thread_follows`' key, the partial index of members at
    /// `all`), and only their memberships, blocks and subscriptions are
    /// read.
    async fn queue_pushes(&mut self, messages: &[DueCheck<'_>]) -> StoreResult<()>;
    /// Writes `entries` to the audit log.
    async fn record(&mut self, entries: &[NewAuditEntry]) -> StoreResult<()>;
    /// The events at `(room id, seq)` of `at`, in their current state.
    async fn events(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Event>>;
}

/// What `rows` make due, whose pushes [`AppendTx::queue_pushes`] decides:
/// new messages, and edits that add mentions ([`DueCheck::of`]).
pub(super) fn due_checks<'a>(rows: &'a [NewRow<'_>]) -> Vec<DueCheck<'a>> {
    rows.iter().filter_map(DueCheck::of).collect()
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
    let candidates = mention_candidates(batch);
    let reads = Reads::of(batch);

    // A batch that reads nothing under the locks is stored in one step where
    // the backend can (Postgres: one statement, not four round trips); if
    // the database refuses it (a room that does not exist), the locked path
    // below decides again and says why.
    if B::INSERTS_UNLOCKED
        && reads.is_nothing(&candidates)
        && let Some(appended) = append_unlocked(backend, batch, &room_ids, &candidates).await?
    {
        return Ok(appended);
    }

    let mut tx = backend.begin_append().await?;
    // Until commit, every other writer of these rooms (from any instance)
    // waits here: seq follows commit order.
    let locked = tx.lock_rooms(&room_ids).await?;
    if locked.len() != room_ids.len() {
        // Dropping `tx` rolls back.
        return Err(StoreError::RoomNotFound);
    }
    // Under the room locks, nothing read here can change before commit.
    let mut known = Known {
        stored: tx
            .stored_messages(&reads.client_keys)
            .await?
            .into_iter()
            .collect(),
        targets: tx
            .targets(&reads.referenced)
            .await?
            .into_iter()
            .map(|t| ((t.room_id, t.seq), t))
            .collect(),
        reactions: tx.reactions(&reads.reactions).await?.into_iter().collect(),
        candidates,
        members: HashMap::new(),
        member_ids: HashMap::new(),
        moderators: HashSet::new(),
        threads: HashMap::new(),
        files: HashMap::new(),
    };
    let threads = thread_keys(known.targets.values());
    if !threads.is_empty() {
        known.threads = tx.threads(&threads).await?.into_iter().collect();
    }
    let files = reads.files;
    if !files.is_empty() {
        known.files = tx
            .attachable(&files)
            .await?
            .into_iter()
            .map(|f| (f.meta.id.clone(), f))
            .collect();
    }
    let deleters = reads.deleters;
    if !deleters.is_empty() {
        known.moderators = tx.moderators(&deleters).await?.into_iter().collect();
    }
    let names = names_to_look_up(batch, &known.candidates);
    if !names.is_empty() {
        for (room, lower, canonical, user_id) in tx.members_named(&names).await? {
            known.member_ids.insert((room, canonical.clone()), user_id);
            known
                .members
                .entry(room)
                .or_default()
                .insert(lower, canonical);
        }
    }
    let plan = Plan::new(batch, &locked, known);
    let mut inserted = Vec::new();
    if !plan.rows.is_empty() {
        // A thread's followers are due a push for its replies, including
        // those the batch makes followers: then the pushes wait for the
        // follows to be written; else they are queued with the rows.
        let threads = &plan.effects.threads;
        let follows_first = !threads.follows.is_empty() || !threads.mention_follows.is_empty();
        // The INSERT itself queues new messages' pushes; an edit's newly
        // mentioned users are queued after it, as are all pushes when the
        // batch makes followers.
        let due = due_checks(&plan.rows);
        let with_rows = !follows_first && due.iter().all(|d| !d.only_mentions);
        inserted = tx
            .insert_events(&plan.last_seqs, &plan.rows, with_rows)
            .await?;
        tx.apply(&plan.effects).await?;
        if !with_rows && !due.is_empty() {
            tx.queue_pushes(&due).await?;
        }
        if !plan.effects.audited.is_empty() {
            tx.record(&plan.effects.audited).await?;
        }
    }
    let originals = if plan.originals.is_empty() {
        Vec::new()
    } else {
        tx.events(&plan.originals).await?
    };
    tx.commit().await?;
    if !plan.effects.erased.is_empty() {
        backend.erased();
    }
    Ok(plan.results(batch, inserted, originals))
}

/// The keys of what deciding a batch reads under the room locks (besides
/// the members it may mention: [`mention_candidates`]), each listed once.
struct Reads {
    client_keys: Vec<ClientKey>,
    referenced: Vec<(i64, i64)>,
    reactions: Vec<ReactionRef>,
    files: Vec<String>,
    deleters: Vec<(i64, i64)>,
}

impl Reads {
    fn of(batch: &[NewEvent]) -> Self {
        Reads {
            client_keys: client_keys(batch),
            referenced: referenced(batch),
            reactions: reaction_refs(batch),
            files: attachment_ids(batch),
            deleters: deleters(batch),
        }
    }

    /// Whether the batch reads nothing but the rooms' `last_seq`: plain
    /// messages (no client id, reply, attachment or mention), no edit,
    /// deletion or reaction. Its plan then has rows only: every effect and
    /// every original needs something read.
    fn is_nothing(&self, candidates: &[Vec<String>]) -> bool {
        self.client_keys.is_empty()
            && self.referenced.is_empty()
            && self.reactions.is_empty()
            && self.files.is_empty()
            && self.deleters.is_empty()
            && candidates.iter().all(Vec::is_empty)
    }
}

/// `batch`, which reads nothing ([`Reads::is_nothing`]), decided against rooms taken as empty
/// (each room's seqs relative, from 1) and stored by
/// [`Backend::insert_unlocked`], which places them above the rooms' real
/// `last_seq`. None if the database refused the statement (a room that
/// does not exist): then the locked path runs and says why.
async fn append_unlocked<B: Backend>(
    backend: &B,
    batch: &[NewEvent],
    room_ids: &[i64],
    candidates: &[Vec<String>],
) -> StoreResult<Option<Vec<Appended>>> {
    let empty: Vec<(i64, i64)> = room_ids.iter().map(|&room| (room, 0)).collect();
    let known = Known {
        candidates: candidates.to_vec(),
        ..Known::default()
    };
    let mut plan = Plan::new(batch, &empty, known);
    let mut inserted = Vec::new();
    if !plan.rows.is_empty() {
        // `last_seqs` of rooms taken as empty: how many rows each gets.
        let counts = std::mem::take(&mut plan.last_seqs);
        let (rows, before) = match backend.insert_unlocked(&counts, &plan.rows).await {
            Ok(stored) => stored,
            Err(StoreError::Database(sqlx::Error::Database(e))) => {
                tracing::debug!(error = %e, "unlocked append refused; taking the room locks");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let before: HashMap<i64, i64> = before.into_iter().collect();
        for row in &mut plan.rows {
            row.seq += before[&row.room_id];
        }
        inserted = rows;
    }
    Ok(Some(plan.results(batch, inserted, Vec::new())))
}
