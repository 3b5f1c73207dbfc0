//! Read state, typing and presence across instances (README, "Read
//! markers, unread counts, typing and presence" and "Deploying"): counts
//! and markers agree on every instance, ephemeral signals are relayed
//! through Redis, presence changes show everywhere within 2 s (an event
//! stream's client going away behind nginx too), and the users of an
//! instance killed with SIGKILL go offline within 60 s.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::{Cluster, Nginx};

#[path = "../support/event_stream.rs"]
mod event_stream;
use crate::http;
use crate::http::call as rest;
use stomp_client::{Event, Frame, StompClient, frame, topic};

const WAIT: Duration = Duration::from_secs(10);
/// How soon a presence change must show on every instance.
const PRESENCE_WITHIN: Duration = Duration::from_secs(2);
/// The users of a dead instance are offline within 60 s; polled a little
/// longer so a late answer shows as a wrong list, not a hang.
const DEAD_INSTANCE_WITHIN: Duration = Duration::from_secs(60);

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

async fn join(port: u16, token: &str, room: &str) {
    let path = format!("/api/v1/rooms/{room}/join");
    ok(
        rest(port, Method::POST, &path, token, None).await,
        200,
        "join",
    );
}

async fn say(port: u16, token: &str, room: &str, body: &str) -> i64 {
    let path = format!("/api/v1/rooms/{room}/messages");
    let m = ok(
        rest(
            port,
            Method::POST,
            &path,
            token,
            Some(json!({"body": body})),
        )
        .await,
        201,
        "post",
    );
    m["seq"].as_i64().unwrap()
}

async fn room(port: u16, token: &str, room: &str) -> Value {
    let path = format!("/api/v1/rooms/{room}");
    ok(
        rest(port, Method::GET, &path, token, None).await,
        200,
        "GET room",
    )
}

async fn online(port: u16, token: &str, room: &str) -> Vec<String> {
    let path = format!("/api/v1/rooms/{room}/presence");
    let body = ok(
        rest(port, Method::GET, &path, token, None).await,
        200,
        "presence",
    );
    body["online"]
        .as_array()
        .unwrap_or_else(|| panic!("online list: {body}"))
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

/// Polls presence on `port` until it equals `want`, bounded by `within`;
/// returns the last list and how long it took.
async fn online_becomes(
    port: u16,
    token: &str,
    room: &str,
    want: &[&str],
    within: Duration,
) -> (Vec<String>, Duration) {
    let start = Instant::now();
    loop {
        let now = online(port, token, room).await;
        if now == want || start.elapsed() >= within {
            return (now, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn activity(room: &str) -> String {
    format!("{room}/activity")
}

async fn watch_activity(port: u16, token: &str, room: &str) -> StompClient {
    let mut c = StompClient::connect(port, token).await;
    c.subscribe("act", &activity(room)).await;
    c
}

/// The next activity MESSAGE whose body matches, within `wait`.
async fn signal(
    c: &mut StompClient,
    wait: Duration,
    want: impl Fn(&Value) -> bool,
) -> Result<Frame, Vec<Frame>> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await {
            Some(Event::Frame(f)) if f.command == "MESSAGE" && want(&f.json()) => return Ok(f),
            Some(Event::Frame(f)) => seen.push(f),
            _ => break,
        }
    }
    Err(seen)
}

#[track_caller]
fn found(r: Result<Frame, Vec<Frame>>, what: &str) -> Frame {
    r.unwrap_or_else(|seen| {
        panic!(
            "{what}; saw: {}",
            seen.iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(" // ")
        )
    })
}

async fn two_instances_with_a_room() -> (Cluster, [String; 3]) {
    let cluster = Cluster::start(2).await;
    let a = cluster.port(0);
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(a, "bobby").await;
    let carol = http::signup(a, "carol").await;
    http::create_room(a, &alice, "general").await;
    join(a, &bob, "general").await;
    join(a, &carol, "general").await;
    (cluster, [alice, bob, carol])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_and_read_markers_agree_across_instances() {
    let (cluster, [alice, bob, _carol]) = two_instances_with_a_room().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let mut watcher = watch_activity(a, &alice, "general").await;
    for i in 0..3 {
        say(a, &alice, "general", &format!("m{i} @bobby")).await;
    }
    let r = room(b, &bob, "general").await;
    assert_eq!(r["last_seq"], 3, "{r}");
    assert_eq!(
        (&r["membership"]["unread"], &r["membership"]["mentions"]),
        (&json!(3), &json!(3)),
        "messages sent on A count for a reader on B: {r}"
    );
    let path = "/api/v1/rooms/general/read";
    let m = ok(
        rest(b, Method::PUT, path, &bob, Some(json!({"seq": 2}))).await,
        200,
        "PUT read on B",
    );
    assert_eq!(m["last_read_seq"], 2, "{m}");
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "read" && v["user"] == "bobby"
        })
        .await,
        "the marker moved on B is announced on A",
    );
    assert_eq!(
        f.json(),
        json!({"type": "read", "user": "bobby", "last_read_seq": 2}),
        "{f}"
    );
    let deadline = Instant::now() + WAIT;
    let r = loop {
        let r = room(a, &bob, "general").await;
        if r["membership"]["last_read_seq"] == 2 || Instant::now() >= deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        r["membership"]["last_read_seq"], 2,
        "A sees B's marker: {r}"
    );
    assert_eq!(r["membership"]["unread"], 1, "{r}");
    // An ACK on A, of a live message sent on B, moves the same marker.
    let mut reader = StompClient::connect(a, &bob).await;
    reader
        .subscribe_with("log", "general", &[("ack", "client")])
        .await;
    say(b, &alice, "general", "fourth").await;
    let fourth = reader.expect_message().await;
    assert_eq!(fourth.seq(), 4, "{fourth}");
    reader
        .send(frame("ACK", &[("id", &fourth.expect_header("ack"))], ""))
        .await;
    let deadline = Instant::now() + WAIT;
    let r = loop {
        let r = room(b, &bob, "general").await;
        if r["membership"]["last_read_seq"] == 4 || Instant::now() >= deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        r["membership"]["last_read_seq"], 4,
        "an ACK on A, read on B: {r}"
    );
    assert_eq!(r["membership"]["unread"], 0, "{r}");
    reader.close().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_a_member_on_the_other_instance_and_is_not_stored() {
    let (cluster, [alice, bob, carol]) = two_instances_with_a_room().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    say(a, &alice, "general", "before").await;
    let mut watcher = watch_activity(b, &bob, "general").await;
    watcher.subscribe("log", "general").await;

    // Over HTTP on A.
    ok(
        rest(
            a,
            Method::POST,
            "/api/v1/rooms/general/typing",
            &alice,
            None,
        )
        .await,
        204,
        "POST typing",
    );
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "typing" && v["user"] == "alice"
        })
        .await,
        "alice's typing on A reaches bob on B",
    );
    assert_eq!(f.header("subscription").as_deref(), Some("act"), "{f}");
    assert!(f.header("seq").is_none(), "{f}");
    assert_eq!(
        f.json(),
        json!({"type": "typing", "user": "alice", "expires_in_ms": 6000})
    );

    // Over STOMP on A: ten at once, one gets through the rate limit.
    let mut typist = StompClient::connect(a, &carol).await;
    let one = frame(
        "SEND",
        &[("destination", &topic(&activity("general")))],
        r#"{"type":"typing"}"#,
    );
    typist.send(one.repeat(10)).await;
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "typing" && v["user"] == "carol"
        })
        .await,
        "carol's STOMP typing on A reaches bob on B",
    );
    assert_eq!(f.json()["expires_in_ms"], 6000, "{f}");
    let extra = signal(&mut watcher, Duration::from_millis(700), |v| {
        v["type"] == "typing" && v["user"] == "carol"
    })
    .await;
    assert!(
        extra.is_err(),
        "TYPING_RATE: one signal within the second, got another: {extra:?}"
    );

    // Not stored: no seq taken, history unchanged, the next message is 2.
    let r = room(b, &bob, "general").await;
    assert_eq!(r["last_seq"], 1, "{r}");
    assert_eq!(http::history(b, &bob, "general").await.len(), 1);
    assert_eq!(say(a, &alice, "general", "after").await, 2);
    let m = found(
        signal(&mut watcher, WAIT, |v| v["type"] == "message").await,
        "the next message",
    );
    assert_eq!(
        (m.header("subscription").as_deref(), m.seq()),
        (Some("log"), 2),
        "{m}"
    );
    typist.close().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_changes_on_one_instance_are_announced_on_the_other() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(a, "bobby").await;
    http::create_room(a, &alice, "general").await;
    let mut watcher = watch_activity(b, &alice, "general").await;
    join(a, &bob, "general").await;
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "member" && v["user"] == "bobby"
        })
        .await,
        "bob's join on A announced on B",
    );
    assert_eq!(
        f.json(),
        json!({"type": "member", "user": "bobby", "change": "joined", "role": "member", "by": null})
    );
    // bob watches the activity on B; the ban made on A revokes it.
    let mut banned = watch_activity(b, &bob, "general").await;
    ok(
        rest(
            a,
            Method::POST,
            "/api/v1/rooms/general/bans",
            &alice,
            Some(json!({"username": "bobby"})),
        )
        .await,
        200,
        "ban",
    );
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "member" && v["user"] == "bobby"
        })
        .await,
        "bob's ban on A announced on B",
    );
    assert_eq!(
        (f.json()["change"].clone(), f.json()["by"].clone()),
        (json!("banned"), json!("alice")),
        "{f}"
    );
    let f = found(
        signal(&mut banned, Duration::from_secs(2), |v| {
            v["type"] == "access_revoked"
        })
        .await,
        "bob's activity subscription on B revoked within 2 s of the ban on A",
    );
    assert_eq!(f.header("subscription").as_deref(), Some("act"), "{f}");
    assert_eq!(
        f.json(),
        json!({"type": "access_revoked", "room": "general", "reason": "banned"})
    );
    banned.close().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_changes_show_on_the_other_instance_within_two_seconds() {
    let (cluster, [alice, bob, _carol]) = two_instances_with_a_room().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let mut watcher = watch_activity(a, &alice, "general").await;
    let (list, _) = online_becomes(a, &alice, "general", &["alice"], PRESENCE_WITHIN).await;
    assert_eq!(list, ["alice"]);

    let tab1 = StompClient::connect(b, &bob).await;
    let f = found(
        signal(&mut watcher, PRESENCE_WITHIN, |v| {
            v["type"] == "presence" && v["user"] == "bobby"
        })
        .await,
        "bob online on B announced on A within 2 s",
    );
    assert_eq!(
        f.json(),
        json!({"type": "presence", "user": "bobby", "online": true})
    );
    let (list, took) =
        online_becomes(a, &alice, "general", &["alice", "bobby"], PRESENCE_WITHIN).await;
    assert_eq!(list, ["alice", "bobby"], "A sees bob online after {took:?}");

    // A second tab on A; closing the one on B keeps bob online everywhere.
    let tab2 = StompClient::connect(a, &bob).await;
    tab1.close().await;
    let flap = signal(&mut watcher, Duration::from_millis(1500), |v| {
        v["type"] == "presence" && v["user"] == "bobby"
    })
    .await;
    assert!(
        flap.is_err(),
        "bob still holds a tab: no presence change, got {flap:?}"
    );
    assert_eq!(online(b, &bob, "general").await, ["alice", "bobby"]);

    tab2.close().await;
    let f = found(
        signal(&mut watcher, PRESENCE_WITHIN, |v| {
            v["type"] == "presence" && v["user"] == "bobby"
        })
        .await,
        "bob offline announced within 2 s",
    );
    assert_eq!(f.json()["online"], false, "{f}");
    let (list, took) = online_becomes(b, &bob, "general", &["alice"], PRESENCE_WITHIN).await;
    assert_eq!(list, ["alice"], "B sees bob offline after {took:?}");
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_a_killed_instance_go_offline_within_a_minute() {
    let (mut cluster, [alice, bob, carol]) = two_instances_with_a_room().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    // bob only on B; carol on both; alice on A.
    let _bob_b = StompClient::connect(b, &bob).await;
    let _carol_b = StompClient::connect(b, &carol).await;
    let carol_a = StompClient::connect(a, &carol).await;
    let mut watcher = watch_activity(a, &alice, "general").await;
    let (list, _) = online_becomes(
        a,
        &alice,
        "general",
        &["alice", "bobby", "carol"],
        PRESENCE_WITHIN,
    )
    .await;
    assert_eq!(list, ["alice", "bobby", "carol"]);

    cluster.instances[1].sigkill();
    let (list, took) = online_becomes(
        a,
        &alice,
        "general",
        &["alice", "carol"],
        DEAD_INSTANCE_WITHIN + Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        list,
        ["alice", "carol"],
        "bob (only on the killed instance) offline, carol (also on A) online; after {took:?}"
    );
    assert!(took <= DEAD_INSTANCE_WITHIN, "offline only after {took:?}");
    // The change is announced too, and carol never went offline.
    let f = found(
        signal(&mut watcher, WAIT, |v| {
            v["type"] == "presence" && v["user"] == "bobby"
        })
        .await,
        "bob's offline announced on A",
    );
    assert_eq!(f.json()["online"], false, "{f}");
    let carol_flap = signal(&mut watcher, Duration::from_millis(500), |v| {
        v["type"] == "presence" && v["user"] == "carol" && v["online"] == false
    })
    .await;
    assert!(
        carol_flap.is_err(),
        "carol is still connected to A: {carol_flap:?}"
    );
    assert_eq!(online(a, &alice, "general").await, ["alice", "carol"]);
    carol_a.close().await;
    watcher.close().await;
}

/// Bob's only connection is an event stream through nginx (deploy/nginx.conf)
/// to A; when his client goes away (FIN with the socket kept, or a reset),
/// nginx drops its upstream connection, A notices that close at once, and B
/// shows bob offline within 2 s (not at A's next keep-alive write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_closed_behind_nginx_shows_offline_on_the_other_instance() {
    let (cluster, [alice, bob, _carol]) = two_instances_with_a_room().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    // nginx over A alone, so the stream is surely on A.
    let nginx = Nginx::start(cluster.dir.path(), &[a]).await;
    for path in ["/api/v1/rooms/general/events", "/api/v1/me/events"] {
        for reset in [false, true] {
            let how = if reset { "reset" } else { "closed (FIN)" };
            let mut stream = event_stream::open(nginx.port, &bob, path).await;
            let (list, took) =
                online_becomes(b, &alice, "general", &["bobby"], PRESENCE_WITHIN).await;
            assert_eq!(
                list,
                ["bobby"],
                "GET {path} via nginx: B sees bob online after {took:?}"
            );
            let kept = if reset {
                stream.set_zero_linger().unwrap();
                drop(stream);
                None
            } else {
                tokio::io::AsyncWriteExt::shutdown(&mut stream)
                    .await
                    .unwrap();
                Some(stream)
            };
            let (list, took) = online_becomes(b, &alice, "general", &[], PRESENCE_WITHIN).await;
            assert_eq!(
                list,
                Vec::<String>::new(),
                "GET {path} via nginx, client {how}: B sees bob offline after {took:?}"
            );
            drop(kept);
        }
    }
}
