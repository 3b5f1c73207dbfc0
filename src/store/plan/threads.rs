//! Threads as a batch decides them (README, "Threads"): the thread a reply
//! joins, its root's summary kept current, and who starts following it.
//! Pure, like the rest of the plan: the summaries of the threads the batch
//! touches are read under the room locks ([`super::Known::threads`]), and
//! every change is made here, event by event, so a summary never needs its
//! thread read.
//!
//! - A reply's thread is the root of what it replies to: the target's own
//!   thread, or the target itself when it is in none.
//! - `reply_count` counts replies not deleted; `last_reply_seq` is the
//!   latest reply, deleted or not (the thread's last activity never moves
//!   back); `participants` are the first [`PARTICIPANTS_SHOWN`] repliers in
//!   order of their first reply (a deletion removes nobody).
//! - Followers: when the first reply is stored, the root's sender and the
//!   users the root mentions; with every reply, its sender and the users it
//!   mentions. A follow that exists is left as it is (its read marker too).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::store::ThreadSummary;
use crate::store::batch::Target;

/// How many participants a summary names at most.
pub(in crate::store) const PARTICIPANTS_SHOWN: usize = 10;

/// A thread's summary as the batch leaves it: the row to upsert.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::store) struct ThreadRow {
    pub room_id: i64,
    pub root_seq: i64,
    pub summary: ThreadSummary,
}

/// `user_id` follows the thread, with nothing up to `last_read_seq` unread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::store) struct Follow {
    pub room_id: i64,
    pub root_seq: i64,
    pub user_id: i64,
    pub last_read_seq: i64,
}

/// The users mentioned by the message at (`room_id`, `seq`) follow the
/// thread (read from the `mentions` table after the batch's writes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::store) struct MentionFollow {
    pub room_id: i64,
    pub seq: i64,
    pub root_seq: i64,
    pub last_read_seq: i64,
}

/// What a batch writes for threads: summaries first (follows refer to
/// them), then follows.
#[derive(Debug, Default)]
pub(in crate::store) struct ThreadEffects {
    pub rows: Vec<ThreadRow>,
    pub follows: Vec<Follow>,
    pub mention_follows: Vec<MentionFollow>,
}

impl ThreadEffects {
    pub(in crate::store) fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.follows.is_empty() && self.mention_follows.is_empty()
    }
}

/// The threads of a batch as its events go (cloned to undo a tied group).
#[derive(Debug, Clone, Default)]
pub(super) struct Threads {
    summaries: HashMap<(i64, i64), ThreadSummary>,
    /// The threads whose summary changed, in order of first change.
    touched: Vec<(i64, i64)>,
    follows: Vec<Follow>,
    mention_follows: Vec<MentionFollow>,
}

/// A reply being stored: its seq, sender and whether it mentions anyone.
pub(super) struct Reply<'a> {
    pub seq: i64,
    pub sender_id: i64,
    pub sender: &'a str,
    pub mentions: bool,
}

impl Threads {
    /// The summaries stored before the batch, by (room id, root seq).
    pub(super) fn new(stored: HashMap<(i64, i64), ThreadSummary>) -> Self {
        Threads {
            summaries: stored,
            ..Threads::default()
        }
    }

    /// The root of the thread a reply to `target` joins.
    pub(super) fn root_of(target: &Target) -> i64 {
        target.thread.unwrap_or(target.seq)
    }

    /// Records `reply` to `target` (a message of the same room, checked):
    /// answers the thread it joins.
    pub(super) fn reply(&mut self, target: &Target, reply: Reply<'_>) -> i64 {
        let room = target.room_id;
        let root = Self::root_of(target);
        let key = (room, root);
        let summary = match self.summaries.entry(key) {
            Entry::Occupied(stored) => stored.into_mut(),
            // The root was pruned by retention (its summary with it): the
            // reply still joins its thread, which has no summary.
            Entry::Vacant(_) if target.thread.is_some() => return root,
            Entry::Vacant(new) => {
                // The first reply: the thread starts, and the root's sender
                // and the users it mentions follow it.
                self.follows.push(Follow {
                    room_id: room,
                    root_seq: root,
                    user_id: target.sender_id,
                    last_read_seq: root,
                });
                self.mention_follows.push(MentionFollow {
                    room_id: room,
                    seq: root,
                    root_seq: root,
                    last_read_seq: root,
                });
                new.insert(ThreadSummary {
                    reply_count: 0,
                    last_reply_seq: reply.seq,
                    participants: Vec::new(),
                })
            }
        };
        summary.reply_count += 1;
        summary.last_reply_seq = reply.seq;
        if summary.participants.len() < PARTICIPANTS_SHOWN
            && !summary.participants.iter().any(|p| p == reply.sender)
        {
            summary.participants.push(reply.sender.to_owned());
        }
        self.touch(key);
        self.follows.push(Follow {
            room_id: room,
            root_seq: root,
            user_id: reply.sender_id,
            last_read_seq: reply.seq,
        });
        if reply.mentions {
            // The reply itself is unread for those it mentions.
            self.mention_follows.push(MentionFollow {
                room_id: room,
                seq: reply.seq,
                root_seq: root,
                last_read_seq: reply.seq - 1,
            });
        }
        root
    }

    /// Users an edit of `message` newly mentions (`users`) follow its
    /// thread, if it is in one, with the message unread (as a reply's or a
    /// root's mentioned users do). A root without replies yet has no
    /// thread: its first reply makes those it then mentions follow.
    pub(super) fn mentioned_by_edit(&mut self, message: &Target, users: impl Iterator<Item = i64>) {
        let root = Self::root_of(message);
        if !self.summaries.contains_key(&(message.room_id, root)) {
            return;
        }
        let last_read_seq = if root == message.seq {
            root
        } else {
            message.seq - 1
        };
        for user_id in users {
            self.follows.push(Follow {
                room_id: message.room_id,
                root_seq: root,
                user_id,
                last_read_seq,
            });
        }
    }

    /// Records the deletion of `target` (a live message, checked): a reply
    /// no longer counts.
    pub(super) fn deleted(&mut self, target: &Target) {
        let Some(root) = target.thread else { return };
        let key = (target.room_id, root);
        if let Some(summary) = self.summaries.get_mut(&key) {
            summary.reply_count = (summary.reply_count - 1).max(0);
            self.touch(key);
        }
    }

    fn touch(&mut self, key: (i64, i64)) {
        if !self.touched.contains(&key) {
            self.touched.push(key);
        }
    }

    /// What the batch writes.
    pub(super) fn into_effects(mut self) -> ThreadEffects {
        let rows = self
            .touched
            .iter()
            .filter_map(|key| {
                let summary = self.summaries.remove(key)?;
                Some(ThreadRow {
                    room_id: key.0,
                    root_seq: key.1,
                    summary,
                })
            })
            .collect();
        ThreadEffects {
            rows,
            follows: self.follows,
            mention_follows: self.mention_follows,
        }
    }
}

/// A stored summary row: (room id, root seq, reply count, last reply seq,
/// participants as a JSON array).
pub(in crate::store) fn summary_row(
    (room_id, root_seq, reply_count, last_reply_seq, participants): (i64, i64, i64, i64, String),
) -> ((i64, i64), ThreadSummary) {
    let summary = ThreadSummary {
        reply_count,
        last_reply_seq,
        participants: serde_json::from_str(&participants).unwrap_or_default(),
    };
    ((room_id, root_seq), summary)
}

/// The distinct threads whose summaries the batch may change: the thread
/// of each target it read (a target that is a root is its own).
pub(in crate::store) fn thread_keys<'a>(
    targets: impl Iterator<Item = &'a Target>,
) -> Vec<(i64, i64)> {
    super::distinct(targets.map(|t| (t.room_id, Threads::root_of(t))))
}
