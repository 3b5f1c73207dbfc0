//! SUBSCRIBE / UNSUBSCRIBE / ACK: room visibility, auto-join, the
//! subscription limit and acknowledgement modes.

use std::time::Duration;

use serde_json::json;

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with};
use stomp_client::{StompClient, frame, topic};

on_both_backends!(
    subscribe_to_unknown_or_foreign_private_room_gets_the_same_error,
    subscribe_to_unknown_destination_is_a_fatal_error,
    subscribe_to_public_room_joins_it,
    member_of_private_room_can_subscribe_and_receive,
    unsubscribe_stops_delivery,
    exceeding_max_subscriptions_is_a_fatal_error,
    unsubscribe_frees_a_subscription_slot,
    client_individual_ack_subscription_messages_can_be_acked,
);

async fn subscribe_to_unknown_or_foreign_private_room_gets_the_same_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve").await;
    app.create_room(&alice, "secret", true).await;
    let mut errors = Vec::new();
    for room in ["secret", "nowhere"] {
        let mut client = StompClient::connect(&app, &eve.access_token).await;
        client
            .send(frame(
                "SUBSCRIBE",
                &[("id", "0"), ("destination", &topic(room)), ("receipt", "s")],
                "",
            ))
            .await;
        errors.push(client.expect_error_then_close().await);
    }
    assert_eq!(
        errors[0].header("message"),
        errors[1].header("message"),
        "a private room the user is not in looks exactly like an unknown room"
    );
    assert_eq!(errors[0].body, errors[1].body, "same ERROR body too");
    let members = app
        .get("/api/v1/rooms/secret/members", &alice.access_token)
        .await;
    let names: Vec<_> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice"], "SUBSCRIBE never joins a private room");
}

async fn subscribe_to_unknown_destination_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame(
            "SUBSCRIBE",
            &[("id", "0"), ("destination", "/queue/x")],
            "",
        ))
        .await;
    client.expect_error_then_close().await;
}

async fn subscribe_to_public_room_joins_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &bob.access_token).await;
    client.subscribe("s", "general").await;
    let members = app
        .get("/api/v1/rooms/general/members", &alice.access_token)
        .await;
    assert_eq!(members.status, 200);
    let names: Vec<_> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"bob".to_string()),
        "SUBSCRIBE to a public room makes the user a member: {names:?}"
    );
}

async fn member_of_private_room_can_subscribe_and_receive(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "secret", true).await;
    let added = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&alice.access_token),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("s", "secret").await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender.send_chat("secret", "for members only", "r1").await;
    let m = sub.expect_message().await;
    assert_eq!(m.json()["body"], "for members only");
    // And a member may SEND there too.
    let r = sub.send_chat("secret", "thanks", "r2").await;
    assert_eq!(r.seq(), 2);
}

async fn unsubscribe_stops_delivery(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("g", "general").await;
    sub.subscribe("o", "other").await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender.send_chat("general", "before", "r0").await;
    let before = sub.expect_message().await;
    assert_eq!(before.header("subscription").as_deref(), Some("g"));

    sub.send(frame("UNSUBSCRIBE", &[("id", "g"), ("receipt", "u")], ""))
        .await;
    sub.expect_receipt("u").await;
    sender.send_chat("general", "after", "r1").await;
    // A message in the other room marks where delivery stands.
    sender.send_chat("other", "marker", "r2").await;
    let next = sub.expect_message().await;
    assert_eq!(
        next.header("subscription").as_deref(),
        Some("o"),
        "after UNSUBSCRIBE nothing more comes from `general`; got {next}"
    );
    sub.expect_no_frame_for(Duration::from_millis(300)).await;
}

async fn exceeding_max_subscriptions_is_a_fatal_error(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.max_subscriptions = 3).await;
    let alice = app.signup("alice").await;
    for room in ["r1", "r2", "r3", "r4"] {
        app.create_room(&alice, room, false).await;
    }
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    for (i, room) in ["r1", "r2", "r3"].iter().enumerate() {
        client.subscribe(&i.to_string(), room).await;
    }
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "3"),
                ("destination", &topic("r4")),
                ("receipt", "s3"),
            ],
            "",
        ))
        .await;
    let error = client.expect_error_then_close().await;
    assert_eq!(error.header("receipt-id").as_deref(), Some("s3"), "{error}");
}

async fn unsubscribe_frees_a_subscription_slot(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.max_subscriptions = 2).await;
    let alice = app.signup("alice").await;
    for room in ["r1", "r2", "r3"] {
        app.create_room(&alice, room, false).await;
    }
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client.subscribe("1", "r1").await;
    client.subscribe("2", "r2").await;
    client
        .send(frame("UNSUBSCRIBE", &[("id", "1"), ("receipt", "u1")], ""))
        .await;
    client.expect_receipt("u1").await;
    // The limit counts live subscriptions, not SUBSCRIBE frames ever sent.
    client.subscribe("3", "r3").await;
    let r = client.send_chat("r3", "third room", "r").await;
    assert_eq!(r.seq(), 1);
    let m = client.expect_message().await;
    assert_eq!(m.header("subscription").as_deref(), Some("3"));
}

async fn client_individual_ack_subscription_messages_can_be_acked(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe_with("s", "general", &[("ack", "client-individual")])
        .await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender.send_chat("general", "please ack", "r1").await;
    let m = sub.expect_message().await;
    // Sent back as received (still escaped), as header values travel.
    let ack = m.raw_header("ack").map(String::from).unwrap_or_else(|| {
        panic!("a MESSAGE on an ack:client-individual subscription carries an `ack` header: {m}")
    });
    sub.send(frame("ACK", &[("id", &ack), ("receipt", "acked")], ""))
        .await;
    let receipt = sub.expect_receipt("acked").await;
    assert_eq!(receipt.command, "RECEIPT");
    // The session goes on.
    let r = sub.send_chat("general", "still connected", "r2").await;
    assert_eq!(r.seq(), 2);
}
