//! `PUT /rooms/{name}/read` and ACK-driven read markers: monotonic, clamped
//! to the room's last seq, members only, announced on the activity, shown
//! in the members list.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use super::*;
use crate::db::Backend;
use crate::helpers::on_both_backends;
use stomp_client::{frame, topic};

on_both_backends!(
    read_marker_never_moves_backwards_and_is_clamped_to_the_last_seq,
    read_marker_is_for_members_only,
    read_marker_refuses_bad_seqs,
    read_marker_body_must_be_an_object,
    ack_on_a_client_ack_subscription_moves_the_marker,
    ack_of_a_replayed_message_moves_the_marker,
    client_individual_ack_does_not_move_the_marker,
    concurrent_marker_moves_end_at_the_highest,
    marker_moves_are_announced_on_the_activity,
    members_list_shows_each_members_read_marker,
);

async fn read_marker_never_moves_backwards_and_is_clamped_to_the_last_seq(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    let joined = join(&app, &bob, "general").await;
    assert_eq!(joined["membership"]["last_read_seq"], 0, "{joined}");
    for i in 0..5 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    assert_eq!(mark_read(&app, &bob, "general", 3).await, 3);
    assert_eq!(
        mark_read(&app, &bob, "general", 1).await,
        3,
        "a lower seq answers the higher marker"
    );
    assert_eq!(
        mark_read(&app, &bob, "general", 1000).await,
        5,
        "a seq past the end is clamped to the room's last seq"
    );
    assert_eq!(mark_read(&app, &bob, "general", 0).await, 5);
    let r = room(&app, &bob, "general").await;
    assert_eq!(r["last_seq"], 5, "{r}");
    assert_eq!(r["membership"]["last_read_seq"], 5, "{r}");
    assert_eq!(r["membership"]["unread"], 0, "{r}");
    // A later message is unread again; the marker stays.
    say(&app, &alice, "general", "later").await;
    let r = room(&app, &bob, "general").await;
    assert_eq!(r["membership"]["last_read_seq"], 5, "{r}");
    assert_eq!(r["membership"]["unread"], 1, "{r}");
}

async fn read_marker_is_for_members_only(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve01").await;
    app.create_room(&alice, "open", false).await;
    app.create_room(&alice, "secret", true).await;
    say(&app, &alice, "open", "hi").await;
    let r = put_read(&app, &eve, "open", json!({"seq": 1})).await;
    refused(&r, 403, "not_a_member", "a public room's non-member");
    let r = put_read(&app, &eve, "secret", json!({"seq": 1})).await;
    refused(&r, 404, "room_not_found", "a private room's non-member");
    let r = put_read(&app, &eve, "nowhere", json!({"seq": 1})).await;
    refused(&r, 404, "room_not_found", "a room that does not exist");
    let r = app
        .request(
            Method::PUT,
            "/api/v1/rooms/open/read",
            None,
            Some(json!({"seq": 1})),
        )
        .await;
    refused(&r, 401, "unauthorized", "no token");
    // Non-members' room objects carry a null membership.
    let r = room(&app, &eve, "open").await;
    assert!(r["membership"].is_null(), "{r}");
    assert_eq!(r["last_seq"], 1, "{r}");
}

async fn read_marker_refuses_bad_seqs(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "hi").await;
    let r = put_read(&app, &alice, "general", json!({"seq": -1})).await;
    refused(&r, 400, "invalid_seq", "a negative seq");
    for bad in [
        json!({}),
        json!({"seq": "3"}),
        json!({"seq": 1.5}),
        json!({"seq": null}),
        json!({"seq": 1, "extra": true}),
    ] {
        let r = put_read(&app, &alice, "general", bad.clone()).await;
        refused(&r, 400, "invalid_request", &format!("body {bad}"));
    }
    // Nothing moved.
    let r = room(&app, &alice, "general").await;
    assert_eq!(r["membership"]["last_read_seq"], 0, "{r}");
}

async fn read_marker_body_must_be_an_object(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    say(&app, &alice, "general", "hi").await;
    // `{"seq": N}` is the body; a JSON array is not it.
    let r = put_read(&app, &alice, "general", json!([1])).await;
    refused(&r, 400, "invalid_request", "body [1]");
    let r = room(&app, &alice, "general").await;
    assert_eq!(r["membership"]["last_read_seq"], 0, "{r}");
}

/// `reader` subscribed to the log of `general` with `ack`.
async fn acking_reader(app: &TestApp, reader: &TestUser, ack: &str) -> StompClient {
    let mut c = StompClient::connect(app, &reader.access_token).await;
    c.subscribe_with("log", "general", &[("ack", ack)]).await;
    c
}

async fn ack_on_a_client_ack_subscription_moves_the_marker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let mut c = acking_reader(&app, &bob, "client").await;
    for i in 0..4 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    let frames = c.expect_messages(4).await;
    // Acknowledge the third: cumulatively, 1..=3 are read.
    let third = &frames[2];
    let ack = third.expect_header("ack");
    c.send(frame("ACK", &[("id", &ack)], "")).await;
    let seen = marker_becomes(&app, &bob, "general", third.seq(), WAIT).await;
    assert_eq!(
        seen,
        third.seq(),
        "the ACKed MESSAGE's seq becomes the marker"
    );
    let r = room(&app, &bob, "general").await;
    assert_eq!(r["membership"]["unread"], 1, "{r}");
    c.close().await;
}

/// The MESSAGEs a `since-seq` replay sends are acknowledged like live ones.
async fn ack_of_a_replayed_message_moves_the_marker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    for i in 0..3 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    let mut c = StompClient::connect(&app, &bob.access_token).await;
    c.subscribe_with("log", "general", &[("ack", "client"), ("since-seq", "0")])
        .await;
    let frames = c.expect_messages(3).await;
    let second = &frames[1];
    assert_eq!(second.seq(), 2, "{second}");
    c.send(frame("ACK", &[("id", &second.expect_header("ack"))], ""))
        .await;
    let seen = marker_becomes(&app, &bob, "general", 2, WAIT).await;
    assert_eq!(
        seen, 2,
        "the ACKed replayed MESSAGE's seq becomes the marker"
    );
    c.close().await;
}

async fn client_individual_ack_does_not_move_the_marker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let mut c = acking_reader(&app, &bob, "client-individual").await;
    for i in 0..3 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    let frames = c.expect_messages(3).await;
    for f in &frames {
        c.send(frame("ACK", &[("id", &f.expect_header("ack"))], ""))
            .await;
    }
    // A NACK neither, and an ack:client subscription's NACK neither.
    c.send(frame(
        "NACK",
        &[("id", &frames[2].expect_header("ack"))],
        "",
    ))
    .await;
    // Settle: a receipt after the ACKs, then give the coalescer time.
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "x"),
            ("destination", &topic("general")),
            ("receipt", "r"),
        ],
        "",
    ))
    .await;
    c.expect_receipt("r").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = room(&app, &bob, "general").await;
    assert_eq!(
        r["membership"]["last_read_seq"], 0,
        "client-individual ACKs do not move the marker: {r}"
    );
    assert_eq!(r["membership"]["unread"], 3, "{r}");
    c.close().await;
}

async fn concurrent_marker_moves_end_at_the_highest(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    app.store_messages("general", &alice, 60).await;
    // Deterministic "random" seqs, some past the end (clamped to 60).
    let asked: Vec<i64> = (0..100u64).map(|i| ((i * 7919 + 13) % 90) as i64).collect();
    let answers = join_all(asked.iter().map(|&seq| {
        let (app, bob) = (&app, &bob);
        async move { (seq, mark_read(app, bob, "general", seq).await) }
    }))
    .await;
    for (seq, got) in &answers {
        assert!(
            *got >= (*seq).min(60),
            "PUT seq {seq} answered {got}, below what was asked"
        );
        assert!(
            *got <= 60,
            "PUT seq {seq} answered {got}, past the last seq"
        );
    }
    let want = asked.iter().copied().max().unwrap().min(60);
    let r = room(&app, &bob, "general").await;
    assert_eq!(r["membership"]["last_read_seq"], want, "{r}");
    assert_eq!(mark_read(&app, &bob, "general", 0).await, want);
}

async fn marker_moves_are_announced_on_the_activity(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    for i in 0..3 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    let mut watcher = activity_client(&app, &alice, "general").await;
    mark_read(&app, &bob, "general", 2).await;
    let f = expect_signal(&mut watcher, "read", "bobby").await;
    assert_activity_frame(&f, "act", "general", "read");
    assert_eq!(
        f.json(),
        json!({"type": "read", "user": "bobby", "last_read_seq": 2}),
        "{f}"
    );
    // Over STOMP ACK too.
    let mut c = acking_reader(&app, &bob, "client").await;
    say(&app, &alice, "general", "m3").await;
    let m = c.expect_message().await;
    c.send(frame("ACK", &[("id", &m.expect_header("ack"))], ""))
        .await;
    let f = expect_signal(&mut watcher, "read", "bobby").await;
    assert_eq!(f.json()["last_read_seq"], m.seq(), "{f}");
    c.close().await;
    watcher.close().await;
}

async fn members_list_shows_each_members_read_marker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    for i in 0..4 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    mark_read(&app, &bob, "general", 3).await;
    mark_read(&app, &alice, "general", 1).await;
    let r = app
        .get("/api/v1/rooms/general/members", &bob.access_token)
        .await;
    let body = status(&r, 200, "members");
    let members = body["members"].as_array().unwrap();
    let marker = |name: &str| {
        members
            .iter()
            .find(|m| m["username"] == name)
            .unwrap_or_else(|| panic!("{name} in {body}"))["last_read_seq"]
            .clone()
    };
    assert_eq!(marker("bobby"), 3, "{body}");
    assert_eq!(marker("alice"), 1, "{body}");
}
