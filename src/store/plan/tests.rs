use std::collections::HashSet;

use super::threads::PARTICIPANTS_SHOWN;
use super::*;
use crate::store::{ThreadSummary, Timestamp};

fn message(room_id: i64, client_id: Option<&str>) -> NewEvent {
    by(
        7,
        room_id,
        LogWrite::Message {
            body: "hi".into(),
            client_id: client_id.map(str::to_owned),
            reply_to: None,
            attachments: Vec::new(),
        },
    )
}

fn by(sender_id: i64, room_id: i64, change: LogWrite) -> NewEvent {
    NewEvent {
        room_id,
        room: format!("room-{room_id}"),
        sender_id,
        sender: format!("user-{sender_id}"),
        change,
        tied_to_next: false,
        moderates: false,
    }
}

fn target(room_id: i64, seq: i64, sender_id: i64) -> ((i64, i64), Target) {
    let t = Target {
        room_id,
        seq,
        kind: EventKind::Message,
        sender_id,
        deleted: false,
        thread: None,
        mentions: Vec::new(),
    };
    ((room_id, seq), t)
}

fn react(sender_id: i64, target: i64, key: &str, added: bool) -> NewEvent {
    by(
        sender_id,
        1,
        LogWrite::React {
            target,
            key: key.into(),
            added,
        },
    )
}

/// The plan's follows as (root seq, user id, last read seq).
fn follows(plan: &Plan) -> Vec<(i64, i64, i64)> {
    plan.effects
        .threads
        .follows
        .iter()
        .map(|f| (f.root_seq, f.user_id, f.last_read_seq))
        .collect()
}

fn seqs(plan: &Plan) -> Vec<Option<i64>> {
    plan.slots
        .iter()
        .map(|s| match s {
            Slot::New { row, .. } => Some(plan.rows[*row].seq),
            _ => None,
        })
        .collect()
}

#[test]
fn each_room_continues_its_seq_and_repeats_take_none() {
    let batch = [
        message(1, Some("a")),
        message(2, None),
        message(1, Some("a")),
        message(1, None),
    ];
    let plan = Plan::new(&batch, &[(1, 10), (2, 0), (3, 5)], Known::default());
    assert_eq!(seqs(&plan), [Some(11), Some(1), None, Some(12)]);
    assert_eq!(plan.slots[2], Slot::SameAs(0));
    assert_eq!(plan.last_seqs, [(1, 12), (2, 1)], "room 3 is untouched");
    let rows: Vec<(i64, i64)> = plan.rows.iter().map(|r| (r.room_id, r.seq)).collect();
    assert_eq!(rows, [(1, 11), (2, 1), (1, 12)]);
}

#[test]
fn a_stored_key_is_the_original_every_time() {
    let first = [message(1, Some("a"))];
    let plan = Plan::new(&first, &[(1, 3)], Known::default());
    let inserted = Inserted {
        room_id: 1,
        seq: 4,
        id: 3,
        created_at: Timestamp::UNIX_EPOCH,
    };
    let [Appended::Stored(original)] = &plan.results(&first, vec![inserted], Vec::new())[..] else {
        panic!("the first is stored");
    };
    let original = original.clone();
    let batch = [message(1, Some("a")), message(1, Some("a"))];
    assert_eq!(client_keys(&batch), [(1, 7, "a".to_owned())]);
    let known = Known {
        stored: HashMap::from([((1, 7, "a".to_owned()), original.clone())]),
        ..Known::default()
    };
    let plan = Plan::new(&batch, &[(1, 4)], known);
    assert!(plan.rows.is_empty() && plan.last_seqs.is_empty());
    assert_eq!(
        plan.results(&batch, Vec::new(), Vec::new()),
        [
            Appended::Duplicate(original.clone()),
            Appended::Duplicate(original)
        ]
    );
}

#[test]
fn only_the_sender_edits_and_nobody_edits_what_is_not_a_live_message() {
    let edit = |sender, target| {
        by(
            sender,
            1,
            LogWrite::Edit {
                target,
                body: "fixed".into(),
            },
        )
    };
    let mut edit_event = target(1, 3, 7);
    edit_event.1.kind = EventKind::Edit;
    let known = Known {
        targets: HashMap::from([target(1, 2, 7), edit_event]),
        ..Known::default()
    };
    let batch = [edit(8, 2), edit(7, 9), edit(7, 3), edit(7, 2)];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert_eq!(plan.slots[0], Slot::Refused(Refusal::Forbidden));
    assert_eq!(plan.slots[1], Slot::Refused(Refusal::MessageNotFound));
    assert_eq!(
        plan.slots[2],
        Slot::Refused(Refusal::MessageNotFound),
        "an edit event"
    );
    assert_eq!(seqs(&plan)[3], Some(4));
    assert_eq!(plan.effects.edited.len(), 1);
    assert_eq!(
        (plan.effects.edited[0].seq, plan.effects.edited[0].edit_seq),
        (2, 4)
    );
}

#[test]
fn a_deletion_refuses_what_comes_after_it_and_erases_once() {
    let known = Known {
        targets: HashMap::from([target(1, 2, 7)]),
        reactions: HashMap::from([((1, 2, 9, "👍".to_string()), 3)]),
        // User 6 moderates the room (read under its lock).
        moderators: HashSet::from([(1, 6)]),
        ..Known::default()
    };
    let batch = [
        by(
            7,
            1,
            LogWrite::Edit {
                target: 2,
                body: "x".into(),
            },
        ),
        react(8, 2, "🎉", true),
        by(8, 1, LogWrite::Delete { target: 2 }),
        by(6, 1, LogWrite::Delete { target: 2 }),
        by(
            7,
            1,
            LogWrite::Edit {
                target: 2,
                body: "y".into(),
            },
        ),
        react(9, 2, "👍", false),
    ];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert_eq!(seqs(&plan), [Some(4), Some(5), None, Some(6), None, None]);
    assert_eq!(
        plan.slots[2],
        Slot::Refused(Refusal::Forbidden),
        "neither the sender nor a moderator"
    );
    assert_eq!(plan.slots[4], Slot::Refused(Refusal::MessageDeleted));
    assert_eq!(plan.slots[5], Slot::Refused(Refusal::MessageDeleted));
    assert_eq!(plan.effects.erased, [(1, 2)]);
    assert!(
        plan.effects.edited.is_empty(),
        "the erasure overwrites the edit"
    );
    assert!(
        plan.effects.reacted.is_empty(),
        "the erasure removes the new reaction"
    );
}

#[test]
fn a_reaction_is_added_once_per_user_and_key_and_removed_only_if_present() {
    let known = Known {
        targets: HashMap::from([target(1, 2, 7)]),
        reactions: HashMap::from([((1, 2, 9, "👍".to_string()), 3)]),
        ..Known::default()
    };
    let batch = [
        react(9, 2, "👍", true),  // has it: the original event (seq 3)
        react(8, 2, "👍", true),  // new: seq 4
        react(8, 2, "👍", true),  // same as the one before
        react(8, 2, "🎉", false), // has none
        react(9, 2, "👍", false), // removes the stored one: seq 5
        react(8, 2, "👍", false), // removes its own: seq 6
        react(8, 2, "👍", true),  // adds it again: seq 7
    ];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert_eq!(plan.slots[0], Slot::Original(1, 3));
    assert_eq!(plan.slots[2], Slot::SameAs(1));
    assert_eq!(plan.slots[3], Slot::Refused(Refusal::ReactionNotFound));
    assert_eq!(
        seqs(&plan),
        [None, Some(4), None, None, Some(5), Some(6), Some(7)]
    );
    assert_eq!(plan.effects.reacted, [((1, 2, 8, "👍".to_string()), 7)]);
    assert_eq!(plan.effects.unreacted, [(1, 2, 9, "👍".to_string())]);
    assert_eq!(plan.originals, [(1, 3)]);
}

#[test]
fn replies_need_a_message_of_the_room_even_one_stored_earlier_in_the_batch() {
    let reply = |to| {
        by(
            7,
            1,
            LogWrite::Message {
                body: "re".into(),
                client_id: None,
                reply_to: Some(to),
                attachments: Vec::new(),
            },
        )
    };
    let batch = [message(1, None), reply(4), reply(2), reply(99)];
    let plan = Plan::new(&batch, &[(1, 3)], Known::default());
    assert_eq!(seqs(&plan), [Some(4), Some(5), None, None]);
    assert_eq!(plan.slots[2], Slot::Refused(Refusal::InvalidReply));
    assert_eq!(plan.rows[1].reply_to, Some(4));
}

#[test]
fn mentions_are_the_members_of_the_events_room() {
    let mut batch = [message(1, None), message(2, None)];
    for e in &mut batch {
        e.change = LogWrite::Message {
            body: "@BOB and @carol".into(),
            client_id: None,
            reply_to: None,
            attachments: Vec::new(),
        };
    }
    let candidates = mention_candidates(&batch);
    assert_eq!(
        names_to_look_up(&batch, &candidates),
        [
            (1, "bob".to_string()),
            (1, "carol".to_string()),
            (2, "bob".to_string()),
            (2, "carol".to_string())
        ]
    );
    let known = Known {
        candidates,
        members: HashMap::from([(1, HashMap::from([("bob".into(), "Bob".into())]))]),
        ..Known::default()
    };
    let plan = Plan::new(&batch, &[(1, 0), (2, 0)], known);
    assert_eq!(plan.rows[0].mentions, r#"["Bob"]"#);
    assert_eq!(plan.rows[1].mentions, "[]", "bob is not a member of room 2");
}

#[test]
fn a_tied_group_with_a_refusal_stores_none_of_its_events() {
    let reply = |to, tied| NewEvent {
        tied_to_next: tied,
        moderates: false,
        ..by(
            7,
            1,
            LogWrite::Message {
                body: "re".into(),
                client_id: Some(format!("c{to}")),
                reply_to: Some(to),
                attachments: Vec::new(),
            },
        )
    };
    let tied = |mut e: NewEvent| {
        e.tied_to_next = true;
        e
    };
    let batch = [
        message(1, None),            // 4
        tied(message(1, Some("a"))), // a transaction of three: the
        reply(4, true),              //   third replies to no message,
        reply(99, false),            //   so none of them is stored
        message(1, Some("a")),       // 5: not the same as the undone "a"
        tied(message(1, None)),      // a transaction of two, both
        reply(5, false),             //   stored: 6, 7
    ];
    let plan = Plan::new(&batch, &[(1, 3)], Known::default());
    assert_eq!(
        seqs(&plan),
        [Some(4), None, None, None, Some(5), Some(6), Some(7)],
        "the refused group took no seq"
    );
    for i in 1..=3 {
        assert_eq!(
            plan.slots[i],
            Slot::Refused(Refusal::InvalidReply),
            "event {i} of the refused group"
        );
    }
    assert_eq!(plan.rows.len(), 4, "no row of the refused group is left");
    assert_eq!(plan.last_seqs, [(1, 7)]);
}

#[test]
fn only_the_sender_or_a_moderator_may_delete() {
    let known = Known {
        targets: HashMap::from([target(1, 2, 7), target(1, 3, 7)]),
        moderators: HashSet::from([(1, 6)]),
        ..Known::default()
    };
    let batch = [
        by(8, 1, LogWrite::Delete { target: 2 }),
        by(7, 1, LogWrite::Delete { target: 2 }),
        by(6, 1, LogWrite::Delete { target: 3 }),
    ];
    assert_eq!(
        deleters(&batch),
        [(1, 8), (1, 7), (1, 6)],
        "whose role the batch reads"
    );
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert_eq!(plan.slots[0], Slot::Refused(Refusal::Forbidden));
    assert_eq!(seqs(&plan), [None, Some(4), Some(5)]);
}

fn reply_by(sender_id: i64, to: i64, body: &str) -> NewEvent {
    by(
        sender_id,
        1,
        LogWrite::Message {
            body: body.into(),
            client_id: None,
            reply_to: Some(to),
            attachments: Vec::new(),
        },
    )
}

fn threads_of(plan: &Plan) -> Vec<Option<i64>> {
    plan.slots
        .iter()
        .map(|s| match s {
            Slot::New { row, .. } => plan.rows[*row].thread_root,
            _ => None,
        })
        .collect()
}

#[test]
fn a_reply_to_a_reply_stays_in_the_roots_thread_and_the_summary_follows() {
    // Seq 2 is alice's (7) root; 3 is a stored reply to it by user 8.
    let mut stored_reply = target(1, 3, 8);
    stored_reply.1.thread = Some(2);
    let known = Known {
        targets: HashMap::from([target(1, 2, 7), stored_reply]),
        threads: HashMap::from([(
            (1, 2),
            ThreadSummary {
                reply_count: 1,
                last_reply_seq: 3,
                participants: vec!["user-8".into()],
            },
        )]),
        ..Known::default()
    };
    let batch = [
        reply_by(9, 3, "to the reply"), // 4: thread 2
        reply_by(8, 2, "to the root"),  // 5: thread 2
        message(1, None),               // 6: no thread
        reply_by(9, 6, "a new thread"), // 7: thread 6
        reply_by(8, 7, "deeper"),       // 8: thread 6
    ];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert_eq!(seqs(&plan), [Some(4), Some(5), Some(6), Some(7), Some(8)]);
    assert_eq!(
        threads_of(&plan),
        [Some(2), Some(2), None, Some(6), Some(6)],
        "a reply to a reply joins the root's thread"
    );
    let rows = &plan.effects.threads.rows;
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].room_id, rows[0].root_seq), (1, 2));
    assert_eq!(
        rows[0].summary,
        ThreadSummary {
            reply_count: 3,
            last_reply_seq: 5,
            participants: vec!["user-8".into(), "user-9".into()],
        }
    );
    assert_eq!(
        (
            rows[1].root_seq,
            rows[1].summary.reply_count,
            rows[1].summary.last_reply_seq
        ),
        (6, 2, 8)
    );
    assert_eq!(
        follows(&plan),
        [(2, 9, 4), (2, 8, 5), (6, 7, 6), (6, 9, 7), (6, 8, 8)],
        "repliers at their reply; the new thread's root sender at the root"
    );
    let mentioned: Vec<(i64, i64)> = plan
        .effects
        .threads
        .mention_follows
        .iter()
        .map(|f| (f.seq, f.root_seq))
        .collect();
    assert_eq!(mentioned, [(6, 6)], "the new root's mentions follow it");
}

#[test]
fn participants_are_bounded_and_a_deleted_reply_no_longer_counts() {
    let mut stored_reply = target(1, 3, 8);
    stored_reply.1.thread = Some(2);
    let full: Vec<String> = (0..PARTICIPANTS_SHOWN).map(|i| format!("p{i}")).collect();
    let known = Known {
        targets: HashMap::from([target(1, 2, 7), stored_reply]),
        threads: HashMap::from([(
            (1, 2),
            ThreadSummary {
                reply_count: 5,
                last_reply_seq: 3,
                participants: full.clone(),
            },
        )]),
        ..Known::default()
    };
    let batch = [
        reply_by(99, 2, "one too many"),
        by(8, 1, LogWrite::Delete { target: 3 }),
        by(7, 1, LogWrite::Delete { target: 2 }),
    ];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    let rows = &plan.effects.threads.rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].summary,
        ThreadSummary {
            reply_count: 5,
            last_reply_seq: 4,
            participants: full,
        },
        "one reply more, one deleted; deleting the root changes no count"
    );
}

#[test]
fn a_refused_tied_group_leaves_no_thread_change() {
    let tied = |mut e: NewEvent| {
        e.tied_to_next = true;
        e
    };
    let known = Known {
        targets: HashMap::from([target(1, 2, 7)]),
        ..Known::default()
    };
    let batch = [
        tied(reply_by(8, 2, "re")),
        reply_by(8, 99, "no such message"),
    ];
    let plan = Plan::new(&batch, &[(1, 3)], known);
    assert!(plan.rows.is_empty());
    let t = &plan.effects.threads;
    assert!(t.rows.is_empty() && t.follows.is_empty() && t.mention_follows.is_empty());
}

#[test]
fn an_edit_notifies_and_makes_follow_only_those_it_newly_mentions() {
    // Seq 2 is a root with a thread; 3 is user 8's reply in it, which
    // mentions Bob (id 20) already.
    let mut reply = target(1, 3, 8);
    reply.1.thread = Some(2);
    reply.1.mentions = vec!["Bob".into()];
    let edit = |target, body: &str| {
        by(
            8,
            1,
            LogWrite::Edit {
                target,
                body: body.into(),
            },
        )
    };
    let batch = [
        edit(3, "@bob @carol"),       // 4: carol is new
        edit(3, "@bob @carol @dave"), // 5: dave is new
        edit(4, "@carol"),            // refused: an edit is no message
        edit(9, "@carol"),            // 6: a root without replies
    ];
    let members = HashMap::from([(
        1,
        HashMap::from([
            ("bob".into(), "Bob".into()),
            ("carol".into(), "carol".into()),
            ("dave".into(), "dave".into()),
        ]),
    )]);
    let known = Known {
        targets: HashMap::from([target(1, 2, 7), reply, target(1, 9, 8)]),
        threads: HashMap::from([(
            (1, 2),
            ThreadSummary {
                reply_count: 1,
                last_reply_seq: 3,
                participants: vec!["user-8".into()],
            },
        )]),
        candidates: mention_candidates(&batch),
        members,
        member_ids: HashMap::from([
            ((1, "Bob".into()), 20),
            ((1, "carol".into()), 21),
            ((1, "dave".into()), 22),
        ]),
        ..Known::default()
    };
    let plan = Plan::new(&batch, &[(1, 9)], known);
    let newly: Vec<Option<&str>> = plan
        .rows
        .iter()
        .map(|r| r.newly_mentioned.as_deref())
        .collect();
    assert_eq!(
        newly,
        [
            Some(r#"["carol"]"#),
            Some(r#"["dave"]"#),
            Some(r#"["carol"]"#)
        ],
        "only the names the text before did not mention"
    );
    assert_eq!(
        follows(&plan),
        [(2, 21, 2), (2, 22, 2)],
        "the newly mentioned follow the reply's thread with the reply unread; \
         a root without replies has no thread to follow"
    );
}
