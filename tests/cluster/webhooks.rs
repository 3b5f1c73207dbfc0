//! Bots and outgoing webhooks across instances (the README, "Bots and
//! webhooks"): one instance delivers a webhook at a time, and when it is
//! killed outright another takes over from the durable cursor within 15 s,
//! in seq order; a bot's token rotated or the bot deleted through one
//! instance ends its live connections on every instance within 2 s.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use stomp_client::StompClient;

use crate::cluster::{Cluster, Instance, RedisServer, Shared, TempDir, fresh_database};
use crate::http;

#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;
use webhook_receiver::{Answer, Receiver};

const ALLOW_LOOPBACK: &[(&str, &str)] = &[("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")];

struct Setup {
    shared: Shared,
    _redis: RedisServer,
    dir: TempDir,
}

async fn setup() -> Setup {
    let dir = TempDir::new("webhooks");
    let redis = RedisServer::start(dir.path()).await;
    let shared = Shared {
        database_url: fresh_database().await,
        redis_url: redis.url(),
        dir: dir.path().to_path_buf(),
    };
    Setup {
        shared,
        _redis: redis,
        dir,
    }
}

/// An outgoing webhook of `room` to `receiver`, created through `port`.
async fn outgoing(port: u16, token: &str, room: &str, receiver: &Receiver) {
    let (status, made) = http::call(
        port,
        Method::POST,
        &format!("/api/v1/rooms/{room}/webhooks"),
        token,
        Some(json!({"kind": "outgoing", "url": receiver.url("/hook")})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    receiver.set_key(made["secret"].as_str().unwrap());
}

async fn post(port: u16, token: &str, room: &str, body: &str) {
    let (status, r) = http::call(
        port,
        Method::POST,
        &format!("/api/v1/rooms/{room}/messages"),
        token,
        Some(json!({"body": body})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_deliverer_is_replaced_within_15_s_in_order() {
    let setup = setup().await;
    let mut a = Instance::start_with("parley-a", &setup.shared, ALLOW_LOOPBACK).await;
    let alice = http::signup(a.port, "alice").await;
    http::create_room(a.port, &alice, "ops").await;
    let receiver = Receiver::start(Answer::Status(503)).await;
    outgoing(a.port, &alice, "ops", &receiver).await;
    post(a.port, &alice, "ops", "m1").await;
    // A alone holds the lease, and fails.
    let failing = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(failing.first().map(|r| r.id.as_str()), Some("ops:1"));
    let b = Instance::start_with("parley-b", &setup.shared, ALLOW_LOOPBACK).await;
    for i in 2..=5 {
        post(b.port, &alice, "ops", &format!("m{i}")).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        receiver.received().iter().all(|r| r.id == "ops:1"),
        "nothing after the failing event"
    );

    a.sigkill();
    let killed = Instant::now();
    let before = receiver.received().len();
    receiver.answer(Answer::Status(200));
    let got = receiver.wait_for(before + 5, Duration::from_secs(40)).await;
    let after: Vec<_> = got[before..].to_vec();
    assert!(!after.is_empty(), "B never delivered");
    assert_eq!(
        after[0].id, "ops:1",
        "B resumes at the event A never got answered (the durable cursor), \
         not after it"
    );
    let took = after[0].at.duration_since(killed);
    assert!(
        took <= Duration::from_secs(16),
        "another instance resumes within 15 s of the kill (took {took:?})"
    );
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids,
        ["ops:1", "ops:2", "ops:3", "ops:4", "ops:5"],
        "in seq order"
    );
    assert!(got.iter().all(|r| r.verified), "all signed");
    assert_eq!(receiver.max_in_flight(), 1, "never two requests at a time");
    let bodies: Vec<String> = after
        .iter()
        .map(|r| r.json()["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies.last().map(String::as_str), Some("m5"));
    drop(b);
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once_one_at_a_time() {
    let setup = setup().await;
    let (a, b) = tokio::join!(
        Instance::start_with("parley-a", &setup.shared, ALLOW_LOOPBACK),
        Instance::start_with("parley-b", &setup.shared, ALLOW_LOOPBACK),
    );
    let alice = http::signup(a.port, "alice").await;
    http::create_room(a.port, &alice, "ops").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    outgoing(b.port, &alice, "ops", &receiver).await;
    for i in 1..=30 {
        let port = if i % 2 == 0 { a.port } else { b.port };
        post(port, &alice, "ops", &format!("m{i}")).await;
    }
    let got = receiver.wait_for(30, Duration::from_secs(40)).await;
    // Let any duplicate show itself.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_all = receiver.received();
    assert_eq!(got.len(), 30, "every event");
    let ids: Vec<String> = got_all.iter().map(|r| r.id.clone()).collect();
    let expected: Vec<String> = (1..=30).map(|i| format!("ops:{i}")).collect();
    assert_eq!(ids, expected, "each once, in seq order");
    assert_eq!(receiver.max_in_flight(), 1, "one request at a time");
    drop((a, b));
    drop(setup.dir);
}

const END_WITHIN: Duration = Duration::from_secs(2);

/// A STOMP session of `token` on each of `ports`.
async fn sessions(ports: &[u16], token: &str) -> Vec<StompClient> {
    let mut open = Vec::new();
    for port in ports {
        open.push(StompClient::connect(*port, token).await);
    }
    open
}

/// Every session gets an ERROR and is closed within [`END_WITHIN`] (all
/// read at once, from the moment of the change).
async fn all_end(sessions: &mut [StompClient], what: &str) {
    let ended = sessions
        .iter_mut()
        .map(|s| s.expect_closed_within(END_WITHIN));
    for (i, frames) in futures_util::future::join_all(ended)
        .await
        .into_iter()
        .enumerate()
    {
        assert!(
            frames.iter().any(|f| f.command == "ERROR"),
            "{what}: the session on instance {i} gets an ERROR before closing: {frames:?}"
        );
    }
}

#[tokio::test]
async fn a_bots_token_rotated_or_the_bot_deleted_ends_its_sessions_everywhere() {
    let cluster = Cluster::start(2).await;
    let ports = cluster.ports();
    let (a, b) = (ports[0], ports[1]);
    let alice = http::signup(a, "alice").await;
    let (status, made) = http::call(
        b,
        Method::POST,
        "/api/v1/bots",
        &alice,
        Some(json!({"username": "deploybot"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let old = made["token"].as_str().unwrap().to_string();
    let mut live = sessions(&ports, &old).await;

    let (status, rotated) = http::call(
        a,
        Method::POST,
        "/api/v1/bots/deploybot/token",
        &alice,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    all_end(&mut live, "rotated").await;
    let new = rotated["token"].as_str().unwrap().to_string();
    for port in &ports {
        let (status, _) = http::call(*port, Method::GET, "/api/v1/me", &old, None).await;
        assert_eq!(status, 401, "the old token is refused on {port}");
        let (status, me) = http::call(*port, Method::GET, "/api/v1/me", &new, None).await;
        assert_eq!(status, 200, "the new token works on {port}: {me}");
    }

    let mut live = sessions(&ports, &new).await;
    let (status, body) =
        http::call(b, Method::DELETE, "/api/v1/bots/deploybot", &alice, None).await;
    assert_eq!(status, 204, "{body}");
    all_end(&mut live, "deleted").await;
    for port in &ports {
        let (status, _) = http::call(*port, Method::GET, "/api/v1/me", &new, None).await;
        assert_eq!(status, 401, "a deleted bot's token is refused on {port}");
    }
}
