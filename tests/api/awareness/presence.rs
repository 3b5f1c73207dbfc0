//! Presence: online while a user holds a WebSocket (after CONNECTED) or an
//! SSE stream; `GET …/presence`; `presence` signals on the activity.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::db::Backend;
use crate::helpers::{on_both_backends, on_sqlite};

#[path = "../../support/event_stream.rs"]
mod event_stream;

on_sqlite!(
    online_on_connect_and_offline_on_the_last_disconnect,
    a_socket_before_connected_is_not_online,
    an_event_stream_makes_its_user_online,
    a_user_event_stream_is_presence_until_its_client_goes_away,
    presence_lists_members_only,
);

on_both_backends!(an_event_stream_whose_client_goes_away_is_offline_within_two_seconds);

/// Within this, a presence change shows on the instance itself.
const SHOWS_WITHIN: Duration = Duration::from_secs(2);

async fn online_on_connect_and_offline_on_the_last_disconnect(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    assert_eq!(online(&app, &alice, "general").await, Vec::<String>::new());
    let mut w = activity_client(&app, &alice, "general").await;
    assert_eq!(
        online_becomes(&app, &alice, "general", &["alice"], SHOWS_WITHIN).await,
        ["alice"]
    );
    let tab1 = StompClient::connect(&app, &bob.access_token).await;
    let f = expect_signal(&mut w, "presence", "bobby").await;
    assert_activity_frame(&f, "act", "general", "presence");
    assert_eq!(
        f.json(),
        json!({"type": "presence", "user": "bobby", "online": true}),
        "{f}"
    );
    assert_eq!(online(&app, &alice, "general").await, ["alice", "bobby"]);
    let tab2 = StompClient::connect(&app, &bob.access_token).await;
    tab1.close().await;
    expect_no_signal(&mut w, "presence", "bobby", QUIET).await;
    assert_eq!(
        online(&app, &alice, "general").await,
        ["alice", "bobby"],
        "a user with two tabs who closes one stays online"
    );
    tab2.close().await;
    let f = expect_signal(&mut w, "presence", "bobby").await;
    assert_eq!(
        f.json(),
        json!({"type": "presence", "user": "bobby", "online": false}),
        "{f}"
    );
    assert_eq!(
        online_becomes(&app, &alice, "general", &["alice"], SHOWS_WITHIN).await,
        ["alice"]
    );
    w.close().await;
}

async fn a_socket_before_connected_is_not_online(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let raw = StompClient::open(&app).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        online(&app, &alice, "general").await,
        Vec::<String>::new(),
        "an upgraded socket without CONNECT is not presence"
    );
    raw.close().await;
    let c = StompClient::connect(&app, &alice.access_token).await;
    assert_eq!(
        online_becomes(&app, &alice, "general", &["alice"], SHOWS_WITHIN).await,
        ["alice"]
    );
    c.close().await;
    assert_eq!(
        online_becomes(&app, &alice, "general", &[], SHOWS_WITHIN).await,
        Vec::<String>::new()
    );
}

async fn an_event_stream_makes_its_user_online(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let mut w = activity_client(&app, &alice, "general").await;
    let stream =
        event_stream::open(app.port, &bob.access_token, "/api/v1/rooms/general/events").await;
    assert_eq!(
        online_becomes(&app, &alice, "general", &["alice", "bobby"], SHOWS_WITHIN).await,
        ["alice", "bobby"],
        "an open event stream is presence"
    );
    let f = expect_signal(&mut w, "presence", "bobby").await;
    assert_eq!(f.json()["online"], true, "{f}");
    drop(stream);
    // A client that just goes away is noticed at its connection's close,
    // not at the next keep-alive write (every 15 s).
    let (f, seen) = signal_where(&mut w, SHOWS_WITHIN, |b| b["type"] == "presence").await;
    let f = f.unwrap_or_else(|| panic!("offline after the stream closed; saw {}", describe(&seen)));
    assert_eq!(
        f.json(),
        json!({"type": "presence", "user": "bobby", "online": false}),
        "{f}"
    );
    assert_eq!(
        online_becomes(&app, &alice, "general", &["alice"], SHOWS_WITHIN).await,
        ["alice"]
    );
    w.close().await;
}

async fn a_user_event_stream_is_presence_until_its_client_goes_away(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    // A client of its own, so dropping the response closes its connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let stream = client
        .get(format!("{}/api/v1/me/events", app.base))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200, "GET /me/events");
    assert_eq!(
        online_becomes(&app, &alice, "general", &["bobby"], SHOWS_WITHIN).await,
        ["bobby"],
        "an open user event stream is presence"
    );
    drop(stream);
    drop(client);
    let closed = Instant::now();
    assert_eq!(
        online_becomes(&app, &alice, "general", &[], SHOWS_WITHIN).await,
        Vec::<String>::new(),
        "offline within 2 s of the client going away"
    );
    assert!(closed.elapsed() < SHOWS_WITHIN + Duration::from_millis(500));
}

/// How a client of an event stream goes away.
#[derive(Debug, Clone, Copy)]
enum Leaving {
    /// Its socket sends FIN (what the close of a client that read
    /// everything sends); the socket is kept until bob is seen offline, so
    /// nothing but the FIN tells the server.
    Closes,
    /// Its socket is reset (RST): what the kernel sends for a killed
    /// process whose socket still held unread bytes.
    IsReset,
}

/// Bob's only connection is an event stream (the room's, then the
/// user's); each time his client goes away, in both ways, he is offline
/// within the contract's 2 s (README, "Read markers, unread counts, typing
/// and presence"), not at the next keep-alive write 15 s later.
async fn an_event_stream_whose_client_goes_away_is_offline_within_two_seconds(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    for path in ["/api/v1/rooms/general/events", "/api/v1/me/events"] {
        for leaving in [Leaving::Closes, Leaving::IsReset] {
            let mut stream = event_stream::open(app.port, &bob.access_token, path).await;
            assert_eq!(
                online_becomes(&app, &alice, "general", &["bobby"], SHOWS_WITHIN).await,
                ["bobby"],
                "GET {path} open: bob is online"
            );
            let kept = match leaving {
                Leaving::Closes => {
                    tokio::io::AsyncWriteExt::shutdown(&mut stream)
                        .await
                        .unwrap();
                    Some(stream)
                }
                Leaving::IsReset => {
                    stream.set_zero_linger().unwrap();
                    drop(stream);
                    None
                }
            };
            assert_eq!(
                online_becomes(&app, &alice, "general", &[], SHOWS_WITHIN).await,
                Vec::<String>::new(),
                "GET {path}: bob offline within 2 s after his client {leaving:?}"
            );
            drop(kept);
        }
    }
}

async fn presence_lists_members_only(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve01").await;
    app.create_room(&alice, "open", false).await;
    app.create_room(&alice, "secret", true).await;
    let c = StompClient::connect(&app, &eve.access_token).await;
    let a = StompClient::connect(&app, &alice.access_token).await;
    assert_eq!(
        online_becomes(&app, &eve, "open", &["alice"], SHOWS_WITHIN).await,
        ["alice"],
        "an online non-member is not in the room's presence"
    );
    let r = app
        .get("/api/v1/rooms/secret/presence", &eve.access_token)
        .await;
    refused(&r, 404, "room_not_found", "a private room's presence");
    c.close().await;
    a.close().await;
}
