//! Administrators (`ADMIN_USERS`) and deactivation.

use reqwest::Method;
use serde_json::json;

use super::{ADMIN, app, audit, call, entries};
use crate::db::Backend;
use crate::helpers::{on_both_backends, refused, status};

on_both_backends!(
    only_administrators_use_the_admin_routes,
    administrators_are_shown_to_everyone,
    deactivation_refuses_login_and_refresh_until_reactivated,
    users_are_searched_and_paged_newest_first,
);

async fn only_administrators_use_the_admin_routes(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let bob = app.signup("bob").await;
    let gets = [
        "/api/v1/admin/users",
        "/api/v1/admin/reports",
        "/api/v1/admin/audit",
    ];
    for path in gets {
        refused(
            &app.get(path, &bob.access_token).await,
            403,
            "forbidden",
            path,
        );
        status(&app.get(path, &root.access_token).await, 200, path);
    }
    let posts = [
        ("/api/v1/admin/users/root/deactivate", None),
        ("/api/v1/admin/users/root/reactivate", None),
        (
            "/api/v1/admin/reports/1/resolve",
            Some(json!({"action": "dismissed"})),
        ),
    ];
    for (path, body) in posts {
        let r = call(&app, &bob, Method::POST, path, body).await;
        refused(&r, 403, "forbidden", path);
    }
    // Nothing was done by the refused calls.
    let log = status(&audit(&app, &root).await, 200, "audit");
    assert!(entries(&log).is_empty(), "no entries: {log}");
    // Unknown users and reports are 404 for an administrator.
    let r = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/admin/users/nobody/deactivate",
        None,
    )
    .await;
    refused(&r, 404, "user_not_found", "unknown user");
    let r = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/admin/reports/99/resolve",
        Some(json!({"action": "dismissed"})),
    )
    .await;
    refused(&r, 404, "not_found", "unknown report");
}

async fn administrators_are_shown_to_everyone(backend: Backend) {
    let app = app(backend).await;
    // ADMIN_USERS matches in any letter case.
    let root = app.signup("Root").await;
    let bob = app.signup("bob").await;
    let me = status(&app.get("/api/v1/me", &root.access_token).await, 200, "me");
    assert_eq!(me["admin"], true, "{me}");
    let me = status(&app.get("/api/v1/me", &bob.access_token).await, 200, "me");
    assert!(me.get("admin").is_none(), "not an administrator: {me}");
    app.create_room(&root, "hall", false).await;
    crate::membership::join(&app, &bob, "hall").await;
    let members = status(
        &app.get("/api/v1/rooms/hall/members", &bob.access_token)
            .await,
        200,
        "members",
    );
    let shown: Vec<(String, bool)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_string(),
                m["admin"] == true,
            )
        })
        .collect();
    assert_eq!(shown, [("bob".into(), false), ("Root".into(), true)]);
}

async fn deactivation_refuses_login_and_refresh_until_reactivated(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let bob = app.signup("bob").await;
    status(
        &app.get("/api/v1/me", &bob.access_token).await,
        200,
        "before",
    );
    let deactivate = "/api/v1/admin/users/BOB/deactivate";
    for _ in 0..2 {
        let r = call(&app, &root, Method::POST, deactivate, None).await;
        assert_eq!(r.status, 204, "deactivate (idempotent): {:?}", r.body);
    }
    let r = app.get("/api/v1/me", &bob.access_token).await;
    refused(
        &r,
        401,
        "unauthorized",
        "bob's access token is refused at once",
    );
    let login = |password: &str| json!({"username": "bob", "password": password});
    let r = app
        .post("/api/v1/auth/login", None, login(&bob.password))
        .await;
    refused(
        &r,
        403,
        "account_deactivated",
        "login with the right password",
    );
    let r = app
        .post("/api/v1/auth/login", None, login("not-the-password"))
        .await;
    refused(
        &r,
        401,
        "invalid_credentials",
        "a wrong password tells nothing",
    );
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": bob.refresh_token}),
        )
        .await;
    refused(&r, 403, "account_deactivated", "refresh");

    let users = status(
        &app.get("/api/v1/admin/users?q=bo", &root.access_token)
            .await,
        200,
        "users",
    );
    assert_eq!(users["users"][0]["username"], "bob", "{users}");
    assert_eq!(users["users"][0]["deactivated"], true, "{users}");
    assert_eq!(users["has_more"], false);

    let reactivate = "/api/v1/admin/users/bob/reactivate";
    let r = call(&app, &root, Method::POST, reactivate, None).await;
    assert_eq!(r.status, 204, "reactivate: {:?}", r.body);
    let r = app
        .post("/api/v1/auth/login", None, login(&bob.password))
        .await;
    status(&r, 200, "login after reactivation");

    // One entry per change, not per call.
    let log = status(&audit(&app, &root).await, 200, "audit");
    let found: Vec<_> = entries(&log)
        .into_iter()
        .map(|(action, actor, room, target, _)| (action, actor, room, target))
        .collect();
    assert_eq!(
        found,
        [
            (
                "user_reactivated".into(),
                json!("root"),
                json!(null),
                json!("bob")
            ),
            (
                "user_deactivated".into(),
                json!("root"),
                json!(null),
                json!("bob")
            ),
        ]
    );
}

async fn users_are_searched_and_paged_newest_first(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    // Straight into the store: 60 password hashes would only be slow.
    for i in 0..60 {
        let name = parley::domain::Username::parse(&format!("user_{i:02}")).unwrap();
        app.state.store.create_user(&name, "x").await.unwrap();
    }
    let page = |query: String| {
        let app = &app;
        let token = root.access_token.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/admin/users{query}"), &token)
                .await;
            status(&r, 200, "users")
        }
    };
    let first = page(String::new()).await;
    let users = first["users"].as_array().unwrap();
    assert_eq!(users.len(), 50);
    assert_eq!(first["has_more"], true);
    assert_eq!(users[0]["username"], "user_59", "newest first");
    for u in users {
        for key in ["id", "username", "created_at", "deactivated"] {
            assert!(u.get(key).is_some(), "{key} in {u}");
        }
    }
    let last = users[49]["id"].as_i64().unwrap();
    let second = page(format!("?before={last}")).await;
    let rest = second["users"].as_array().unwrap();
    assert_eq!(rest.len(), 11, "10 more users and root");
    assert_eq!(second["has_more"], false);
    assert_eq!(rest[10]["username"], "root");
    assert_eq!(rest[10]["admin"], true);

    // `_` is a character, not a wildcard; any letter case.
    let found = page("?q=USER_0".into()).await;
    assert_eq!(found["users"].as_array().unwrap().len(), 10, "{found}");
    let found = page("?q=r%25".into()).await;
    assert_eq!(found["users"].as_array().unwrap().len(), 0, "{found}");
    for bad in ["?before=x", "?before=0", &format!("?q={}", "a".repeat(65))] {
        let r = app
            .get(&format!("/api/v1/admin/users{bad}"), &root.access_token)
            .await;
        refused(&r, 400, "invalid_query", bad);
    }
}
