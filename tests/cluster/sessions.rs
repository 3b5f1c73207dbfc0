//! Sessions across instances (README, "Accounts" and "Deploying"): a
//! session signed out through one instance ends on every other within 2 s:
//! its STOMP session gets ERROR `session revoked` and closes, its SSE
//! stream ends, and its access token is refused there too.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::http;
use stomp_client::{Event, StompClient};

const END_WITHIN: Duration = Duration::from_secs(2);

/// Logs `username` in on `port`: (access token, its session id).
async fn login(port: u16, username: &str) -> (String, i64) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", http::base(port)))
        .json(&json!({"username": username, "password": format!("pw-{username}-secret")}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("login request");
    assert_eq!(r.status(), 200, "login of {username}");
    let body: Value = r.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    let (status, list) = http::call(port, Method::GET, "/api/v1/me/sessions", &token, None).await;
    assert_eq!(status, 200, "{list}");
    let sessions = list["sessions"].as_array().unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    (token, current["id"].as_i64().unwrap())
}

#[tokio::test]
async fn a_session_signed_out_on_one_instance_ends_on_the_other() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    http::create_room(a, &alice, "general").await;
    let (on_b, id) = login(b, "alice").await;
    let mut stomp = StompClient::connect(b, &on_b).await;
    stomp.subscribe("s", "general").await;
    let mut sse = reqwest::Client::new()
        .get(format!("{}/api/v1/me/events", http::base(b)))
        .bearer_auth(&on_b)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);

    let path = format!("/api/v1/me/sessions/{id}");
    let (status, body) = http::call(a, Method::DELETE, &path, &alice, None).await;
    assert_eq!(status, 204, "{body}");
    let start = Instant::now();

    let mut frames = Vec::new();
    loop {
        let left = END_WITHIN.saturating_sub(start.elapsed());
        match stomp.next_event(left).await {
            Some(Event::Frame(f)) => frames.push(f),
            Some(Event::Closed(_)) => break,
            None => panic!("the STOMP session on B still open after {END_WITHIN:?}: {frames:?}"),
        }
    }
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].command, "ERROR");
    assert_eq!(
        frames[0].header("message").as_deref(),
        Some("session revoked")
    );

    let mut text = String::new();
    while !text.contains("session_revoked") {
        let left = END_WITHIN.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, sse.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream on B ended without session_revoked: {other:?} {text}"),
        }
    }

    let (status, _) = http::call(b, Method::GET, "/api/v1/me", &on_b, None).await;
    assert_eq!(status, 401, "the token is refused on B");
    let (status, _) = http::call(a, Method::GET, "/api/v1/me", &on_b, None).await;
    assert_eq!(status, 401, "and on A");
    let (status, _) = http::call(b, Method::GET, "/api/v1/me", &alice, None).await;
    assert_eq!(status, 200, "the session that signed it out goes on");
}
