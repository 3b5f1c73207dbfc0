//! `/topic/rooms/{name}/activity`: typing (STOMP SEND and `POST …/typing`),
//! ephemeral and rate-limited; member signals; loss of access; blocking.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use super::*;
use crate::db::Backend;
use crate::helpers::{on_both_backends, on_sqlite, spawn_app_with};
use stomp_client::{frame, topic};

on_both_backends!(
    typing_is_seen_by_other_members_and_never_stored,
    member_changes_are_announced_on_the_activity,
    activity_subscriptions_get_access_revoked,
    subscribing_to_a_public_rooms_activity_does_not_join_it,
);

on_sqlite!(
    typing_over_stomp_reaches_other_members,
    typing_is_rate_limited_per_user_and_room,
    a_bad_body_on_the_activity_breaks_the_session,
    typing_goes_on_when_max_body_bytes_is_below_the_signal,
    typing_is_for_members_only,
    a_blocked_typist_is_not_shown_to_the_blocker,
    read_and_presence_signals_of_blocked_users_are_not_delivered,
    activity_subscriptions_count_against_max_subscriptions,
);

fn typing_frame(room: &str) -> Vec<u8> {
    frame(
        "SEND",
        &[("destination", &topic(&activity(room)))],
        r#"{"type":"typing"}"#,
    )
}

async fn typing_over_stomp_reaches_other_members(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let mut watcher = activity_client(&app, &alice, "general").await;
    let mut typist = StompClient::connect(&app, &bob.access_token).await;
    typist.send(typing_frame("general")).await;
    let f = expect_signal(&mut watcher, "typing", "bobby").await;
    assert_activity_frame(&f, "act", "general", "typing");
    assert_eq!(
        f.json(),
        json!({"type": "typing", "user": "bobby", "expires_in_ms": 6000}),
        "{f}"
    );
    // The typist's session goes on.
    typist.send_chat("general", "hi", "r1").await;
    typist.close().await;
    watcher.close().await;
}

async fn typing_is_seen_by_other_members_and_never_stored(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    say(&app, &alice, "general", "before").await;
    let mut watcher = activity_client(&app, &alice, "general").await;
    // A log subscriber must not see typing either.
    watcher.subscribe("log", "general").await;
    let r = post_typing(&app, &bob, "general").await;
    status(&r, 204, "POST typing");
    let (f, seen) = signal_where(&mut watcher, WAIT, |b| b["type"] == "typing").await;
    let f = f.unwrap_or_else(|| panic!("typing signal; saw {}", describe(&seen)));
    assert_eq!(f.header("subscription").as_deref(), Some("act"), "{f}");
    assert_eq!(f.json()["user"], "bobby", "{f}");
    let r = room(&app, &alice, "general").await;
    assert_eq!(r["last_seq"], 1, "typing takes no seq: {r}");
    let hist = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    let hist = status(&hist, 200, "history");
    assert_eq!(hist["messages"].as_array().unwrap().len(), 1, "{hist}");
    assert_eq!(
        say(&app, &bob, "general", "after").await,
        2,
        "the next message's seq is unaffected"
    );
    // The watcher's own presence signal may still arrive on the activity
    // subscription first (it is announced asynchronously); the log's next
    // MESSAGE is the message, never the typing.
    let mut m = watcher.expect_message().await;
    for _ in 0..3 {
        if m.header("subscription").as_deref() == Some("log") {
            break;
        }
        assert_ne!(m.json()["type"], "typing", "typing is signalled once: {m}");
        m = watcher.expect_message().await;
    }
    assert_eq!(m.header("subscription").as_deref(), Some("log"), "{m}");
    assert_eq!(m.seq(), 2, "{m}");
    assert_eq!(counts(&app, &alice, "general").await.0, 1);
    watcher.close().await;
}

async fn typing_is_rate_limited_per_user_and_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    let mut watcher = activity_client(&app, &alice, "general").await;
    let mut typist = StompClient::connect(&app, &bob.access_token).await;
    let mut burst = Vec::new();
    for _ in 0..10 {
        burst.extend(typing_frame("general"));
    }
    // Ten SENDs in one WebSocket message: at most one passes the limit.
    typist.send(burst).await;
    // And ten over HTTP from another user at once: all 204, one signal.
    let answers = join_all((0..10).map(|_| post_typing(&app, &carol, "general"))).await;
    for r in &answers {
        status(r, 204, "POST typing past the rate");
    }
    let mut from = std::collections::HashMap::<String, usize>::new();
    let deadline = Instant::now() + Duration::from_millis(800);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match watcher.next_event(left).await {
            Some(Event::Frame(f)) if f.command == "MESSAGE" => {
                let b = f.json();
                if b["type"] == "typing" {
                    *from
                        .entry(b["user"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
            }
            Some(Event::Frame(_)) => {}
            _ => break,
        }
    }
    assert_eq!(
        (from.get("bobby").copied(), from.get("carol").copied()),
        (Some(1), Some(1)),
        "TYPING_RATE 1/s: one typing signal per user within the second; got {from:?}"
    );
    // The typist's session survives the dropped ones.
    typist.send_chat("general", "still here", "r1").await;
    typist.close().await;
    watcher.close().await;
}

async fn a_bad_body_on_the_activity_breaks_the_session(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for body in [
        r#"hello"#,
        r#"{"type":"typing","extra":1}"#,
        r#"{"type":"read","last_read_seq":1}"#,
        r#"{}"#,
        "",
    ] {
        let mut c = StompClient::connect(&app, &alice.access_token).await;
        c.send(frame(
            "SEND",
            &[("destination", &topic(&activity("general")))],
            body,
        ))
        .await;
        let f = c.expect_error_then_close().await;
        assert_eq!(f.command, "ERROR", "body {body:?}: {f}");
    }
    let r = room(&app, &alice, "general").await;
    assert_eq!(r["last_seq"], 0, "nothing stored: {r}");
}

/// MAX_BODY_BYTES bounds chat messages, not the typing signal: set below
/// its 17 bytes, typing still works and the session goes on, while a chat
/// body over the limit is still refused.
async fn typing_goes_on_when_max_body_bytes_is_below_the_signal(backend: Backend) {
    const MAX: usize = 16;
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 0;
        c.limits.max_body_bytes = MAX;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let mut watcher = activity_client(&app, &alice, "general").await;
    let mut typist = StompClient::connect(&app, &bob.access_token).await;
    let signal = r#"{"type":"typing"}"#;
    assert!(signal.len() > MAX, "the signal is longer than the limit");
    typist
        .send(frame(
            "SEND",
            &[
                ("destination", &topic(&activity("general"))),
                ("receipt", "t1"),
            ],
            signal,
        ))
        .await;
    typist.expect_receipt("t1").await;
    expect_signal(&mut watcher, "typing", "bobby").await;
    // The session goes on: a body at the limit is stored, one over it is not.
    typist.send_chat("general", &"x".repeat(MAX), "r1").await;
    typist
        .send(frame(
            "SEND",
            &[("destination", &topic("general")), ("receipt", "r2")],
            "x".repeat(MAX + 1),
        ))
        .await;
    let f = typist.expect_error_then_close().await;
    assert_eq!(f.header("receipt-id").as_deref(), Some("r2"), "{f}");
    let r = room(&app, &alice, "general").await;
    assert_eq!(
        r["last_seq"], 1,
        "only the body within the limit is stored: {r}"
    );
    watcher.close().await;
}

async fn typing_is_for_members_only(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 0;
        c.limits.typing_rate = 100;
    })
    .await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve01").await;
    app.create_room(&alice, "open", false).await;
    app.create_room(&alice, "secret", true).await;
    refused(
        &post_typing(&app, &eve, "open").await,
        403,
        "not_a_member",
        "typing in a public room one is not in",
    );
    refused(
        &post_typing(&app, &eve, "secret").await,
        404,
        "room_not_found",
        "typing in a private room one is not in",
    );
    refused(
        &post_typing(&app, &eve, "nowhere").await,
        404,
        "room_not_found",
        "typing in no room",
    );
    let mut watcher = activity_client(&app, &alice, "open").await;
    let mut c = StompClient::connect(&app, &eve.access_token).await;
    c.send(typing_frame("open")).await;
    expect_no_signal(&mut watcher, "typing", "eve01", QUIET).await;
    // Dropped silently: eve's session stays open (a receipt still comes).
    c.send(frame("DISCONNECT", &[("receipt", "bye")], "")).await;
    c.expect_receipt("bye").await;
    let r = room(&app, &eve, "open").await;
    assert!(r["membership"].is_null(), "typing does not join: {r}");
    watcher.close().await;
}

async fn member_changes_are_announced_on_the_activity(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    let mut w = activity_client(&app, &alice, "general").await;
    let member = |user: &str, change: &str, role: Value, by: Value| json!({"type": "member", "user": user, "change": change, "role": role, "by": by});
    let next = async |w: &mut StompClient, user: &str| {
        let (f, seen) = signal_where(w, WAIT, |b| b["type"] == "member" && b["user"] == user).await;
        let f =
            f.unwrap_or_else(|| panic!("a member signal about {user}; saw {}", describe(&seen)));
        assert_activity_frame(&f, "act", "general", "member");
        f.json()
    };

    join(&app, &bob, "general").await;
    assert_eq!(
        next(&mut w, "bobby").await,
        member("bobby", "joined", json!("member"), Value::Null)
    );
    let r = call(
        &app,
        &alice,
        Method::PUT,
        "/api/v1/rooms/general/members/bobby/role",
        Some(json!({"role": "moderator"})),
    )
    .await;
    status(&r, 200, "promote");
    assert_eq!(
        next(&mut w, "bobby").await,
        member("bobby", "role", json!("moderator"), json!("alice"))
    );
    let r = call(
        &app,
        &bob,
        Method::POST,
        "/api/v1/rooms/general/leave",
        None,
    )
    .await;
    status(&r, 204, "leave");
    let got = next(&mut w, "bobby").await;
    assert_eq!(
        (&got["change"], &got["by"]),
        (&json!("left"), &Value::Null),
        "{got}"
    );

    join(&app, &carol, "general").await;
    next(&mut w, "carol").await;
    let r = call(
        &app,
        &alice,
        Method::DELETE,
        "/api/v1/rooms/general/members/carol",
        None,
    )
    .await;
    status(&r, 204, "remove");
    let got = next(&mut w, "carol").await;
    assert_eq!(
        (&got["change"], &got["by"]),
        (&json!("removed"), &json!("alice")),
        "{got}"
    );
    let r = call(
        &app,
        &alice,
        Method::POST,
        "/api/v1/rooms/general/bans",
        Some(json!({"username": "carol"})),
    )
    .await;
    status(&r, 200, "ban");
    let got = next(&mut w, "carol").await;
    assert_eq!(
        (&got["change"], &got["by"]),
        (&json!("banned"), &json!("alice")),
        "{got}"
    );
    let r = call(
        &app,
        &alice,
        Method::DELETE,
        "/api/v1/rooms/general/bans/carol",
        None,
    )
    .await;
    status(&r, 204, "unban");
    let got = next(&mut w, "carol").await;
    assert_eq!(
        (&got["change"], &got["by"]),
        (&json!("unbanned"), &json!("alice")),
        "{got}"
    );
    w.close().await;
}

async fn activity_subscriptions_get_access_revoked(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "secret", true).await;
    add_member(&app, &alice, "secret", &bob).await;
    let mut c = activity_client(&app, &bob, "secret").await;
    let r = call(
        &app,
        &alice,
        Method::DELETE,
        "/api/v1/rooms/secret/members/bobby",
        None,
    )
    .await;
    status(&r, 204, "remove");
    let (f, seen) = signal_where(&mut c, Duration::from_secs(2), |b| {
        b["type"] == "access_revoked"
    })
    .await;
    let f = f.unwrap_or_else(|| {
        panic!(
            "access_revoked on the activity within 2 s; saw {}",
            describe(&seen)
        )
    });
    assert_eq!(f.header("subscription").as_deref(), Some("act"), "{f}");
    assert_eq!(
        f.header("event-type").as_deref(),
        Some("access_revoked"),
        "{f}"
    );
    assert_eq!(
        f.json(),
        json!({"type": "access_revoked", "room": "secret", "reason": "removed"}),
        "{f}"
    );
    // Nothing after it: alice's typing does not reach bob.
    let r = post_typing(&app, &alice, "secret").await;
    status(&r, 204, "typing");
    c.expect_no_frame_for(QUIET).await;
    c.close().await;
}

async fn subscribing_to_a_public_rooms_activity_does_not_join_it(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve01").await;
    app.create_room(&alice, "open", false).await;
    app.create_room(&alice, "secret", true).await;
    let mut c = activity_client(&app, &eve, "open").await;
    let r = room(&app, &eve, "open").await;
    assert!(r["membership"].is_null(), "not joined: {r}");
    let members = app
        .get("/api/v1/rooms/open/members", &alice.access_token)
        .await;
    let members = status(&members, 200, "members");
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
    // A visitor still sees the room's typing.
    status(&post_typing(&app, &alice, "open").await, 204, "typing");
    expect_signal(&mut c, "typing", "alice").await;
    c.close().await;
    // A private room's activity is the unknown-room ERROR.
    let mut c = StompClient::connect(&app, &eve.access_token).await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "a"),
            ("destination", &topic(&activity("secret"))),
            ("receipt", "r"),
        ],
        "",
    ))
    .await;
    c.expect_error_then_close().await;
}

async fn a_blocked_typist_is_not_shown_to_the_blocker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    block(&app, &bob, &carol).await;
    let mut blocker = activity_client(&app, &bob, "general").await;
    let mut other = activity_client(&app, &alice, "general").await;
    status(&post_typing(&app, &carol, "general").await, 204, "typing");
    expect_signal(&mut other, "typing", "carol").await;
    expect_no_signal(&mut blocker, "typing", "carol", QUIET).await;
    // Others' typing still reaches the blocker.
    status(&post_typing(&app, &alice, "general").await, 204, "typing");
    expect_signal(&mut blocker, "typing", "alice").await;
    blocker.close().await;
    other.close().await;
}

async fn read_and_presence_signals_of_blocked_users_are_not_delivered(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    say(&app, &alice, "general", "hi").await;
    block(&app, &bob, &carol).await;
    let mut blocker = activity_client(&app, &bob, "general").await;
    let mut other = activity_client(&app, &alice, "general").await;
    mark_read(&app, &carol, "general", 1).await;
    let c = StompClient::connect(&app, &carol.access_token).await;
    expect_signal(&mut other, "read", "carol").await;
    expect_signal(&mut other, "presence", "carol").await;
    let (f, _) = signal_where(&mut blocker, QUIET, |b| b["user"] == "carol").await;
    assert!(
        f.is_none(),
        "no signal about a blocked user reaches the blocker: {f:?}"
    );
    c.close().await;
    blocker.close().await;
    other.close().await;
}

async fn activity_subscriptions_count_against_max_subscriptions(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.max_subscriptions = 2).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut c = StompClient::connect(&app, &alice.access_token).await;
    c.subscribe("log", "general").await;
    c.subscribe("act", &activity("general")).await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "third"),
            ("destination", &topic(&activity("general"))),
            ("receipt", "s3"),
        ],
        "",
    ))
    .await;
    let error = c.expect_error_then_close().await;
    assert_eq!(error.header("receipt-id").as_deref(), Some("s3"), "{error}");
}
