//! Sessions (README, "Accounts"): every signup and login is a session that
//! its user lists and can sign out; signing one out (or logging it out)
//! revokes its refresh tokens, refuses its access tokens and ends its live
//! STOMP sessions (ERROR `session revoked`), SSE streams and long polls.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::db::Backend;
use crate::helpers::{
    TestApp, TestUser, on_both_backends, refused, spawn_app, spawn_app_with, status,
};
use crate::membership::Sse;
use stomp_client::StompClient;

/// How soon an ended session's connections must end.
const END_WITHIN: Duration = Duration::from_secs(2);

on_both_backends!(
    every_login_is_a_session_listed_with_the_current_one_marked,
    signing_a_session_out_revokes_its_tokens_and_only_its_own,
    only_the_callers_own_open_sessions_can_be_signed_out,
    an_ended_sessions_stomp_session_gets_session_revoked,
    an_ended_sessions_streams_and_long_polls_end,
    refreshing_keeps_the_session_and_marks_it_used,
    logging_out_refuses_the_sessions_access_token,
    many_sessions_signed_out_at_once_all_end,
    a_used_session_is_marked_active_at_most_once_an_interval,
    a_live_connection_keeps_its_session_active,
);

/// Logs `user` in again with `agent` as its User-Agent; (access, refresh).
async fn login_as(app: &TestApp, user: &TestUser, agent: &str) -> (String, String) {
    let r = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("user-agent", agent)
        .json(&json!({"username": user.username, "password": user.password}))
        .send()
        .await
        .unwrap();
    let body = status(&TestApp::reply(r).await, 200, "login");
    let token = |k: &str| body[k].as_str().unwrap().to_string();
    (token("access_token"), token("refresh_token"))
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/v1/me/sessions", token).await;
    let body = status(&r, 200, "list sessions");
    body["sessions"].as_array().unwrap().clone()
}

/// The id of the session `token` belongs to (the one marked current).
async fn session_id(app: &TestApp, token: &str) -> i64 {
    let list = sessions(app, token).await;
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "one current session: {list:?}");
    current[0]["id"].as_i64().unwrap()
}

async fn end_session(app: &TestApp, token: &str, id: impl std::fmt::Display) -> u16 {
    let path = format!("/api/v1/me/sessions/{id}");
    let r = app.request(Method::DELETE, &path, Some(token), None).await;
    r.status.as_u16()
}

async fn every_login_is_a_session_listed_with_the_current_one_marked(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (phone, _) = login_as(&app, &alice, "PhoneBrowser/1.0").await;
    let (laptop, _) = login_as(&app, &alice, "LaptopBrowser/2.0").await;
    let bob = app.signup("bob").await;

    let list = sessions(&app, &laptop).await;
    assert_eq!(list.len(), 3, "signup and two logins: {list:?}");
    for s in &list {
        let mut keys: Vec<_> = s.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at", "current", "id", "last_used_at", "user_agent"],
            "{s}"
        );
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'), "{s}");
    }
    assert_eq!(
        list[0]["user_agent"], "LaptopBrowser/2.0",
        "most recently used first: {list:?}"
    );
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["user_agent"], "PhoneBrowser/1.0");
    assert!(list[1..].iter().all(|s| s["current"] == false), "{list:?}");
    let phone_id = session_id(&app, &phone).await;
    assert_eq!(phone_id, list[1]["id"].as_i64().unwrap());
    assert_eq!(
        sessions(&app, &bob.access_token).await.len(),
        1,
        "bob sees only his own"
    );
    let r = app
        .client
        .get(format!("{}/api/v1/me/sessions", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the list needs a token");
}

async fn signing_a_session_out_revokes_its_tokens_and_only_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (other, other_refresh) = login_as(&app, &alice, "Other/1").await;
    let other_id = session_id(&app, &other).await;

    assert_eq!(end_session(&app, &alice.access_token, other_id).await, 204);
    refused(
        &app.get("/api/v1/me", &other).await,
        401,
        "unauthorized",
        "the ended session's access token",
    );
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other_refresh}),
        )
        .await;
    refused(
        &r,
        401,
        "invalid_refresh_token",
        "the ended session's refresh token",
    );
    status(
        &app.get("/api/v1/me", &alice.access_token).await,
        200,
        "the caller's own session goes on",
    );
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh_token}),
        )
        .await;
    status(&r, 200, "the caller's refresh token still works");
    let list = sessions(&app, &alice.access_token).await;
    assert_eq!(list.len(), 1, "the ended session is gone: {list:?}");
    assert_eq!(
        end_session(&app, &alice.access_token, other_id).await,
        404,
        "ended once"
    );

    // Signing one's own session out is signing out.
    let own = session_id(&app, &alice.access_token).await;
    assert_eq!(end_session(&app, &alice.access_token, own).await, 204);
    refused(
        &app.get("/api/v1/me", &alice.access_token).await,
        401,
        "unauthorized",
        "signed out",
    );
}

async fn only_the_callers_own_open_sessions_can_be_signed_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let bobs = session_id(&app, &bob.access_token).await;
    assert_eq!(
        end_session(&app, &alice.access_token, bobs).await,
        404,
        "another user's session"
    );
    status(
        &app.get("/api/v1/me", &bob.access_token).await,
        200,
        "bob is still signed in",
    );
    assert_eq!(end_session(&app, &alice.access_token, 999_999).await, 404);
    assert_eq!(end_session(&app, &alice.access_token, "abc").await, 404);
    let r = app
        .request(Method::DELETE, "/api/v1/me/sessions/1", None, None)
        .await;
    refused(&r, 401, "unauthorized", "no token");
}

async fn an_ended_sessions_stomp_session_gets_session_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (other, _) = login_as(&app, &alice, "Other/1").await;
    let other_id = session_id(&app, &other).await;
    let mut ended = StompClient::connect(&app, &other).await;
    ended.subscribe("s", "general").await;
    let mut kept = StompClient::connect(&app, &alice.access_token).await;
    kept.subscribe("s", "general").await;

    let start = Instant::now();
    assert_eq!(end_session(&app, &alice.access_token, other_id).await, 204);
    let error = ended.expect_error_then_close().await;
    assert!(
        start.elapsed() <= END_WITHIN,
        "ended after {:?}",
        start.elapsed()
    );
    assert_eq!(
        error.header("message").as_deref(),
        Some("session revoked"),
        "{error}"
    );
    let receipt = kept.send_chat("general", "still here", "r1").await;
    assert_eq!(receipt.seq(), 1, "the other session goes on");
    kept.expect_message().await;

    let mut again = StompClient::open(&app).await;
    again.send(stomp_client::connect_frame(&other)).await;
    let refused = again.expect_error_then_close().await;
    assert_eq!(
        refused.header("message").as_deref(),
        Some("authentication failed"),
        "the ended session's token cannot CONNECT again: {refused}"
    );
}

async fn an_ended_sessions_streams_and_long_polls_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (other, _) = login_as(&app, &alice, "Other/1").await;
    let other_id = session_id(&app, &other).await;
    let as_other = TestUser {
        access_token: other.clone(),
        ..alice.clone()
    };
    let mut room_stream = Sse::open(&app, &as_other, "general", None).await;
    let mut kept_stream = Sse::open(&app, &alice, "general", None).await;
    let mut me_stream = app
        .client
        .get(format!("{}/api/v1/me/events", app.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(me_stream.status(), 200);
    let poll = {
        let (client, token) = (app.client.clone(), other.clone());
        let url = format!("{}/api/v1/rooms/general/messages?after=0&wait=10", app.base);
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            r.status().as_u16()
        })
    };
    // The poll is held before the session ends.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(end_session(&app, &alice.access_token, other_id).await, 204);
    let start = Instant::now();
    let got = room_stream.until_end(END_WITHIN).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "error");
    assert_eq!(got[0].2, json!({"code": "session_revoked"}));
    let mut text = String::new();
    while !text.contains("session_revoked") {
        let left = END_WITHIN.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, me_stream.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("/me/events ended without session_revoked: {other:?} {text}"),
        }
    }
    assert!(text.contains("event: error"), "{text}");
    let status = tokio::time::timeout(END_WITHIN, poll).await;
    assert_eq!(status.expect("the poll ends").unwrap(), 401);
    assert!(start.elapsed() <= END_WITHIN + Duration::from_millis(500));
    kept_stream.expect_quiet(Duration::from_millis(300)).await;
}

async fn refreshing_keeps_the_session_and_marks_it_used(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let before = sessions(&app, &alice.access_token).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh_token}),
        )
        .await;
    let body = status(&r, 200, "refresh");
    let token = body["access_token"].as_str().unwrap();
    let after = sessions(&app, token).await;
    assert_eq!(after.len(), 1, "still one session: {after:?}");
    assert_eq!(after[0]["id"], before[0]["id"], "the same session");
    assert_eq!(after[0]["current"], true, "the new token names it");
    assert_eq!(after[0]["created_at"], before[0]["created_at"]);
    assert!(
        after[0]["last_used_at"].as_str() > before[0]["last_used_at"].as_str(),
        "{before:?} then {after:?}"
    );
}

async fn logging_out_refuses_the_sessions_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (other, other_refresh) = login_as(&app, &alice, "Other/1").await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": other_refresh}),
        )
        .await;
    assert_eq!(r.status, 204);
    refused(
        &app.get("/api/v1/me", &other).await,
        401,
        "unauthorized",
        "the logged-out session's access token",
    );
    status(
        &app.get("/api/v1/me", &alice.access_token).await,
        200,
        "the other session goes on",
    );
}

/// Many sessions signed out by concurrent requests: each ends once, every
/// token of theirs is refused, and the caller's goes on.
async fn many_sessions_signed_out_at_once_all_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mut logins = Vec::new();
    for i in 0..8 {
        logins.push(login_as(&app, &alice, &format!("Agent/{i}")).await);
    }
    let mut ids = Vec::new();
    for (access, _) in &logins {
        ids.push(session_id(&app, access).await);
    }
    // Each id twice, all at once: one 204 and one 404 each.
    let ends = ids
        .iter()
        .chain(ids.iter())
        .map(|id| end_session(&app, &alice.access_token, id));
    let mut codes = join_all(ends).await;
    codes.sort();
    assert_eq!(codes, [[204; 8], [404; 8]].concat());
    for (access, refresh) in &logins {
        assert_eq!(app.get("/api/v1/me", access).await.status, 401);
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(sessions(&app, &alice.access_token).await.len(), 1);
}

/// An app writing sessions' "last active" time every 200 ms.
async fn spawn_app_active(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.session_activity = Duration::from_millis(200)).await
}

/// Session `id`'s `last_used_at`, as `token` lists it.
async fn last_used(app: &TestApp, token: &str, id: i64) -> String {
    let list = sessions(app, token).await;
    let found = list.iter().find(|s| s["id"] == id);
    let found = found.unwrap_or_else(|| panic!("session {id} listed: {list:?}"));
    found["last_used_at"].as_str().unwrap().to_string()
}

/// The id of `user`'s session other than the one `token` belongs to,
/// found without using that other session.
async fn other_session(app: &TestApp, token: &str) -> i64 {
    let list = sessions(app, token).await;
    let others: Vec<_> = list.iter().filter(|s| s["current"] == false).collect();
    assert_eq!(others.len(), 1, "one other session: {list:?}");
    others[0]["id"].as_i64().unwrap()
}

/// Waits (at most 5 s) until session `id` was last used after `since`.
async fn moved_past(app: &TestApp, token: &str, id: i64, since: &str) -> String {
    for _ in 0..50 {
        let now = last_used(app, token, id).await;
        if now.as_str() > since {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("session {id}'s last_used_at never moved past {since}");
}

async fn a_used_session_is_marked_active_at_most_once_an_interval(backend: Backend) {
    // The default interval (a minute): many uses, and no write yet.
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let id = session_id(&app, &alice.access_token).await;
    let signed_up = last_used(&app, &alice.access_token, id).await;
    for _ in 0..20 {
        status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    }
    assert_eq!(
        last_used(&app, &alice.access_token, id).await,
        signed_up,
        "no write per request: uses are written once a minute"
    );

    // A short interval: a use moves it, the unused session stays.
    let app = spawn_app_active(backend).await;
    let alice = app.signup("alice").await;
    login_as(&app, &alice, "Other/1").await;
    let id = session_id(&app, &alice.access_token).await;
    let other_id = other_session(&app, &alice.access_token).await;
    let other_before = last_used(&app, &alice.access_token, other_id).await;
    let before = last_used(&app, &alice.access_token, id).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    let after = moved_past(&app, &alice.access_token, id, &before).await;
    assert!(after > before, "{before} then {after}");
    assert_eq!(
        last_used(&app, &alice.access_token, other_id).await,
        other_before,
        "a session not used since stays as it was"
    );
    // Sessions are listed most recently used first.
    let list = sessions(&app, &alice.access_token).await;
    assert_eq!(list[0]["id"], id, "{list:?}");
}

async fn a_live_connection_keeps_its_session_active(backend: Backend) {
    let app = spawn_app_active(backend).await;
    let alice = app.signup("alice").await;
    let (other, _) = login_as(&app, &alice, "Other/1").await;
    let other_id = other_session(&app, &alice.access_token).await;
    let first = last_used(&app, &alice.access_token, other_id).await;
    // No request with `other`: only its live connection.
    let stomp = StompClient::connect(&app, &other).await;
    let second = moved_past(&app, &alice.access_token, other_id, &first).await;
    let third = moved_past(&app, &alice.access_token, other_id, &second).await;
    assert!(third > first, "{first}, {second}, {third}");
    stomp.close().await;
    // Once closed (and a write or two later) it stays.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let closed = last_used(&app, &alice.access_token, other_id).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        last_used(&app, &alice.access_token, other_id).await,
        closed,
        "a closed connection no longer marks its session used"
    );
}
