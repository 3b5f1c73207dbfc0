//! Deleting one's account (`DELETE /me`): the password is checked; the
//! account can no longer be used; every message it sent is erased (the
//! events stay as deleted ones, and live subscribers see the deletions);
//! its memberships go, an owned room passing to its oldest moderator, else
//! its oldest member, else being deleted; the username stays reserved.

use serde_json::{Value, json};
use stomp_client::StompClient;

use super::{assert_account_closed, delete_me, get_user};
use crate::db::Backend;
use crate::helpers::{TestApp, on_both_backends, refused, spawn_app_unthrottled, status};
use crate::membership::{add_member, get_room, join, members, open_dm, say, set_role};

on_both_backends!(
    a_wrong_password_deletes_nothing,
    a_deleted_account_cannot_be_used_and_its_name_stays_taken,
    deletion_erases_every_message_and_subscribers_see_it,
    deletion_erases_more_messages_than_one_page,
    an_owned_room_passes_to_its_oldest_moderator_else_member_else_goes,
);

async fn a_wrong_password_deletes_nothing(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    refused(
        &delete_me(&app, &alice, "not my password").await,
        401,
        "invalid_credentials",
        "a wrong password",
    );
    refused(
        &delete_me(&app, &alice, "short").await,
        401,
        "invalid_credentials",
        "an impossible password",
    );
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(&alice.access_token),
            Some(json!({})),
        )
        .await;
    refused(&r, 400, "invalid_request", "no password");
    status(
        &app.get("/api/v1/me", &alice.access_token).await,
        200,
        "still there",
    );
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": alice.password}),
        )
        .await;
    status(&r, 200, "alice still logs in");
}

async fn a_deleted_account_cannot_be_used_and_its_name_stays_taken(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let r = delete_me(&app, &alice, &alice.password).await;
    assert_eq!(r.status, 204, "deleted: {:?}", r.body);
    assert_eq!(r.body, Value::Null, "no body");

    assert_account_closed(&app, &alice).await;
    refused(
        &get_user(&app, &bob, "alice").await,
        404,
        "user_not_found",
        "nobody finds the deleted account",
    );
    refused(
        &open_dm(&app, &bob, "alice").await,
        404,
        "user_not_found",
        "no conversation with a deleted account",
    );
    refused(
        &delete_me(&app, &alice, &alice.password).await,
        401,
        "unauthorized",
        "deleting twice: its logins ended with the account",
    );
    let n = app
        .count(&format!(
            "SELECT count(*) FROM users WHERE id = {} AND password_hash LIKE '$argon2%'",
            alice.user_id
        ))
        .await;
    assert_eq!(n, 0, "the password hash is gone");
}

async fn deletion_erases_every_message_and_subscribers_see_it(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&bob, "general", false).await;
    status(&join(&app, &alice, "general").await, 200, "alice joins");
    let first = say(&app, &alice, "general", "alice's secret plan").await;
    say(&app, &bob, "general", "bob's reply").await;
    let edited = say(&app, &alice, "general", "alice's second thought").await;
    let path = format!("/api/v1/rooms/general/messages/{}", edited["seq"]);
    let r = app
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(&alice.access_token),
            Some(json!({"body": "alice's edited secret"})),
        )
        .await;
    status(&r, 200, "edit");
    let dm = status(&open_dm(&app, &alice, "bob").await, 201, "dm");
    let dm_name = dm["name"].as_str().unwrap().to_string();
    say(&app, &alice, &dm_name, "alice's private words").await;

    let mut watcher = StompClient::connect(&app, &bob.access_token).await;
    watcher.subscribe("g", "general").await;
    let r = delete_me(&app, &alice, &alice.password).await;
    assert_eq!(r.status, 204, "deleted: {:?}", r.body);

    // Bob saw both of alice's messages in general deleted, live.
    let frames = watcher.expect_messages(2).await;
    let mut targets: Vec<i64> = frames
        .iter()
        .map(|f| {
            let e = f.json();
            assert_eq!(e["type"], "delete", "{e}");
            assert_eq!(e["sender"], "alice");
            e["target"].as_i64().unwrap()
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            first["seq"].as_i64().unwrap(),
            edited["seq"].as_i64().unwrap()
        ]
    );
    watcher.close().await;

    // History keeps the events, as deleted ones.
    let r = app
        .get(
            "/api/v1/rooms/general/messages?limit=200",
            &bob.access_token,
        )
        .await;
    let page = status(&r, 200, "history");
    for e in page["messages"].as_array().unwrap() {
        if e["sender"] == "alice" && e["type"] == "message" {
            assert_eq!(e["deleted"], true, "{e}");
            assert_eq!(e["body"], "", "{e}");
        }
        if e["sender"] == "bob" && e["type"] == "message" {
            assert_eq!(e["body"], "bob's reply", "bob's message stays");
        }
    }
    let r = app
        .get(
            &format!("/api/v1/rooms/{dm_name}/messages"),
            &bob.access_token,
        )
        .await;
    let page = status(&r, 200, "the conversation stays for bob");
    assert!(
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "message")
            .all(|e| e["deleted"] == true),
        "{page}"
    );
    // Not in the database either: neither the text nor its edit.
    let left = app
        .count("SELECT count(*) FROM messages WHERE body LIKE '%alice''s%'")
        .await;
    assert_eq!(left, 0, "alice's text is erased from storage");
    let members = status(&members(&app, &bob, "general").await, 200, "members");
    assert!(
        !members.to_string().contains("\"alice\""),
        "alice left general: {members}"
    );
}

async fn deletion_erases_more_messages_than_one_page(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "random", false).await;
    let n = parley::accounts::ERASE_PAGE as usize * 2 + 37;
    app.store_messages("general", &alice, n).await;
    app.store_messages("random", &alice, 20).await;
    let r = delete_me(&app, &alice, &alice.password).await;
    assert_eq!(r.status, 204, "deleted: {:?}", r.body);
    let left = app
        .count(&format!(
            "SELECT count(*) FROM messages WHERE sender_id = {} AND kind = 'message' \
             AND (NOT deleted OR body <> '')",
            alice.user_id
        ))
        .await;
    assert_eq!(left, 0, "every one of {} messages erased", n + 20);
    let pending = app
        .count("SELECT count(*) FROM users WHERE deleted_at IS NOT NULL AND erased_at IS NULL")
        .await;
    assert_eq!(pending, 0, "the erasure is recorded as finished");
}

/// The role of `name` in `room`, as `who` reads the members.
async fn role_of(app: &TestApp, who: &crate::helpers::TestUser, room: &str, name: &str) -> Value {
    let list = status(&members(app, who, room).await, 200, "members");
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == name)
        .map_or(Value::Null, |m| m["role"].clone())
}

async fn an_owned_room_passes_to_its_oldest_moderator_else_member_else_goes(backend: Backend) {
    let app = spawn_app_unthrottled(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    let dave = app.signup("dave").await;

    // A moderator, though not the oldest member, takes it.
    app.create_room(&alice, "with-mods", false).await;
    status(&join(&app, &bob, "with-mods").await, 200, "bob joins first");
    status(&join(&app, &carol, "with-mods").await, 200, "carol joins");
    status(&join(&app, &dave, "with-mods").await, 200, "dave joins");
    for who in ["dave", "carol"] {
        let r = set_role(&app, &alice, "with-mods", who, "moderator").await;
        status(&r, 200, "promote");
    }
    // No moderator: the oldest member takes it.
    app.create_room(&alice, "members-only", true).await;
    for who in ["dave", "bob"] {
        status(
            &add_member(&app, &alice, "members-only", who).await,
            200,
            "add",
        );
    }
    // Nobody else: it goes.
    app.create_room(&alice, "alone", false).await;
    say(&app, &alice, "alone", "nobody hears").await;

    let r = delete_me(&app, &alice, &alice.password).await;
    assert_eq!(r.status, 204, "deleted: {:?}", r.body);

    let room = status(&get_room(&app, &carol, "with-mods").await, 200, "with-mods");
    assert_eq!(room["owner"], "carol", "the oldest moderator: {room}");
    assert_eq!(role_of(&app, &carol, "with-mods", "carol").await, "owner");
    assert_eq!(
        role_of(&app, &carol, "with-mods", "dave").await,
        "moderator"
    );
    assert_eq!(
        role_of(&app, &carol, "with-mods", "alice").await,
        Value::Null
    );
    let room = status(
        &get_room(&app, &dave, "members-only").await,
        200,
        "members-only",
    );
    assert_eq!(room["owner"], "dave", "the oldest member: {room}");
    assert_eq!(room["membership"]["role"], "owner");
    refused(
        &get_room(&app, &bob, "alone").await,
        404,
        "room_not_found",
        "a room with nobody else is deleted",
    );
    // The new owner can do what owners do.
    let r = set_role(&app, &carol, "with-mods", "bob", "moderator").await;
    status(&r, 200, "carol promotes bob");
}
