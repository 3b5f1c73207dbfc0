//! A session lives as long as its access token (the README, "Real-time chat").

use std::time::{Duration, Instant};

use parley::auth::JwtKeys;

use super::{now_secs, seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};
use stomp_client::{StompClient, frame, topic};

on_both_backends!(
    session_ends_with_token_expired_error_when_the_token_expires,
    client_resumes_without_a_gap_after_its_token_expires,
);

async fn session_ends_with_token_expired_error_when_the_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    // A token that expires 3 s (whole seconds, so 2–3 s) from now.
    let short = JwtKeys::new(&app.state.config.jwt_secret.bytes, 3).issue(
        alice.user_id,
        "alice",
        parley::store::LoginId(0),
        now_secs(),
    );
    let mut client = StompClient::connect(&app, &short).await;
    let started = Instant::now();
    let receipt = client.send_chat("general", "while valid", "r1").await;
    assert_eq!(
        receipt.seq(),
        1,
        "the session works until the token expires"
    );
    let frames = client.expect_closed_within(Duration::from_secs(10)).await;
    assert_eq!(
        frames.len(),
        1,
        "expected exactly one frame, ERROR, before the close: {frames:?}"
    );
    assert_eq!(frames[0].command, "ERROR", "{}", frames[0]);
    assert_eq!(
        frames[0].header("message").as_deref(),
        Some("token expired"),
        "the ERROR says why: {}",
        frames[0]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the session must last until the token's exp, it ended after {:?}",
        started.elapsed()
    );
}

async fn client_resumes_without_a_gap_after_its_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let short = JwtKeys::new(&app.state.config.jwt_secret.bytes, 3).issue(
        bob.user_id,
        "bob",
        parley::store::LoginId(0),
        now_secs(),
    );
    let mut bob_c = StompClient::connect(&app, &short).await;
    bob_c.subscribe("s", "general").await;
    let mut alice_c = StompClient::connect(&app, &alice.access_token).await;
    alice_c.send_chat("general", "seen live", "r1").await;
    let last_seen = bob_c.expect_message().await.seq();
    assert_eq!(last_seen, 1);

    let frames = bob_c.expect_closed_within(Duration::from_secs(10)).await;
    assert_eq!(
        frames.last().and_then(|f| f.header("message")).as_deref(),
        Some("token expired"),
        "the session ends with `token expired`: {frames:?}"
    );
    // Sent while bob is away.
    alice_c.send_chat("general", "missed 1", "r2").await;
    alice_c.send_chat("general", "missed 2", "r3").await;

    let mut again = StompClient::connect(&app, &bob.access_token).await;
    again
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "s"),
                ("destination", &topic("general")),
                ("since-seq", &last_seen.to_string()),
            ],
            "",
        ))
        .await;
    let caught_up = again.expect_messages(2).await;
    assert_eq!(
        seqs(&caught_up),
        [2, 3],
        "reconnecting with a fresh token and since-seq closes the gap"
    );
    let bodies: Vec<_> = caught_up.iter().map(|m| m.json()["body"].clone()).collect();
    assert_eq!(bodies, ["missed 1", "missed 2"]);
}
