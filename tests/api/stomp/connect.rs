//! Opening a session: the upgrade (Origin, sub-protocols), CONNECT / STOMP,
//! version and heart-beat negotiation, credentials and the CONNECT deadline.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parley::auth::JwtKeys;
use parley::config::AllowedOrigins;
use serde_json::json;
use stomp_client::tungstenite;

use super::now_secs;
use crate::db::Backend;
use crate::helpers::{TestApp, on_sqlite, spawn_app, spawn_app_with};
use stomp_client::{Handshake, StompClient, connect_frame, frame};

on_sqlite!(
    connect_frame_is_answered_with_connected,
    stomp_frame_is_answered_with_connected,
    connected_carries_version_heart_beat_session_server_and_user_name,
    stomp_version_is_negotiated_through_accept_version,
    heart_beat_negotiation_follows_the_contract,
    connect_without_accept_version_is_refused_with_supported_versions,
    connect_offering_only_stomp_1_0_is_refused_with_supported_versions,
    first_frame_other_than_connect_is_an_error,
    connect_without_token_fails_authentication,
    connect_with_garbage_token_fails_authentication,
    connect_with_expired_token_fails_authentication,
    connect_with_forged_token_fails_authentication,
    connect_with_alg_none_token_fails_authentication,
    token_in_passcode_header_is_accepted_and_login_ignored,
    authorization_header_takes_precedence_over_passcode,
    disallowed_origin_is_refused_with_403_before_upgrade,
    allowed_origin_and_missing_origin_are_accepted,
    highest_offered_sub_protocol_is_chosen,
    no_sub_protocol_offered_gets_none,
    socket_without_connect_is_closed_at_the_connect_deadline,
    connected_session_outlives_the_connect_deadline,
);

fn connect_with(headers: &[(&str, &str)]) -> Vec<u8> {
    frame("CONNECT", headers, "")
}

async fn connect_frame_is_answered_with_connected(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_client, connected) = StompClient::connect_returning(&app, &alice.access_token).await;
    assert_eq!(connected.command, "CONNECTED");
}

async fn stomp_frame_is_answered_with_connected(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    let stomp = frame(
        "STOMP",
        &[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("Authorization", &auth),
        ],
        "",
    );
    let (_client, first) = StompClient::open_and_send(&app, stomp).await;
    assert_eq!(
        first.command, "CONNECTED",
        "the STOMP command is CONNECT's 1.2 alias: {first}"
    );
    assert_eq!(first.header("user-name").as_deref(), Some("alice"));
}

async fn connected_carries_version_heart_beat_session_server_and_user_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_a, c1) = StompClient::connect_returning(&app, &alice.access_token).await;
    let (_b, c2) = StompClient::connect_returning(&app, &alice.access_token).await;
    assert_eq!(c1.header("version").as_deref(), Some("1.2"), "{c1}");
    assert_eq!(
        c1.header("heart-beat").as_deref(),
        Some("0,0"),
        "a CONNECT without heart-beat means 0,0, so CONNECTED says 0,0: {c1}"
    );
    let server = c1.expect_header("server");
    assert!(
        server.starts_with("parley/") && server.len() > "parley/".len(),
        "server header must be parley/<version>, got {server:?}"
    );
    assert_eq!(c1.header("user-name").as_deref(), Some("alice"), "{c1}");
    let (s1, s2) = (c1.expect_header("session"), c2.expect_header("session"));
    assert!(!s1.is_empty(), "session must not be empty");
    assert_ne!(s1, s2, "two connections must get different session ids");
}

async fn stomp_version_is_negotiated_through_accept_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    for (offered, expected) in [
        ("1.2", "1.2"),
        ("1.1", "1.1"),
        ("1.0,1.1,1.2", "1.2"),
        ("1.1,1.0", "1.1"),
    ] {
        let (_c, first) = StompClient::open_and_send(
            &app,
            connect_with(&[
                ("accept-version", offered),
                ("host", "localhost"),
                ("Authorization", &auth),
            ]),
        )
        .await;
        assert_eq!(
            first.command, "CONNECTED",
            "accept-version:{offered}: {first}"
        );
        assert_eq!(
            first.header("version").as_deref(),
            Some(expected),
            "accept-version:{offered} must settle on the highest common version {expected}"
        );
    }
}

async fn heart_beat_negotiation_follows_the_contract(backend: Backend) {
    // The server's own HEARTBEAT_MS is 10000: sx = 0 if cy == 0 else
    // max(10000, cy); sy = 0 if cx == 0 else max(10000, cx).
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    for (client, expected) in [
        ("0,0", "0,0"),
        ("5000,20000", "20000,10000"),
        ("20000,5000", "10000,20000"),
        ("0,1000", "10000,0"),
        ("1000,0", "0,10000"),
        ("30000,30000", "30000,30000"),
        ("10000,10000", "10000,10000"),
    ] {
        let (_c, first) = StompClient::open_and_send(
            &app,
            connect_with(&[
                ("accept-version", "1.2"),
                ("host", "localhost"),
                ("Authorization", &auth),
                ("heart-beat", client),
            ]),
        )
        .await;
        assert_eq!(first.command, "CONNECTED", "heart-beat:{client}: {first}");
        assert_eq!(
            first.header("heart-beat").as_deref(),
            Some(expected),
            "client heart-beat:{client} must be answered heart-beat:{expected}"
        );
    }
}

/// Asserts the server refuses `connect` with an ERROR naming the versions
/// it speaks, then closes.
async fn assert_version_refused(app: &TestApp, connect: Vec<u8>, what: &str) {
    let mut client = StompClient::open(app).await;
    client.send(connect).await;
    let error = client.expect_error_then_close().await;
    assert_eq!(
        error.header("version").as_deref(),
        Some("1.1,1.2"),
        "{what}: the ERROR must list the supported versions: {error}"
    );
}

async fn connect_without_accept_version_is_refused_with_supported_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    assert_version_refused(
        &app,
        connect_with(&[("host", "localhost"), ("Authorization", &auth)]),
        "CONNECT without accept-version (a STOMP 1.0 client)",
    )
    .await;
}

async fn connect_offering_only_stomp_1_0_is_refused_with_supported_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    assert_version_refused(
        &app,
        connect_with(&[
            ("accept-version", "1.0"),
            ("host", "localhost"),
            ("Authorization", &auth),
        ]),
        "CONNECT offering only 1.0",
    )
    .await;
    assert_version_refused(
        &app,
        connect_with(&[
            ("accept-version", "1.3,2.0"),
            ("host", "localhost"),
            ("Authorization", &auth),
        ]),
        "CONNECT offering only unknown versions",
    )
    .await;
}

async fn first_frame_other_than_connect_is_an_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let firsts = [
        frame(
            "SUBSCRIBE",
            &[("id", "0"), ("destination", "/topic/rooms/general")],
            "",
        ),
        frame("SEND", &[("destination", "/topic/rooms/general")], "hi"),
        frame("DISCONNECT", &[("receipt", "r")], ""),
        frame("CONNECTED", &[("version", "1.2")], ""),
    ];
    for first in firsts {
        let command =
            String::from_utf8_lossy(&first[..first.iter().position(|&b| b == b'\n').unwrap()])
                .into_owned();
        let mut client = StompClient::open(&app).await;
        client.send(first).await;
        let frames = client.expect_closed().await;
        assert!(
            frames
                .iter()
                .all(|f| f.command != "CONNECTED" && f.command != "RECEIPT"),
            "{command} before CONNECT must not be served: {frames:?}"
        );
        assert_eq!(
            frames
                .iter()
                .map(|f| f.command.as_str())
                .collect::<Vec<_>>(),
            ["ERROR"],
            "{command} as the first frame must get an ERROR, then close"
        );
    }
    assert!(
        super::history(&app, &alice.access_token, "general")
            .await
            .is_empty(),
        "a SEND before CONNECT must store nothing"
    );
}

/// Asserts `connect` is refused with `message:authentication failed`, then close.
async fn assert_auth_failed(app: &TestApp, connect: Vec<u8>, what: &str) {
    let mut client = StompClient::open(app).await;
    client.send(connect).await;
    let frames = client.expect_closed().await;
    assert_eq!(
        frames.len(),
        1,
        "{what}: expected exactly one ERROR then close, got {frames:?}"
    );
    let error = &frames[0];
    assert_eq!(error.command, "ERROR", "{what}: {error}");
    assert_eq!(
        error.header("message").as_deref(),
        Some("authentication failed"),
        "{what}: the ERROR message must be `authentication failed`: {error}"
    );
}

async fn connect_without_token_fails_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_auth_failed(
        &app,
        connect_with(&[("accept-version", "1.2"), ("host", "localhost")]),
        "CONNECT without credentials",
    )
    .await;
    assert_auth_failed(
        &app,
        connect_with(&[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("Authorization", "Basic YWxpY2U6c2VjcmV0"),
        ]),
        "CONNECT with a non-Bearer Authorization",
    )
    .await;
}

async fn connect_with_garbage_token_fails_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_auth_failed(&app, connect_frame("not-a-jwt"), "garbage bearer token").await;
    assert_auth_failed(&app, connect_frame("a.b.c"), "three garbage segments").await;
}

async fn connect_with_expired_token_fails_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let keys = JwtKeys::new(&app.state.config.jwt_secret.bytes, 900);
    // Issued 1000 s ago with a 900 s lifetime: expired 100 s ago.
    let expired = keys.issue(
        alice.user_id,
        "alice",
        parley::store::LoginId(0),
        now_secs() - 1000,
    );
    assert_auth_failed(&app, connect_frame(&expired), "expired token").await;
}

async fn connect_with_forged_token_fails_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let forged = JwtKeys::new(b"somebody-elses-secret-of-32-bytes!!", 900).issue(
        alice.user_id,
        "alice",
        parley::store::LoginId(0),
        now_secs(),
    );
    assert_auth_failed(
        &app,
        connect_frame(&forged),
        "token signed with another key",
    )
    .await;
    // A real token with its signature swapped for another's.
    let real = &alice.access_token;
    let (head_claims, _) = real.rsplit_once('.').unwrap();
    let (_, other_sig) = forged.rsplit_once('.').unwrap();
    let tampered = format!("{head_claims}.{other_sig}");
    assert_auth_failed(
        &app,
        connect_frame(&tampered),
        "token with a foreign signature",
    )
    .await;
}

async fn connect_with_alg_none_token_fails_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    let now = now_secs();
    let claims = json!({"sub": alice.user_id.to_string(), "name": "alice",
                        "iat": now, "exp": now + 600, "iss": "parley"});
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    );
    assert_auth_failed(&app, connect_frame(&unsigned), "alg:none token").await;
}

async fn token_in_passcode_header_is_accepted_and_login_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.signup("bob").await;
    let (_c, first) = StompClient::open_and_send(
        &app,
        connect_with(&[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("login", "bob"),
            ("passcode", &alice.access_token),
        ]),
    )
    .await;
    assert_eq!(
        first.command, "CONNECTED",
        "passcode:<jwt> must log in: {first}"
    );
    assert_eq!(
        first.header("user-name").as_deref(),
        Some("alice"),
        "the token decides who you are; `login` is ignored"
    );
}

async fn authorization_header_takes_precedence_over_passcode(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let auth = format!("Bearer {}", alice.access_token);
    let (_c, first) = StompClient::open_and_send(
        &app,
        connect_with(&[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("Authorization", &auth),
            ("passcode", &bob.access_token),
        ]),
    )
    .await;
    assert_eq!(first.command, "CONNECTED", "{first}");
    assert_eq!(
        first.header("user-name").as_deref(),
        Some("alice"),
        "Authorization is read before passcode"
    );
}

async fn disallowed_origin_is_refused_with_403_before_upgrade(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.allowed_origins = AllowedOrigins::List(vec!["http://chat.example".into()]);
    })
    .await;
    let hs = Handshake {
        origin: Some("http://evil.example".into()),
        ..Handshake::default()
    };
    match StompClient::open_with(app.port, hs).await {
        Ok(_) => panic!("an Origin outside ALLOWED_ORIGINS must not get a WebSocket"),
        Err(tungstenite::Error::Http(resp)) => assert_eq!(
            resp.status(),
            403,
            "a disallowed Origin is refused with 403 before the upgrade"
        ),
        Err(e) => panic!("expected an HTTP 403 answer to the upgrade, got {e}"),
    }
}

async fn allowed_origin_and_missing_origin_are_accepted(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.allowed_origins = AllowedOrigins::List(vec!["http://chat.example".into()]);
    })
    .await;
    let alice = app.signup("alice").await;
    for origin in [Some("http://chat.example"), None] {
        let hs = Handshake {
            origin: origin.map(String::from),
            ..Handshake::default()
        };
        let (mut client, _) = StompClient::open_with(app.port, hs)
            .await
            .unwrap_or_else(|e| panic!("Origin {origin:?} must be allowed to upgrade: {e}"));
        client.send(connect_frame(&alice.access_token)).await;
        let first = client.expect_frame().await;
        assert_eq!(first.command, "CONNECTED", "Origin {origin:?}: {first}");
    }
}

async fn upgrade_with_protocols(app: &TestApp, offered: Option<&str>) -> Option<String> {
    let hs = Handshake {
        protocols: offered.map(String::from),
        ..Handshake::default()
    };
    let (_c, resp) = StompClient::open_with(app.port, hs)
        .await
        .unwrap_or_else(|e| panic!("upgrade offering {offered:?} must succeed: {e}"));
    resp.headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string())
}

async fn highest_offered_sub_protocol_is_chosen(backend: Backend) {
    let app = spawn_app(backend).await;
    for (offered, expected) in [
        ("v10.stomp, v12.stomp", "v12.stomp"),
        ("v12.stomp, v11.stomp, v10.stomp", "v12.stomp"),
        ("v10.stomp, v11.stomp", "v11.stomp"),
        ("v10.stomp", "v10.stomp"),
    ] {
        assert_eq!(
            upgrade_with_protocols(&app, Some(offered)).await.as_deref(),
            Some(expected),
            "offering `{offered}` must be answered with the highest, {expected}"
        );
    }
}

async fn no_sub_protocol_offered_gets_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    assert_eq!(
        upgrade_with_protocols(&app, None).await,
        None,
        "a client that offers no sub-protocol gets none in the answer"
    );
    // ... and can still speak STOMP.
    StompClient::connect(&app, &alice.access_token).await;
}

async fn socket_without_connect_is_closed_at_the_connect_deadline(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.connect_timeout = Duration::from_secs(1)
    })
    .await;
    let mut client = StompClient::open(&app).await;
    let started = Instant::now();
    let frames = client.expect_closed_within(Duration::from_secs(6)).await;
    let waited = started.elapsed();
    assert!(
        frames.iter().all(|f| f.command == "ERROR"),
        "a socket that never sent CONNECT may get an ERROR, nothing else: {frames:?}"
    );
    assert!(
        waited >= Duration::from_millis(500),
        "the server must wait for CONNECT_TIMEOUT_SECS (1 s), it closed after {waited:?}"
    );
}

async fn connected_session_outlives_the_connect_deadline(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.connect_timeout = Duration::from_secs(1)
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .expect_no_frame_for(Duration::from_millis(1500))
        .await;
    let receipt = client.send_chat("general", "still here", "r1").await;
    assert_eq!(
        receipt.seq(),
        1,
        "the session keeps working after the CONNECT deadline"
    );
}
