//! Room history paging: the README, "REST API" (messages route).

use serde_json::Value;

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};

on_both_backends!(
    history_pages_backwards_and_forwards,
    history_message_has_the_contract_shape,
    history_rejects_invalid_queries,
    public_history_needs_no_membership,
);

fn seqs(body: &Value) -> Vec<i64> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

async fn history_pages_backwards_and_forwards(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let t = &alice.access_token;
    let empty = app.get("/api/v1/rooms/general/messages", t).await;
    assert_eq!(
        (seqs(&empty.body).len(), empty.body["has_more"].clone()),
        (0, Value::Bool(false))
    );
    app.store_messages("general", &alice, 60).await;

    let latest = app.get("/api/v1/rooms/general/messages", t).await;
    assert_eq!(latest.status, 200);
    assert_eq!(
        seqs(&latest.body),
        (11..=60).collect::<Vec<_>>(),
        "latest 50, ascending"
    );
    assert_eq!(latest.body["has_more"], true);

    let older = app
        .get("/api/v1/rooms/general/messages?before=11&limit=20", t)
        .await;
    assert_eq!(seqs(&older.body), (1..=10).collect::<Vec<_>>());
    assert_eq!(older.body["has_more"], false, "nothing before seq 1");

    let mid = app
        .get("/api/v1/rooms/general/messages?before=30&limit=5", t)
        .await;
    assert_eq!(seqs(&mid.body), [25, 26, 27, 28, 29]);
    assert_eq!(mid.body["has_more"], true);

    let after = app
        .get("/api/v1/rooms/general/messages?after=50&limit=5", t)
        .await;
    assert_eq!(seqs(&after.body), [51, 52, 53, 54, 55]);
    assert_eq!(after.body["has_more"], true, "newer ones remain");

    let tail = app
        .get("/api/v1/rooms/general/messages?after=55&limit=5", t)
        .await;
    assert_eq!(seqs(&tail.body), [56, 57, 58, 59, 60]);
    assert_eq!(tail.body["has_more"], false, "exactly at the end");

    let gap_fill = app
        .get("/api/v1/rooms/general/messages?after=0&limit=200", t)
        .await;
    assert_eq!(seqs(&gap_fill.body), (1..=60).collect::<Vec<_>>());
    assert_eq!(gap_fill.body["has_more"], false);

    let exact = app.get("/api/v1/rooms/general/messages?limit=60", t).await;
    assert_eq!(exact.body["has_more"], false, "all 60 fit");
}

async fn history_message_has_the_contract_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 1).await;
    let r = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    let m = &r.body["messages"][0];
    let keys: Vec<_> = m.as_object().unwrap().keys().cloned().collect();
    let mut expected = [
        "attachments",
        "body",
        "client_id",
        "created_at",
        "deleted",
        "edited_at",
        "id",
        "mentions",
        "reactions",
        "reply_to",
        "room",
        "sender",
        "seq",
        "type",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected);
    assert_eq!(m["room"], "general");
    assert_eq!(m["sender"], "alice");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["body"], "message 1");
    assert_eq!(m["client_id"], Value::Null);
    assert_eq!(m["type"], "message");
    assert_eq!(m["reply_to"], Value::Null);
    assert_eq!(m["edited_at"], Value::Null);
    assert_eq!(m["deleted"], false);
    assert_eq!(m["mentions"], serde_json::json!([]));
    assert_eq!(m["reactions"], serde_json::json!([]));
    let ts = m["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "{ts}"
    );
}

async fn history_rejects_invalid_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for q in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=1.5",
        "before=1&after=2",
        "before=-1",
        "after=x",
        "limit=",
    ] {
        let r = app
            .get(
                &format!("/api/v1/rooms/general/messages?{q}"),
                &alice.access_token,
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_query"),
            "query {q}"
        );
    }
    for q in ["limit=1", "limit=200", "before=5", "after=0"] {
        let r = app
            .get(
                &format!("/api/v1/rooms/general/messages?{q}"),
                &alice.access_token,
            )
            .await;
        assert_eq!(r.status, 200, "query {q}");
    }
}

async fn public_history_needs_no_membership(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 3).await;
    let r = app
        .get("/api/v1/rooms/general/messages", &bob.access_token)
        .await;
    assert_eq!(seqs(&r.body), [1, 2, 3]);
}
