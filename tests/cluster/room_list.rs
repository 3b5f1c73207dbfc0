//! The user destination across instances (README, "Staying signed
//! in"): a change of a user's room list made through one instance
//! reaches their `/user/queue/updates` subscription and `/me/events` stream
//! on another within 2 s, in the order the changes were made.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::http;
use stomp_client::{StompClient, frame};

const WITHIN: Duration = Duration::from_secs(2);

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
}

/// The next `data:` of an SSE stream within `wait`.
async fn next_sse(resp: &mut reqwest::Response, buf: &mut String, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).ok();
            }
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn room_list_updates_made_on_one_instance_reach_another_within_2s() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;

    // Bob listens on B only.
    let mut stomp = StompClient::connect(b, &bob).await;
    stomp
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "me"),
                ("destination", "/user/queue/updates"),
                ("receipt", "me"),
            ],
            "",
        ))
        .await;
    stomp.expect_receipt("me").await;
    let mut sse = reqwest::Client::new()
        .get(format!("{}/api/v1/me/events", http::base(b)))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("GET /me/events");
    assert_eq!(sse.status(), 200);
    let mut buf = String::new();

    let create = json!({"name": "team", "private": true});
    ok(
        http::call(a, Method::POST, "/api/v1/rooms", &alice, Some(create)).await,
        201,
        "create on A",
    );
    let add = json!({"username": "bob"});
    let members = "/api/v1/rooms/team/members";
    let started = Instant::now();
    ok(
        http::call(a, Method::POST, members, &alice, Some(add)).await,
        200,
        "add on A",
    );
    // Removed right after: B must keep the order.
    ok(
        http::call(
            a,
            Method::DELETE,
            "/api/v1/rooms/team/members/bob",
            &alice,
            None,
        )
        .await,
        204,
        "remove on A",
    );
    let added = stomp.expect_frame_within(WITHIN).await;
    assert_eq!(
        added.header("event-type").as_deref(),
        Some("room_added"),
        "{added}"
    );
    assert_eq!(added.json()["room"]["name"], "team");
    assert_eq!(added.json()["room"]["membership"]["role"], "member");
    let removed = stomp.expect_frame_within(WITHIN).await;
    assert_eq!(
        removed.json(),
        json!({"type": "room_removed", "room": "team", "reason": "removed"}),
        "{removed}"
    );
    let first = next_sse(&mut sse, &mut buf, WITHIN).await;
    assert_eq!(
        first.as_ref().map(|v| &v["type"]),
        Some(&json!("room_added")),
        "SSE on B: {first:?}"
    );
    let second = next_sse(&mut sse, &mut buf, WITHIN).await;
    assert_eq!(
        second.as_ref().map(|v| &v["type"]),
        Some(&json!("room_removed")),
        "SSE on B: {second:?}"
    );
    assert!(
        started.elapsed() < WITHIN + Duration::from_secs(1),
        "both changes reached B in time: {:?}",
        started.elapsed()
    );
}
