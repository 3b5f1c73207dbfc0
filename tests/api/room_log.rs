//! The room log (README, "The room log"): replies, edits, deletions that
//! erase, reactions and mentions, as events with the room's gapless seq,
//! delivered live over STOMP and Server-Sent Events, replayed and read back
//! from history in current state.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::db::Backend;
use crate::helpers::{
    Reply, TestApp, TestUser, on_both_backends, on_sqlite, refused, spawn_app_unthrottled as app,
    spawn_app_with,
};
use crate::stomp::{history, history_seqs, seqs};
use stomp_client::{Frame, StompClient, frame, topic};

on_both_backends!(
    every_event_type_is_stored_and_delivered_live_once_in_order,
    replay_and_resume_show_events_after_the_resume_point_and_messages_in_current_state,
    edit_delete_and_react_refusals_name_their_codes,
    reply_to_must_be_a_message_of_the_same_room,
    stomp_send_with_bad_in_reply_to_breaks_the_session_and_stores_nothing,
    bad_in_reply_to_in_a_transaction_or_a_pipeline_stores_nothing,
    private_room_log_is_invisible_to_non_members,
    adding_a_reaction_twice_answers_the_original_event_and_stores_nothing,
    deleting_erases_the_text_of_the_message_and_its_edits_from_the_database,
    concurrent_edits_and_reactions_on_one_message_end_in_the_state_their_events_describe,
    concurrent_adds_of_one_reaction_by_one_user_store_one_event,
    delete_racing_edits_and_reactions_erases_everything_before_it,
    mentions_name_members_canonically_and_are_recomputed_on_edit,
    reaction_keys_are_the_percent_decoded_path_segment,
    reaction_key_that_is_not_utf8_is_invalid_reaction,
);

on_sqlite!(
    edit_refuses_bad_bodies_like_send,
    room_log_routes_need_a_token,
    reacting_joins_a_public_room,
    long_poll_is_answered_by_every_event_type,
    room_log_writes_count_against_the_send_rate,
);

const WAIT: Duration = Duration::from_secs(10);
/// Long enough for a duplicate or a stray event to show up.
const QUIET: Duration = Duration::from_millis(300);

// ------------------------------------------------------------ REST calls --

/// Percent-encodes every byte but unreserved ASCII.
fn encode(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn post(app: &TestApp, who: &TestUser, room: &str, body: Value) -> Reply {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&who.access_token),
        body,
    )
    .await
}

async fn say(app: &TestApp, who: &TestUser, room: &str, text: &str) -> Value {
    let r = post(app, who, room, json!({"body": text})).await;
    assert_eq!(r.status, 201, "POST {text:?}: {:?}", r.body);
    r.body
}

async fn edit(app: &TestApp, who: &TestUser, room: &str, seq: impl ToString, text: &str) -> Reply {
    app.request(
        Method::PATCH,
        &format!("/api/v1/rooms/{room}/messages/{}", seq.to_string()),
        Some(&who.access_token),
        Some(json!({"body": text})),
    )
    .await
}

async fn delete(app: &TestApp, who: &TestUser, room: &str, seq: impl ToString) -> Reply {
    app.request(
        Method::DELETE,
        &format!("/api/v1/rooms/{room}/messages/{}", seq.to_string()),
        Some(&who.access_token),
        None,
    )
    .await
}

/// PUT (add) or DELETE (remove) a reaction; `raw_key` goes into the path
/// as given (already percent-encoded).
async fn react_raw(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    seq: impl ToString,
    raw_key: &str,
    add: bool,
) -> Reply {
    let method = if add { Method::PUT } else { Method::DELETE };
    app.request(
        method,
        &format!(
            "/api/v1/rooms/{room}/messages/{}/reactions/{raw_key}",
            seq.to_string()
        ),
        Some(&who.access_token),
        None,
    )
    .await
}

async fn react(app: &TestApp, who: &TestUser, room: &str, seq: i64, key: &str, add: bool) -> Reply {
    react_raw(app, who, room, seq, &encode(key), add).await
}

async fn get_event(app: &TestApp, who: &TestUser, room: &str, seq: impl ToString) -> Reply {
    app.get(
        &format!("/api/v1/rooms/{room}/messages/{}", seq.to_string()),
        &who.access_token,
    )
    .await
}

async fn join(app: &TestApp, who: &TestUser, room: &str) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/join"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "join {room}: {:?}", r.body);
}

/// A 200 answer's event.
#[track_caller]
fn ok(r: &Reply, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: {:?}", r.body);
    r.body.clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The exact fields of each event type.
fn fields_of(kind: &str) -> Vec<String> {
    let mut f: Vec<&str> = match kind {
        "message" => vec![
            "id",
            "room",
            "seq",
            "type",
            "sender",
            "body",
            "client_id",
            "reply_to",
            "mentions",
            "created_at",
            "edited_at",
            "deleted",
            "reactions",
            "attachments",
        ],
        "edit" => vec![
            "id",
            "room",
            "seq",
            "type",
            "sender",
            "target",
            "body",
            "mentions",
            "created_at",
        ],
        "delete" => vec![
            "id",
            "room",
            "seq",
            "type",
            "sender",
            "target",
            "created_at",
        ],
        "reaction" => vec![
            "id",
            "room",
            "seq",
            "type",
            "sender",
            "target",
            "key",
            "added",
            "created_at",
        ],
        other => panic!("no event type {other}"),
    };
    f.sort();
    f.into_iter().map(String::from).collect()
}

#[track_caller]
fn assert_shape(event: &Value) {
    let kind = event["type"].as_str().unwrap_or_else(|| panic!("{event}"));
    assert_eq!(keys(event), fields_of(kind), "fields of a {kind}: {event}");
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------------- SSE --

/// An open `GET …/events` stream: every event as (event type, id, data).
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(app: &TestApp, who: &TestUser, room: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = app
            .client
            .get(format!("{}/api/v1/rooms/{room}/events", app.base))
            .bearer_auth(&who.access_token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "SSE of {room}");
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next `n` events; panics after [`WAIT`].
    async fn events(&mut self, n: usize) -> Vec<(String, i64, Value)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut kind, mut id, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse::<i64>().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str::<Value>(v).ok();
                    }
                }
                // Comments (keep-alives) carry none of these.
                if let Some(data) = data {
                    let kind =
                        kind.unwrap_or_else(|| panic!("SSE event without `event:`: {block}"));
                    let id = id.unwrap_or_else(|| panic!("SSE event without `id:`: {block}"));
                    out.push((kind, id, data));
                }
            }
            if out.len() >= n {
                return out;
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("waited {WAIT:?} for {n} SSE events, got {out:?}"))
                .expect("stream readable")
                .expect("stream still open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Nothing but keep-alive comments for `wait`.
    async fn expect_quiet(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(chunk) = tokio::time::timeout_at(deadline, self.resp.chunk()).await {
            let chunk = chunk.expect("stream readable").expect("stream still open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(
            !self.buf.contains("data:"),
            "no further SSE event expected, got {:?}",
            self.buf
        );
    }
}

// ----------------------------------------------------------------- STOMP --

/// MESSAGE frames through seq `last`, skipping the one RECEIPT of a
/// SUBSCRIBE sent with `since-seq`; bounded by `max` frames.
async fn messages_through(client: &mut StompClient, last: i64, max: usize) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::new();
    for _ in 0..max {
        let f = client.expect_frame().await;
        match f.command.as_str() {
            "RECEIPT" => {}
            "MESSAGE" => {
                let done = f.seq() >= last;
                out.push(f);
                if done {
                    return out;
                }
            }
            _ => panic!("expected MESSAGE frames, got {f}"),
        }
    }
    panic!(
        "seq {last} did not arrive within {max} frames: {:?}",
        seqs(&out)
    );
}

/// The next MESSAGE, past the RECEIPT of a `since-seq` SUBSCRIBE that may
/// still be on its way.
async fn next_message(client: &mut StompClient) -> Frame {
    for _ in 0..2 {
        let f = client.expect_frame().await;
        match f.command.as_str() {
            "RECEIPT" => continue,
            "MESSAGE" => return f,
            _ => panic!("expected a MESSAGE, got {f}"),
        }
    }
    panic!("two RECEIPTs in a row for one SUBSCRIBE");
}

async fn subscribe_since(client: &mut StompClient, id: &str, room: &str, since: i64) {
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", id),
                ("destination", &topic(room)),
                ("since-seq", &since.to_string()),
                ("receipt", &format!("sub-{id}")),
            ],
            "",
        ))
        .await;
}

/// A MESSAGE frame's `event-type`, checked against its JSON body and seq.
#[track_caller]
fn frame_event(f: &Frame) -> (String, Value) {
    let kind = f.expect_header("event-type");
    let body = f.json();
    assert_eq!(
        body["type"],
        kind.as_str(),
        "event-type matches the body: {f}"
    );
    assert_eq!(
        body["seq"].as_i64(),
        Some(f.seq()),
        "seq header is the event's: {f}"
    );
    assert_eq!(
        body["id"].as_i64(),
        Some(f.message_id()),
        "message-id is the event id: {f}"
    );
    assert_shape(&body);
    (kind, body)
}

// ================================================================ tests ==

/// Every kind of event, made over REST and STOMP: each is delivered once
/// and in order to a STOMP subscriber and an SSE subscriber as committed
/// (the same JSON the REST call answered), and history, GET one and the
/// live frames agree on the current state.
async fn every_event_type_is_stored_and_delivered_live_once_in_order(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;

    let mut watcher = StompClient::connect(&app, &carol.access_token).await;
    watcher.subscribe("w", "general").await;
    let mut sse = Sse::open(&app, &carol, "general", None).await;
    let mut bob_stomp = StompClient::connect(&app, &bob.access_token).await;

    // What each REST call answered, by seq.
    let mut answers: BTreeMap<i64, Value> = BTreeMap::new();
    let m1 = say(&app, &alice, "general", "hello @bob").await;
    assert_eq!(m1["seq"], 1);
    answers.insert(1, m1);
    bob_stomp
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("in-reply-to", "1"),
                ("receipt", "r-reply"),
            ],
            "stomp reply",
        ))
        .await;
    bob_stomp.expect_receipt("r-reply").await;
    let m3 = post(
        &app,
        &bob,
        "general",
        json!({"body": "@alice http reply", "reply_to": 1}),
    )
    .await;
    assert_eq!(m3.status, 201, "{:?}", m3.body);
    answers.insert(3, m3.body);
    let steps: Vec<(i64, Reply)> = vec![
        (
            4,
            edit(&app, &alice, "general", 1, "hello @BOB, edited").await,
        ),
        (5, react(&app, &carol, "general", 1, "👍", true).await),
        (6, react(&app, &bob, "general", 1, "🎉", true).await),
        (7, react(&app, &bob, "general", 1, "👍", true).await),
        (8, react(&app, &carol, "general", 1, "🎉", true).await),
        (9, react(&app, &bob, "general", 1, "🎉", false).await),
        (10, react(&app, &alice, "general", 3, "👀", true).await),
        (
            11,
            edit(&app, &bob, "general", 3, "@alice edited reply").await,
        ),
        (12, delete(&app, &bob, "general", 3).await),
    ];
    for (seq, r) in steps {
        let event = ok(&r, &format!("step with seq {seq}"));
        assert_eq!(event["seq"], seq, "{event}");
        answers.insert(seq, event);
    }
    let want_types = [
        "message", "message", "message", "edit", "reaction", "reaction", "reaction", "reaction",
        "reaction", "reaction", "edit", "delete",
    ];

    // STOMP: twelve MESSAGE frames, seq 1..12, nothing more.
    let frames = watcher.expect_messages(12).await;
    assert_eq!(seqs(&frames), (1..=12).collect::<Vec<_>>());
    let live: Vec<(String, Value)> = frames.iter().map(frame_event).collect();
    assert_eq!(
        live.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        want_types
    );
    watcher.expect_no_frame_for(QUIET).await;
    // SSE: the same twelve, `event:` the type, `id:` the seq.
    let streamed = sse.events(12).await;
    assert_eq!(
        streamed.iter().map(|(_, id, _)| *id).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    for ((kind, id, data), (frame_kind, frame_body)) in streamed.iter().zip(&live) {
        assert_eq!(kind, frame_kind, "SSE event type of seq {id}");
        assert_eq!(data, frame_body, "SSE and STOMP carry the same event {id}");
    }
    sse.expect_quiet(QUIET).await;

    // Live events are as committed: exactly what the REST call answered.
    for (seq, answer) in &answers {
        assert_eq!(&live[*seq as usize - 1].1, answer, "live event {seq}");
    }
    let live = |seq: usize| live[seq - 1].1.clone();
    assert_eq!(live(1)["mentions"], json!(["bob"]));
    assert_eq!(
        live(1)["edited_at"],
        Value::Null,
        "a live message is as committed"
    );
    assert_eq!(live(1)["reactions"], json!([]));
    assert_eq!(
        (
            live(2)["sender"].clone(),
            live(2)["body"].clone(),
            live(2)["reply_to"].clone()
        ),
        (json!("bob"), json!("stomp reply"), json!(1)),
        "in-reply-to sets reply_to"
    );
    assert_eq!(live(3)["reply_to"], 1);
    assert_eq!(live(3)["mentions"], json!(["alice"]));
    let e4 = live(4);
    assert_eq!(
        (
            e4["sender"].clone(),
            e4["target"].clone(),
            e4["body"].clone(),
            e4["mentions"].clone()
        ),
        (
            json!("alice"),
            json!(1),
            json!("hello @BOB, edited"),
            json!(["bob"])
        )
    );
    for (seq, sender, key, added) in [
        (5, "carol", "👍", true),
        (6, "bob", "🎉", true),
        (7, "bob", "👍", true),
        (8, "carol", "🎉", true),
        (9, "bob", "🎉", false),
    ] {
        let e = live(seq);
        assert_eq!(
            (
                e["sender"].clone(),
                e["target"].clone(),
                e["key"].clone(),
                e["added"].clone()
            ),
            (json!(sender), json!(1), json!(key), json!(added)),
            "reaction event {seq}"
        );
    }
    assert_eq!(live(10)["target"], 3);
    assert_eq!(
        (live(12)["sender"].clone(), live(12)["target"].clone()),
        (json!("bob"), json!(3))
    );

    // History: every event in seq order, messages in current state.
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), (1..=12).collect::<Vec<_>>());
    assert_eq!(types(&stored), want_types);
    for e in &stored {
        assert_shape(e);
    }
    let m1 = &stored[0];
    assert_eq!(m1["body"], "hello @BOB, edited", "latest edit's body");
    assert_eq!(m1["mentions"], json!(["bob"]));
    assert_eq!(
        m1["edited_at"], stored[3]["created_at"],
        "edited_at is the time of its latest edit"
    );
    assert_eq!(m1["deleted"], false);
    assert_eq!(
        m1["reactions"],
        json!([
            {"key": "👍", "count": 2, "users": ["carol", "bob"]},
            {"key": "🎉", "count": 1, "users": ["carol"]},
        ]),
        "keys in order of first use, users in order of reacting, bob's 🎉 removed"
    );
    assert_eq!(stored[1]["edited_at"], Value::Null, "never edited");
    assert_eq!(stored[1]["reply_to"], 1);
    let m3 = &stored[2];
    assert_eq!(
        (
            m3["deleted"].clone(),
            m3["body"].clone(),
            m3["mentions"].clone(),
            m3["reactions"].clone()
        ),
        (json!(true), json!(""), json!([]), json!([])),
        "a deleted message is a tombstone: {m3}"
    );
    assert_eq!(
        (stored[10]["body"].clone(), stored[10]["mentions"].clone()),
        (json!(""), json!([])),
        "the edit of a deleted message lost its text"
    );
    // Non-message events read back as they were committed.
    for seq in [4usize, 5, 6, 7, 8, 9, 10, 12] {
        assert_eq!(stored[seq - 1], live(seq), "history of event {seq}");
    }
    // GET one: the same as history, for every seq.
    for e in &stored {
        let one = get_event(&app, &bob, "general", e["seq"].as_i64().unwrap()).await;
        assert_eq!(&ok(&one, "GET one"), e);
    }
}

/// A client that saw seq 1..3 resumes: STOMP `since-seq`, SSE
/// `Last-Event-ID` and `?after=` give the edit, reaction and delete of
/// those older messages as events; a full replay shows the messages in
/// their current state; live events follow without gap or duplicate.
async fn replay_and_resume_show_events_after_the_resume_point_and_messages_in_current_state(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    say(&app, &alice, "general", "first").await;
    say(&app, &alice, "general", "second").await;
    say(&app, &alice, "general", "third").await;
    // After the resume point (3): changes to the older messages.
    ok(
        &edit(&app, &alice, "general", 1, "first, edited @bob").await,
        "edit",
    );
    ok(&react(&app, &bob, "general", 2, "👍", true).await, "react");
    ok(&delete(&app, &alice, "general", 3).await, "delete");
    let r = post(
        &app,
        &bob,
        "general",
        json!({"body": "fourth", "reply_to": 1}),
    )
    .await;
    assert_eq!(r.status, 201);
    let after_3 = ["edit", "reaction", "delete", "message"];

    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(stored[0]["body"], "first, edited @bob");
    assert_eq!(stored[0]["mentions"], json!(["bob"]));
    assert_eq!(stored[0]["edited_at"], stored[3]["created_at"]);
    assert_eq!(
        stored[1]["reactions"],
        json!([{"key": "👍", "count": 1, "users": ["bob"]}])
    );
    assert_eq!(
        (stored[2]["deleted"].clone(), stored[2]["body"].clone()),
        (json!(true), json!(""))
    );
    assert_eq!(stored[3]["target"], 1);

    // STOMP since-seq:3, then live.
    let mut resumed = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut resumed, "r", "general", 3).await;
    let replay = messages_through(&mut resumed, 7, 10).await;
    assert_eq!(seqs(&replay), [4, 5, 6, 7]);
    let replayed: Vec<(String, Value)> = replay.iter().map(frame_event).collect();
    assert_eq!(
        replayed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        after_3
    );
    for (i, (_, body)) in replayed.iter().enumerate() {
        assert_eq!(body, &stored[3 + i], "replayed event {}", i + 4);
    }
    // STOMP since-seq:0: everything, messages in current state.
    let mut full = StompClient::connect(&app, &alice.access_token).await;
    subscribe_since(&mut full, "f", "general", 0).await;
    let all = messages_through(&mut full, 7, 10).await;
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6, 7]);
    for (f, e) in all.iter().zip(&stored) {
        let (_, body) = frame_event(f);
        assert_eq!(&body, e, "a replayed event is as in history");
    }

    // SSE with Last-Event-ID: 3, and from the start.
    let mut sse = Sse::open(&app, &bob, "general", Some(3)).await;
    let got = sse.events(4).await;
    assert_eq!(
        got.iter().map(|(_, id, _)| *id).collect::<Vec<_>>(),
        [4, 5, 6, 7]
    );
    assert_eq!(
        got.iter().map(|(k, _, _)| k.as_str()).collect::<Vec<_>>(),
        after_3
    );
    for (i, (_, _, data)) in got.iter().enumerate() {
        assert_eq!(data, &stored[3 + i]);
    }
    let mut sse_all = Sse::open(&app, &bob, "general", Some(0)).await;
    let got_all = sse_all.events(7).await;
    for ((kind, id, data), e) in got_all.iter().zip(&stored) {
        assert_eq!(
            (kind.as_str(), *id),
            (e["type"].as_str().unwrap(), e["seq"].as_i64().unwrap())
        );
        assert_eq!(data, e, "SSE replay of {id} is in current state");
    }

    // ?after=3 and a long poll from 3.
    for q in ["after=3", "after=3&wait=2"] {
        let r = app
            .get(
                &format!("/api/v1/rooms/general/messages?{q}"),
                &bob.access_token,
            )
            .await;
        let page = r.body["messages"].as_array().unwrap();
        assert_eq!(types(page), after_3, "{q}");
        assert_eq!(page[..], stored[3..], "{q}");
    }

    // Live continues after the replays: one more edit of the oldest message.
    let e8 = ok(
        &edit(&app, &alice, "general", 1, "first, edited twice").await,
        "edit",
    );
    assert_eq!(e8["seq"], 8);
    for client in [&mut resumed, &mut full] {
        let f = next_message(client).await;
        assert_eq!(
            (f.seq(), f.expect_header("event-type")),
            (8, "edit".to_string())
        );
        assert_eq!(f.json(), e8);
        client.expect_no_frame_for(QUIET).await;
    }
    for stream in [&mut sse, &mut sse_all] {
        let next = stream.events(1).await;
        assert_eq!((next[0].0.as_str(), next[0].1), ("edit", 8));
        assert_eq!(next[0].2, e8);
        stream.expect_quiet(QUIET).await;
    }
    let one = ok(&get_event(&app, &bob, "general", 1).await, "GET 1");
    assert_eq!(one["body"], "first, edited twice");
    assert_eq!(one["mentions"], json!([]), "mentions recomputed: none now");
    assert_eq!(one["edited_at"], e8["created_at"]);
}

async fn edit_delete_and_react_refusals_name_their_codes(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "alice's").await; // 1
    say(&app, &bob, "general", "bob's").await; // 2
    let e3 = ok(
        &edit(&app, &alice, "general", 1, "alice's, edited").await,
        "edit",
    ); // 3
    assert_eq!(e3["seq"], 3);
    let before = history(&app, &alice.access_token, "general").await;

    // message_not_found: no such seq, a seq that is not a message, not a number.
    for seq in ["99", "3", "0", "-1", "abc", "1.5"] {
        refused(
            &edit(&app, &alice, "general", seq, "x").await,
            404,
            "message_not_found",
            &format!("PATCH {seq}"),
        );
        refused(
            &delete(&app, &alice, "general", seq).await,
            404,
            "message_not_found",
            &format!("DELETE {seq}"),
        );
        for add in [true, false] {
            refused(
                &react_raw(&app, &alice, "general", seq, "ok", add).await,
                404,
                "message_not_found",
                &format!("reaction on {seq} (add {add})"),
            );
        }
        if seq != "3" {
            refused(
                &get_event(&app, &alice, "general", seq).await,
                404,
                "message_not_found",
                &format!("GET {seq}"),
            );
        }
    }
    // forbidden: editing another's message; deleting it without being owner.
    refused(
        &edit(&app, &bob, "general", 1, "mine now").await,
        403,
        "forbidden",
        "bob edits alice's",
    );
    refused(
        &edit(&app, &alice, "general", 2, "owner edits").await,
        403,
        "forbidden",
        "even the owner may not edit bob's",
    );
    refused(
        &delete(&app, &bob, "general", 1).await,
        403,
        "forbidden",
        "bob deletes alice's",
    );
    refused(
        &delete(&app, &carol, "general", 2).await,
        403,
        "forbidden",
        "carol deletes bob's",
    );
    // invalid_reaction.
    let long = "a".repeat(33);
    for key in [
        "%20",
        "%20%20",
        "a%20b",
        "a%09b",
        "%0A",
        "%00",
        "a%7Fb",
        "%E2%80%83",
        "%C2%85",
        long.as_str(),
        // 33 bytes: eight 4-byte emoji and one more byte.
        &format!("{}a", encode(&"👍".repeat(8))),
    ] {
        for add in [true, false] {
            refused(
                &react_raw(&app, &bob, "general", 1, key, add).await,
                400,
                "invalid_reaction",
                &format!("key {key} (add {add})"),
            );
        }
    }
    // reaction_not_found.
    refused(
        &react(&app, &bob, "general", 1, "👍", false).await,
        404,
        "reaction_not_found",
        "never added",
    );
    // Nothing above was stored.
    assert_eq!(history(&app, &alice.access_token, "general").await, before);

    // 32 bytes is a valid key; removing it twice: the second has none.
    let key32 = "👍".repeat(8);
    assert_eq!(key32.len(), 32);
    let added = ok(
        &react(&app, &bob, "general", 1, &key32, true).await,
        "32-byte key",
    );
    assert_eq!(
        (added["seq"].clone(), added["key"].clone()),
        (json!(4), json!(key32))
    );
    ok(
        &react(&app, &bob, "general", 1, &key32, false).await,
        "remove",
    );
    refused(
        &react(&app, &bob, "general", 1, &key32, false).await,
        404,
        "reaction_not_found",
        "removed already",
    );

    // The owner may delete others' messages; then every write is message_deleted.
    let d = ok(
        &delete(&app, &alice, "general", 2).await,
        "owner deletes bob's",
    );
    assert_eq!(
        (d["seq"].clone(), d["sender"].clone(), d["target"].clone()),
        (json!(6), json!("alice"), json!(2))
    );
    let d = ok(
        &delete(&app, &alice, "general", 1).await,
        "sender deletes own",
    );
    assert_eq!(d["seq"], 7);
    for seq in [1, 2] {
        refused(
            &delete(&app, &alice, "general", seq).await,
            409,
            "message_deleted",
            "second delete",
        );
        refused(
            &delete(&app, &bob, "general", seq).await,
            409,
            "message_deleted",
            "delete of a deleted one",
        );
    }
    refused(
        &edit(&app, &alice, "general", 1, "too late").await,
        409,
        "message_deleted",
        "edit",
    );
    refused(
        &edit(&app, &bob, "general", 2, "too late").await,
        409,
        "message_deleted",
        "edit",
    );
    for add in [true, false] {
        refused(
            &react(&app, &bob, "general", 1, "👍", add).await,
            409,
            "message_deleted",
            "react",
        );
    }
    let after = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&after),
        [1, 2, 3, 4, 5, 6, 7],
        "refusals stored nothing"
    );
}

async fn reply_to_must_be_a_message_of_the_same_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    app.store_messages("other", &alice, 5).await;
    say(&app, &alice, "general", "one").await; // 1
    ok(
        &edit(&app, &alice, "general", 1, "one, edited").await,
        "edit",
    ); // 2
    ok(
        &react(&app, &alice, "general", 1, "👍", true).await,
        "react",
    ); // 3
    for reply_to in [json!(99), json!(2), json!(3), json!(4), json!(0), json!(-1)] {
        let r = post(
            &app,
            &alice,
            "general",
            json!({"body": "re", "reply_to": reply_to}),
        )
        .await;
        refused(&r, 400, "invalid_reply", &format!("reply_to {reply_to}"));
    }
    let r = post(
        &app,
        &alice,
        "general",
        json!({"body": "re", "reply_to": "1"}),
    )
    .await;
    assert_eq!(r.status, 400, "reply_to is a number: {:?}", r.body);
    assert_eq!(
        history(&app, &alice.access_token, "general").await.len(),
        3,
        "nothing stored"
    );
    let r = post(
        &app,
        &alice,
        "general",
        json!({"body": "re", "reply_to": 1}),
    )
    .await;
    assert_eq!(
        (
            r.status.as_u16(),
            r.body["reply_to"].clone(),
            r.body["seq"].clone()
        ),
        (201, json!(1), json!(4))
    );
    let r = post(
        &app,
        &alice,
        "general",
        json!({"body": "re re", "reply_to": 4}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["reply_to"].clone()),
        (201, json!(4)),
        "a reply may be replied to"
    );
}

async fn stomp_send_with_bad_in_reply_to_breaks_the_session_and_stores_nothing(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    app.store_messages("other", &alice, 5).await;
    say(&app, &alice, "general", "one").await; // 1
    ok(
        &edit(&app, &alice, "general", 1, "one, edited").await,
        "edit",
    ); // 2
    let mut watcher = StompClient::connect(&app, &alice.access_token).await;
    watcher.subscribe("w", "general").await;
    for bad in ["99", "2", "5", "0", "-3", "abc", "", "1 "] {
        let mut c = StompClient::connect(&app, &alice.access_token).await;
        c.send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("in-reply-to", bad),
                ("receipt", "r"),
            ],
            format!("reply to {bad:?}"),
        ))
        .await;
        let error = c.expect_error_then_close().await;
        assert!(
            error.expect_header("message").contains("in-reply-to"),
            "in-reply-to {bad:?}: the ERROR names the header: {error}"
        );
    }
    watcher.expect_no_frame_for(QUIET).await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&stored),
        [1, 2],
        "nothing from a bad SEND was stored"
    );
    // A good one works on a fresh session.
    let mut c = StompClient::connect(&app, &alice.access_token).await;
    c.send(frame(
        "SEND",
        &[
            ("destination", &topic("general")),
            ("in-reply-to", "1"),
            ("receipt", "ok"),
        ],
        "a good reply",
    ))
    .await;
    c.expect_receipt("ok").await;
    let f = watcher.expect_message().await;
    assert_eq!((f.seq(), f.json()["reply_to"].clone()), (3, json!(1)));
}

async fn edit_refuses_bad_bodies_like_send(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "original").await;
    let too_big = "x".repeat(4097);
    for (what, body) in [
        ("empty", ""),
        ("too large", too_big.as_str()),
        ("U+0000", "a\u{0}b"),
    ] {
        refused(
            &edit(&app, &alice, "general", 1, body).await,
            400,
            "invalid_body",
            what,
        );
        // The same body on SEND is refused the same way.
        let r = post(&app, &alice, "general", json!({"body": body})).await;
        refused(&r, 400, "invalid_body", &format!("{what} on POST"));
    }
    let exactly = "x".repeat(4096);
    let url = format!("{}/api/v1/rooms/general/messages/1", app.base);
    for (what, content_type, raw) in [
        ("invalid JSON", "application/json", "{not json".to_string()),
        ("no body field", "application/json", "{}".to_string()),
        (
            "body not a string",
            "application/json",
            r#"{"body": 5}"#.to_string(),
        ),
        (
            "unknown field",
            "application/json",
            r#"{"body": "x", "extra": 1}"#.to_string(),
        ),
        ("not JSON at all", "text/plain", "hello".to_string()),
    ] {
        let resp = app
            .client
            .patch(&url)
            .bearer_auth(&alice.access_token)
            .header("content-type", content_type)
            .body(raw)
            .send()
            .await
            .unwrap();
        let r = TestApp::reply(resp).await;
        assert!(
            r.status == 400 || r.status == 415,
            "{what}: {} {:?}",
            r.status,
            r.body
        );
        assert!(
            !r.code().is_empty(),
            "{what} names an error code: {:?}",
            r.body
        );
    }
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored.len(), 1, "no edit stored");
    assert_eq!(stored[0]["body"], "original");
    assert_eq!(stored[0]["edited_at"], Value::Null);
    // The largest body is accepted.
    let e = ok(
        &edit(&app, &alice, "general", 1, &exactly).await,
        "4096 bytes",
    );
    assert_eq!(e["body"].as_str().map(str::len), Some(4096));
}

async fn private_room_log_is_invisible_to_non_members(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "secret", true).await;
    say(&app, &alice, "secret", "for members").await;
    ok(
        &react(&app, &alice, "secret", 1, "👍", true).await,
        "owner reacts",
    );
    let before = history(&app, &alice.access_token, "secret").await;
    for room in ["secret", "nope"] {
        let rs = [
            ("GET one", get_event(&app, &bob, room, 1).await),
            ("GET missing", get_event(&app, &bob, room, 99).await),
            ("PATCH", edit(&app, &bob, room, 1, "x").await),
            ("DELETE", delete(&app, &bob, room, 1).await),
            ("PUT reaction", react(&app, &bob, room, 1, "🎉", true).await),
            (
                "DELETE reaction",
                react(&app, &bob, room, 1, "👍", false).await,
            ),
            (
                "DELETE alice's reaction",
                react(&app, &bob, room, 1, "👍", false).await,
            ),
            (
                "reply",
                post(&app, &bob, room, json!({"body": "x", "reply_to": 1})).await,
            ),
            (
                "members",
                app.get(&format!("/api/v1/rooms/{room}/members"), &bob.access_token)
                    .await,
            ),
            ("bad key", react_raw(&app, &bob, room, 1, "%20", true).await),
        ];
        for (what, r) in rs {
            if what == "bad key" {
                // The key is checked before the room: either answer hides the room.
                assert!(
                    (r.status == 404 && r.code() == "room_not_found")
                        || r.code() == "invalid_reaction",
                    "{room} {what}: {:?}",
                    r.body
                );
                continue;
            }
            refused(&r, 404, "room_not_found", &format!("{room}: {what}"));
        }
    }
    assert_eq!(
        history(&app, &alice.access_token, "secret").await,
        before,
        "nothing stored"
    );
    // A public room's log is readable by anyone; reading does not join.
    app.create_room(&alice, "open", false).await;
    say(&app, &alice, "open", "for all").await;
    let one = ok(
        &get_event(&app, &bob, "open", 1).await,
        "GET one of a public room",
    );
    assert_eq!(one["body"], "for all");
    let members = app
        .get("/api/v1/rooms/open/members", &bob.access_token)
        .await;
    assert_eq!(
        members.body["members"]
            .as_array()
            .map(|m| m.iter().map(|u| u["username"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("alice")]),
        "{:?}",
        members.body
    );
    // Once a member, bob may react.
    let r = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&alice.access_token),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    ok(
        &react(&app, &bob, "secret", 1, "🎉", true).await,
        "member reacts",
    );
}

async fn room_log_routes_need_a_token(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "one").await;
    for token in [None, Some("not-a-token")] {
        for (method, path, body) in [
            (Method::GET, "/api/v1/rooms/general/messages/1", None),
            (
                Method::PATCH,
                "/api/v1/rooms/general/messages/1",
                Some(json!({"body": "x"})),
            ),
            (Method::DELETE, "/api/v1/rooms/general/messages/1", None),
            (
                Method::PUT,
                "/api/v1/rooms/general/messages/1/reactions/ok",
                None,
            ),
            (
                Method::DELETE,
                "/api/v1/rooms/general/messages/1/reactions/ok",
                None,
            ),
            (Method::GET, "/api/v1/rooms/general/members", None),
        ] {
            let r = app.request(method.clone(), path, token, body).await;
            assert_eq!(
                r.status, 401,
                "{method} {path} with {token:?}: {:?}",
                r.body
            );
        }
    }
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["body"], "one");
}

async fn adding_a_reaction_twice_answers_the_original_event_and_stores_nothing(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "react to me").await;
    let mut watcher = StompClient::connect(&app, &alice.access_token).await;
    watcher.subscribe("w", "general").await;
    let first = ok(
        &react(&app, &bob, "general", 1, "👍", true).await,
        "first add",
    );
    assert_eq!(
        (first["seq"].clone(), first["added"].clone()),
        (json!(2), json!(true))
    );
    // Another event between, so "the latest event" is not the original.
    ok(
        &react(&app, &alice, "general", 1, "👍", true).await,
        "alice adds",
    );
    let again = ok(
        &react(&app, &bob, "general", 1, "👍", true).await,
        "second add",
    );
    assert_eq!(again, first, "the original event, id and seq and time");
    let frames = watcher.expect_messages(2).await;
    assert_eq!(seqs(&frames), [2, 3]);
    watcher.expect_no_frame_for(QUIET).await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), [1, 2, 3], "nothing new stored");
    assert_eq!(
        stored[0]["reactions"],
        json!([{"key": "👍", "count": 2, "users": ["bob", "alice"]}])
    );
    // Removed and added again: a new event, and bob now reacted last.
    ok(
        &react(&app, &bob, "general", 1, "👍", false).await,
        "remove",
    );
    let readded = ok(
        &react(&app, &bob, "general", 1, "👍", true).await,
        "add again",
    );
    assert_eq!(readded["seq"], 5);
    assert_ne!(readded["id"], first["id"]);
    let one = ok(&get_event(&app, &bob, "general", 1).await, "GET");
    assert_eq!(
        one["reactions"],
        json!([{"key": "👍", "count": 2, "users": ["alice", "bob"]}])
    );
}

// --------------------------------------------------------------- erasure --

/// Every table's rows as text (`table: row`), straight from the database.
async fn dump(database_url: &str, backend: Backend) -> Vec<String> {
    let mut out = Vec::new();
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert!(tables.iter().any(|t| t == "messages"), "{tables:?}");
            for t in tables {
                // ONLY: a partitioned table's rows are listed once, under
                // the partition that stores them.
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!(r#"SELECT t::text FROM ONLY "{t}" t"#))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                out.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
            }
            conn.close().await.ok();
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
            // A virtual table (the search index) stores nothing itself: it
            // shows rows of its content table; its shadow tables, listed
            // too, hold what it stores.
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master \
                 WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert!(tables.iter().any(|t| t == "messages"), "{tables:?}");
            for t in tables {
                let columns: Vec<String> = sqlx::query(&format!(r#"PRAGMA table_info("{t}")"#))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>("name"))
                    .collect();
                let row_text = columns
                    .iter()
                    .map(|c| {
                        format!(
                            r#"(CASE typeof("{c}") WHEN 'null' THEN 'NULL' WHEN 'blob' THEN hex("{c}") ELSE CAST("{c}" AS TEXT) END)"#
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" || ' | ' || ");
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!(r#"SELECT {row_text} FROM "{t}""#))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                out.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
            }
            conn.close().await.ok();
        }
    }
    out
}

async fn count(database_url: &str, backend: Backend, sql: &str) -> i64 {
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.ok();
            n
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.ok();
            n
        }
    }
}

fn containing<'a>(rows: &'a [String], needle: &str) -> Vec<&'a String> {
    rows.iter().filter(|r| r.contains(needle)).collect()
}

async fn deleting_erases_the_text_of_the_message_and_its_edits_from_the_database(backend: Backend) {
    let app = app(backend).await;
    let url = app.state.config.database_url.clone();
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    say(&app, &alice, "general", "SECRET-original plan, @bob").await; // 1
    say(&app, &alice, "general", "KEEP-original").await; // 2
    let rows = dump(&url, backend).await;
    assert_eq!(
        containing(&rows, "SECRET-original plan").len(),
        1,
        "stored: {rows:#?}"
    );
    ok(
        &edit(&app, &alice, "general", 1, "SECRET-edit-one").await,
        "edit",
    ); // 3
    ok(
        &edit(&app, &alice, "general", 1, "SECRET-edit-two @bob").await,
        "edit",
    ); // 4
    ok(
        &edit(&app, &alice, "general", 2, "KEEP-edited").await,
        "edit",
    ); // 5
    ok(&react(&app, &bob, "general", 1, "👍", true).await, "react"); // 6
    ok(
        &react(&app, &alice, "general", 1, "🎉", true).await,
        "react",
    ); // 7
    ok(&react(&app, &bob, "general", 2, "👀", true).await, "react"); // 8

    let reactions_of =
        |seq: i64| format!("SELECT count(*) FROM reactions WHERE target_seq = {seq}");
    // Before: the dump holds every text (so the check below can fail).
    let rows = dump(&url, backend).await;
    // The message row holds the latest text, each edit row its own.
    for (text, n) in [("SECRET-edit-one", 1), ("SECRET-edit-two", 2)] {
        assert_eq!(
            containing(&rows, text).len(),
            n,
            "{text} before the delete: {rows:#?}"
        );
    }
    assert_eq!(count(&url, backend, &reactions_of(1)).await, 2);
    assert!(
        count(
            &url,
            backend,
            "SELECT count(*) FROM messages WHERE body LIKE '%SECRET%'"
        )
        .await
            >= 3
    );

    let d = ok(&delete(&app, &alice, "general", 1).await, "delete");
    assert_eq!(d["seq"], 9);

    let rows = dump(&url, backend).await;
    let leaked = containing(&rows, "SECRET");
    assert!(
        leaked.is_empty(),
        "erased text still in the database: {leaked:#?}"
    );
    if backend == Backend::Sqlite {
        // Not only the rows: the files themselves (database and WAL) no
        // longer hold the text once the checkpoint after the erasure ran.
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let files_hold = |needle: &[u8]| {
            ["", "-wal"].iter().any(|suffix| {
                std::fs::read(format!("{path}{suffix}"))
                    .unwrap_or_default()
                    .windows(needle.len())
                    .any(|w| w == needle)
            })
        };
        let mut clean = false;
        for _ in 0..50 {
            if !files_hold(b"SECRET-") {
                clean = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(clean, "the erased text is still in {path} or its WAL");
        assert!(files_hold(b"KEEP-edited"), "the check reads the files");
    }
    assert_eq!(
        count(
            &url,
            backend,
            "SELECT count(*) FROM messages WHERE body LIKE '%SECRET%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&url, backend, &reactions_of(1)).await,
        0,
        "its reactions are gone"
    );
    // The message row is a tombstone; its edits' mentions are erased too.
    assert_eq!(
        count(
            &url,
            backend,
            "SELECT count(*) FROM messages WHERE (seq = 1 OR target_seq = 1) \
             AND mentions <> '[]'"
        )
        .await,
        0,
        "mentions of the message and its edits are erased"
    );
    // Other messages keep their text, edits and reactions.
    assert_eq!(
        containing(&rows, "KEEP-edited").len(),
        2,
        "the message and its edit event"
    );
    assert_eq!(count(&url, backend, &reactions_of(2)).await, 1);
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), (1..=9).collect::<Vec<_>>());
    assert_eq!(stored[0]["body"], "");
    assert_eq!(stored[0]["deleted"], true);
    for seq in [3usize, 4] {
        assert_eq!(
            stored[seq - 1]["body"],
            "",
            "edit {seq} read back without its text"
        );
    }
    assert_eq!(stored[1]["body"], "KEEP-edited");
}

// ----------------------------------------------------------- concurrency --

/// The state of message `target` after applying `events` (seq order) to
/// `original` the way the README describes: the latest edit's body and
/// mentions, `edited_at` its time; reactions grouped by key in order of
/// first use (of the reactions it still has), users in order of reacting.
fn apply(original: &Value, events: &[Value]) -> Value {
    let target = original["seq"].as_i64().unwrap();
    let mut state = original.clone();
    // (key, user) -> seq of the event that added it.
    let mut reactions: Vec<((String, String), i64)> = Vec::new();
    for e in events {
        if e["target"].as_i64() != Some(target) {
            continue;
        }
        match e["type"].as_str().unwrap() {
            "edit" => {
                state["body"] = e["body"].clone();
                state["mentions"] = e["mentions"].clone();
                state["edited_at"] = e["created_at"].clone();
            }
            "reaction" => {
                let k = (
                    e["key"].as_str().unwrap().to_string(),
                    e["sender"].as_str().unwrap().to_string(),
                );
                let had = reactions.iter().position(|(r, _)| *r == k);
                match (e["added"].as_bool().unwrap(), had) {
                    (true, None) => reactions.push((k, e["seq"].as_i64().unwrap())),
                    (false, Some(i)) => {
                        reactions.remove(i);
                    }
                    (added, had) => {
                        panic!("event {e} with the reaction present: {had:?}, added {added}")
                    }
                }
            }
            other => panic!("unexpected {other} event {e}"),
        }
    }
    let mut grouped: Vec<(String, i64, Vec<String>)> = Vec::new();
    for ((key, user), seq) in &reactions {
        match grouped.iter_mut().find(|(k, ..)| k == key) {
            Some((_, first, users)) => {
                *first = (*first).min(*seq);
                users.push(user.clone());
            }
            None => grouped.push((key.clone(), *seq, vec![user.clone()])),
        }
    }
    grouped.sort_by_key(|(_, first, _)| *first);
    state["reactions"] = grouped
        .into_iter()
        .map(|(key, _, users)| json!({"key": key, "count": users.len(), "users": users}))
        .collect();
    state
}

async fn concurrent_edits_and_reactions_on_one_message_end_in_the_state_their_events_describe(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let names: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
    let users = join_all(names.iter().map(|n| app.signup(n))).await;
    join_all(users.iter().map(|u| join(&app, u, "general"))).await;
    let original = say(&app, &alice, "general", "the original").await;
    // Five STOMP subscribers (users of their own) and one SSE stream.
    let mut watchers = Vec::new();
    for (i, u) in users.iter().take(5).enumerate() {
        let mut w = StompClient::connect(&app, &u.access_token).await;
        w.subscribe(&format!("w{i}"), "general").await;
        watchers.push(w);
    }
    let mut sse = Sse::open(&app, &alice, "general", None).await;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Op {
        Edit,
        ForeignEdit,
        Add,
        Remove,
    }
    let others = ["🎉", "👀", "🚀"];
    let mut ops: Vec<(Op, &TestUser, String)> = Vec::new();
    for k in 0..10 {
        ops.push((Op::Edit, &alice, format!("edit {k} @user{:02}", k * 2)));
    }
    for (i, u) in users.iter().enumerate() {
        ops.push((Op::Add, u, "👍".to_string()));
        ops.push((Op::Add, u, others[i % 3].to_string()));
        ops.push((Op::Remove, u, "👍".to_string()));
        if i % 5 == 0 {
            ops.push((Op::ForeignEdit, u, format!("not mine {i}")));
        }
        if i % 4 == 0 {
            ops.push((Op::Remove, u, others[(i + 1) % 3].to_string()));
        }
    }
    let answers = join_all(ops.iter().map(|(op, who, arg)| {
        let app = &app;
        async move {
            let r = match op {
                Op::Edit | Op::ForeignEdit => edit(app, who, "general", 1, arg).await,
                Op::Add => react(app, who, "general", 1, arg, true).await,
                Op::Remove => react(app, who, "general", 1, arg, false).await,
            };
            (*op, r)
        }
    }))
    .await;

    // Every answer is a success or a documented refusal.
    let mut stored_by_answers: BTreeMap<i64, Value> = BTreeMap::new();
    let mut removes_ok = 0;
    for (op, r) in &answers {
        match (op, r.status.as_u16(), r.code()) {
            (Op::Edit, 200, _) | (Op::Add, 200, _) => {}
            (Op::Remove, 200, _) => removes_ok += 1,
            (Op::Remove, 404, "reaction_not_found") => continue,
            (Op::ForeignEdit, 403, "forbidden") => continue,
            (op, status, _) => panic!("{op:?} answered {status}: {:?}", r.body),
        }
        let seq = r.body["seq"].as_i64().unwrap();
        assert!(
            stored_by_answers.insert(seq, r.body.clone()).is_none(),
            "two answers with seq {seq}"
        );
    }
    // Every edit and every first add stores one event; removes that found one too.
    let expected_events = 1 + 10 + 20 + 20 + removes_ok;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&stored),
        (1..=expected_events as i64).collect::<Vec<_>>(),
        "seqs are gapless"
    );
    for (seq, answer) in &stored_by_answers {
        assert_eq!(
            &stored[*seq as usize - 1],
            answer,
            "the answer of {seq} is the stored event"
        );
    }
    assert_eq!(
        stored_by_answers.len(),
        stored.len() - 1,
        "each stored event answered once"
    );
    let want = apply(&original, &stored[1..]);
    assert_eq!(
        stored[0], want,
        "history's message is its events applied in seq order"
    );
    assert_eq!(
        ok(&get_event(&app, &alice, "general", 1).await, "GET"),
        want
    );
    // Live: every event once, in order, to every subscriber.
    for (i, watcher) in watchers.iter_mut().enumerate() {
        let frames = watcher.expect_messages(expected_events - 1).await;
        assert_eq!(
            seqs(&frames),
            (2..=expected_events as i64).collect::<Vec<_>>(),
            "subscriber {i}"
        );
        for f in &frames {
            let (_, body) = frame_event(f);
            assert_eq!(body, stored[f.seq() as usize - 1], "subscriber {i}");
        }
        watcher.expect_no_frame_for(QUIET).await;
    }
    let streamed = sse.events(expected_events - 1).await;
    assert_eq!(
        streamed.iter().map(|(_, id, _)| *id).collect::<Vec<_>>(),
        (2..=expected_events as i64).collect::<Vec<_>>(),
        "SSE"
    );
    for (kind, id, data) in &streamed {
        assert_eq!(data, &stored[*id as usize - 1], "SSE {id}");
        assert_eq!(data["type"], kind.as_str());
    }
    sse.expect_quiet(QUIET).await;
}

async fn concurrent_adds_of_one_reaction_by_one_user_store_one_event(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "react to me").await;
    let answers = join_all((0..20).map(|_| react(&app, &bob, "general", 1, "🔥", true))).await;
    let first = ok(&answers[0], "add");
    for r in &answers {
        assert_eq!(ok(r, "add"), first, "every add answers the one event");
    }
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&stored),
        [1, 2],
        "exactly one reaction event stored"
    );
    assert_eq!(
        stored[0]["reactions"],
        json!([{"key": "🔥", "count": 1, "users": ["bob"]}])
    );
    // And concurrent removes: one succeeds, the rest find none.
    let removes = join_all((0..10).map(|_| react(&app, &bob, "general", 1, "🔥", false))).await;
    let ok_count = removes.iter().filter(|r| r.status == 200).count();
    let none = removes
        .iter()
        .filter(|r| r.code() == "reaction_not_found")
        .count();
    assert_eq!((ok_count, none), (1, 9));
    assert_eq!(history(&app, &alice.access_token, "general").await.len(), 3);
}

// -------------------------------------------------------------- mentions --

async fn mentions_name_members_canonically_and_are_recomputed_on_edit(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("Carol_M").await;
    let dave = app.signup("dave").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    // dave exists but is not a member (yet).
    for (body, want) in [
        ("hi @bob", json!(["bob"])),
        ("hi @BOB", json!(["bob"])),
        (
            "@carol_m and @bob and @Bob again",
            json!(["Carol_M", "bob"]),
        ),
        ("@dave is not here, @nobody is no one", json!([])),
        (
            "@bob. is another name; @bobby too; (@bob) is bob",
            json!(["bob"]),
        ),
        ("mail@bob, @bo is too short", json!(["bob"])),
        ("no mentions", json!([])),
    ] {
        let m = say(&app, &alice, "general", body).await;
        assert_eq!(m["mentions"], want, "{body}");
        let one = ok(
            &get_event(&app, &alice, "general", m["seq"].as_i64().unwrap()).await,
            "GET",
        );
        assert_eq!(one["mentions"], want, "{body} read back");
    }
    let m = say(&app, &alice, "general", "ping @bob").await;
    let seq = m["seq"].as_i64().unwrap();
    join(&app, &dave, "general").await;
    let e = ok(
        &edit(&app, &alice, "general", seq, "ping @DAVE and @carol_M").await,
        "edit",
    );
    assert_eq!(
        e["mentions"],
        json!(["dave", "Carol_M"]),
        "recomputed against members now"
    );
    let one = ok(&get_event(&app, &alice, "general", seq).await, "GET");
    assert_eq!(one["mentions"], json!(["dave", "Carol_M"]));
    assert_eq!(one["body"], "ping @DAVE and @carol_M");
    let e = ok(&edit(&app, &alice, "general", seq, "nobody").await, "edit");
    assert_eq!(e["mentions"], json!([]));
    let one = ok(&get_event(&app, &alice, "general", seq).await, "GET");
    assert_eq!(
        one["mentions"],
        json!([]),
        "an edit without mentions clears them"
    );
    let members = app
        .get("/api/v1/rooms/general/members", &bob.access_token)
        .await;
    let names: Vec<&str> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    for n in ["alice", "bob", "Carol_M", "dave"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
}

// ------------------------------------------------------- keys, joining --

async fn reaction_keys_are_the_percent_decoded_path_segment(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "keys").await;
    for (raw, key) in [
        ("%2B1", "+1"),
        ("+1", "+1"),
        ("a%2Fb", "a/b"),
        ("50%25", "50%"),
        ("%3F", "?"),
        ("%23", "#"),
        ("%3Athumbsup%3A", ":thumbsup:"),
        ("%C3%BC", "ü"),
        ("%F0%9F%91%8D%F0%9F%8F%BD", "👍🏽"),
        ("%E2%9D%A4%EF%B8%8F", "❤️"),
        ("A", "A"),
        ("a", "a"),
    ] {
        let r = react_raw(&app, &alice, "general", 1, raw, true).await;
        let e = ok(&r, &format!("PUT {raw}"));
        assert_eq!(e["key"], key, "PUT {raw}");
        assert_eq!(e["added"], true, "PUT {raw}: a new reaction");
    }
    let one = ok(&get_event(&app, &alice, "general", 1).await, "GET");
    let stored: Vec<&str> = one["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored,
        [
            "+1",
            "a/b",
            "50%",
            "?",
            "#",
            ":thumbsup:",
            "ü",
            "👍🏽",
            "❤️",
            "A",
            "a"
        ],
        "\"+1\" and \"%2B1\" are one key; keys are case-sensitive"
    );
    // Removing by the other spelling of the same key.
    let r = react_raw(&app, &alice, "general", 1, "+1", false).await;
    assert_eq!(ok(&r, "remove +1")["key"], "+1");
}

/// Reacting (like editing or a SEND) joins a public room: the reactor is
/// a member afterwards and can be mentioned.
async fn reacting_joins_a_public_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let m = say(&app, &alice, "general", "hi @bob").await;
    assert_eq!(m["mentions"], json!([]), "bob is not a member yet");
    ok(
        &react(&app, &bob, "general", 1, "👋", true).await,
        "bob reacts",
    );
    let members = app
        .get("/api/v1/rooms/general/members", &alice.access_token)
        .await;
    assert!(
        members.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bob"),
        "{:?}",
        members.body
    );
    let e = ok(&edit(&app, &alice, "general", 1, "hi @bob").await, "edit");
    assert_eq!(e["mentions"], json!(["bob"]), "mentioned once a member");
}

/// A long poll held on `?after=` is answered by an edit, a reaction or a
/// delete, not only by a message.
async fn long_poll_is_answered_by_every_event_type(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "one").await;
    let steps: [(&str, i64); 3] = [("edit", 2), ("reaction", 3), ("delete", 4)];
    for (kind, seq) in steps {
        let poll = app
            .client
            .get(format!(
                "{}/api/v1/rooms/general/messages?after={}&wait=20",
                app.base,
                seq - 1
            ))
            .bearer_auth(&alice.access_token)
            .send();
        let act = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            match kind {
                "edit" => edit(&app, &alice, "general", 1, "one, edited").await,
                "reaction" => react(&app, &alice, "general", 1, "👍", true).await,
                _ => delete(&app, &alice, "general", 1).await,
            }
        };
        let started = tokio::time::Instant::now();
        let (resp, r) = tokio::join!(poll, act);
        ok(&r, kind);
        let body: Value = resp.unwrap().json().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{kind}: answered at once"
        );
        let page = body["messages"].as_array().unwrap();
        assert_eq!(types(page), [kind], "{body}");
        assert_eq!(page[0]["seq"], seq);
    }
}

/// Edits, deletes and reactions count against the send rate like a SEND.
async fn room_log_writes_count_against_the_send_rate(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 1;
        c.limits.send_burst = 3;
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "one").await;
    // Burst 3 (one used by the POST) and at most 5 s of pacing at 1/s: of
    // 12 writes at once, about 7 pass and the rest are refused.
    let answers = join_all((0..12).map(|i| {
        let app = &app;
        let alice = &alice;
        async move {
            match i % 3 {
                0 => edit(app, alice, "general", 1, &format!("edit {i}")).await,
                1 => react(app, alice, "general", 1, &format!("k{i}"), true).await,
                _ => react(app, alice, "general", 1, "nope", false).await,
            }
        }
    }))
    .await;
    let limited = answers.iter().filter(|r| r.status == 429).count();
    for r in answers.iter().filter(|r| r.status != 429) {
        assert!(
            r.status == 200 || r.code() == "reaction_not_found",
            "{:?}",
            r.body
        );
    }
    assert!(
        (3..=10).contains(&limited),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status == 429) {
        assert_eq!(r.code(), "rate_limited");
        assert!(r.headers.contains_key("retry-after"));
    }
}

/// A key is 1-32 bytes of UTF-8: percent-encoded bytes that are not UTF-8
/// are refused, not stored as some other key (U+FFFD).
async fn reaction_key_that_is_not_utf8_is_invalid_reaction(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "keys").await;
    for raw in ["%FF", "%C3", "a%C3%28", "%ED%A0%80"] {
        for add in [true, false] {
            let r = react_raw(&app, &alice, "general", 1, raw, add).await;
            refused(
                &r,
                400,
                "invalid_reaction",
                &format!("{raw} (add {add}) is not UTF-8"),
            );
        }
    }
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), [1], "nothing stored");
}

// ---------------------------------------- bad in-reply-to, batched --

/// A bad `in-reply-to` (a seq with no message) is only found when the log
/// is consulted at commit: inside a transaction it spoils the whole
/// transaction, and a SEND pipelined behind it is not stored either.
async fn bad_in_reply_to_in_a_transaction_or_a_pipeline_stores_nothing(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "one").await; // 1
    let mut watcher = StompClient::connect(&app, &alice.access_token).await;
    watcher.subscribe("w", "general").await;
    let dest = topic("general");

    let mut c = StompClient::connect(&app, &alice.access_token).await;
    c.send(frame("BEGIN", &[("transaction", "t")], "")).await;
    c.send(frame(
        "SEND",
        &[("destination", &dest), ("transaction", "t")],
        "tx good",
    ))
    .await;
    c.send(frame(
        "SEND",
        &[
            ("destination", &dest),
            ("transaction", "t"),
            ("in-reply-to", "99"),
        ],
        "tx bad",
    ))
    .await;
    c.send(frame(
        "COMMIT",
        &[("transaction", "t"), ("receipt", "c")],
        "",
    ))
    .await;
    let error = c.expect_error_then_close().await;
    assert!(
        error.expect_header("message").contains("in-reply-to"),
        "{error}"
    );

    let mut c = StompClient::connect(&app, &alice.access_token).await;
    let mut both = frame(
        "SEND",
        &[
            ("destination", &dest),
            ("in-reply-to", "99"),
            ("receipt", "b"),
        ],
        "pipelined bad",
    );
    both.extend(frame(
        "SEND",
        &[("destination", &dest), ("receipt", "g")],
        "pipelined good after the bad one",
    ));
    c.send(both).await;
    let error = c.expect_error_then_close().await;
    assert!(
        error.expect_header("message").contains("in-reply-to"),
        "{error}"
    );

    watcher.expect_no_frame_for(QUIET).await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(history_seqs(&stored), [1], "nothing stored: {stored:?}");
}

/// A delete racing with edits and reactions on the same message (so they
/// share commit batches): nothing is stored after the delete, every answer
/// is a success or `message_deleted` / `reaction_not_found`, and no edit's
/// text or reaction survives in the database.
async fn delete_racing_edits_and_reactions_erases_everything_before_it(backend: Backend) {
    let app = app(backend).await;
    let url = app.state.config.database_url.clone();
    let alice = app.signup("alice").await;
    let names: Vec<String> = (0..10).map(|i| format!("racer{i:02}")).collect();
    let users = join_all(names.iter().map(|n| app.signup(n))).await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "RACE-original").await; // 1
    say(&app, &alice, "general", "bystander").await; // 2
    ok(
        &react(&app, &alice, "general", 2, "👍", true).await,
        "react on 2",
    ); // 3
    #[derive(Debug, Clone, Copy)]
    enum Op {
        Edit(usize),
        React(usize),
        Unreact(usize),
        Delete,
    }
    let mut ops: Vec<Op> = Vec::new();
    for k in 0..10 {
        ops.push(Op::Edit(k));
        ops.push(Op::React(k));
        ops.push(Op::Unreact(k));
        if k == 5 {
            ops.push(Op::Delete);
        }
    }
    let answers = join_all(ops.iter().map(|op| {
        let (app, alice, users) = (&app, &alice, &users);
        async move {
            let r = match *op {
                Op::Edit(k) => edit(app, alice, "general", 1, &format!("RACE-edit-{k}")).await,
                Op::React(k) => react(app, &users[k], "general", 1, "🔥", true).await,
                Op::Unreact(k) => react(app, &users[k], "general", 1, "🔥", false).await,
                Op::Delete => delete(app, alice, "general", 1).await,
            };
            (*op, r)
        }
    }))
    .await;
    let mut delete_seq = None;
    for (op, r) in &answers {
        match (op, r.status.as_u16(), r.code()) {
            (Op::Delete, 200, _) => delete_seq = r.body["seq"].as_i64(),
            (Op::Delete, ..) => panic!("the one delete failed: {:?}", r.body),
            (_, 200, _) | (_, 409, "message_deleted") => {}
            (Op::Unreact(_), 404, "reaction_not_found") => {}
            (op, s, _) => panic!("{op:?}: {s} {:?}", r.body),
        }
    }
    let delete_seq = delete_seq.unwrap();
    let stored = history(&app, &alice.access_token, "general").await;
    let n = stored.len() as i64;
    assert_eq!(
        history_seqs(&stored),
        (1..=n).collect::<Vec<_>>(),
        "gapless"
    );
    assert_eq!(
        delete_seq, n,
        "nothing is stored after the delete: {stored:#?}"
    );
    for (op, r) in &answers {
        if r.status == 200 {
            let seq = r.body["seq"].as_i64().unwrap();
            assert!(seq <= delete_seq, "{op:?} answered {seq} after the delete");
        }
    }
    assert_eq!(
        (
            stored[0]["deleted"].clone(),
            stored[0]["body"].clone(),
            stored[0]["reactions"].clone()
        ),
        (json!(true), json!(""), json!([]))
    );
    for e in &stored[3..] {
        if e["type"] == "edit" {
            assert_eq!(e["body"], "", "edit {} keeps no text", e["seq"]);
        }
    }
    let rows = dump(&url, backend).await;
    let leaked = containing(&rows, "RACE-");
    assert!(
        leaked.is_empty(),
        "erased text in the database: {leaked:#?}"
    );
    assert_eq!(
        count(
            &url,
            backend,
            "SELECT count(*) FROM reactions WHERE target_seq = 1"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &url,
            backend,
            "SELECT count(*) FROM reactions WHERE target_seq = 2"
        )
        .await,
        1,
        "the other message keeps its reaction"
    );
    assert_eq!(stored[1]["reactions"][0]["users"], json!(["alice"]));
}
