//! A session lives as long as its access token (CONTRACT section 3).

use std::time::{Duration, Instant};

use parley::auth::JwtKeys;

use super::client::StompClient;
use super::now_secs;
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};

on_both_backends!(session_ends_with_token_expired_error_when_the_token_expires);

async fn session_ends_with_token_expired_error_when_the_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    // A token that expires 3 s (whole seconds, so 2–3 s) from now.
    let short = JwtKeys::new(&app.state.config.jwt_secret.bytes, 3).issue(
        alice.user_id,
        "alice",
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
