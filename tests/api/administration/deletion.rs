//! An administrator deletes an account (`DELETE /admin/users/{username}`):
//! as the user's own deletion (logins and live connections end, what they
//! wrote is erased, their rooms are handed on, the name stays reserved),
//! with a `user_deleted` entry in the audit log, written with the closing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use stomp_client::StompClient;

use super::{ADMIN, app, audit, call, entries};
use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, refused, spawn_app_with, status};
use crate::membership::{Sse, get_room, join, say};

on_both_backends!(
    an_administrator_deletes_an_account_as_its_own_deletion,
    only_administrators_delete_accounts_and_each_once,
    an_administrator_may_delete_another_administrator_or_themself,
);

/// How soon the deleted user's live connections must end.
const END_WITHIN: Duration = Duration::from_secs(2);

async fn delete_user(app: &TestApp, who: &TestUser, username: &str) -> crate::helpers::Reply {
    let path = format!("/api/v1/admin/users/{username}");
    call(app, who, Method::DELETE, &path, None).await
}

/// The `user_deleted` entries of the audit log: (actor, target).
async fn deletions(app: &TestApp, admin: &TestUser) -> Vec<(Value, Value)> {
    let log = status(&audit(app, admin).await, 200, "audit");
    entries(&log)
        .into_iter()
        .filter(|(action, ..)| action == "user_deleted")
        .map(|(_, actor, room, target, _)| {
            assert_eq!(room, Value::Null, "an action on an account names no room");
            (actor, target)
        })
        .collect()
}

async fn an_administrator_deletes_an_account_as_its_own_deletion(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "hall", false).await;
    status(&join(&app, &bob, "hall").await, 200, "bob joins");
    let said = say(&app, &alice, "hall", "alice's words").await;
    let mut stomp = StompClient::connect(&app, &alice.access_token).await;
    let mut stream = Sse::open(&app, &alice, "hall", None).await;

    let r = delete_user(&app, &root, "ALICE").await;
    assert_eq!(r.status, 204, "deleted, in any letter case: {:?}", r.body);
    assert_eq!(r.body, Value::Null, "no body");

    let error = tokio::time::timeout(END_WITHIN, stomp.expect_error_then_close())
        .await
        .expect("alice's STOMP session ends within 2 s");
    assert_eq!(
        error.header("message").as_deref(),
        Some("session revoked"),
        "{error}"
    );
    let got = stream.until_end(END_WITHIN).await;
    assert_eq!(
        got.last().map(|e| (e.0.as_str(), &e.2)),
        Some(("error", &json!({"code": "session_revoked"}))),
        "alice's event stream ends with session_revoked: {got:?}"
    );
    crate::accounts::assert_account_closed(&app, &alice).await;

    // Her room passed to its other member; her message is erased.
    let room = status(&get_room(&app, &bob, "hall").await, 200, "hall");
    assert_eq!(room["owner"], "bob", "handed on: {room}");
    let page = status(
        &app.get("/api/v1/rooms/hall/messages", &bob.access_token)
            .await,
        200,
        "history",
    );
    let message = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == said["seq"])
        .cloned()
        .unwrap_or_else(|| panic!("the event stays: {page}"));
    assert_eq!(message["deleted"], true, "{message}");
    assert_eq!(message["body"], "", "{message}");
    let left = app
        .count("SELECT count(*) FROM messages WHERE body LIKE '%alice''s words%'")
        .await;
    assert_eq!(left, 0, "the text is gone from storage");

    assert_eq!(
        deletions(&app, &root).await,
        [(json!("root"), json!("alice"))],
        "one entry, by root, naming alice"
    );
    let listed = status(
        &app.get("/api/v1/admin/users?q=ali", &root.access_token)
            .await,
        200,
        "users",
    );
    assert_eq!(
        listed["users"],
        json!([]),
        "a deleted account is not listed"
    );
}

async fn only_administrators_delete_accounts_and_each_once(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;

    refused(
        &delete_user(&app, &bob, "alice").await,
        403,
        "forbidden",
        "bob is no administrator",
    );
    refused(
        &delete_user(&app, &alice, "alice").await,
        403,
        "forbidden",
        "not even of themself",
    );
    let r = app
        .request(Method::DELETE, "/api/v1/admin/users/alice", None, None)
        .await;
    refused(&r, 401, "unauthorized", "no token");
    refused(
        &delete_user(&app, &root, "nobody").await,
        404,
        "user_not_found",
        "an unknown user",
    );
    status(
        &app.get("/api/v1/me", &alice.access_token).await,
        200,
        "the refused calls left alice alone",
    );
    assert!(deletions(&app, &root).await.is_empty(), "no entry yet");

    // Many deletions of one account at once: one closes it, one entry.
    let tries = (0..8).map(|_| delete_user(&app, &root, "alice"));
    let replies = futures_util::future::join_all(tries).await;
    let mut codes: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    codes.sort();
    assert_eq!(codes, [204, 404, 404, 404, 404, 404, 404, 404], "{codes:?}");
    assert!(
        replies
            .iter()
            .filter(|r| r.status == 404)
            .all(|r| r.code() == "user_not_found"),
        "the others find no account"
    );
    refused(
        &delete_user(&app, &root, "alice").await,
        404,
        "user_not_found",
        "a deleted account, again",
    );
    assert_eq!(
        deletions(&app, &root).await,
        [(json!("root"), json!("alice"))],
        "exactly one entry: an action without its entry, or an entry without \
         its action, is impossible"
    );
}

async fn an_administrator_may_delete_another_administrator_or_themself(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.admins = parley::config::Administrators::parse("root, second");
        c.limits.send_rate = 0;
    })
    .await;
    let root = app.signup(ADMIN).await;
    let second = app.signup("second").await;

    let r = delete_user(&app, &root, "second").await;
    assert_eq!(r.status, 204, "another administrator: {:?}", r.body);
    crate::accounts::assert_account_closed(&app, &second).await;

    // As with `DELETE /me`, an administrator may close their own account.
    let r = delete_user(&app, &root, "root").await;
    assert_eq!(r.status, 204, "themself: {:?}", r.body);
    crate::accounts::assert_account_closed(&app, &root).await;
    let n = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'user_deleted'")
        .await;
    assert_eq!(n, 2, "both deletions are recorded");
}
