//! Deactivation across instances (README, "Administration"): an account an
//! administrator deactivates through one instance is cut off on every other
//! within 2 s: its STOMP session gets ERROR `session revoked` and closes,
//! its access token is refused everywhere, and login and refresh answer 403
//! `account_deactivated` on any instance. The bots it owns stop the same
//! way, and work again once it is reactivated.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::http;
use stomp_client::{Event, StompClient, connect_frame, frame};

const END_WITHIN: Duration = Duration::from_secs(2);

/// Logs `username` in on `port`: (status, body).
async fn login(port: u16, username: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", http::base(port)))
        .json(&json!({"username": username, "password": format!("pw-{username}-secret")}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("login request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_deactivated_account_is_cut_off_on_every_instance() {
    let cluster = Cluster::start_with(2, &[("ADMIN_USERS", "root")]).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let root = http::signup(a, "root").await;
    let bob = http::signup(a, "bob").await;
    http::create_room(a, &root, "general").await;
    let (status, on_b) = login(b, "bob").await;
    assert_eq!(status, 200, "{on_b}");
    let token = on_b["access_token"].as_str().unwrap().to_string();
    let refresh = on_b["refresh_token"].as_str().unwrap().to_string();
    let mut stomp = StompClient::connect(b, &token).await;
    stomp.subscribe("s", "general").await;

    set_active(a, &root, "bob", false).await;
    revoked_within(&mut stomp, Instant::now(), "bob").await;

    for (port, token) in [(a, &bob), (b, &token)] {
        let (status, _) = http::call(port, Method::GET, "/api/v1/me", token, None).await;
        assert_eq!(status, 401, "bob's token refused on {port}");
    }
    for port in [a, b] {
        let (status, body) = login(port, "bob").await;
        assert_eq!(status, 403, "login on {port}: {body}");
        assert_eq!(body["error"]["code"], "account_deactivated");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/refresh", http::base(b)))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "refresh");

    // Reactivated, bob logs in again; root was never affected.
    set_active(b, &root, "bob", true).await;
    assert_eq!(login(a, "bob").await.0, 200);
    let (status, _) = http::call(b, Method::GET, "/api/v1/me", &root, None).await;
    assert_eq!(status, 200);
}

/// `root` deactivates (or reactivates) `username` through `port`.
async fn set_active(port: u16, root: &str, username: &str, active: bool) {
    let change = if active { "reactivate" } else { "deactivate" };
    let path = format!("/api/v1/admin/users/{username}/{change}");
    let (status, body) = http::call(port, Method::POST, &path, root, None).await;
    assert_eq!(status, 204, "{change} {username}: {body}");
}

/// `who`'s STOMP session gets ERROR `session revoked` and is closed, at
/// most `END_WITHIN` after `start`.
async fn revoked_within(stomp: &mut StompClient, start: Instant, who: &str) {
    let mut frames = Vec::new();
    loop {
        let left = END_WITHIN.saturating_sub(start.elapsed());
        match stomp.next_event(left).await {
            Some(Event::Frame(f)) => frames.push(f),
            Some(Event::Closed(_)) => break,
            None => panic!("{who}'s STOMP session still open after {END_WITHIN:?}: {frames:?}"),
        }
    }
    assert_eq!(frames.len(), 1, "{who}: {frames:?}");
    assert_eq!(frames[0].command, "ERROR", "{who}");
    assert_eq!(
        frames[0].header("message").as_deref(),
        Some("session revoked"),
        "{who}"
    );
}

/// The first frame answering a CONNECT with `token` as the passcode.
async fn connect_with_passcode(port: u16, token: &str) -> (StompClient, stomp_client::Frame) {
    let connect = frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("passcode", token),
        ],
        "",
    );
    StompClient::open_and_send(port, connect).await
}

#[tokio::test]
async fn a_deactivated_owners_bots_stop_on_every_instance_until_reactivated() {
    let cluster = Cluster::start_with(2, &[("ADMIN_USERS", "root")]).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let root = http::signup(a, "root").await;
    let bob = http::signup(a, "bob").await;
    let body = json!({"username": "bobbot"});
    let (status, made) = http::call(a, Method::POST, "/api/v1/bots", &bob, Some(body)).await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let mut live = StompClient::connect(b, &token).await;

    set_active(a, &root, "bob", false).await;
    revoked_within(&mut live, Instant::now(), "bobbot").await;
    for port in [a, b] {
        let (status, body) = http::call(port, Method::GET, "/api/v1/me", &token, None).await;
        assert_eq!(status, 401, "the bot's token refused on {port}: {body}");
        let (mut refused, first) = connect_with_passcode(port, &token).await;
        assert_eq!(first.command, "ERROR", "as a passcode on {port}: {first}");
        refused.expect_closed().await;
    }

    set_active(b, &root, "bob", true).await;
    for port in [a, b] {
        let (status, me) = http::call(port, Method::GET, "/api/v1/me", &token, None).await;
        assert_eq!(status, 200, "the same token works again on {port}: {me}");
        assert_eq!(me["username"], "bobbot");
        let (_bot, first) = connect_with_passcode(port, &token).await;
        assert_eq!(
            first.command, "CONNECTED",
            "as a passcode on {port}: {first}"
        );
    }
    let mut header = StompClient::open(b).await;
    header.send(connect_frame(&token)).await;
    assert_eq!(header.expect_frame().await.command, "CONNECTED");
}
