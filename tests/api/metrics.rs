//! `/metrics`: valid Prometheus text whose counters move when messages flow.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use tokio::time::Instant;

use crate::db::Backend;
use crate::helpers::{TestApp, on_both_backends, spawn_app_with};
use stomp_client::StompClient;

on_both_backends!(
    metrics_parse_and_move_when_messages_flow,
    every_stage_of_a_message_is_timed,
);

async fn scrape(app: &TestApp) -> Scrape {
    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid Prometheus text")
}

/// Sum of a counter or gauge over the samples whose labels match.
fn value(s: &Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

async fn metrics_parse_and_move_when_messages_flow(backend: Backend) {
    // The recorder is per process and tests of one binary may share it:
    // compare before and after instead of expecting absolute values.
    let app = spawn_app_with(backend, |c| c.limits.send_rate = 0).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let before = scrape(&app).await;
    let mut sub = StompClient::connect(&app, &alice.access_token).await;
    sub.subscribe("s1", "general").await;
    let mut publisher = StompClient::connect(&app, &alice.access_token).await;
    for i in 0..3 {
        publisher
            .send_chat("general", &format!("m{i}"), &format!("r{i}"))
            .await;
    }
    sub.expect_messages(3).await;
    let bad = app.get("/api/v1/me", "not-a-token").await;
    assert_eq!(bad.status, 401);
    let after = scrape(&app).await;

    let delta = |name: &str, label: Option<(&str, &str)>| {
        value(&after, name, label) - value(&before, name, label)
    };
    assert!(
        delta("parley_messages_stored_total", None) >= 3.0,
        "messages stored counted"
    );
    assert!(
        delta("parley_deliveries_total", None) >= 3.0,
        "fan-out deliveries counted"
    );
    assert!(
        delta("parley_stomp_frames_in_total", Some(("command", "SEND"))) >= 3.0,
        "SEND frames counted"
    );
    assert!(
        delta(
            "parley_stomp_frames_out_total",
            Some(("command", "MESSAGE"))
        ) >= 3.0,
        "MESSAGE frames counted"
    );
    assert!(
        delta(
            "parley_stomp_frames_out_total",
            Some(("command", "RECEIPT"))
        ) >= 4.0,
        "RECEIPTs counted"
    );
    assert!(
        value(
            &after,
            "parley_connections_open",
            Some(("kind", "websocket"))
        ) >= 2.0,
        "open websockets"
    );
    assert!(
        delta(
            "parley_auth_failures_total",
            Some(("reason", "rest_token_invalid"))
        ) >= 1.0,
        "auth failure counted"
    );
    assert!(
        value(&after, "parley_db_pool_connections", None) >= 1.0,
        "pool size reported"
    );
    let histogram_count = after
        .samples
        .iter()
        .find(|x| x.metric == "parley_send_to_commit_seconds")
        .map(|x| matches!(x.value, Value::Histogram(_)))
        .unwrap_or(false);
    assert!(histogram_count, "send-to-commit latency is a histogram");
}

/// The stages of a message's way (README, "Metrics"), with how many of the
/// test's three SENDs each must have counted at least: the delivery stages
/// are timed on sampled connections, once per burst.
const STAGES: &[(&str, f64)] = &[
    ("parley_receive_to_submit_seconds", 3.0),
    ("parley_commit_wait_seconds", 3.0),
    ("parley_commit_transaction_seconds", 1.0),
    ("parley_send_to_commit_seconds", 3.0),
    ("parley_commit_to_deliver_seconds", 3.0),
    ("parley_commit_to_dequeue_seconds", 1.0),
    ("parley_dequeue_to_written_seconds", 1.0),
];

async fn every_stage_of_a_message_is_timed(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.send_rate = 0).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let before = scrape(&app).await;
    // One WebSocket in eight times its deliveries: eight subscribers hold
    // one (each test runs in a process of its own).
    let mut subs = Vec::new();
    for i in 0..8 {
        let mut sub = StompClient::connect(&app, &alice.access_token).await;
        sub.subscribe(&format!("s{i}"), "general").await;
        subs.push(sub);
    }
    let mut publisher = StompClient::connect(&app, &alice.access_token).await;
    for i in 0..3 {
        publisher
            .send_chat("general", &format!("m{i}"), &format!("r{i}"))
            .await;
    }
    for sub in &mut subs {
        sub.expect_messages(3).await;
    }
    // A write is timed when the server sees it done, which may be just
    // after the client read it: scrape until every stage counted (10 s).
    let count = |s: &Scrape, name: &str| value(s, &format!("{name}_count"), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let after = scrape(&app).await;
        let missing: Vec<String> = STAGES
            .iter()
            .filter(|(name, at_least)| count(&after, name) - count(&before, name) < *at_least)
            .map(|(name, at_least)| {
                let n = count(&after, name) - count(&before, name);
                format!("{name}: {n} (want at least {at_least})")
            })
            .collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(missing.is_empty(), "stages not timed: {missing:?}");
    for sub in subs {
        sub.close().await;
    }
    publisher.close().await;
}
