//! Limits of README "Configuration" over HTTP: `Idempotency-Key` without control
//! characters, `MAX_CONNECTIONS_PER_USER` across WebSockets, SSE streams and
//! held long polls, and event streams that end with their access token.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::db::Backend;
use crate::helpers::{TestApp, spawn_app_with};
use stomp_client::StompClient;

async fn open_events(app: &TestApp, token: &str, room: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/rooms/{room}/events", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("events request")
}

fn long_poll(app: &TestApp, token: &str, room: &str) -> reqwest::RequestBuilder {
    app.client
        .get(format!(
            "{}/api/v1/rooms/{room}/messages?after=0&wait=10",
            app.base
        ))
        .bearer_auth(token)
}

#[tokio::test]
async fn an_idempotency_key_with_a_control_character_is_refused() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.limits.send_rate = 0).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let url = format!("{}/api/v1/rooms/general/messages", app.base);
    // Tab is the one control character HTTP header values may carry;
    // obs-text bytes are not text at all.
    // (Leading and trailing whitespace is trimmed by the HTTP parser.)
    let bad: [&[u8]; 3] = [b"key\twith-tab", b"a\t\tb", b"c1-\x85"];
    let bad_posts = bad.iter().map(|key| {
        app.client
            .post(&url)
            .bearer_auth(&alice.access_token)
            .header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(key).unwrap(),
            )
            .json(&json!({"body": "bad"}))
            .send()
    });
    let good_posts = (0..20).map(|i| {
        app.client
            .post(&url)
            .bearer_auth(&alice.access_token)
            .header("Idempotency-Key", format!("good-{i}"))
            .json(&json!({"body": format!("good {i}")}))
            .send()
    });
    let (bad_replies, good_replies) = tokio::join!(join_all(bad_posts), join_all(good_posts));
    for reply in bad_replies {
        let reply = TestApp::reply(reply.unwrap()).await;
        assert_eq!(reply.status, 400, "{:?}", reply.body);
        assert_eq!(reply.code(), "invalid_idempotency_key");
    }
    for reply in good_replies {
        assert_eq!(reply.unwrap().status(), 201);
    }
    let page = app
        .get(
            "/api/v1/rooms/general/messages?limit=200",
            &alice.access_token,
        )
        .await;
    let bodies: Vec<&str> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies.len(),
        20,
        "only the good posts are stored: {bodies:?}"
    );
}

#[tokio::test]
async fn held_long_polls_of_one_user_are_capped_at_max_connections_per_user() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.max_connections_per_user = 5;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    // Twelve long polls at once on an empty room: five are held, seven 429.
    let polls: Vec<_> = (0..12)
        .map(|_| tokio::spawn(long_poll(&app, &alice.access_token, "general").send()))
        .collect();
    let bobs = tokio::spawn(long_poll(&app, &bob.access_token, "general").send());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (done, held): (Vec<_>, Vec<_>) = polls.into_iter().partition(|p| p.is_finished());
    assert_eq!(
        done.len(),
        7,
        "the polls beyond the limit are answered at once"
    );
    assert_eq!(held.len(), 5, "MAX_CONNECTIONS_PER_USER polls are held");
    for p in done {
        let reply = TestApp::reply(p.await.unwrap().unwrap()).await;
        assert_eq!(reply.status, 429, "{:?}", reply.body);
        assert_eq!(reply.code(), "too_many_connections");
    }
    assert!(!bobs.is_finished(), "another user's poll is held too");
    let posted = app
        .post(
            "/api/v1/rooms/general/messages",
            Some(&alice.access_token),
            json!({"body": "wake up"}),
        )
        .await;
    assert_eq!(posted.status, 201);
    for p in held.into_iter().chain([bobs]) {
        let reply = TestApp::reply(p.await.unwrap().unwrap()).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["messages"][0]["body"], "wake up");
    }
    // Answered polls gave their places back.
    let again = long_poll(&app, &alice.access_token, "general")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn websockets_event_streams_and_long_polls_of_a_user_count_together() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.max_connections_per_user = 5;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(StompClient::connect(&app, &alice.access_token).await);
    }
    let (s1, s2) = tokio::join!(
        open_events(&app, &alice.access_token, "general"),
        open_events(&app, &alice.access_token, "general")
    );
    assert_eq!((s1.status().as_u16(), s2.status().as_u16()), (200, 200));
    // Full: a sixth of any kind is refused.
    let (stream, poll, (mut ws, first)) = tokio::join!(
        open_events(&app, &alice.access_token, "general"),
        long_poll(&app, &alice.access_token, "general").send(),
        StompClient::open_and_send(&app, stomp_client::connect_frame(&alice.access_token)),
    );
    let stream = TestApp::reply(stream).await;
    assert_eq!(stream.status, 429);
    assert_eq!(stream.code(), "too_many_connections");
    let poll = TestApp::reply(poll.unwrap()).await;
    assert_eq!(poll.status, 429);
    assert_eq!(poll.code(), "too_many_connections");
    assert_eq!(first.command, "ERROR", "{first}");
    assert_eq!(
        first.header("message").as_deref(),
        Some("too many connections")
    );
    ws.expect_closed().await;
    let other = open_events(&app, &bob.access_token, "general").await;
    assert_eq!(other.status(), 200, "another user is not affected");

    // Closing a stream gives its place back (the server notices when it
    // next writes to it: a message, or the keep-alive).
    drop(s1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        app.post(
            "/api/v1/rooms/general/messages",
            Some(&bob.access_token),
            json!({"body": "anyone there?"}),
        )
        .await;
        let s = open_events(&app, &alice.access_token, "general").await;
        if s.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed event stream must give its place back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(s2);
}

#[tokio::test]
async fn an_event_stream_ends_when_its_access_token_expires() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.jwt_ttl = Duration::from_secs(2);
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let opened = Instant::now();
    let mut streams =
        join_all((0..4).map(|_| open_events(&app, &alice.access_token, "general"))).await;
    let reads = streams.iter_mut().map(|stream| async move {
        assert_eq!(stream.status(), 200);
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => return text, // the stream ended
                Err(_) => panic!("the stream outlived its token by 8 s: {text:?}"),
            }
        }
    });
    for text in join_all(reads).await {
        assert!(
            text.ends_with("event: error\ndata: {\"code\":\"token_expired\"}\n\n"),
            "a last `event: error` with token_expired: {text:?}"
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "not before the token expires"
    );
}
