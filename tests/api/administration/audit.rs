//! The audit log: an entry for every moderation and administration action,
//! written with the action (none for a refused one), append-only.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ADMIN, app, audit, call, entries};
use crate::db::Backend;
use crate::helpers::{on_both_backends, refused, status};
use crate::membership::{ban, delete_room, join, remove, say, set_role, unban};

on_both_backends!(
    every_moderation_action_is_audited,
    refused_actions_leave_no_entry,
    rooms_show_their_own_entries_to_moderators,
    the_log_is_append_only_and_paged,
);

/// `(action, actor, room, target, detail)` with JSON values.
fn entry(
    action: &str,
    actor: &str,
    room: Value,
    target: Value,
    detail: Value,
) -> (String, Value, Value, Value, Value) {
    (action.into(), json!(actor), room, target, detail)
}

async fn every_moderation_action_is_audited(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "hall", false).await;
    for who in [&bob, &carol] {
        join(&app, who, "hall").await;
    }
    status(
        &set_role(&app, &alice, "hall", "bob", "moderator").await,
        200,
        "role",
    );
    let own = say(&app, &carol, "hall", "mine").await["seq"]
        .as_i64()
        .unwrap();
    let theirs = say(&app, &carol, "hall", "theirs").await["seq"]
        .as_i64()
        .unwrap();
    // Carol deleting her own message is not moderation.
    let delete = |seq: i64| format!("/api/v1/rooms/hall/messages/{seq}");
    status(
        &call(&app, &carol, Method::DELETE, &delete(own), None).await,
        200,
        "own",
    );
    status(
        &call(&app, &bob, Method::DELETE, &delete(theirs), None).await,
        200,
        "by bob",
    );
    assert_eq!(
        remove(&app, &bob, "hall", "carol").await.status,
        204,
        "remove"
    );
    status(&ban(&app, &bob, "hall", "carol").await, 200, "ban");
    assert_eq!(
        unban(&app, &bob, "hall", "carol").await.status,
        204,
        "unban"
    );
    assert_eq!(
        delete_room(&app, &alice, "hall").await.status,
        204,
        "delete room"
    );

    let log = status(&audit(&app, &root).await, 200, "audit");
    let hall = json!("hall");
    assert_eq!(
        entries(&log),
        [
            entry(
                "room_deleted",
                "alice",
                hall.clone(),
                json!(null),
                json!(null)
            ),
            entry(
                "member_unbanned",
                "bob",
                hall.clone(),
                json!("carol"),
                json!(null)
            ),
            entry(
                "member_banned",
                "bob",
                hall.clone(),
                json!("carol"),
                json!(null)
            ),
            entry(
                "member_removed",
                "bob",
                hall.clone(),
                json!("carol"),
                json!(null)
            ),
            entry(
                "message_deleted",
                "bob",
                hall.clone(),
                json!("carol"),
                json!(format!("message {theirs}"))
            ),
            entry(
                "role_changed",
                "alice",
                hall,
                json!("bob"),
                json!("moderator")
            ),
        ],
        "{log}"
    );
    let first = &log["entries"][0];
    for key in ["id", "at", "actor", "action", "room", "target", "detail"] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
}

async fn refused_actions_leave_no_entry(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "hall", false).await;
    for who in [&bob, &carol] {
        join(&app, who, "hall").await;
    }
    status(
        &set_role(&app, &alice, "hall", "bob", "moderator").await,
        200,
        "role",
    );
    let seq = say(&app, &alice, "hall", "owner's").await["seq"]
        .as_i64()
        .unwrap();
    let before = entries(&status(&audit(&app, &root).await, 200, "audit")).len();

    // A member deletes, removes, bans nobody; a moderator bans no owner;
    // the owner gives nobody ownership; a second removal finds nobody.
    let path = format!("/api/v1/rooms/hall/messages/{seq}");
    refused(
        &call(&app, &carol, Method::DELETE, &path, None).await,
        403,
        "forbidden",
        "delete",
    );
    refused(
        &remove(&app, &carol, "hall", "bob").await,
        403,
        "forbidden",
        "remove",
    );
    refused(
        &ban(&app, &bob, "hall", "alice").await,
        403,
        "forbidden",
        "ban the owner",
    );
    refused(
        &set_role(&app, &bob, "hall", "carol", "moderator").await,
        403,
        "forbidden",
        "role",
    );
    refused(
        &delete_room(&app, &bob, "hall").await,
        403,
        "forbidden",
        "delete room",
    );
    assert_eq!(remove(&app, &alice, "hall", "carol").await.status, 204);
    refused(
        &remove(&app, &alice, "hall", "carol").await,
        404,
        "user_not_found",
        "again",
    );
    // Already so: nothing changes, nothing is written.
    status(
        &set_role(&app, &alice, "hall", "bob", "moderator").await,
        200,
        "same role",
    );
    status(
        &call(&app, &alice, Method::DELETE, &path, None).await,
        200,
        "own",
    );
    refused(
        &call(&app, &bob, Method::DELETE, &path, None).await,
        409,
        "message_deleted",
        "twice",
    );

    let after = entries(&status(&audit(&app, &root).await, 200, "audit"));
    assert_eq!(after.len(), before + 1, "only the one removal: {after:?}");
    assert_eq!(after[0].0, "member_removed");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log").await,
        after.len() as i64
    );
}

async fn rooms_show_their_own_entries_to_moderators(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "hall", false).await;
    app.create_room(&alice, "side", false).await;
    for room in ["hall", "side"] {
        join(&app, &bob, room).await;
        join(&app, &carol, room).await;
    }
    status(
        &set_role(&app, &alice, "hall", "bob", "moderator").await,
        200,
        "role",
    );
    status(
        &ban(&app, &alice, "side", "carol").await,
        200,
        "ban in side",
    );

    let hall = "/api/v1/rooms/hall/audit";
    refused(
        &app.get(hall, &carol.access_token).await,
        403,
        "forbidden",
        "member",
    );
    let log = status(&app.get(hall, &bob.access_token).await, 200, "moderator");
    let actions: Vec<_> = entries(&log).into_iter().map(|e| e.0).collect();
    assert_eq!(actions, ["role_changed"], "hall's only: {log}");
    let side = status(
        &app.get("/api/v1/rooms/side/audit", &alice.access_token)
            .await,
        200,
        "owner",
    );
    assert_eq!(entries(&side)[0].0, "member_banned");
    refused(
        &app.get("/api/v1/admin/audit", &alice.access_token).await,
        403,
        "forbidden",
        "a room owner is no administrator",
    );
    // A banned user sees no room at all.
    refused(
        &app.get("/api/v1/rooms/side/audit", &carol.access_token)
            .await,
        404,
        "room_not_found",
        "banned",
    );
}

async fn the_log_is_append_only_and_paged(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "hall", false).await;
    join(&app, &bob, "hall").await;
    for role in ["moderator", "member", "moderator"] {
        status(
            &set_role(&app, &alice, "hall", "bob", role).await,
            200,
            role,
        );
    }
    let page = status(
        &app.get("/api/v1/admin/audit?limit=2", &root.access_token)
            .await,
        200,
        "page 1",
    );
    let got = entries(&page);
    assert_eq!(got.len(), 2);
    let last = page["entries"][1]["id"].as_i64().unwrap();
    let next = status(
        &app.get(
            &format!("/api/v1/admin/audit?before={last}"),
            &root.access_token,
        )
        .await,
        200,
        "page 2",
    );
    assert_eq!(entries(&next).len(), 1);
    assert_eq!(next["entries"][0]["detail"], "moderator");
    for bad in ["?limit=0", "?limit=201", "?limit=x", "?before=-1"] {
        let r = app
            .get(&format!("/api/v1/admin/audit{bad}"), &root.access_token)
            .await;
        refused(&r, 400, "invalid_query", bad);
    }
    // No route changes or deletes entries.
    for method in [Method::DELETE, Method::PUT, Method::PATCH] {
        let r = call(&app, &root, method, "/api/v1/admin/audit", None).await;
        assert_eq!(r.status, 405, "{:?}", r.body);
    }
    // Nor does the database itself let anyone.
    let url = app.state.config.database_url.clone();
    let refused_sql = |sql: &'static str| {
        let url = url.clone();
        async move {
            use sqlx::Connection;
            if url.starts_with("postgres") {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.is_err()
            } else {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.is_err()
            }
        }
    };
    assert!(
        refused_sql("UPDATE audit_log SET action = 'x'").await,
        "update refused"
    );
    assert!(refused_sql("DELETE FROM audit_log").await, "delete refused");
    assert_eq!(app.count("SELECT count(*) FROM audit_log").await, 3);
}
