//! Read markers, unread counts, the activity destination (typing, read,
//! member and presence signals) and presence: the README, "Read markers,
//! unread counts, typing and presence", as clients see them over REST,
//! STOMP and Server-Sent Events.

mod activity;
mod presence;
mod read_markers;
mod unread;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::{Reply, TestApp, TestUser};
use stomp_client::{Event, Frame, StompClient};

pub const WAIT: Duration = Duration::from_secs(10);
/// Long enough for a stray signal to show up.
pub const QUIET: Duration = Duration::from_millis(700);

pub use crate::helpers::{refused, spawn_app_unthrottled as app, status};

pub async fn call(
    app: &TestApp,
    who: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    app.request(method, path, Some(&who.access_token), body)
        .await
}

pub async fn join(app: &TestApp, who: &TestUser, room: &str) -> Value {
    let r = call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/rooms/{room}/join"),
        None,
    )
    .await;
    status(&r, 200, &format!("{} joins {room}", who.username))
}

pub async fn add_member(app: &TestApp, owner: &TestUser, room: &str, target: &TestUser) {
    let r = call(
        app,
        owner,
        Method::POST,
        &format!("/api/v1/rooms/{room}/members"),
        Some(json!({"username": target.username})),
    )
    .await;
    status(&r, 200, &format!("add {} to {room}", target.username));
}

/// `PUT /rooms/{room}/read` with `body` as given.
pub async fn put_read(app: &TestApp, who: &TestUser, room: &str, body: Value) -> Reply {
    call(
        app,
        who,
        Method::PUT,
        &format!("/api/v1/rooms/{room}/read"),
        Some(body),
    )
    .await
}

/// Moves the marker; returns the answered `last_read_seq`.
pub async fn mark_read(app: &TestApp, who: &TestUser, room: &str, seq: i64) -> i64 {
    let r = put_read(app, who, room, json!({"seq": seq})).await;
    let body = status(
        &r,
        200,
        &format!("{} marks {room} read to {seq}", who.username),
    );
    body["last_read_seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("last_read_seq in {body}"))
}

/// `GET /rooms/{room}` as `who` (must answer 200).
pub async fn room(app: &TestApp, who: &TestUser, room: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/rooms/{room}"), &who.access_token)
        .await;
    status(&r, 200, &format!("GET /rooms/{room} as {}", who.username))
}

/// The room named `name` in `who`'s `GET /rooms`.
pub async fn listed_room(app: &TestApp, who: &TestUser, name: &str) -> Value {
    let r = app.get("/api/v1/rooms", &who.access_token).await;
    let body = status(&r, 200, "GET /rooms");
    body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {}'s room list: {body}", who.username))
}

/// (unread, mentions) of `who` in `name`, checked to agree between
/// `GET /rooms/{name}` and `GET /rooms`.
pub async fn counts(app: &TestApp, who: &TestUser, name: &str) -> (i64, i64) {
    let one = room(app, who, name).await;
    let listed = listed_room(app, who, name).await;
    assert_eq!(
        one["membership"], listed["membership"],
        "GET /rooms/{name} and GET /rooms agree on the membership"
    );
    let m = &one["membership"];
    (
        m["unread"]
            .as_i64()
            .unwrap_or_else(|| panic!("unread in {one}")),
        m["mentions"]
            .as_i64()
            .unwrap_or_else(|| panic!("mentions in {one}")),
    )
}

pub async fn post_message(app: &TestApp, who: &TestUser, room: &str, body: &str) -> Reply {
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/rooms/{room}/messages"),
        Some(json!({"body": body})),
    )
    .await
}

/// Posts over HTTP (201); returns the message's seq.
pub async fn say(app: &TestApp, who: &TestUser, room: &str, body: &str) -> i64 {
    let r = post_message(app, who, room, body).await;
    let m = status(&r, 201, &format!("{} posts {body:?}", who.username));
    m["seq"].as_i64().unwrap()
}

pub async fn post_typing(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/rooms/{room}/typing"),
        None,
    )
    .await
}

pub async fn block(app: &TestApp, who: &TestUser, target: &TestUser) {
    let r = call(
        app,
        who,
        Method::PUT,
        &format!("/api/v1/me/blocks/{}", target.username),
        None,
    )
    .await;
    status(&r, 204, "block");
}

/// The online list of `GET /rooms/{room}/presence`.
pub async fn online(app: &TestApp, who: &TestUser, room: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/rooms/{room}/presence"), &who.access_token)
        .await;
    let body = status(&r, 200, "GET presence");
    body["online"]
        .as_array()
        .unwrap_or_else(|| panic!("online list in {body}"))
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

/// Polls presence until it equals `want` (bounded by `within`); returns
/// the last list seen.
pub async fn online_becomes(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    want: &[&str],
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let now = online(app, who, room).await;
        if now == want || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `GET /rooms/{room}` until the caller's marker is `want`; returns
/// the last marker seen.
pub async fn marker_becomes(
    app: &TestApp,
    who: &TestUser,
    room_name: &str,
    want: i64,
    within: Duration,
) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        let r = room(app, who, room_name).await;
        let now = r["membership"]["last_read_seq"].as_i64().unwrap_or(-1);
        if now == want || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- STOMP --

/// The activity destination of `room`, as `StompClient::subscribe` takes
/// a room name (it prefixes `/topic/rooms/`).
pub fn activity(room: &str) -> String {
    format!("{room}/activity")
}

/// Connects `who` and subscribes `act` to the room's activity.
pub async fn activity_client(app: &TestApp, who: &TestUser, room: &str) -> StompClient {
    let mut c = StompClient::connect(app, &who.access_token).await;
    c.subscribe("act", &activity(room)).await;
    c
}

/// Reads frames until a MESSAGE whose body matches `want`, within `wait`;
/// every frame read before it is returned too. None if none came.
pub async fn signal_where(
    client: &mut StompClient,
    wait: Duration,
    want: impl Fn(&Value) -> bool,
) -> (Option<Frame>, Vec<Frame>) {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left).await {
            Some(Event::Frame(f)) => {
                if f.command == "MESSAGE" && want(&f.json()) {
                    return (Some(f), seen);
                }
                seen.push(f);
            }
            Some(Event::Closed(_)) | None => return (None, seen),
        }
    }
    (None, seen)
}

/// The next signal of `kind` about `user`, within [`WAIT`]; panics if none.
pub async fn expect_signal(client: &mut StompClient, kind: &str, user: &str) -> Frame {
    let (f, seen) = signal_where(client, WAIT, |b| b["type"] == kind && b["user"] == user).await;
    f.unwrap_or_else(|| {
        panic!(
            "expected a {kind:?} signal about {user} within {WAIT:?}; saw: {}",
            describe(&seen)
        )
    })
}

/// No signal of `kind` about `user` for `wait`.
pub async fn expect_no_signal(client: &mut StompClient, kind: &str, user: &str, wait: Duration) {
    let (f, _) = signal_where(client, wait, |b| b["type"] == kind && b["user"] == user).await;
    if let Some(f) = f {
        panic!("expected no {kind:?} signal about {user} for {wait:?}, got {f}");
    }
}

pub fn describe(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" // ")
}

/// Checks the headers every activity MESSAGE carries.
#[track_caller]
pub fn assert_activity_frame(f: &Frame, sub: &str, room: &str, kind: &str) {
    assert_eq!(f.command, "MESSAGE", "{f}");
    assert_eq!(
        f.header("destination").as_deref(),
        Some(format!("/topic/rooms/{room}/activity").as_str()),
        "{f}"
    );
    assert_eq!(f.header("subscription").as_deref(), Some(sub), "{f}");
    assert_eq!(f.header("event-type").as_deref(), Some(kind), "{f}");
    assert!(
        f.header("seq").is_none(),
        "an activity signal has no seq: {f}"
    );
    assert!(
        f.header("message-id")
            .is_some_and(|id| id.starts_with("activity-")),
        "message-id activity-<n>: {f}"
    );
    assert_eq!(
        f.header("content-type").as_deref(),
        Some("application/json"),
        "{f}"
    );
}
