//! `GET /me/export`: the profile, the rooms and every message the caller
//! sent that still exists, streamed in chunks.

use serde_json::{Value, json};

use super::patch_me;
use crate::db::Backend;
use crate::helpers::{on_both_backends, refused, spawn_app_unthrottled, status};
use crate::membership::{join, say};

on_both_backends!(the_export_streams_the_profile_rooms_and_every_message_still_there);

async fn the_export_streams_the_profile_rooms_and_every_message_still_there(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    status(
        &patch_me(
            &app,
            &alice,
            json!({"display_name": "Alice", "status": "exporting"}),
        )
        .await,
        200,
        "profile",
    );
    app.create_room(&bob, "general", false).await;
    status(&join(&app, &alice, "general").await, 200, "join");
    app.create_room(&alice, "mine", true).await;
    app.create_room(&bob, "elsewhere", false).await;
    // Many messages: more than a page of the export and of a chunk.
    let many = 2_345;
    app.store_messages("mine", &alice, many).await;
    let kept = say(&app, &alice, "general", "kept in general").await;
    let gone = say(&app, &alice, "general", "deleted before the export").await;
    let path = format!("/api/v1/rooms/general/messages/{}", gone["seq"]);
    let r = app
        .request(
            reqwest::Method::DELETE,
            &path,
            Some(&alice.access_token),
            None,
        )
        .await;
    status(&r, 200, "delete one");
    say(&app, &bob, "general", "bob's, not alice's").await;

    let resp = app
        .client
        .get(format!("{}/api/v1/me/export", app.base))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{headers:?}"
    );
    assert!(
        headers.get("content-length").is_none(),
        "streamed, not built whole: {headers:?}"
    );
    assert_eq!(
        headers["transfer-encoding"].to_str().unwrap(),
        "chunked",
        "{headers:?}"
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "{headers:?}"
    );
    let mut resp = resp;
    let mut chunks = 0;
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(chunks > 1, "arrived in more than one chunk");
    let export: Value = serde_json::from_slice(&bytes).expect("one JSON document");

    assert_eq!(export["user"]["username"], "alice");
    assert_eq!(export["user"]["display_name"], "Alice");
    assert_eq!(export["user"]["status"], "exporting");
    assert!(export["exported_at"].is_string());
    let mut rooms: Vec<&str> = export["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    rooms.sort();
    assert_eq!(rooms, ["general", "mine"], "the rooms alice belongs to");
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        many + 1,
        "every message alice sent that still exists"
    );
    assert!(
        messages
            .iter()
            .all(|m| m["sender"] == "alice" && m["type"] == "message")
    );
    assert!(
        messages.iter().all(|m| m["deleted"] == false),
        "no deleted message"
    );
    let ids: Vec<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest first, each once"
    );
    assert_eq!(messages.last().unwrap()["body"], kept["body"]);
    assert_eq!(messages[0]["body"], "message 1");

    let r = app
        .request(reqwest::Method::GET, "/api/v1/me/export", None, None)
        .await;
    refused(&r, 401, "unauthorized", "without a token");
}
