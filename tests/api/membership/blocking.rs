//! Blocking: while B blocks A, A cannot open or write to their
//! conversation, and each of A's events reaches B only as a `hidden`
//! placeholder, live, in replays, SSE, long polls and history, with B's seq
//! gapless.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::*;
use crate::helpers::on_both_backends;
use crate::stomp::{history, history_seqs};

on_both_backends!(
    blocks_are_listed_by_username_and_idempotent,
    blocking_refuses_oneself_and_unknown_users,
    a_blocked_user_cannot_open_a_conversation_with_the_blocker,
    a_blocked_users_sends_to_the_conversation_are_refused,
    the_blocker_gets_the_blocked_users_events_as_hidden_placeholders_everywhere,
    a_held_long_poll_of_the_blocker_is_answered_with_the_placeholder,
    unblocking_restores_the_blocked_users_events,
    a_block_landing_during_a_flood_keeps_the_blockers_stream_gapless,
    the_blocker_gets_no_typing_signal_from_the_blocked_user,
    the_blocked_users_messages_never_count_in_the_blockers_unread_or_mentions,
);

const ROOM: &str = "general";

fn hidden(seq: i64) -> Value {
    json!({"type": "hidden", "room": ROOM, "seq": seq})
}

async fn blocks_are_listed_by_username_and_idempotent(backend: Backend) {
    let app = app(backend).await;
    let bob = app.signup("bob").await;
    let zed = app.signup("zed").await;
    let amy = app.signup("Amy").await;
    assert_eq!(
        status(&blocks(&app, &bob).await, 200, "none"),
        json!({"blocks": []})
    );
    for (target, what) in [
        ("zed", "block"),
        ("zed", "block again"),
        ("Amy", "block amy"),
    ] {
        let r = block(&app, &bob, target).await;
        assert_eq!(r.status, 204, "{what}: {:?}", r.body);
    }
    let list = status(&blocks(&app, &bob).await, 200, "list");
    assert_eq!(
        names(&list["blocks"]),
        ["Amy", "zed"],
        "by username, once each"
    );
    for u in list["blocks"].as_array().unwrap() {
        assert_eq!(
            keys(u),
            [
                "avatar_url",
                "bot",
                "created_at",
                "display_name",
                "id",
                "status",
                "username"
            ],
            "plain user: {u}"
        );
    }
    assert_eq!(list["blocks"][0]["id"], amy.user_id);
    assert_eq!(list["blocks"][1]["id"], zed.user_id);
    // Each user's list is their own.
    assert_eq!(
        status(&blocks(&app, &zed).await, 200, "zed's"),
        json!({"blocks": []})
    );
    for what in ["unblock", "unblock again"] {
        let r = unblock(&app, &bob, "zed").await;
        assert_eq!(r.status, 204, "{what}: {:?}", r.body);
    }
    let list = status(&blocks(&app, &bob).await, 200, "list");
    assert_eq!(names(&list["blocks"]), ["Amy"]);
}

async fn blocking_refuses_oneself_and_unknown_users(backend: Backend) {
    let app = app(backend).await;
    let bob = app.signup("bob").await;
    refused(
        &block(&app, &bob, "bob").await,
        400,
        "invalid_username",
        "oneself",
    );
    refused(
        &block(&app, &bob, "ghost").await,
        404,
        "user_not_found",
        "unknown",
    );
    refused(
        &unblock(&app, &bob, "ghost").await,
        404,
        "user_not_found",
        "unknown",
    );
    assert_eq!(
        status(&blocks(&app, &bob).await, 200, "list"),
        json!({"blocks": []})
    );
}

async fn a_blocked_user_cannot_open_a_conversation_with_the_blocker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    assert_eq!(block(&app, &bob, "alice").await.status, 204);
    refused(
        &open_dm(&app, &alice, "bob").await,
        403,
        "blocked",
        "before it exists",
    );
    assert!(room_names(&app, &alice).await.is_empty(), "nothing created");
    // The blocker may open it; the blocked user still may not.
    let room = status(
        &open_dm(&app, &bob, "alice").await,
        201,
        "the blocker opens",
    );
    refused(
        &open_dm(&app, &alice, "bob").await,
        403,
        "blocked",
        "once it exists",
    );
    assert_eq!(unblock(&app, &bob, "alice").await.status, 204);
    let again = status(&open_dm(&app, &alice, "bob").await, 200, "after unblocking");
    assert_eq!(again["name"], room["name"]);
}

async fn a_blocked_users_sends_to_the_conversation_are_refused(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let room = status(&open_dm(&app, &alice, "bob").await, 201, "open");
    let name = room["name"].as_str().unwrap().to_string();
    say(&app, &alice, &name, "before the block").await;
    assert_eq!(block(&app, &bob, "alice").await.status, 204);

    refused(
        &post_message(&app, &alice, &name, "are you there?").await,
        403,
        "blocked",
        "HTTP POST",
    );
    let mut a = StompClient::connect(&app, &alice.access_token).await;
    a.subscribe("a", &name).await;
    send_raw(&mut a, &name, "over stomp", "r").await;
    let e = a.expect_error_then_close().await;
    assert_eq!(e.header("message").as_deref(), Some("blocked"), "{e}");

    // Alice still reads, live too; bob still writes.
    let mut reader = StompClient::connect(&app, &alice.access_token).await;
    reader.subscribe("a", &name).await;
    let said = say(&app, &bob, &name, "bob may write").await;
    let f = reader.expect_message().await;
    assert_eq!(
        f.json(),
        said,
        "the blocked user still receives the conversation"
    );
    reader.close().await;
    let log = history(&app, &alice.access_token, &name).await;
    let bodies: Vec<_> = log.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(
        bodies,
        [json!("before the block"), json!("bob may write")],
        "nothing of alice's refused sends"
    );
    assert_eq!(said["seq"], 2);
    // The blocker's view of the conversation hides alice's earlier message.
    let mine = history(&app, &bob.access_token, &name).await;
    assert_eq!(
        mine[0],
        json!({"type": "hidden", "room": name, "seq": 1}),
        "bob's history of the conversation"
    );
    assert_eq!(mine[1], log[1]);

    assert_eq!(unblock(&app, &bob, "alice").await.status, 204);
    status(
        &post_message(&app, &alice, &name, "thanks").await,
        201,
        "after unblocking",
    );
}

/// Everything carol sees of the room, as the reference: (seq, event).
async fn reference(app: &TestApp, who: &TestUser) -> Vec<Value> {
    let log = history(app, &who.access_token, ROOM).await;
    assert_eq!(
        history_seqs(&log),
        (1..=log.len() as i64).collect::<Vec<_>>()
    );
    log
}

/// What the blocker must see for event `e` (from an unblocked view).
fn as_blocker_sees(e: &Value, blocked: &str) -> Value {
    if e["sender"] == blocked {
        hidden(e["seq"].as_i64().unwrap())
    } else {
        e.clone()
    }
}

/// A placeholder must carry nothing else.
#[track_caller]
fn assert_no_leak(e: &Value, blocked: &str) {
    let text = e.to_string();
    if e["type"] == "hidden" {
        assert_eq!(keys(e), ["room", "seq", "type"], "placeholder fields: {e}");
    }
    assert!(
        e["sender"] != blocked,
        "an event of {blocked} reached the blocker: {text}"
    );
}

async fn the_blocker_gets_the_blocked_users_events_as_hidden_placeholders_everywhere(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await; // blocked
    let bob = app.signup("bob").await; // the blocker
    let carol = app.signup("carol").await;
    app.create_room(&carol, ROOM, false).await;
    for u in [&alice, &bob] {
        status(&join(&app, u, ROOM).await, 200, "join");
    }
    let mut bob_live = StompClient::connect(&app, &bob.access_token).await;
    bob_live.subscribe("b", ROOM).await;
    let mut carol_live = StompClient::connect(&app, &carol.access_token).await;
    carol_live.subscribe("c", ROOM).await;
    let mut bob_sse = Sse::open(&app, &bob, ROOM, None).await;
    // The block takes effect on subscriptions already open.
    assert_eq!(block(&app, &bob, "alice").await.status, 204);

    let mut alice_stomp = StompClient::connect(&app, &alice.access_token).await;
    let path = |s: i64| format!("/api/v1/rooms/{ROOM}/messages/{s}");
    let ok = |r: crate::helpers::Reply, what: &str| {
        assert!(
            r.status == 200 || r.status == 201,
            "{what}: {} {:?}",
            r.status,
            r.body
        );
    };
    say(&app, &carol, ROOM, "1 carol").await;
    say(&app, &alice, ROOM, "2 alice @bob").await;
    ok(
        call(
            &app,
            &alice,
            Method::PATCH,
            &path(2),
            Some(json!({"body": "3 alice edits"})),
        )
        .await,
        "edit",
    );
    ok(
        call(
            &app,
            &carol,
            Method::PUT,
            &format!("{}/reactions/ok", path(2)),
            None,
        )
        .await,
        "carol reacts to alice",
    );
    ok(
        call(
            &app,
            &alice,
            Method::PUT,
            &format!("{}/reactions/hm", path(2)),
            None,
        )
        .await,
        "alice reacts to her own",
    );
    say(&app, &bob, ROOM, "6 bob").await;
    let r = alice_stomp
        .send_chat(ROOM, "7 alice over stomp", "r7")
        .await;
    assert_eq!(r.seq(), 7);
    ok(
        call(&app, &alice, Method::DELETE, &path(7), None).await,
        "alice deletes",
    );
    say(&app, &carol, ROOM, "9 carol").await;
    const N: i64 = 9;
    let blocked_seqs = [2, 3, 5, 7, 8];

    // Carol sees everything as it is.
    let carol_frames = carol_live.expect_messages(N as usize).await;
    assert_eq!(
        crate::stomp::seqs(&carol_frames),
        (1..=N).collect::<Vec<_>>()
    );
    for f in &carol_frames {
        let sender = f.json()["sender"].clone();
        let want = if blocked_seqs.contains(&f.seq()) {
            "alice"
        } else {
            "other"
        };
        assert_eq!(sender == "alice", want == "alice", "carol sees {f}");
        assert_ne!(f.header("event-type").as_deref(), Some("hidden"));
    }
    let carol_log = reference(&app, &carol).await;
    assert_eq!(carol_log.len(), N as usize);

    // Live STOMP: gapless, placeholders for alice's events.
    let frames = bob_live.expect_messages(N as usize).await;
    assert_eq!(
        crate::stomp::seqs(&frames),
        (1..=N).collect::<Vec<_>>(),
        "bob's live seqs are gapless"
    );
    for (f, carols) in frames.iter().zip(&carol_frames) {
        let body = f.json();
        assert_no_leak(&body, "alice");
        if blocked_seqs.contains(&f.seq()) {
            assert_eq!(f.header("event-type").as_deref(), Some("hidden"), "{f}");
            assert_eq!(body, hidden(f.seq()), "{f}");
            assert_eq!(
                f.message_id(),
                carols.message_id(),
                "message-id is the event's id: {f}"
            );
        } else {
            assert_eq!(f.header("event-type"), carols.header("event-type"), "{f}");
            assert_eq!(
                body,
                carols.json(),
                "events of others arrive as they are: {f}"
            );
        }
    }
    bob_live.expect_no_frame_for(QUIET).await;

    // SSE, live.
    let events = bob_sse.events(N as usize).await;
    assert_eq!(
        events.iter().map(|e| e.1).collect::<Vec<_>>(),
        (1..=N).map(Some).collect::<Vec<_>>()
    );
    for (kind, id, data) in &events {
        let seq = id.unwrap();
        assert_no_leak(data, "alice");
        if blocked_seqs.contains(&seq) {
            assert_eq!((kind.as_str(), data), ("hidden", &hidden(seq)), "SSE {seq}");
        } else {
            assert_ne!(kind, "hidden", "SSE {seq}: {data}");
            assert_eq!(data["seq"], seq);
        }
    }

    // History and GET one.
    let log = history(&app, &bob.access_token, ROOM).await;
    assert_eq!(
        history_seqs(&log),
        (1..=N).collect::<Vec<_>>(),
        "bob's history is gapless"
    );
    for (mine, carols) in log.iter().zip(&carol_log) {
        assert_no_leak(mine, "alice");
        assert_eq!(
            mine,
            &as_blocker_sees(carols, "alice"),
            "history of seq {}",
            carols["seq"]
        );
    }
    for seq in 1..=N {
        let r = app.get(&path(seq), &bob.access_token).await;
        let one = status(&r, 200, &format!("GET seq {seq}"));
        assert_eq!(one, log[seq as usize - 1], "GET one {seq}");
    }
    // A history page of `before`, as well.
    let page = status(
        &app.get(
            &format!("/api/v1/rooms/{ROOM}/messages?before=6&limit=3"),
            &bob.access_token,
        )
        .await,
        200,
        "page",
    );
    assert_eq!(
        page["messages"],
        json!([hidden(3), log[3].clone(), hidden(5)])
    );

    // Replays: STOMP since-seq and SSE Last-Event-ID.
    let mut replay = StompClient::connect(&app, &bob.access_token).await;
    replay
        .send(stomp_client::frame(
            "SUBSCRIBE",
            &[
                ("id", "r"),
                ("destination", &stomp_client::topic(ROOM)),
                ("since-seq", "1"),
                ("receipt", "sub-r"),
            ],
            "",
        ))
        .await;
    let mut replayed = Vec::new();
    for _ in 0..N + 2 {
        let f = replay.expect_frame().await;
        if f.command == "RECEIPT" {
            continue;
        }
        let done = f.seq() >= N;
        replayed.push(f);
        if done {
            break;
        }
    }
    assert_eq!(
        crate::stomp::seqs(&replayed),
        (2..=N).collect::<Vec<_>>(),
        "replay gapless"
    );
    for f in &replayed {
        let body = f.json();
        assert_eq!(body, log[f.seq() as usize - 1], "replayed {f}");
        let kind = f.expect_header("event-type");
        assert_eq!(kind == "hidden", blocked_seqs.contains(&f.seq()), "{f}");
    }
    let mut resumed = Sse::open(&app, &bob, ROOM, Some(4)).await;
    let events = resumed.events((N - 4) as usize).await;
    assert_eq!(
        events.iter().map(|e| e.1.unwrap()).collect::<Vec<_>>(),
        (5..=N).collect::<Vec<_>>()
    );
    for (kind, id, data) in &events {
        let seq = id.unwrap();
        assert_eq!(data, &log[seq as usize - 1], "SSE replay {seq}");
        assert_eq!(kind == "hidden", blocked_seqs.contains(&seq));
    }
    // Plain polling.
    let page = status(
        &app.get(
            &format!("/api/v1/rooms/{ROOM}/messages?after=6"),
            &bob.access_token,
        )
        .await,
        200,
        "poll",
    );
    assert_eq!(
        page["messages"],
        json!([hidden(7), hidden(8), log[8].clone()])
    );

    // Alice herself, and carol, are not affected by bob's block.
    let alice_log = history(&app, &alice.access_token, ROOM).await;
    assert_eq!(alice_log, carol_log, "the blocked user sees everything");
    replay.close().await;
    alice_stomp.close().await;
    carol_live.close().await;
}

async fn a_held_long_poll_of_the_blocker_is_answered_with_the_placeholder(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&carol, ROOM, false).await;
    say(&app, &carol, ROOM, "one").await;
    assert_eq!(block(&app, &bob, "alice").await.status, 204);
    let poll = |who: &TestUser| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/rooms/{ROOM}/messages?after=1&wait=10", app.base);
        let token = who.access_token.clone();
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let bobs = poll(&bob);
    let carols = poll(&carol);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!bobs.is_finished(), "held while nothing is new");
    let sent = say(&app, &alice, ROOM, "two, from alice").await;
    let (s, body) = tokio::time::timeout(WAIT, bobs).await.unwrap().unwrap();
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["messages"], json!([hidden(2)]), "the blocker's poll");
    let (s, body) = tokio::time::timeout(WAIT, carols).await.unwrap().unwrap();
    assert_eq!(s, 200);
    assert_eq!(body["messages"], json!([sent]), "another member's poll");
}

async fn unblocking_restores_the_blocked_users_events(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&bob, ROOM, false).await;
    status(&join(&app, &alice, ROOM).await, 200, "join");
    let mut live = StompClient::connect(&app, &bob.access_token).await;
    live.subscribe("b", ROOM).await;
    assert_eq!(block(&app, &bob, "alice").await.status, 204);
    say(&app, &alice, ROOM, "while blocked").await;
    let f = live.expect_message().await;
    assert_eq!(f.json(), hidden(1), "{f}");
    assert_eq!(unblock(&app, &bob, "alice").await.status, 204);
    let sent = say(&app, &alice, ROOM, "after unblocking").await;
    let f = live.expect_message().await;
    assert_eq!(f.header("event-type").as_deref(), Some("message"), "{f}");
    assert_eq!(f.json(), sent, "new deliveries show alice's events again");
    let log = history(&app, &bob.access_token, ROOM).await;
    let bodies: Vec<_> = log.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(
        bodies,
        [json!("while blocked"), json!("after unblocking")],
        "history too: {log:?}"
    );
    assert!(log.iter().all(|m| m["sender"] == "alice"));
    live.close().await;
}

/// Bob blocks alice while she and carol flood the room: bob's live stream
/// stays gapless, and once alice's events turn into placeholders they stay
/// so.
async fn a_block_landing_during_a_flood_keeps_the_blockers_stream_gapless(backend: Backend) {
    const EACH: usize = 60;
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&carol, ROOM, false).await;
    for u in [&alice, &bob] {
        status(&join(&app, u, ROOM).await, 200, "join");
    }
    let mut live = StompClient::connect(&app, &bob.access_token).await;
    live.subscribe("b", ROOM).await;
    let flood = |who: &TestUser| {
        let token = who.access_token.clone();
        let app = &app;
        async move {
            let mut c = StompClient::connect(app, &token).await;
            for i in 0..EACH {
                let headers = [("destination", stomp_client::topic(ROOM))];
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                c.send(stomp_client::frame("SEND", &headers, format!("flood {i}")))
                    .await;
            }
            c.send_chat(ROOM, "done", "done").await;
            c.close().await;
        }
    };
    let blocking = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(block(&app, &bob, "alice").await.status, 204);
    };
    tokio::join!(flood(&alice), flood(&carol), blocking);
    // Whenever the block landed, it has by now.
    say(&app, &alice, ROOM, "after the block").await;
    let total = 2 * (EACH + 1) + 1;
    let frames = live.expect_messages(total).await;
    assert_eq!(
        crate::stomp::seqs(&frames),
        (1..=total as i64).collect::<Vec<_>>(),
        "bob's live seqs stay gapless"
    );
    let carols = history(&app, &carol.access_token, ROOM).await;
    let mut hidden_seen = false;
    for f in &frames {
        let body = f.json();
        let by_alice = carols[f.seq() as usize - 1]["sender"] == "alice";
        if body["type"] == "hidden" {
            assert!(by_alice, "only alice's events are hidden: {f}");
            assert_eq!(body, hidden(f.seq()));
            hidden_seen = true;
        } else if by_alice {
            assert!(
                !hidden_seen,
                "alice's seq {} arrived in full after her events were already hidden",
                f.seq()
            );
        }
    }
    assert!(hidden_seen, "the block took effect");
    assert_eq!(
        frames[total - 1].json(),
        hidden(total as i64),
        "the last one"
    );
    let log = history(&app, &bob.access_token, ROOM).await;
    assert_eq!(history_seqs(&log), (1..=total as i64).collect::<Vec<_>>());
    for (mine, theirs) in log.iter().zip(&carols) {
        assert_eq!(
            mine,
            &as_blocker_sees(theirs, "alice"),
            "history {}",
            theirs["seq"]
        );
    }
    live.close().await;
}

async fn the_blocker_gets_no_typing_signal_from_the_blocked_user(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&carol, ROOM, false).await;
    for u in [&alice, &bob] {
        status(&join(&app, u, ROOM).await, 200, "join");
    }
    let mut subs = Vec::new();
    for who in [&bob, &carol] {
        let mut c = StompClient::connect(&app, &who.access_token).await;
        let receipt = "sub-act";
        c.send(stomp_client::frame(
            "SUBSCRIBE",
            &[
                ("id", "act"),
                ("destination", &format!("/topic/rooms/{ROOM}/activity")),
                ("receipt", receipt),
            ],
            "",
        ))
        .await;
        c.expect_receipt(receipt).await;
        subs.push(c);
    }
    assert_eq!(block(&app, &bob, "alice").await.status, 204);
    let path = format!("/api/v1/rooms/{ROOM}/typing");
    let r = call(&app, &alice, Method::POST, &path, None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let mut typing = Vec::new();
    for c in subs.iter_mut() {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Some(stomp_client::Event::Frame(f)) = c
            .next_event(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if f.header("event-type").as_deref() == Some("typing") {
                seen.push(f.json()["user"].clone());
            }
        }
        typing.push(seen);
    }
    assert_eq!(typing[1], [json!("alice")], "carol sees alice typing");
    assert_eq!(
        typing[0],
        Vec::<Value>::new(),
        "the blocker receives nothing alice sends"
    );
}

async fn the_blocked_users_messages_never_count_in_the_blockers_unread_or_mentions(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&carol, ROOM, false).await;
    for u in [&alice, &bob] {
        status(&join(&app, u, ROOM).await, 200, "join");
    }
    assert_eq!(block(&app, &bob, "alice").await.status, 204);
    for i in 0..3 {
        say(&app, &alice, ROOM, &format!("hey @bob {i}")).await;
    }
    say(&app, &carol, ROOM, "hello @bob").await;
    say(&app, &carol, ROOM, "hello all").await;
    let counts = |room: &Value| {
        (
            room["membership"]["unread"].clone(),
            room["membership"]["mentions"].clone(),
        )
    };
    let mine = status(&get_room(&app, &bob, ROOM).await, 200, "GET room");
    assert_eq!(counts(&mine), (json!(2), json!(1)), "bob's counts: {mine}");
    let listed = app.get("/api/v1/rooms", &bob.access_token).await;
    let listed = listed.body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == ROOM)
        .unwrap()
        .clone();
    assert_eq!(
        counts(&listed),
        (json!(2), json!(1)),
        "in GET /rooms: {listed}"
    );
    // Someone who blocks nobody counts every message.
    status(
        &join(&app, &app.signup("dave").await, ROOM).await,
        200,
        "dave",
    );
    let theirs = status(&get_room(&app, &carol, ROOM).await, 200, "carol's");
    assert_eq!(
        theirs["membership"]["unread"], 3,
        "carol's own are not unread: {theirs}"
    );
    // Unblocking: alice's messages count again.
    assert_eq!(unblock(&app, &bob, "alice").await.status, 204);
    let mine = status(&get_room(&app, &bob, ROOM).await, 200, "GET room");
    assert_eq!(
        counts(&mine),
        (json!(5), json!(4)),
        "after unblocking: {mine}"
    );
}
