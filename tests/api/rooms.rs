//! Rooms, membership and private-room invisibility: the README, "REST API".

use reqwest::Method;
use serde_json::json;

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};

on_both_backends!(
    create_room_makes_creator_owner_and_member,
    create_room_rejects_bad_names_and_duplicates,
    list_shows_public_rooms_and_own_private_rooms,
    private_room_is_invisible_to_non_members,
    join_public_room_is_idempotent,
    owner_adds_members_to_private_room,
    room_routes_require_authentication,
);

async fn create_room_makes_creator_owner_and_member(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let r = app
        .post(
            "/api/v1/rooms",
            Some(&alice.access_token),
            json!({"name": "general"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["name"], "general");
    assert_eq!(r.body["private"], false, "private defaults to false");
    assert_eq!(r.body["owner"], "alice");
    assert!(r.body["id"].as_i64().is_some() && r.body["created_at"].is_string());
    let got = app.get("/api/v1/rooms/general", &alice.access_token).await;
    assert_eq!(got.body, r.body);
    let members = app
        .get("/api/v1/rooms/general/members", &alice.access_token)
        .await;
    assert_eq!(members.status, 200);
    assert_eq!(members.body["members"][0]["username"], "alice");
    assert_eq!(members.body["members"].as_array().unwrap().len(), 1);
}

async fn create_room_rejects_bad_names_and_duplicates(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    for name in [
        "",
        "General",
        "has space",
        "x'; DROP TABLE rooms;--",
        &"a".repeat(65),
    ] {
        let r = app
            .post(
                "/api/v1/rooms",
                Some(&alice.access_token),
                json!({"name": name}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_room_name"),
            "name {name:?}"
        );
    }
    app.create_room(&alice, "general", false).await;
    let bob = app.signup("bob").await;
    let dup = app
        .post(
            "/api/v1/rooms",
            Some(&bob.access_token),
            json!({"name": "general", "private": true}),
        )
        .await;
    assert_eq!((dup.status.as_u16(), dup.code()), (409, "room_exists"));
}

async fn list_shows_public_rooms_and_own_private_rooms(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "public-a", false).await;
    app.create_room(&alice, "secret-a", true).await;
    app.create_room(&bob, "secret-b", true).await;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let a = app.get("/api/v1/rooms", &alice.access_token).await;
    assert_eq!(names(&a.body), ["public-a", "secret-a"]);
    let b = app.get("/api/v1/rooms", &bob.access_token).await;
    assert_eq!(names(&b.body), ["public-a", "secret-b"]);
}

async fn private_room_is_invisible_to_non_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "secret", true).await;
    let t = &bob.access_token;
    let unknown = app.get("/api/v1/rooms/nope", t).await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.code()),
        (404, "room_not_found")
    );
    let replies = [
        app.get("/api/v1/rooms/secret", t).await,
        app.post("/api/v1/rooms/secret/join", Some(t), json!({}))
            .await,
        app.get("/api/v1/rooms/secret/members", t).await,
        app.post(
            "/api/v1/rooms/secret/members",
            Some(t),
            json!({"username": "bob"}),
        )
        .await,
        app.get("/api/v1/rooms/secret/messages", t).await,
    ];
    for r in replies {
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body, unknown.body,
            "a private room answers exactly like a missing one"
        );
    }
    let members = app
        .get("/api/v1/rooms/secret/members", &alice.access_token)
        .await;
    assert_eq!(
        members.body["members"].as_array().unwrap().len(),
        1,
        "bob did not get in"
    );
}

async fn join_public_room_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let room = app.create_room(&alice, "general", false).await;
    for _ in 0..2 {
        let r = app
            .request(
                Method::POST,
                "/api/v1/rooms/general/join",
                Some(&bob.access_token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // The same room; its `membership` is the caller's own.
        let mut joined = r.body.clone();
        let membership = joined
            .as_object_mut()
            .and_then(|o| o.remove("membership"))
            .unwrap_or_default();
        let mut created = room.clone();
        created.as_object_mut().map(|o| o.remove("membership"));
        assert_eq!(joined, created);
        assert_eq!(membership["role"], "member", "{membership}");
    }
    let members = app
        .get("/api/v1/rooms/general/members", &alice.access_token)
        .await;
    let names: Vec<_> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, [json!("alice"), json!("bob")]);
}

async fn owner_adds_members_to_private_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "secret", true).await;
    let add = |who: &'static str| json!({"username": who});
    let r = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&alice.access_token),
            add("bob"),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let again = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&alice.access_token),
            add("bob"),
        )
        .await;
    assert_eq!(again.body, r.body, "adding twice is idempotent");
    assert_eq!(
        app.get("/api/v1/rooms/secret", &bob.access_token)
            .await
            .status,
        200,
        "bob now sees it"
    );
    let by_member = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&bob.access_token),
            add("carol"),
        )
        .await;
    assert_eq!(
        (by_member.status.as_u16(), by_member.code()),
        (403, "forbidden")
    );
    let by_outsider = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&carol.access_token),
            add("carol"),
        )
        .await;
    assert_eq!(
        (by_outsider.status.as_u16(), by_outsider.code()),
        (404, "room_not_found")
    );
    let ghost = app
        .post(
            "/api/v1/rooms/secret/members",
            Some(&alice.access_token),
            add("ghost"),
        )
        .await;
    assert_eq!(
        (ghost.status.as_u16(), ghost.code()),
        (404, "user_not_found")
    );
}

async fn room_routes_require_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for (method, path) in [
        (Method::GET, "/api/v1/rooms"),
        (Method::POST, "/api/v1/rooms"),
        (Method::GET, "/api/v1/rooms/general"),
        (Method::POST, "/api/v1/rooms/general/join"),
        (Method::GET, "/api/v1/rooms/general/members"),
        (Method::GET, "/api/v1/rooms/general/messages"),
    ] {
        let r = app.request(method.clone(), path, None, None).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "unauthorized"),
            "{method} {path}"
        );
    }
}
