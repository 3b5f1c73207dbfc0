//! `GET /api/v1/config`: the limits a client reads instead of restating
//! them (README, "REST API", `GET /config`).

use serde_json::json;

use crate::db::Backend;
use crate::helpers::{on_sqlite, spawn_app_with, status};

on_sqlite!(
    config_answers_the_configured_body_limit_without_authentication,
    config_lists_what_each_role_may_do,
);

async fn config_answers_the_configured_body_limit_without_authentication(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.max_body_bytes = 1234).await;
    let r = app
        .client
        .get(format!("{}/api/v1/config", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no token needed");
    let config: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        config["max_body_bytes"], 1234,
        "a non-default MAX_BODY_BYTES shows: {config}"
    );

    // The number is the one the server enforces.
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let post = |body: String| {
        app.post(
            "/api/v1/rooms/general/messages",
            Some(&alice.access_token),
            json!({ "body": body }),
        )
    };
    status(&post("x".repeat(1234)).await, 201, "a body at the limit");
    let over = post("x".repeat(1235)).await;
    assert_eq!(
        (over.status.as_u16(), over.code()),
        (400, "invalid_body"),
        "a body one byte over the advertised limit: {:?}",
        over.body
    );
}

async fn config_lists_what_each_role_may_do(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let r = app
        .client
        .get(format!("{}/api/v1/config", app.base))
        .send()
        .await
        .unwrap();
    let config: serde_json::Value = r.json().await.unwrap();
    let permissions = &config["permissions"];
    assert_eq!(
        permissions["moderator"]["remove"],
        json!(["member"]),
        "moderators remove members only: {permissions}"
    );
    assert_eq!(
        permissions["owner"]["set_role"],
        json!(["moderator", "member"])
    );
    assert_eq!(
        permissions["member"]["ban"],
        json!([]),
        "members ban nobody"
    );
    assert_eq!(
        (
            &permissions["owner"]["manage_integrations"],
            &permissions["moderator"]["manage_integrations"],
            &permissions["member"]["manage_integrations"],
        ),
        (&json!(true), &json!(true), &json!(false)),
        "owners and moderators manage webhooks and commands: {permissions}"
    );
    assert_eq!(config["max_body_bytes"], 4096, "the default");
    assert_eq!(config["search"]["min_query_chars"], 2);
}
