//! Membership, roles and moderation, direct conversations and blocking: the
//! README, "Members, moderation and blocking" (direct conversations and
//! blocking included), as clients see them over REST, STOMP, Server-Sent Events and
//! long polling.

mod blocking;
mod dms;
mod revocation;
mod room_list;
mod routes;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{Reply, TestApp, TestUser};
use stomp_client::{Frame, StompClient, frame, topic};

pub const WAIT: Duration = Duration::from_secs(10);
/// How soon loss of access must reach every subscriber.
pub const REVOKE_WITHIN: Duration = Duration::from_secs(2);
/// Long enough for a stray frame or event to show up.
pub const QUIET: Duration = Duration::from_millis(500);

pub use crate::helpers::{refused, spawn_app_unthrottled as app, status};

// ------------------------------------------------------------ answers --

pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

// ---------------------------------------------------------- REST calls --

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

pub async fn join(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/join");
    call(app, who, Method::POST, &path, None).await
}

pub async fn get_room(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    app.get(&format!("/api/v1/rooms/{room}"), &who.access_token)
        .await
}

pub async fn members(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    app.get(&format!("/api/v1/rooms/{room}/members"), &who.access_token)
        .await
}

/// The usernames of the room's members, as its owner (or `who`) sees them.
pub async fn member_names(app: &TestApp, who: &TestUser, room: &str) -> Vec<String> {
    let r = members(app, who, room).await;
    names(&status(&r, 200, "members")["members"])
}

pub async fn add_member(app: &TestApp, who: &TestUser, room: &str, target: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/members");
    call(
        app,
        who,
        Method::POST,
        &path,
        Some(json!({"username": target})),
    )
    .await
}

pub async fn leave(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/leave");
    call(app, who, Method::POST, &path, None).await
}

pub async fn remove(app: &TestApp, who: &TestUser, room: &str, target: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/members/{target}");
    call(app, who, Method::DELETE, &path, None).await
}

pub async fn set_role(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    target: &str,
    role: &str,
) -> Reply {
    let path = format!("/api/v1/rooms/{room}/members/{target}/role");
    call(app, who, Method::PUT, &path, Some(json!({"role": role}))).await
}

pub async fn ban(app: &TestApp, who: &TestUser, room: &str, target: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/bans");
    call(
        app,
        who,
        Method::POST,
        &path,
        Some(json!({"username": target})),
    )
    .await
}

pub async fn bans(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    app.get(&format!("/api/v1/rooms/{room}/bans"), &who.access_token)
        .await
}

pub async fn unban(app: &TestApp, who: &TestUser, room: &str, target: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/bans/{target}");
    call(app, who, Method::DELETE, &path, None).await
}

pub async fn delete_room(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}");
    call(app, who, Method::DELETE, &path, None).await
}

pub async fn open_dm(app: &TestApp, who: &TestUser, peer: &str) -> Reply {
    call(
        app,
        who,
        Method::POST,
        "/api/v1/dms",
        Some(json!({"username": peer})),
    )
    .await
}

pub async fn block(app: &TestApp, who: &TestUser, target: &str) -> Reply {
    let path = format!("/api/v1/me/blocks/{target}");
    call(app, who, Method::PUT, &path, None).await
}

pub async fn unblock(app: &TestApp, who: &TestUser, target: &str) -> Reply {
    let path = format!("/api/v1/me/blocks/{target}");
    call(app, who, Method::DELETE, &path, None).await
}

pub async fn blocks(app: &TestApp, who: &TestUser) -> Reply {
    app.get("/api/v1/me/blocks", &who.access_token).await
}

pub async fn post_message(app: &TestApp, who: &TestUser, room: &str, body: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/messages");
    call(app, who, Method::POST, &path, Some(json!({"body": body}))).await
}

/// Posts over HTTP and expects 201; returns the message.
pub async fn say(app: &TestApp, who: &TestUser, room: &str, body: &str) -> Value {
    let r = post_message(app, who, room, body).await;
    status(
        &r,
        201,
        &format!("{} posts {body:?} in {room}", who.username),
    )
}

pub async fn room_names(app: &TestApp, who: &TestUser) -> Vec<String> {
    let r = app.get("/api/v1/rooms", &who.access_token).await;
    status(&r, 200, "GET /rooms")["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

/// A room with `owner`, and each of `moderators` and `members` in it with
/// that role (public rooms are joined, private ones added by the owner).
pub async fn room_with(
    app: &TestApp,
    name: &str,
    private: bool,
    owner: &TestUser,
    moderators: &[&TestUser],
    members: &[&TestUser],
) {
    app.create_room(owner, name, private).await;
    for u in moderators.iter().chain(members) {
        if private {
            let r = add_member(app, owner, name, &u.username).await;
            status(&r, 200, &format!("add {}", u.username));
        } else {
            let r = join(app, u, name).await;
            status(&r, 200, &format!("{} joins", u.username));
        }
    }
    for m in moderators {
        let r = set_role(app, owner, name, &m.username, "moderator").await;
        status(&r, 200, &format!("promote {}", m.username));
    }
}

// ---------------------------------------------------------------- STOMP --

/// The ERROR a SUBSCRIBE to a room that never existed gets, to compare
/// with (its `message` header).
pub async fn unknown_room_error(app: &TestApp, who: &TestUser) -> String {
    let mut c = StompClient::connect(app, &who.access_token).await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "x"),
            ("destination", &topic("never-existed")),
            ("receipt", "x"),
        ],
        "",
    ))
    .await;
    c.expect_error_then_close()
        .await
        .header("message")
        .unwrap_or_default()
}

/// SUBSCRIBE without waiting: the answer is read by the caller.
pub async fn send_subscribe(client: &mut StompClient, id: &str, room: &str) {
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", id),
                ("destination", &topic(room)),
                ("receipt", &format!("sub-{id}")),
            ],
            "",
        ))
        .await;
}

/// SEND with a receipt, without waiting for the answer.
pub async fn send_raw(client: &mut StompClient, room: &str, body: &str, receipt: &str) {
    client
        .send(frame(
            "SEND",
            &[("destination", &topic(room)), ("receipt", receipt)],
            body,
        ))
        .await;
}

/// Checks an `access_revoked` MESSAGE: headers and body.
#[track_caller]
pub fn assert_revoked(f: &Frame, sub: &str, room: &str, reason: &str) {
    assert_eq!(
        f.command, "MESSAGE",
        "expected the access_revoked MESSAGE, got {f}"
    );
    assert_eq!(
        f.header("event-type").as_deref(),
        Some("access_revoked"),
        "{f}"
    );
    assert_eq!(f.header("subscription").as_deref(), Some(sub), "{f}");
    assert_eq!(
        f.header("destination").as_deref(),
        Some(topic(room).as_str()),
        "{f}"
    );
    assert!(f.header("message-id").is_some(), "message-id header: {f}");
    assert_eq!(
        f.json(),
        json!({"type": "access_revoked", "room": room, "reason": reason}),
        "{f}"
    );
}

/// Reads MESSAGE frames until an `access_revoked` one, within `wait`;
/// returns the frames before it and the access_revoked frame itself.
pub async fn until_revoked(client: &mut StompClient, wait: Duration) -> (Vec<Frame>, Frame) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut before = Vec::new();
    for _ in 0..1000 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = match client.next_event(left).await {
            Some(stomp_client::Event::Frame(f)) => f,
            Some(stomp_client::Event::Closed(_)) => panic!(
                "expected access_revoked, the server closed the socket (after {} frames)",
                before.len()
            ),
            None => panic!(
                "no access_revoked within {wait:?}; frames before: {}",
                before
                    .iter()
                    .map(|f: &Frame| f.to_string())
                    .collect::<Vec<_>>()
                    .join(" // ")
            ),
        };
        if f.header("event-type").as_deref() == Some("access_revoked") {
            return (before, f);
        }
        before.push(f);
    }
    panic!("no access_revoked within 1000 frames");
}

// ------------------------------------------------------------------ SSE --

/// One Server-Sent Event: (event type, id if any, data JSON).
pub type SseEvent = (String, Option<i64>, Value);

/// An open `GET …/events` stream.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
    ended: bool,
}

impl Sse {
    pub async fn open(
        app: &TestApp,
        who: &TestUser,
        room: &str,
        last_event_id: Option<i64>,
    ) -> Sse {
        let mut req = app
            .client
            .get(format!("{}/api/v1/rooms/{room}/events", app.base))
            .bearer_auth(&who.access_token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "SSE of {room} for {}", who.username);
        Sse {
            resp,
            buf: String::new(),
            ended: false,
        }
    }

    fn parse(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let (mut kind, mut id, mut data) = (None, None, None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str::<Value>(v).ok();
                }
            }
            if let Some(data) = data {
                let kind = kind.unwrap_or_else(|| panic!("SSE event without `event:`: {block}"));
                out.push((kind, id, data));
            }
        }
        out
    }

    /// Events until `n` arrived, the stream ended, or `wait` passed.
    pub async fn read(&mut self, n: usize, wait: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = self.parse();
        while out.len() < n && !self.ended {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => break,
                Ok(Ok(Some(chunk))) => {
                    self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
                    out.extend(self.parse());
                }
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
        out
    }

    /// Exactly `n` events within [`WAIT`].
    pub async fn events(&mut self, n: usize) -> Vec<SseEvent> {
        let out = self.read(n, WAIT).await;
        assert!(
            out.len() >= n,
            "waited for {n} SSE events, got {out:?} (ended: {})",
            self.ended
        );
        out
    }

    /// Reads until the server ends the stream; panics after `wait`.
    pub async fn until_end(&mut self, wait: Duration) -> Vec<SseEvent> {
        let out = self.read(usize::MAX, wait).await;
        assert!(
            self.ended,
            "the SSE stream should have ended within {wait:?}; events: {out:?}"
        );
        out
    }

    /// No event for `wait`, and the stream still open.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        let got = self.read(1, wait).await;
        assert!(got.is_empty(), "no SSE event expected, got {got:?}");
        assert!(!self.ended, "the SSE stream should still be open");
    }
}
