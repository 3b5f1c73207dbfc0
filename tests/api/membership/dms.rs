//! Direct conversations: `POST /api/v1/dms` opens, or returns, the one
//! private two-member room of a pair; its membership cannot change.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::*;
use crate::helpers::on_both_backends;

on_both_backends!(
    opening_a_conversation_answers_201_then_200_from_either_side,
    a_conversation_is_a_private_direct_room_of_exactly_the_two,
    opening_a_conversation_refuses_oneself_and_unknown_users,
    room_names_starting_with_dm_are_reserved,
    a_conversations_membership_cannot_change,
    a_third_user_cannot_see_a_conversation,
    concurrent_opens_of_one_pair_make_one_conversation,
    concurrent_opens_of_many_pairs_make_one_conversation_each,
);

fn dm_name(a: &TestUser, b: &TestUser) -> String {
    let (lo, hi) = if a.user_id < b.user_id {
        (a.user_id, b.user_id)
    } else {
        (b.user_id, a.user_id)
    };
    format!("dm-{lo}-{hi}")
}

async fn opening_a_conversation_answers_201_then_200_from_either_side(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let r = open_dm(&app, &alice, "bob").await;
    let room = status(&r, 201, "first open");
    assert_eq!(room["name"], dm_name(&alice, &bob), "{room}");
    assert_eq!(room["kind"], "direct");
    assert_eq!(room["peer"], "bob");
    assert_eq!(room["owner"], json!(null));
    assert_eq!(room["private"], true);
    let again = status(&open_dm(&app, &alice, "bob").await, 200, "second open");
    assert_eq!(
        (again["id"].clone(), again["name"].clone()),
        (room["id"].clone(), room["name"].clone())
    );
    let theirs = status(&open_dm(&app, &bob, "alice").await, 200, "the peer opens");
    assert_eq!(theirs["id"], room["id"]);
    assert_eq!(theirs["name"], room["name"]);
    assert_eq!(
        theirs["peer"], "alice",
        "peer is the other user for each side"
    );
    assert_eq!(theirs["kind"], "direct");
}

async fn a_conversation_is_a_private_direct_room_of_exactly_the_two(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let room = status(&open_dm(&app, &bob, "alice").await, 201, "open");
    let name = room["name"].as_str().unwrap().to_string();
    for (who, peer) in [(&alice, "bob"), (&bob, "alice")] {
        let got = status(
            &get_room(&app, who, &name).await,
            200,
            "GET the conversation",
        );
        assert_eq!(
            (
                got["kind"].clone(),
                got["peer"].clone(),
                got["owner"].clone(),
                got["private"].clone()
            ),
            (json!("direct"), json!(peer), json!(null), json!(true)),
            "{got}"
        );
        let list = app.get("/api/v1/rooms", &who.access_token).await;
        let listed = list.body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap_or_else(|| panic!("GET /rooms lists the conversation for {}", who.username))
            .clone();
        assert_eq!(
            (listed["kind"].clone(), listed["peer"].clone()),
            (json!("direct"), json!(peer))
        );
    }
    let list = status(&members(&app, &alice, &name).await, 200, "members");
    let roles: Vec<(String, String)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().into(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".into(), "member".into()),
            ("bob".into(), "member".into())
        ],
        "exactly the two, as members"
    );
    // Both talk in it, over STOMP and HTTP.
    let mut a = StompClient::connect(&app, &alice.access_token).await;
    a.subscribe("a", &name).await;
    let mut b = StompClient::connect(&app, &bob.access_token).await;
    b.subscribe("b", &name).await;
    let receipt = a.send_chat(&name, "hi bob", "r").await;
    assert_eq!(receipt.seq(), 1);
    say(&app, &bob, &name, "hi alice").await;
    for c in [&mut a, &mut b] {
        let got = c.expect_messages(2).await;
        let bodies: Vec<_> = got.iter().map(|f| f.json()["body"].clone()).collect();
        assert_eq!(bodies, [json!("hi bob"), json!("hi alice")]);
    }
    a.close().await;
    b.close().await;
}

async fn opening_a_conversation_refuses_oneself_and_unknown_users(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    refused(
        &open_dm(&app, &alice, "alice").await,
        400,
        "invalid_username",
        "oneself",
    );
    refused(
        &open_dm(&app, &alice, "ghost").await,
        404,
        "user_not_found",
        "unknown",
    );
    let r = call(&app, &alice, Method::POST, "/api/v1/dms", Some(json!({}))).await;
    assert_eq!(r.status, 400, "no username: {:?}", r.body);
    let r = call(
        &app,
        &alice,
        Method::POST,
        "/api/v1/dms",
        Some(json!({"username": "bob", "extra": 1})),
    )
    .await;
    assert_eq!(r.status, 400, "unknown field: {:?}", r.body);
    let names = room_names(&app, &alice).await;
    assert!(names.is_empty(), "nothing was created: {names:?}");
}

async fn room_names_starting_with_dm_are_reserved(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let taken = dm_name(&alice, &bob);
    for name in ["dm-", "dm-1-2", "dm-x", taken.as_str()] {
        let r = app
            .post(
                "/api/v1/rooms",
                Some(&alice.access_token),
                json!({"name": name}),
            )
            .await;
        refused(
            &r,
            400,
            "invalid_room_name",
            &format!("POST /rooms {name:?}"),
        );
    }
    // Only the `dm-` prefix is reserved.
    for name in ["dm", "dmz", "x-dm-1"] {
        app.create_room(&alice, name, false).await;
    }
    status(
        &open_dm(&app, &alice, "bob").await,
        201,
        "the server still names conversations",
    );
}

async fn a_conversations_membership_cannot_change(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.signup("carol").await;
    let room = status(&open_dm(&app, &alice, "bob").await, 201, "open");
    let name = room["name"].as_str().unwrap().to_string();
    for who in [&alice, &bob] {
        let peer = if who.username == "alice" {
            "bob"
        } else {
            "alice"
        };
        let attempts = [
            ("add", add_member(&app, who, &name, "carol").await),
            ("remove the peer", remove(&app, who, &name, peer).await),
            (
                "remove oneself",
                remove(&app, who, &name, &who.username).await,
            ),
            ("ban", ban(&app, who, &name, peer).await),
            ("ban a third user", ban(&app, who, &name, "carol").await),
            ("unban", unban(&app, who, &name, "carol").await),
            (
                "promote",
                set_role(&app, who, &name, peer, "moderator").await,
            ),
            ("leave", leave(&app, who, &name).await),
            ("delete", delete_room(&app, who, &name).await),
        ];
        for (what, r) in attempts {
            refused(
                &r,
                403,
                "forbidden",
                &format!("{} tries to {what}", who.username),
            );
        }
        refused(
            &set_role(&app, who, &name, peer, "admin").await,
            400,
            "invalid_role",
            "the role is still checked first",
        );
    }
    assert_eq!(member_names(&app, &alice, &name).await, ["alice", "bob"]);
    status(&get_room(&app, &bob, &name).await, 200, "still there");
}

async fn a_third_user_cannot_see_a_conversation(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.signup("bob").await;
    let carol = app.signup("carol").await;
    let room = status(&open_dm(&app, &alice, "bob").await, 201, "open");
    let name = room["name"].as_str().unwrap().to_string();
    say(&app, &alice, &name, "private words").await;
    let unknown = unknown_room_error(&app, &carol).await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/rooms/{name}"), None),
        (Method::GET, format!("/api/v1/rooms/{name}/messages"), None),
        (
            Method::GET,
            format!("/api/v1/rooms/{name}/messages/1"),
            None,
        ),
        (Method::GET, format!("/api/v1/rooms/{name}/members"), None),
        (Method::GET, format!("/api/v1/rooms/{name}/events"), None),
        (Method::POST, format!("/api/v1/rooms/{name}/join"), None),
        (Method::POST, format!("/api/v1/rooms/{name}/leave"), None),
        (Method::DELETE, format!("/api/v1/rooms/{name}"), None),
        (
            Method::DELETE,
            format!("/api/v1/rooms/{name}/members/bob"),
            None,
        ),
        (Method::GET, format!("/api/v1/rooms/{name}/bans"), None),
        (
            Method::POST,
            format!("/api/v1/rooms/{name}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::POST,
            format!("/api/v1/rooms/{name}/members"),
            Some(json!({"username": "carol"})),
        ),
    ] {
        let r = call(&app, &carol, method.clone(), &path, body).await;
        refused(
            &r,
            404,
            "room_not_found",
            &format!("{method} {path} as a third user"),
        );
    }
    assert!(!room_names(&app, &carol).await.contains(&name));
    let mut c = StompClient::connect(&app, &carol.access_token).await;
    send_subscribe(&mut c, "s", &name).await;
    let e = c.expect_error_then_close().await;
    assert_eq!(e.header("message").unwrap_or_default(), unknown);
    assert_eq!(member_names(&app, &alice, &name).await, ["alice", "bob"]);
}

async fn concurrent_opens_of_one_pair_make_one_conversation(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let answers = join_all((0..20).map(|i| {
        let (who, peer) = if i % 2 == 0 {
            (&alice, "bob")
        } else {
            (&bob, "alice")
        };
        open_dm(&app, who, peer)
    }))
    .await;
    let mut created = 0;
    for r in &answers {
        match r.status.as_u16() {
            201 => created += 1,
            200 => {}
            other => panic!("concurrent open: {other} {:?}", r.body),
        }
        assert_eq!(r.body["name"], dm_name(&alice, &bob), "{:?}", r.body);
        assert_eq!(r.body["id"], answers[0].body["id"]);
    }
    assert_eq!(created, 1, "exactly one 201");
    let directs: Vec<String> = room_names(&app, &alice).await;
    assert_eq!(directs, [dm_name(&alice, &bob)], "one room");
    assert_eq!(
        member_names(&app, &alice, &dm_name(&alice, &bob)).await,
        ["alice", "bob"]
    );
}

async fn concurrent_opens_of_many_pairs_make_one_conversation_each(backend: Backend) {
    // Few pairs: each signup hashes a password, slowly by design.
    const PAIRS: usize = 6;
    let app = app(backend).await;
    let mut users = Vec::new();
    for i in 0..2 * PAIRS {
        users.push(app.signup(&format!("user{i:02}")).await);
    }
    // Every pair opens from both sides at once, three times each side.
    let answers = join_all((0..PAIRS).flat_map(|p| {
        let (a, b) = (&users[2 * p], &users[2 * p + 1]);
        let app = &app;
        (0..6).map(move |k| async move {
            let (who, peer) = if k % 2 == 0 { (a, b) } else { (b, a) };
            (p, open_dm(app, who, &peer.username).await)
        })
    }))
    .await;
    for p in 0..PAIRS {
        let (a, b) = (&users[2 * p], &users[2 * p + 1]);
        let mine: Vec<_> = answers
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, r)| r)
            .collect();
        let created = mine.iter().filter(|r| r.status == 201).count();
        assert!(
            mine.iter().all(|r| r.status == 200 || r.status == 201),
            "pair {p}"
        );
        assert_eq!(created, 1, "pair {p}: exactly one 201");
        assert!(
            mine.iter().all(|r| r.body["name"] == dm_name(a, b)),
            "pair {p}"
        );
        assert_eq!(
            room_names(&app, a).await,
            [dm_name(a, b)],
            "pair {p}: one room"
        );
    }
}
