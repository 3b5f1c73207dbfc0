//! The room log across instances (README, "The room log" and "Deploying"):
//! edits, deletions and reactions made on one instance reach subscribers on
//! every instance live, exactly once, in seq order, with their
//! `event-type`, and read back the same from any instance.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::http;
use crate::http::call;
use stomp_client::{Frame, StompClient, frame, topic};

/// Long enough for a duplicate relayed late to show up.
const QUIET: Duration = Duration::from_millis(500);

fn encode(key: &str) -> String {
    key.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn react(port: u16, token: &str, seq: i64, key: &str, add: bool) -> (u16, Value) {
    let method = if add { Method::PUT } else { Method::DELETE };
    let path = format!(
        "/api/v1/rooms/lobby/messages/{seq}/reactions/{}",
        encode(key)
    );
    call(port, method, &path, token, None).await
}

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

/// A MESSAGE frame as (event-type, JSON body), checked against each other.
#[track_caller]
fn event(f: &Frame) -> (String, Value) {
    assert_eq!(f.command, "MESSAGE", "{f}");
    let kind = f.expect_header("event-type");
    let body = f.json();
    assert_eq!(body["type"], kind.as_str(), "{f}");
    assert_eq!(body["seq"].as_i64(), Some(f.seq()), "{f}");
    (kind, body)
}

fn seqs(frames: &[Frame]) -> Vec<i64> {
    frames.iter().map(Frame::seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_reactions_arrive_once_in_order_on_every_instance() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    http::create_room(a, &alice, "lobby").await;

    let mut on_a = StompClient::connect(a, &alice).await;
    on_a.subscribe("a", "lobby").await;
    let mut on_b = StompClient::connect(b, &bob).await;
    on_b.subscribe("b", "lobby").await;
    let mut bob_sender = StompClient::connect(b, &bob).await;

    let mut answers: Vec<(i64, Value)> = Vec::new();
    let m1 = ok(
        call(
            a,
            Method::POST,
            "/api/v1/rooms/lobby/messages",
            &alice,
            Some(json!({"body": "hello @bob"})),
        )
        .await,
        201,
        "post on A",
    );
    answers.push((1, m1));
    // A reply over STOMP on B.
    bob_sender
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("lobby")),
                ("in-reply-to", "1"),
                ("receipt", "r"),
            ],
            "reply from B",
        ))
        .await;
    bob_sender.expect_receipt("r").await;
    let steps = [
        (
            3,
            call(
                a,
                Method::PATCH,
                "/api/v1/rooms/lobby/messages/1",
                &alice,
                Some(json!({"body": "hello @bob, edited on A"})),
            )
            .await,
        ),
        (4, react(a, &bob, 1, "👍", true).await),
        (5, react(b, &alice, 2, "🎉", true).await),
        (6, react(a, &bob, 1, "👍", false).await),
        (7, react(b, &bob, 1, "🎉", true).await),
        (
            8,
            call(
                a,
                Method::PATCH,
                "/api/v1/rooms/lobby/messages/2",
                &bob,
                Some(json!({"body": "reply, edited on A"})),
            )
            .await,
        ),
        (
            9,
            call(
                a,
                Method::DELETE,
                "/api/v1/rooms/lobby/messages/2",
                &alice,
                None,
            )
            .await,
        ),
    ];
    for (seq, answer) in steps {
        let e = ok(answer, 200, &format!("step {seq}"));
        assert_eq!(e["seq"], seq, "{e}");
        answers.push((seq, e));
    }
    let want = [
        "message", "message", "edit", "reaction", "reaction", "reaction", "reaction", "edit",
        "delete",
    ];
    for (name, sub) in [("A", &mut on_a), ("B", &mut on_b)] {
        let frames = sub.expect_messages(9).await;
        assert_eq!(seqs(&frames), (1..=9).collect::<Vec<_>>(), "on {name}");
        let events: Vec<(String, Value)> = frames.iter().map(event).collect();
        assert_eq!(
            events.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            want,
            "event types on {name}"
        );
        for (seq, answer) in &answers {
            assert_eq!(
                &events[*seq as usize - 1].1,
                answer,
                "event {seq} on {name}"
            );
        }
        assert_eq!(events[1].1["reply_to"], 1, "in-reply-to relayed on {name}");
        sub.expect_no_frame_for(QUIET).await;
    }

    // Both instances read back the same current state.
    let from_a = http::history(a, &alice, "lobby").await;
    let from_b = http::history(b, &bob, "lobby").await;
    assert_eq!(from_a, from_b);
    assert_eq!(from_a.len(), 9);
    let m1 = &from_a[0];
    assert_eq!(m1["body"], "hello @bob, edited on A");
    assert_eq!(m1["edited_at"], from_a[2]["created_at"]);
    assert_eq!(
        m1["reactions"],
        json!([{"key": "🎉", "count": 1, "users": ["bob"]}])
    );
    let m2 = &from_a[1];
    assert_eq!(
        (
            m2["deleted"].clone(),
            m2["body"].clone(),
            m2["reactions"].clone()
        ),
        (json!(true), json!(""), json!([]))
    );

    // A resume on B from seq 2 replays the changes to the older messages.
    let mut resumed = StompClient::connect(b, &bob).await;
    resumed
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "r"),
                ("destination", &topic("lobby")),
                ("since-seq", "2"),
                ("receipt", "sub-r"),
            ],
            "",
        ))
        .await;
    let mut replay = Vec::new();
    for _ in 0..10 {
        let f = resumed.expect_frame().await;
        if f.command == "RECEIPT" {
            continue;
        }
        let done = f.seq() >= 9;
        replay.push(f);
        if done {
            break;
        }
    }
    assert_eq!(seqs(&replay), (3..=9).collect::<Vec<_>>());
    for f in &replay {
        let (_, body) = event(f);
        assert_eq!(body, from_a[f.seq() as usize - 1], "replayed {}", f.seq());
    }
}

/// Users on both instances react and unreact on one message at once; the
/// subscribers on both instances see the same gapless sequence of events,
/// and history is those events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reactions_on_both_instances_reach_every_subscriber_once_in_order() {
    const USERS: usize = 10;
    let cluster = Cluster::start(2).await;
    let ports = [cluster.port(0), cluster.port(1)];
    let owner = http::signup(ports[0], "owner").await;
    http::create_room(ports[0], &owner, "lobby").await;
    let names: Vec<String> = (0..USERS).map(|i| format!("user{i:02}")).collect();
    let tokens: Vec<String> = join_all(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| http::signup(ports[i % 2], n)),
    )
    .await;
    ok(
        call(
            ports[0],
            Method::POST,
            "/api/v1/rooms/lobby/messages",
            &owner,
            Some(json!({"body": "react here"})),
        )
        .await,
        201,
        "post",
    );
    let mut subs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut s = StompClient::connect(*port, &owner).await;
        s.subscribe(&format!("s{i}"), "lobby").await;
        subs.push(s);
    }
    // Each user: 👍 on their instance, 🎉 on the other, and removes 👍.
    let answers = join_all(tokens.iter().enumerate().flat_map(|(i, t)| {
        (0..3).map(move |op| async move {
            let (home, away) = (ports[i % 2], ports[(i + 1) % 2]);
            match op {
                0 => react(home, t, 1, "👍", true).await,
                1 => react(away, t, 1, "🎉", true).await,
                _ => react(home, t, 1, "👍", false).await,
            }
        })
    }))
    .await;
    let mut removed = 0;
    for (status, body) in &answers {
        match status {
            200 => {}
            404 if body["error"]["code"] == "reaction_not_found" => continue,
            _ => panic!("{status}: {body}"),
        }
        if body["added"] == false {
            removed += 1;
        }
    }
    let total = 1 + 2 * USERS + removed;
    let stored = http::history(ports[1], &owner, "lobby").await;
    let stored_seqs: Vec<i64> = stored.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        stored_seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "gapless"
    );
    for (i, s) in subs.iter_mut().enumerate() {
        let frames = s.expect_messages(total - 1).await;
        assert_eq!(
            seqs(&frames),
            (2..=total as i64).collect::<Vec<_>>(),
            "instance {i}"
        );
        for f in &frames {
            let (kind, body) = event(f);
            assert_eq!(kind, "reaction");
            assert_eq!(
                body,
                stored[f.seq() as usize - 1],
                "instance {i}, seq {}",
                f.seq()
            );
        }
        s.expect_no_frame_for(QUIET).await;
    }
    let left_thumbs = USERS - removed;
    let groups = stored[0]["reactions"].as_array().unwrap();
    let count = |key: &str| {
        groups
            .iter()
            .find(|g| g["key"] == key)
            .map_or(0, |g| g["count"].as_u64().unwrap() as usize)
    };
    assert_eq!((count("👍"), count("🎉")), (left_thumbs, USERS));
}
