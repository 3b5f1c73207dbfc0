//! Reports of messages: who may report, read and resolve them.

use reqwest::Method;
use serde_json::json;

use super::{ADMIN, app, audit, call, entries, report};
use crate::db::Backend;
use crate::helpers::{on_both_backends, refused, status};
use crate::membership::{add_member, join, say, set_role};

on_both_backends!(
    a_message_is_reported_once_per_user,
    reports_are_only_for_messages_the_reporter_sees,
    moderators_read_and_resolve_their_rooms_reports,
    administrators_resolve_every_rooms_reports,
    reporting_at_once_stores_one_report,
);

async fn a_message_is_reported_once_per_user(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "hall", false).await;
    join(&app, &bob, "hall").await;
    let seq = say(&app, &alice, "hall", "buy now").await["seq"]
        .as_i64()
        .unwrap();

    let first = status(
        &report(&app, &bob, "hall", seq, "spam").await,
        201,
        "report",
    );
    assert_eq!(first["room"], "hall");
    assert_eq!(first["seq"], seq);
    assert_eq!(first["reporter"], "bob");
    assert_eq!(first["reason"], "spam");
    assert_eq!(first["resolved"], false);
    assert_eq!(first["action"], json!(null));
    assert!(
        first["created_at"].is_string() && first["id"].is_i64(),
        "{first}"
    );
    let again = status(
        &report(&app, &bob, "hall", seq, "other words").await,
        200,
        "again",
    );
    assert_eq!(again, first, "the same report");

    for bad in ["", "   ", &"x".repeat(501)] {
        let r = report(&app, &alice, "hall", seq, bad).await;
        refused(&r, 400, "invalid_reason", "reason length");
    }
    status(
        &report(&app, &alice, "hall", seq, &"é".repeat(500)).await,
        201,
        "500 characters",
    );
    let r = call(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/rooms/hall/messages/{seq}/report"),
        Some(json!({"reason": "x", "extra": 1})),
    )
    .await;
    refused(&r, 400, "invalid_request", "unknown field");
}

async fn reports_are_only_for_messages_the_reporter_sees(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "secret", true).await;
    let seq = say(&app, &alice, "secret", "hidden").await["seq"]
        .as_i64()
        .unwrap();
    let r = report(&app, &bob, "secret", seq, "spam").await;
    refused(&r, 404, "room_not_found", "a private room bob is not in");
    app.create_room(&alice, "hall", false).await;
    let seq = say(&app, &alice, "hall", "hello").await["seq"]
        .as_i64()
        .unwrap();
    let r = report(&app, &bob, "hall", 99, "spam").await;
    refused(&r, 404, "message_not_found", "no such seq");
    let r = report(&app, &bob, "hall", 0, "spam").await;
    refused(&r, 404, "message_not_found", "seq 0");
    let r = call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/rooms/hall/messages/{seq}"),
        None,
    )
    .await;
    status(&r, 200, "alice deletes her message");
    let r = report(&app, &bob, "hall", seq, "spam").await;
    refused(&r, 409, "message_deleted", "a deleted message");
    let r = report(&app, &bob, "hall", seq + 1, "spam").await;
    refused(
        &r,
        404,
        "message_not_found",
        "a delete event is not a message",
    );
    assert_eq!(app.count("SELECT count(*) FROM reports").await, 0);
}

async fn moderators_read_and_resolve_their_rooms_reports(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    let mo = app.signup("moe").await;
    app.create_room(&alice, "hall", false).await;
    for who in [&bob, &carol, &mo] {
        join(&app, who, "hall").await;
    }
    status(
        &set_role(&app, &alice, "hall", "moe", "moderator").await,
        200,
        "mo",
    );
    let one = say(&app, &carol, "hall", "first").await["seq"]
        .as_i64()
        .unwrap();
    let two = say(&app, &carol, "hall", "second").await["seq"]
        .as_i64()
        .unwrap();
    let r1 = status(&report(&app, &bob, "hall", one, "rude").await, 201, "r1");
    let r2 = status(&report(&app, &bob, "hall", two, "spam").await, 201, "r2");

    // Members read no reports and resolve none.
    let list = "/api/v1/rooms/hall/reports";
    refused(
        &app.get(list, &bob.access_token).await,
        403,
        "forbidden",
        "member",
    );
    let resolve = |id: &serde_json::Value| format!("/api/v1/rooms/hall/reports/{id}/resolve");
    let r = call(
        &app,
        &bob,
        Method::POST,
        &resolve(&r1["id"]),
        Some(json!({"action": "dismissed"})),
    )
    .await;
    refused(&r, 403, "forbidden", "member resolves");
    let r = call(
        &app,
        &mo,
        Method::POST,
        &resolve(&r1["id"]),
        Some(json!({"action": "ignored"})),
    )
    .await;
    refused(&r, 400, "invalid_request", "unknown action");

    let reports = status(&app.get(list, &mo.access_token).await, 200, "mo reads");
    let ids: Vec<_> = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [r2["id"].clone(), r1["id"].clone()], "newest first");
    assert_eq!(reports["reports"][0]["sender"], "carol");
    assert_eq!(reports["reports"][0]["body"], "second");

    let r = call(
        &app,
        &mo,
        Method::POST,
        &resolve(&r2["id"]),
        Some(json!({"action": "deleted"})),
    )
    .await;
    let done = status(&r, 200, "mo deletes");
    assert_eq!(done["resolved"], true);
    assert_eq!(done["action"], "deleted");
    assert_eq!(done["body"], "", "the message's text is gone");
    let message = status(
        &app.get(
            &format!("/api/v1/rooms/hall/messages/{two}"),
            &bob.access_token,
        )
        .await,
        200,
        "the message",
    );
    assert_eq!(message["deleted"], true, "{message}");
    // Resolving again answers the report as it is.
    let r = call(
        &app,
        &mo,
        Method::POST,
        &resolve(&r2["id"]),
        Some(json!({"action": "dismissed"})),
    )
    .await;
    assert_eq!(status(&r, 200, "again")["action"], "deleted");
    let r = call(
        &app,
        &alice,
        Method::POST,
        &resolve(&r1["id"]),
        Some(json!({"action": "dismissed"})),
    )
    .await;
    assert_eq!(status(&r, 200, "owner dismisses")["action"], "dismissed");
    let first = status(
        &app.get(
            &format!("/api/v1/rooms/hall/messages/{one}"),
            &bob.access_token,
        )
        .await,
        200,
        "dismissed: kept",
    );
    assert_eq!(first["deleted"], false);

    // Unresolved first: a new report comes before the resolved ones.
    let three = say(&app, &carol, "hall", "third").await["seq"]
        .as_i64()
        .unwrap();
    let r3 = status(&report(&app, &bob, "hall", three, "meh").await, 201, "r3");
    let reports = status(
        &app.get(list, &alice.access_token).await,
        200,
        "owner reads",
    );
    assert_eq!(reports["reports"][0]["id"], r3["id"]);

    // Another room's report is not found through this room.
    app.create_room(&bob, "other", false).await;
    let seq = say(&app, &bob, "other", "x").await["seq"].as_i64().unwrap();
    let elsewhere = status(&report(&app, &mo, "other", seq, "x").await, 201, "other");
    let r = call(
        &app,
        &mo,
        Method::POST,
        &resolve(&elsewhere["id"]),
        Some(json!({"action": "deleted"})),
    )
    .await;
    refused(&r, 404, "not_found", "a report of another room");
}

async fn administrators_resolve_every_rooms_reports(backend: Backend) {
    let app = app(backend).await;
    let root = app.signup(ADMIN).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    // A private room the administrator is not in.
    app.create_room(&alice, "secret", true).await;
    add_member(&app, &alice, "secret", "bob").await;
    let seq = say(&app, &alice, "secret", "offending").await["seq"]
        .as_i64()
        .unwrap();
    let r = status(
        &report(&app, &bob, "secret", seq, "abuse").await,
        201,
        "report",
    );
    let all = status(
        &app.get("/api/v1/admin/reports", &root.access_token).await,
        200,
        "admin reports",
    );
    assert_eq!(all["reports"][0]["id"], r["id"]);
    let done = call(
        &app,
        &root,
        Method::POST,
        &format!("/api/v1/admin/reports/{}/resolve", r["id"]),
        Some(json!({"action": "deleted"})),
    )
    .await;
    let done = status(&done, 200, "admin deletes");
    assert_eq!(
        (done["resolved"].clone(), done["action"].clone()),
        (json!(true), json!("deleted"))
    );
    let message = status(
        &app.get(
            &format!("/api/v1/rooms/secret/messages/{seq}"),
            &bob.access_token,
        )
        .await,
        200,
        "message",
    );
    assert_eq!(message["deleted"], true);
    let log = status(&audit(&app, &root).await, 200, "audit");
    let found: Vec<_> = entries(&log)
        .into_iter()
        .map(|(action, actor, room, target, _)| (action, actor, room, target))
        .collect();
    assert_eq!(
        found,
        [
            (
                "report_resolved".into(),
                json!("root"),
                json!("secret"),
                json!(null)
            ),
            (
                "message_deleted".into(),
                json!("root"),
                json!("secret"),
                json!("alice")
            ),
        ]
    );
    // The administrator did not join the room.
    let r = app.get("/api/v1/rooms/secret", &root.access_token).await;
    refused(&r, 404, "room_not_found", "still not a member");
}

async fn reporting_at_once_stores_one_report(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "hall", false).await;
    join(&app, &bob, "hall").await;
    let seq = say(&app, &alice, "hall", "x").await["seq"]
        .as_i64()
        .unwrap();
    let calls = (0..20).map(|i| {
        let (app, bob) = (&app, &bob);
        async move { report(app, bob, "hall", seq, &format!("reason {i}")).await }
    });
    let replies = futures_util::future::join_all(calls).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let repeated = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        (created, repeated),
        (1, 19),
        "one created, the rest answered with it"
    );
    let ids: std::collections::HashSet<_> = replies.iter().map(|r| r.body["id"].clone()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM reports").await, 1);
}
