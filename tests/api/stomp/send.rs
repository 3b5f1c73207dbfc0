//! SEND: receipts mean durable, the sender is the token's user, MESSAGE
//! frames, exactly-once in-order delivery, client-id idempotency and the
//! session-breaking errors of SEND.

use std::collections::HashSet;

use parley::config::Config;

use super::{history, history_seqs, seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with};
use stomp_client::{StompClient, frame, topic};

on_both_backends!(
    send_with_receipt_is_durable,
    sender_is_the_authenticated_user_whatever_headers_say,
    subscriber_gets_message_frame_with_contract_headers_and_body,
    each_subscriber_gets_each_message_once_in_seq_order,
    repeated_client_id_is_stored_and_delivered_once,
    client_id_over_64_chars_is_a_fatal_error,
    send_to_unknown_destination_is_a_fatal_error,
    send_to_private_room_as_non_member_gets_the_unknown_room_error,
    error_for_a_frame_with_receipt_carries_receipt_id,
    disconnect_with_receipt_gets_receipt_before_close,
);

fn unlimited(c: &mut Config) {
    c.limits.send_rate = 0;
}

async fn send_with_receipt_is_durable(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let first = client.send_chat("general", "hello", "r-1").await;
    let second = client.send_chat("general", "again", "r-2").await;
    assert_eq!(first.header("receipt-id").as_deref(), Some("r-1"));
    assert_eq!(
        (first.seq(), second.seq()),
        (1, 2),
        "seq starts at 1 and rises by one: {first} / {second}"
    );
    // Read history without waiting: a RECEIPT means it is already committed.
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        stored.len(),
        2,
        "both receipted messages are in history: {stored:?}"
    );
    for (receipt, message, body) in [
        (&first, &stored[0], "hello"),
        (&second, &stored[1], "again"),
    ] {
        assert_eq!(
            message["id"].as_i64(),
            Some(receipt.message_id()),
            "RECEIPT message-id is the stored message's id"
        );
        assert_eq!(
            message["seq"].as_i64(),
            Some(receipt.seq()),
            "RECEIPT seq is the stored seq"
        );
        assert_eq!(message["body"], body);
        assert_eq!(message["sender"], "alice");
        assert_eq!(message["room"], "general");
    }
}

async fn sender_is_the_authenticated_user_whatever_headers_say(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mallory = app.signup("mallory").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &alice.access_token).await;
    sub.subscribe("s", "general").await;
    let mut client = StompClient::connect(&app, &mallory.access_token).await;
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("sender", "alice"),
                ("user-name", "alice"),
                ("login", "alice"),
                ("receipt", "r1"),
            ],
            "it's me, alice",
        ))
        .await;
    client.expect_receipt("r1").await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        stored[0]["sender"], "mallory",
        "the sender is the token's user, not a header"
    );
    assert_eq!(sub.expect_message().await.json()["sender"], "mallory");
}

async fn subscriber_gets_message_frame_with_contract_headers_and_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("sub-0", "general").await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("client-id", "c-123"),
                ("receipt", "r1"),
            ],
            "hello bob",
        ))
        .await;
    let receipt = sender.expect_receipt("r1").await;

    let m = sub.expect_message().await;
    assert_eq!(
        m.header("destination").as_deref(),
        Some("/topic/rooms/general"),
        "{m}"
    );
    assert_eq!(m.header("subscription").as_deref(), Some("sub-0"), "{m}");
    assert_eq!(
        m.message_id(),
        receipt.message_id(),
        "message-id matches the RECEIPT: {m}"
    );
    assert_eq!(m.seq(), 1, "{m}");
    assert_eq!(
        m.header("content-type").as_deref(),
        Some("application/json"),
        "{m}"
    );
    assert_eq!(
        m.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(m.body.len()),
        "content-length is the body's byte length: {m}"
    );
    let body = m.json();
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        body, stored[0],
        "the MESSAGE body is the contract's message object, the same as in history"
    );
    assert_eq!(body["id"].as_i64(), Some(receipt.message_id()));
    assert_eq!(body["room"], "general");
    assert_eq!(body["seq"], 1);
    assert_eq!(body["sender"], "alice");
    assert_eq!(body["body"], "hello bob");
    assert_eq!(body["client_id"], "c-123");
    assert!(
        body["created_at"].is_string(),
        "created_at is a timestamp: {body}"
    );
}

async fn each_subscriber_gets_each_message_once_in_seq_order(backend: Backend) {
    const PER_SENDER: usize = 50;
    let app = spawn_app_with(backend, unlimited).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut subscribers = Vec::new();
    for name in ["sub1", "sub2", "sub3"] {
        let user = app.signup(name).await;
        let mut c = StompClient::connect(&app, &user.access_token).await;
        c.subscribe("s", "general").await;
        subscribers.push(c);
    }
    let mut senders = Vec::new();
    for user in [&alice, &bob] {
        let mut c = StompClient::connect(&app, &user.access_token).await;
        let name = user.username.clone();
        senders.push(tokio::spawn(async move {
            // Pipelined: all SENDs go out before any receipt is read.
            for i in 0..PER_SENDER {
                c.send(frame(
                    "SEND",
                    &[
                        ("destination", "/topic/rooms/general"),
                        ("receipt", &format!("{name}-{i}")),
                    ],
                    format!("{name} {i}"),
                ))
                .await;
            }
            for i in 0..PER_SENDER {
                c.expect_receipt(&format!("{name}-{i}")).await;
            }
        }));
    }
    let total = 2 * PER_SENDER;
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.expect_messages(total).await }))
        .collect();
    for s in senders {
        s.await.expect("sender task");
    }
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&stored),
        (1..=total as i64).collect::<Vec<_>>()
    );
    for (n, r) in readers.into_iter().enumerate() {
        let got = r.await.expect("subscriber task");
        assert_eq!(
            seqs(&got),
            (1..=total as i64).collect::<Vec<_>>(),
            "subscriber {n} must get seqs 1..={total}, each once, in order"
        );
        let ids: HashSet<i64> = got.iter().map(|m| m.message_id()).collect();
        assert_eq!(
            ids.len(),
            total,
            "subscriber {n}: every message-id distinct"
        );
        for (m, s) in got.iter().zip(&stored) {
            assert_eq!(
                &m.json(),
                s,
                "subscriber {n}: delivered message equals history"
            );
        }
    }
}

async fn repeated_client_id_is_stored_and_delivered_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("s", "general").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let send = |receipt: &str| {
        frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("client-id", "retry-me"),
                ("receipt", receipt),
            ],
            "only once",
        )
    };
    client.send(send("first")).await;
    let first = client.expect_receipt("first").await;
    client.send(send("retry")).await;
    let retry = client.expect_receipt("retry").await;
    assert_eq!(
        (retry.message_id(), retry.seq()),
        (first.message_id(), first.seq()),
        "a repeated client-id gets the original receipt"
    );
    // A different message after the retry shows where delivery stands.
    let marker = client.send_chat("general", "marker", "marker").await;
    assert_eq!(marker.seq(), 2, "the retry did not take a seq");
    let got = sub.expect_messages(2).await;
    assert_eq!(
        seqs(&got),
        [1, 2],
        "subscribers get the client-id message once, then the marker"
    );
    sub.expect_no_frame_for(std::time::Duration::from_millis(300))
        .await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        stored.len(),
        2,
        "history holds the client-id message once: {stored:?}"
    );
    assert_eq!(stored[0]["client_id"], "retry-me");
    assert_eq!(
        stored[1]["client_id"],
        serde_json::Value::Null,
        "no client-id means null"
    );
}

async fn client_id_over_64_chars_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let ok = "k".repeat(64);
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("client-id", &ok),
                ("receipt", "r1"),
            ],
            "64 is fine",
        ))
        .await;
    client.expect_receipt("r1").await;
    let too_long = "k".repeat(65);
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("client-id", &too_long),
                ("receipt", "r2"),
            ],
            "65 is not",
        ))
        .await;
    client.expect_error_then_close().await;
    assert_eq!(history(&app, &alice.access_token, "general").await.len(), 1);
}

async fn send_to_unknown_destination_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for dest in [
        "/queue/x",
        "/topic/general",
        "/topic/rooms/",
        "/topic/rooms/general/extra",
    ] {
        let mut client = StompClient::connect(&app, &alice.access_token).await;
        client
            .send(frame("SEND", &[("destination", dest)], "hello"))
            .await;
        let frames = client.expect_closed().await;
        assert_eq!(
            frames
                .iter()
                .map(|f| f.command.as_str())
                .collect::<Vec<_>>(),
            ["ERROR"],
            "SEND to {dest} must be an ERROR, then close"
        );
    }
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client.send(frame("SEND", &[], "no destination")).await;
    client.expect_error_then_close().await;
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

async fn send_to_private_room_as_non_member_gets_the_unknown_room_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve").await;
    app.create_room(&alice, "secret", true).await;
    let mut client = StompClient::connect(&app, &eve.access_token).await;
    client
        .send(frame(
            "SEND",
            &[("destination", &topic("secret"))],
            "let me in",
        ))
        .await;
    let private = client.expect_error_then_close().await;
    let mut client = StompClient::connect(&app, &eve.access_token).await;
    client
        .send(frame(
            "SEND",
            &[("destination", &topic("nowhere"))],
            "hello?",
        ))
        .await;
    let unknown = client.expect_error_then_close().await;
    assert_eq!(
        private.header("message"),
        unknown.header("message"),
        "a private room is invisible: same ERROR as a room that does not exist"
    );
    assert_eq!(private.body, unknown.body, "same ERROR body too");
    assert!(
        history(&app, &alice.access_token, "secret")
            .await
            .is_empty(),
        "nothing was stored in the private room"
    );
}

async fn error_for_a_frame_with_receipt_carries_receipt_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame(
            "SEND",
            &[("destination", "/queue/x"), ("receipt", "r-77")],
            "nowhere",
        ))
        .await;
    let error = client.expect_error_then_close().await;
    assert_eq!(
        error.header("receipt-id").as_deref(),
        Some("r-77"),
        "an ERROR answering a frame with `receipt` carries its receipt-id: {error}"
    );
}

async fn disconnect_with_receipt_gets_receipt_before_close(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client.send_chat("general", "goodbye", "r1").await;
    client
        .send(frame("DISCONNECT", &[("receipt", "bye-77")], ""))
        .await;
    let frames = client.expect_closed().await;
    assert_eq!(
        frames.len(),
        1,
        "exactly the RECEIPT, then close: {frames:?}"
    );
    assert_eq!(frames[0].command, "RECEIPT", "{}", frames[0]);
    assert_eq!(frames[0].header("receipt-id").as_deref(), Some("bye-77"));
}
