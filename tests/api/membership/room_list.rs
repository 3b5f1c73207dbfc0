//! The user destination (README, "Staying signed in"): what
//! changes a user's own room list reaches their `SUBSCRIBE
//! /user/queue/updates` and `GET /api/v1/me/events` within 2 s; no other
//! `/user/…` destination exists.

use std::time::Duration;

use serde_json::{Value, json};
use stomp_client::{Frame, StompClient, frame};

use super::*;
use crate::helpers::{on_both_backends, on_sqlite, spawn_app_with};

on_both_backends!(
    the_user_destination_tells_of_rooms_added_updated_and_removed,
    a_direct_conversation_reaches_both_users_room_lists,
);
on_sqlite!(
    another_users_queue_or_another_user_destination_is_an_error,
    the_user_destination_counts_against_max_subscriptions,
);

/// How soon an update must arrive.
const WITHIN: Duration = Duration::from_secs(2);

/// A STOMP client subscribed to its user's queue (receipt awaited).
async fn subscribed(app: &TestApp, who: &TestUser) -> StompClient {
    let mut c = StompClient::connect(app, &who.access_token).await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "me"),
            ("destination", "/user/queue/updates"),
            ("receipt", "me"),
        ],
        "",
    ))
    .await;
    c.expect_receipt("me").await;
    c
}

/// `GET /me/events`, open.
async fn my_events(app: &TestApp, who: &TestUser) -> Sse {
    let resp = app
        .client
        .get(format!("{}/api/v1/me/events", app.base))
        .bearer_auth(&who.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET /me/events");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    Sse {
        resp,
        buf: String::new(),
        ended: false,
    }
}

/// The next update on both of `who`'s clients: they must agree; the
/// MESSAGE's headers are checked.
async fn next_update(stomp: &mut StompClient, sse: &mut Sse, what: &str) -> Value {
    let f: Frame = stomp.expect_frame_within(WITHIN).await;
    assert_eq!(f.command, "MESSAGE", "{what}: {f}");
    assert_eq!(
        f.header("destination").as_deref(),
        Some("/user/queue/updates")
    );
    assert_eq!(f.header("subscription").as_deref(), Some("me"));
    assert_eq!(
        f.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(f.header("seq").is_none(), "nothing stored, no seq: {f}");
    let body = f.json();
    assert_eq!(
        f.header("event-type").as_deref(),
        body["type"].as_str(),
        "{what}: event-type names the body's type"
    );
    let got = sse.read(1, WITHIN).await;
    assert_eq!(got.len(), 1, "{what}: one SSE event within 2 s: {got:?}");
    let (kind, id, data) = &got[0];
    assert_eq!(
        kind,
        body["type"].as_str().unwrap(),
        "{what}: SSE event type"
    );
    assert_eq!(*id, None, "{what}: no SSE id");
    assert_eq!(data, &body, "{what}: STOMP and SSE carry the same update");
    body
}

async fn the_user_destination_tells_of_rooms_added_updated_and_removed(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let mut stomp = subscribed(&app, &bob).await;
    let mut sse = my_events(&app, &bob).await;

    // Joined.
    app.create_room(&alice, "general", false).await;
    status(&join(&app, &bob, "general").await, 200, "bob joins");
    let u = next_update(&mut stomp, &mut sse, "joined").await;
    assert_eq!(u["type"], "room_added");
    let seen = status(&get_room(&app, &bob, "general").await, 200, "get");
    assert_eq!(
        u["room"], seen,
        "the room as GET /rooms/{{name}} gives it to bob"
    );
    assert_eq!(u["room"]["membership"]["role"], "member");

    // Role changed.
    let r = set_role(&app, &alice, "general", "bob", "moderator").await;
    status(&r, 200, "promote bob");
    let u = next_update(&mut stomp, &mut sse, "promoted").await;
    assert_eq!(u["type"], "room_updated");
    assert_eq!(u["room"]["name"], "general");
    assert_eq!(u["room"]["membership"]["role"], "moderator");

    // Added by someone, to a private room.
    app.create_room(&alice, "secret", true).await;
    status(&add_member(&app, &alice, "secret", "bob").await, 200, "add");
    let u = next_update(&mut stomp, &mut sse, "added").await;
    assert_eq!(u["type"], "room_added");
    assert_eq!(u["room"]["name"], "secret");
    assert_eq!(u["room"]["private"], true);

    // Left, removed, banned, deleted.
    status(&leave(&app, &bob, "general").await, 204, "leave");
    let u = next_update(&mut stomp, &mut sse, "left").await;
    assert_eq!(
        u,
        json!({"type": "room_removed", "room": "general", "reason": "left"})
    );
    status(&remove(&app, &alice, "secret", "bob").await, 204, "remove");
    let u = next_update(&mut stomp, &mut sse, "removed").await;
    assert_eq!(
        u,
        json!({"type": "room_removed", "room": "secret", "reason": "removed"})
    );
    status(&join(&app, &bob, "general").await, 200, "bob joins again");
    assert_eq!(
        next_update(&mut stomp, &mut sse, "rejoined").await["type"],
        "room_added"
    );
    status(&ban(&app, &alice, "general", "bob").await, 200, "ban");
    let u = next_update(&mut stomp, &mut sse, "banned").await;
    assert_eq!(
        u,
        json!({"type": "room_removed", "room": "general", "reason": "banned"})
    );
    app.create_room(&alice, "doomed", false).await;
    status(&join(&app, &bob, "doomed").await, 200, "bob joins doomed");
    assert_eq!(
        next_update(&mut stomp, &mut sse, "joined doomed").await["type"],
        "room_added"
    );
    status(&delete_room(&app, &alice, "doomed").await, 204, "delete");
    let u = next_update(&mut stomp, &mut sse, "deleted").await;
    assert_eq!(
        u,
        json!({"type": "room_removed", "room": "doomed", "reason": "room_deleted"})
    );

    // Posting to a public room joins it: that is a join too.
    app.create_room(&alice, "chatty", false).await;
    say(&app, &bob, "chatty", "hi").await;
    let u = next_update(&mut stomp, &mut sse, "joined by posting").await;
    assert_eq!(u["type"], "room_added");
    assert_eq!(u["room"]["name"], "chatty");

    // Nothing about rooms that are not bob's, nor about alice's own.
    app.create_room(&alice, "elsewhere", false).await;
    stomp.expect_no_frame_for(QUIET).await;
    sse.expect_quiet(QUIET).await;
}

async fn a_direct_conversation_reaches_both_users_room_lists(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let mut bob_stomp = subscribed(&app, &bob).await;
    let mut bob_sse = my_events(&app, &bob).await;
    let mut alice_stomp = subscribed(&app, &alice).await;
    let mut alice_sse = my_events(&app, &alice).await;
    status(&open_dm(&app, &alice, "bob").await, 201, "alice opens");
    let u = next_update(&mut bob_stomp, &mut bob_sse, "bob's list").await;
    assert_eq!(u["type"], "room_added");
    assert_eq!(u["room"]["kind"], "direct");
    assert_eq!(u["room"]["peer"], "alice", "as bob sees it");
    assert_eq!(u["room"]["membership"]["role"], "member");
    let u = next_update(&mut alice_stomp, &mut alice_sse, "alice's list").await;
    assert_eq!(u["room"]["peer"], "bob", "as alice sees it");
    // Opening it again changes no list.
    status(
        &open_dm(&app, &bob, "alice").await,
        200,
        "bob opens it again",
    );
    bob_stomp.expect_no_frame_for(QUIET).await;
    alice_sse.expect_quiet(QUIET).await;
}

async fn another_users_queue_or_another_user_destination_is_an_error(backend: Backend) {
    let app = app(backend).await;
    let bob = app.signup("bob").await;
    app.signup("alice").await;
    for destination in [
        "/user/queue/other",
        "/user/alice/queue/updates",
        "/user/bob/queue/updates",
        "/user/queue",
    ] {
        let mut c = StompClient::connect(&app, &bob.access_token).await;
        c.send(frame(
            "SUBSCRIBE",
            &[("id", "x"), ("destination", destination), ("receipt", "x")],
            "",
        ))
        .await;
        let error = c.expect_error_then_close().await;
        assert_eq!(
            error.header("receipt-id").as_deref(),
            Some("x"),
            "{destination}: {error}"
        );
    }
    // The user destination takes no SEND.
    let mut c = StompClient::connect(&app, &bob.access_token).await;
    c.send(frame(
        "SEND",
        &[("destination", "/user/queue/updates")],
        "hello",
    ))
    .await;
    c.expect_error_then_close().await;
}

async fn the_user_destination_counts_against_max_subscriptions(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.max_subscriptions = 2).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut c = subscribed(&app, &alice).await;
    c.subscribe("g", "general").await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "again"),
            ("destination", "/user/queue/updates"),
            ("receipt", "again"),
        ],
        "",
    ))
    .await;
    let error = c.expect_error_then_close().await;
    assert!(
        error
            .header("message")
            .unwrap()
            .contains("too many subscriptions"),
        "{error}"
    );
    // UNSUBSCRIBE frees the place: a new connection, same rule.
    let mut c = subscribed(&app, &alice).await;
    c.send(frame("UNSUBSCRIBE", &[("id", "me"), ("receipt", "u")], ""))
        .await;
    c.expect_receipt("u").await;
    c.subscribe("g", "general").await;
    c.subscribe("h", "general").await;
    app.create_room(&alice, "quiet", false).await;
    c.expect_no_frame_for(QUIET).await;
}
