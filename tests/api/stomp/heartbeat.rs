//! Heart-beats (the README, "Real-time chat"), with HEARTBEAT_MS lowered (200 or
//! 500 ms) so the tests are quick: the negotiation's floor is the server's
//! own value.

use std::time::{Duration, Instant};

use parley::config::Config;

use crate::db::Backend;
use crate::helpers::{TestApp, on_sqlite, spawn_app_with};
use stomp_client::{Event, StompClient, frame};

on_sqlite!(
    heart_beat_floor_is_the_servers_own_interval,
    server_sends_heart_beats_at_the_negotiated_interval,
    silent_client_that_promised_heart_beats_is_disconnected,
    client_sending_heart_beats_stays_connected,
);

fn fast_heartbeats(c: &mut Config) {
    c.limits.heartbeat_ms = 200;
}

/// For the tests where the client must keep time: 2 × 500 ms leaves a
/// busy test machine plenty of slack.
fn half_second_heartbeats(c: &mut Config) {
    c.limits.heartbeat_ms = 500;
}

async fn connect_with_heart_beat(
    app: &TestApp,
    token: &str,
    heart_beat: &str,
) -> (StompClient, String) {
    let auth = format!("Bearer {token}");
    let (client, first) = StompClient::open_and_send(
        app,
        frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", "localhost"),
                ("Authorization", &auth),
                ("heart-beat", heart_beat),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(
        first.command, "CONNECTED",
        "heart-beat:{heart_beat}: {first}"
    );
    (client, first.expect_header("heart-beat"))
}

async fn heart_beat_floor_is_the_servers_own_interval(backend: Backend) {
    let app = spawn_app_with(backend, fast_heartbeats).await;
    let alice = app.signup("alice").await;
    for (client, expected) in [
        ("0,200", "200,0"),
        ("0,100", "200,0"),
        ("100,0", "0,200"),
        ("300,500", "500,300"),
        ("0,0", "0,0"),
    ] {
        let (_c, answered) = connect_with_heart_beat(&app, &alice.access_token, client).await;
        assert_eq!(
            answered, expected,
            "with HEARTBEAT_MS=200, client heart-beat:{client} must be answered {expected}"
        );
    }
}

async fn server_sends_heart_beats_at_the_negotiated_interval(backend: Backend) {
    let app = spawn_app_with(backend, fast_heartbeats).await;
    let alice = app.signup("alice").await;
    let (mut client, answered) = connect_with_heart_beat(&app, &alice.access_token, "0,200").await;
    assert_eq!(answered, "200,0");
    client
        .expect_no_frame_for(Duration::from_millis(1500))
        .await;
    assert!(
        client.heartbeats >= 2,
        "a server sending every 200 ms sends several EOLs in 1.5 s, got {}",
        client.heartbeats
    );
}

async fn silent_client_that_promised_heart_beats_is_disconnected(backend: Backend) {
    let app = spawn_app_with(backend, half_second_heartbeats).await;
    let alice = app.signup("alice").await;
    let (mut client, answered) = connect_with_heart_beat(&app, &alice.access_token, "500,0").await;
    assert_eq!(answered, "0,500");
    let started = Instant::now();
    let frames = client.expect_closed_within(Duration::from_secs(5)).await;
    let silent_for = started.elapsed();
    assert!(
        frames.iter().all(|f| f.command == "ERROR"),
        "a silent client may get an ERROR before the close, nothing else: {frames:?}"
    );
    assert!(
        silent_for >= Duration::from_millis(800),
        "the server must allow twice the agreed 500 ms before dropping, it closed after {silent_for:?}"
    );
}

async fn client_sending_heart_beats_stays_connected(backend: Backend) {
    let app = spawn_app_with(backend, half_second_heartbeats).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (mut client, answered) = connect_with_heart_beat(&app, &alice.access_token, "500,0").await;
    assert_eq!(answered, "0,500");
    // Two seconds (twice the tolerance) of nothing but heart-beats, one every 100 ms.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        client.send("\n").await;
        match client.next_event(Duration::from_millis(100)).await {
            None => {}
            Some(Event::Frame(f)) => panic!("expected nothing while idle, got {f}"),
            Some(Event::Closed(_)) => {
                panic!("a client sending heart-beats every 100 ms must not be dropped")
            }
        }
    }
    let receipt = client.send_chat("general", "still here", "r1").await;
    assert_eq!(receipt.seq(), 1);
}
