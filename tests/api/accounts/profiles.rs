//! Profiles: `display_name`, `status` and `avatar_url` on every `user`
//! object, `PATCH /me` (absent: unchanged, null: cleared), its rules, `GET
//! /users/{username}`, and the change reaching others live.

use std::time::Duration;

use serde_json::{Value, json};
use stomp_client::{StompClient, frame};

use super::{get_user, patch_me};
use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, refused, spawn_app, status};
use crate::membership::{join, members};

on_both_backends!(
    a_new_user_has_an_empty_profile,
    patch_me_sets_changes_and_clears_each_field_alone,
    invalid_profiles_are_refused_and_change_nothing,
    get_user_finds_any_letter_case_and_404s_for_nobody,
    members_lists_show_profiles,
    a_profile_change_reaches_people_sharing_a_room_live,
);

/// How soon a profile change must reach others.
const WITHIN: Duration = Duration::from_secs(2);

async fn a_new_user_has_an_empty_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"username": "alice", "password": "correct horse battery"}),
        )
        .await;
    let body = status(&r, 201, "signup");
    let user = &body["user"];
    assert_eq!(user["display_name"], json!(null), "{user}");
    assert_eq!(user["status"], json!(null), "{user}");
    assert_eq!(user["avatar_url"], json!(null), "{user}");
    let token = body["access_token"].as_str().unwrap();
    let me = status(&app.get("/api/v1/me", token).await, 200, "me");
    same_user(&me, user, "GET /me is the same user object");
}

async fn patch_me_sets_changes_and_clears_each_field_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;

    let r = patch_me(&app, &alice, json!({"display_name": "Alice Liddell"})).await;
    let me = status(&r, 200, "set the display name");
    assert_eq!(me["display_name"], "Alice Liddell");
    assert_eq!(me["status"], json!(null), "status untouched");
    assert_eq!(me["username"], "alice");

    let r = patch_me(&app, &alice, json!({"status": "in the garden 🌷"})).await;
    let me = status(&r, 200, "set the status");
    assert_eq!(me["display_name"], "Alice Liddell", "absent: unchanged");
    assert_eq!(me["status"], "in the garden 🌷");

    let r = patch_me(&app, &alice, json!({})).await;
    let me = status(&r, 200, "an empty patch");
    assert_eq!(me["display_name"], "Alice Liddell");
    assert_eq!(me["status"], "in the garden 🌷");

    let r = patch_me(&app, &alice, json!({"display_name": null})).await;
    let me = status(&r, 200, "clear the display name");
    assert_eq!(me["display_name"], json!(null), "null clears");
    assert_eq!(me["status"], "in the garden 🌷", "the other field stays");

    let name64 = "é".repeat(64);
    let r = patch_me(
        &app,
        &alice,
        json!({"display_name": name64, "status": "x".repeat(140)}),
    )
    .await;
    let me = status(&r, 200, "the longest allowed, counted in characters");
    assert_eq!(me["display_name"], name64);
    let stored = status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    same_user(&stored, &me, "stored as answered");
}

async fn invalid_profiles_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let r = patch_me(
        &app,
        &alice,
        json!({"display_name": "Alice", "status": "here"}),
    )
    .await;
    status(&r, 200, "a valid profile first");

    for (body, what) in [
        (json!({"display_name": ""}), "an empty display name"),
        (json!({"display_name": "a".repeat(65)}), "65 characters"),
        (json!({"display_name": "Ali\nce"}), "a line break"),
        (json!({"display_name": "Ali\u{0}ce"}), "a NUL"),
        (json!({"display_name": "Ali\u{7f}ce"}), "DEL"),
        (
            json!({"display_name": "bob\u{202e}ecila"}),
            "a bidi override",
        ),
        (json!({"status": "x".repeat(141)}), "a status of 141"),
        (json!({"status": "tab\there"}), "a tab in the status"),
        (
            json!({"display_name": "Fine", "status": "x".repeat(141)}),
            "one good field, one bad",
        ),
    ] {
        refused(
            &patch_me(&app, &alice, body).await,
            400,
            "invalid_profile",
            what,
        );
    }
    for (body, what) in [
        (json!({"display_name": 5}), "a number"),
        (json!({"avatar_url": "http://evil"}), "an unknown field"),
        (json!({"username": "mallory"}), "the username"),
    ] {
        refused(
            &patch_me(&app, &alice, body).await,
            400,
            "invalid_request",
            what,
        );
    }
    let me = status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    assert_eq!(
        (me["display_name"].as_str(), me["status"].as_str()),
        (Some("Alice"), Some("here")),
        "nothing changed: {me}"
    );
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/me",
            None,
            Some(json!({"display_name": "x"})),
        )
        .await;
    refused(&r, 401, "unauthorized", "without a token");
}

async fn get_user_finds_any_letter_case_and_404s_for_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("Bob").await;
    status(
        &patch_me(
            &app,
            &bob,
            json!({"display_name": "Robert", "status": "busy"}),
        )
        .await,
        200,
        "bob's profile",
    );
    let r = get_user(&app, &alice, "bob").await;
    let user = status(&r, 200, "bob, in another letter case");
    assert_eq!(user["username"], "Bob");
    assert_eq!(user["id"], bob.user_id);
    assert_eq!(user["display_name"], "Robert");
    assert_eq!(user["status"], "busy");
    assert_eq!(user["avatar_url"], json!(null));
    refused(
        &get_user(&app, &alice, "nobody").await,
        404,
        "user_not_found",
        "an unknown user",
    );
    refused(
        &get_user(&app, &alice, "not%20a%20name").await,
        404,
        "user_not_found",
        "an impossible name",
    );
    let r = app
        .request(reqwest::Method::GET, "/api/v1/users/bob", None, None)
        .await;
    refused(&r, 401, "unauthorized", "without a token");
}

async fn members_lists_show_profiles(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    status(&join(&app, &bob, "general").await, 200, "bob joins");
    status(
        &patch_me(&app, &bob, json!({"display_name": "Bobby"})).await,
        200,
        "bob's name",
    );
    let list = status(&members(&app, &alice, "general").await, 200, "members");
    let bob_there = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "bob")
        .expect("bob is listed");
    assert_eq!(bob_there["display_name"], "Bobby");
    assert_eq!(bob_there["role"], "member");
}

/// `who`'s STOMP client subscribed to their user destination.
async fn listening(app: &TestApp, who: &TestUser) -> StompClient {
    let mut c = StompClient::connect(app, &who.access_token).await;
    c.send(frame(
        "SUBSCRIBE",
        &[
            ("id", "me"),
            ("destination", "/user/queue/updates"),
            ("receipt", "me"),
        ],
        "",
    ))
    .await;
    c.expect_receipt("me").await;
    c
}

async fn a_profile_change_reaches_people_sharing_a_room_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    status(&join(&app, &bob, "general").await, 200, "bob joins");
    let mut bob_hears = listening(&app, &bob).await;
    let mut carol_hears = listening(&app, &carol).await;

    let r = patch_me(
        &app,
        &alice,
        json!({"display_name": "Alice L.", "status": "hi"}),
    )
    .await;
    let alice_now = status(&r, 200, "alice changes her profile");
    let f = bob_hears.expect_frame_within(WITHIN).await;
    assert_eq!(f.command, "MESSAGE", "{f}");
    assert_eq!(f.header("event-type").as_deref(), Some("user_updated"));
    let body = f.json();
    assert_eq!(body["type"], "user_updated");
    assert_eq!(
        body["user"], alice_now,
        "the user object as PATCH answered it"
    );
    carol_hears
        .expect_no_frame_for(Duration::from_millis(500))
        .await;
    bob_hears.close().await;
    carol_hears.close().await;
}

/// `own` (GET /me: the user object plus what only its owner sees) shows
/// every field of `user` with the same value.
fn same_user(own: &Value, user: &Value, what: &str) {
    let fields = user.as_object().expect("a user object");
    assert!(!fields.is_empty(), "{what}: {user}");
    for (name, value) in fields {
        assert_eq!(&own[name], value, "{what}: field {name} in {own}");
    }
}
