//! Web Push across instances (README, "Notifications"): two instances on
//! one Postgres and one Redis push each due event exactly once; a sender
//! killed with SIGKILL loses nothing. The push service is the tests' own
//! receiver on loopback (tests/api/notifications/receiver.rs), which
//! decrypts every push.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::cluster::{Instance, RedisServer, Shared, TempDir, fresh_database};
use crate::http::{call, signup};

#[allow(dead_code)] // verify_vapid: the API tests check tokens
#[path = "../api/notifications/receiver.rs"]
mod receiver;

use receiver::{Receiver, Subscriber};

/// Two (or one) instances allowed to push to `receiver`.
async fn start(
    dir: &TempDir,
    redis: &RedisServer,
    receiver: &Receiver,
    names: &[&str],
) -> (Shared, Vec<Instance>) {
    let shared = Shared {
        database_url: fresh_database().await,
        redis_url: redis.url(),
        dir: dir.path().to_path_buf(),
    };
    let host = receiver.host();
    let mut instances = Vec::new();
    for name in names {
        instances.push(Instance::start_with(name, &shared, &[("PUSH_ALLOWED_HOSTS", &host)]).await);
    }
    (shared, instances)
}

/// Alice subscribed at `phone` through `port`; Bob; their conversation.
async fn alice_and_bob(port: u16, phone: &Subscriber) -> (String, String) {
    let alice = signup(port, "alice").await;
    let bob = signup(port, "bob").await;
    let (status, body) = call(
        port,
        Method::POST,
        "/api/v1/me/push-subscriptions",
        &alice,
        Some(phone.json()),
    )
    .await;
    assert_eq!(status, 201, "subscribe: {body}");
    let (status, body) = call(
        port,
        Method::POST,
        "/api/v1/dms",
        &bob,
        Some(json!({"username": "alice"})),
    )
    .await;
    assert_eq!(status, 201, "open the conversation: {body}");
    (bob, body["name"].as_str().unwrap().to_string())
}

async fn post(port: u16, token: &str, room: &str, body: &str) -> i64 {
    let (status, answer) = call(
        port,
        Method::POST,
        &format!("/api/v1/rooms/{room}/messages"),
        token,
        Some(json!({"body": body})),
    )
    .await;
    assert_eq!(status, 201, "post: {answer}");
    answer["seq"].as_i64().unwrap()
}

/// The seqs of the pushes `phone` got (decrypted), those accepted only if asked.
fn seqs(receiver: &Receiver, phone: &Subscriber, accepted_only: bool) -> Vec<i64> {
    receiver
        .received(&phone.path)
        .iter()
        .filter(|r| !accepted_only || r.answered == 201)
        .map(|r| phone.decrypt(&r.body)["seq"].as_i64().unwrap())
        .collect()
}

async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_instances_push_each_due_event_exactly_once() {
    let dir = TempDir::new("push");
    let redis = RedisServer::start(dir.path()).await;
    let receiver = Receiver::start().await;
    let (_shared, instances) = start(&dir, &redis, &receiver, &["parley-a", "parley-b"]).await;
    let (a, b) = (instances[0].port, instances[1].port);
    let key = |port| async move {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/push/vapid-key"))
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()["public_key"].clone()
    };
    assert_eq!(
        key(a).await,
        key(b).await,
        "every instance signs with the one key kept"
    );

    let phone = receiver.subscriber("phone");
    let (bob, room) = alice_and_bob(a, &phone).await;
    let mut sent = BTreeSet::new();
    for i in 0..30 {
        let port = if i % 2 == 0 { a } else { b };
        sent.insert(post(port, &bob, &room, &format!("message {i}")).await);
    }
    wait_until(Duration::from_secs(15), || {
        receiver.received(&phone.path).len() >= 30
    })
    .await;
    // Anything sent twice would arrive by now too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut got = seqs(&receiver, &phone, false);
    got.sort();
    assert_eq!(
        got,
        sent.into_iter().collect::<Vec<_>>(),
        "each event pushed exactly once"
    );
}

#[tokio::test]
async fn a_sender_killed_with_sigkill_loses_no_push() {
    let dir = TempDir::new("push-kill");
    let redis = RedisServer::start(dir.path()).await;
    let receiver = Receiver::start().await;
    let (shared, mut instances) = start(&dir, &redis, &receiver, &["parley-a"]).await;
    let a = instances[0].port;
    let phone = receiver.subscriber("phone");
    let (bob, room) = alice_and_bob(a, &phone).await;
    // The push service is down for the first try of each: every row is
    // waiting for its retry when the sender dies.
    receiver.answer(&phone.path, &[503; 10]);
    let mut sent = BTreeSet::new();
    for i in 0..10 {
        sent.insert(post(a, &bob, &room, &format!("message {i}")).await);
    }
    // Each is tried before the kill; on a slow machine the first retries
    // (after about 1 s) may come before the last first try, and are
    // answered 2xx: what matters is that nothing is lost after the kill.
    let tried = || -> BTreeSet<i64> { seqs(&receiver, &phone, false).into_iter().collect() };
    wait_until(Duration::from_secs(10), || tried() == sent).await;
    assert_eq!(tried(), sent, "each tried before the kill");
    instances[0].sigkill();
    instances[0].wait_exit(Duration::from_secs(10)).await;

    let restarted = Instance::start_with(
        "parley-b",
        &shared,
        &[("PUSH_ALLOWED_HOSTS", &receiver.host())],
    )
    .await;
    // A row claimed at the moment of the kill waits for its lease (60 s).
    wait_until(Duration::from_secs(75), || {
        seqs(&receiver, &phone, true)
            .into_iter()
            .collect::<BTreeSet<_>>()
            == sent
    })
    .await;
    let accepted: BTreeSet<i64> = seqs(&receiver, &phone, true).into_iter().collect();
    assert_eq!(accepted, sent, "every push arrives after the restart");
    drop(restarted);
}
