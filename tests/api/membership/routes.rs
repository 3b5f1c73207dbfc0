//! The membership routes and their permission rules, from each role: owner,
//! moderator, member, a non-member of a public room, a banned user.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::*;
use crate::helpers::{on_both_backends, on_sqlite};

on_both_backends!(
    members_list_shows_each_members_role_and_join_point,
    room_objects_are_of_kind_room_without_a_peer,
    owner_and_moderators_add_members_and_nobody_else_does,
    adding_a_banned_user_is_user_banned,
    leaving_is_idempotent_and_the_owner_cannot_leave,
    removal_follows_the_role_rules,
    only_the_owner_changes_roles,
    bans_follow_the_removal_rules_and_remove_the_membership,
    ban_list_is_for_the_owner_and_moderators,
    unban_answers_204_then_404_and_does_not_restore_membership,
    a_banned_user_sees_a_public_room_as_missing_until_unbanned,
    a_banned_user_sees_a_private_room_as_missing_until_unbanned,
    a_removed_member_of_a_public_room_can_join_again_and_a_banned_one_cannot,
    only_the_owner_deletes_a_room,
    a_deleted_rooms_name_is_free_and_nothing_of_it_leaks_into_the_new_room,
    moderators_and_the_owner_delete_other_members_messages,
    concurrent_adds_removes_and_bans_of_one_target_end_banned_and_not_a_member,
    concurrent_joins_racing_a_ban_end_banned_and_not_a_member,
    bodies_are_checked_before_the_room,
    an_added_or_returning_members_last_read_seq_is_their_join_point,
    a_removed_or_banned_moderator_comes_back_as_a_member,
    usernames_in_paths_and_bodies_match_case_insensitively,
    deleting_a_room_deletes_its_events_reactions_and_mentions,
);

on_sqlite!(membership_routes_need_a_token,);

fn user(who: &TestUser) -> String {
    who.username.clone()
}

async fn members_list_shows_each_members_role_and_join_point(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("Bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    for i in 0..3 {
        say(&app, &alice, "general", &format!("before bob {i}")).await;
    }
    status(&join(&app, &bob, "general").await, 200, "bob joins");
    say(&app, &alice, "general", "after bob").await;
    status(&join(&app, &carol, "general").await, 200, "carol joins");
    status(
        &set_role(&app, &alice, "general", "carol", "moderator").await,
        200,
        "promote carol",
    );
    let list = status(&members(&app, &bob, "general").await, 200, "members");
    let list = list["members"].as_array().unwrap().clone();
    assert_eq!(
        list.iter()
            .map(|m| m["username"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["alice", "Bob", "carol"],
        "ordered by username, case-insensitively"
    );
    for m in &list {
        assert_eq!(
            keys(m),
            [
                "avatar_url",
                "bot",
                "created_at",
                "display_name",
                "id",
                "last_read_seq",
                "role",
                "status",
                "username"
            ],
            "member fields: {m}"
        );
    }
    let role_and_seq: Vec<(String, i64)> = list
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["last_read_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        role_and_seq,
        [
            ("owner".to_string(), 0),
            ("member".to_string(), 3),
            ("moderator".to_string(), 4)
        ],
        "roles, and each member's join point as last_read_seq: {list:?}"
    );
    assert_eq!(list[1]["id"], bob.user_id);
}

async fn room_objects_are_of_kind_room_without_a_peer(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let created = app.create_room(&alice, "general", false).await;
    assert_eq!(created["kind"], "room", "{created}");
    assert_eq!(created["peer"], serde_json::Value::Null, "{created}");
    assert_eq!(created["owner"], "alice");
    let got = status(&get_room(&app, &alice, "general").await, 200, "GET");
    assert_eq!(
        (got["kind"].clone(), got["peer"].clone()),
        (json!("room"), json!(null))
    );
    let list = app.get("/api/v1/rooms", &alice.access_token).await;
    assert_eq!(list.body["rooms"][0]["kind"], "room");
}

async fn owner_and_moderators_add_members_and_nobody_else_does(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let mem = app.signup("mem").await;
    let out = app.signup("outsider").await;
    for u in ["dave", "erin", "frank"] {
        app.signup(u).await;
    }
    room_with(&app, "team", true, &alice, &[&moder], &[&mem]).await;
    room_with(&app, "public", false, &alice, &[&moder], &[&mem]).await;

    for room in ["team", "public"] {
        let r = add_member(&app, &moder, room, "dave").await;
        let list = status(&r, 200, "a moderator adds a member");
        assert!(
            names(&list["members"]).contains(&"dave".to_string()),
            "{list}"
        );
        let dave = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["username"] == "dave")
            .unwrap()
            .clone();
        assert_eq!(dave["role"], "member", "{dave}");
        let r = add_member(&app, &alice, room, "erin").await;
        status(&r, 200, "the owner adds a member");
        let r = add_member(&app, &alice, room, "erin").await;
        let again = status(&r, 200, "adding twice is idempotent");
        let count = names(&again["members"])
            .iter()
            .filter(|n| *n == "erin")
            .count();
        assert_eq!(count, 1, "{again}");
        refused(
            &add_member(&app, &mem, room, "frank").await,
            403,
            "forbidden",
            &format!("a member adds in {room}"),
        );
        refused(
            &add_member(&app, &alice, room, "ghost").await,
            404,
            "user_not_found",
            "an unknown user",
        );
    }
    refused(
        &add_member(&app, &out, "public", "frank").await,
        403,
        "forbidden",
        "a non-member of a public room adds",
    );
    refused(
        &add_member(&app, &out, "team", "frank").await,
        404,
        "room_not_found",
        "a non-member of a private room adds",
    );
    refused(
        &add_member(&app, &alice, "nowhere", "frank").await,
        404,
        "room_not_found",
        "unknown room",
    );
    assert!(
        !member_names(&app, &alice, "team")
            .await
            .contains(&"frank".into())
    );
    assert!(
        !member_names(&app, &alice, "public")
            .await
            .contains(&"frank".into())
    );
}

async fn adding_a_banned_user_is_user_banned(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let bob = app.signup("bob").await;
    for private in [true, false] {
        let room = if private { "team" } else { "public" };
        room_with(&app, room, private, &alice, &[&moder], &[]).await;
        status(&ban(&app, &alice, room, "bob").await, 200, "ban bob");
        for who in [&alice, &moder] {
            refused(
                &add_member(&app, who, room, "bob").await,
                409,
                "user_banned",
                &format!("{} adds banned bob to {room}", who.username),
            );
        }
        assert!(!member_names(&app, &alice, room).await.contains(&user(&bob)));
    }
}

async fn leaving_is_idempotent_and_the_owner_cannot_leave(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    room_with(&app, "public", false, &alice, &[], &[&bob]).await;
    room_with(&app, "team", true, &alice, &[], &[&bob]).await;

    for room in ["public", "team"] {
        let r = leave(&app, &bob, room).await;
        assert_eq!(r.status, 204, "bob leaves {room}: {:?}", r.body);
        assert!(!member_names(&app, &alice, room).await.contains(&user(&bob)));
        refused(
            &leave(&app, &alice, room).await,
            409,
            "owner_cannot_leave",
            "the owner leaves",
        );
        assert!(
            member_names(&app, &alice, room)
                .await
                .contains(&user(&alice))
        );
    }
    let r = leave(&app, &bob, "public").await;
    assert_eq!(r.status, 204, "leaving a public room twice: {:?}", r.body);
    let r = leave(&app, &carol, "public").await;
    assert_eq!(
        r.status, 204,
        "a non-member leaves a public room: {:?}",
        r.body
    );
    refused(
        &leave(&app, &bob, "team").await,
        404,
        "room_not_found",
        "a private room one has left is invisible",
    );
    refused(
        &get_room(&app, &bob, "team").await,
        404,
        "room_not_found",
        "GET a private room one has left",
    );
    refused(
        &leave(&app, &bob, "nowhere").await,
        404,
        "room_not_found",
        "unknown room",
    );
    status(
        &join(&app, &bob, "public").await,
        200,
        "join again after leaving",
    );
    assert!(
        member_names(&app, &alice, "public")
            .await
            .contains(&user(&bob))
    );
}

async fn removal_follows_the_role_rules(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let mod1 = app.signup("mod1").await;
    let mod2 = app.signup("mod2").await;
    let mem1 = app.signup("mem1").await;
    let mem2 = app.signup("mem2").await;
    let out = app.signup("outsider").await;
    room_with(
        &app,
        "public",
        false,
        &alice,
        &[&mod1, &mod2],
        &[&mem1, &mem2],
    )
    .await;

    let forbidden = [
        (&mem1, "mem2", "a member removes a member"),
        (&mem1, "mod1", "a member removes a moderator"),
        (&mem1, "alice", "a member removes the owner"),
        (&mem1, "outsider", "a member removes a non-member"),
        (&mem1, "ghost", "a member removes an unknown user"),
        (&out, "mem1", "a non-member removes a member"),
        (&mod1, "mod2", "a moderator removes a moderator"),
        (&mod1, "alice", "a moderator removes the owner"),
        (&alice, "alice", "the owner removes themself"),
    ];
    for (who, target, what) in forbidden {
        refused(
            &remove(&app, who, "public", target).await,
            403,
            "forbidden",
            what,
        );
    }
    assert_eq!(
        member_names(&app, &alice, "public").await,
        ["alice", "mem1", "mem2", "mod1", "mod2"],
        "nobody was removed"
    );
    refused(
        &remove(&app, &mod1, "public", "outsider").await,
        404,
        "user_not_found",
        "a moderator removes a non-member",
    );
    refused(
        &remove(&app, &mod1, "public", "ghost").await,
        404,
        "user_not_found",
        "a moderator removes an unknown user",
    );
    let r = remove(&app, &mod1, "public", "mem1").await;
    assert_eq!(r.status, 204, "a moderator removes a member: {:?}", r.body);
    let r = remove(&app, &alice, "public", "mod2").await;
    assert_eq!(r.status, 204, "the owner removes a moderator: {:?}", r.body);
    let r = remove(&app, &alice, "public", "mem2").await;
    assert_eq!(r.status, 204, "the owner removes a member: {:?}", r.body);
    assert_eq!(
        member_names(&app, &alice, "public").await,
        ["alice", "mod1"]
    );
    refused(
        &remove(&app, &alice, "public", "mem1").await,
        404,
        "user_not_found",
        "removing twice",
    );
    refused(
        &remove(&app, &alice, "nowhere", "mem1").await,
        404,
        "room_not_found",
        "unknown room",
    );

    // In a private room, a non-member sees nothing, and a removed member
    // loses sight of the room.
    room_with(&app, "team", true, &alice, &[&mod1], &[&mem1]).await;
    refused(
        &remove(&app, &out, "team", "mem1").await,
        404,
        "room_not_found",
        "a non-member removes in a private room",
    );
    let r = remove(&app, &mod1, "team", "mem1").await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    refused(
        &get_room(&app, &mem1, "team").await,
        404,
        "room_not_found",
        "a removed member of a private room",
    );
    refused(
        &join(&app, &mem1, "team").await,
        404,
        "room_not_found",
        "a private room is joined only by being added",
    );
}

async fn only_the_owner_changes_roles(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    let out = app.signup("outsider").await;
    room_with(&app, "public", false, &alice, &[], &[&bob, &carol]).await;

    refused(
        &set_role(&app, &bob, "public", "carol", "moderator").await,
        403,
        "forbidden",
        "a member promotes",
    );
    refused(
        &set_role(&app, &out, "public", "carol", "moderator").await,
        403,
        "forbidden",
        "a non-member promotes",
    );
    for role in ["admin", "owner", "Moderator", ""] {
        refused(
            &set_role(&app, &alice, "public", "bob", role).await,
            400,
            "invalid_role",
            &format!("role {role:?}"),
        );
    }
    refused(
        &set_role(&app, &bob, "nowhere", "carol", "admin").await,
        400,
        "invalid_role",
        "the role is checked before the room",
    );
    let path = "/api/v1/rooms/public/members/bob/role";
    let r = call(&app, &alice, Method::PUT, path, Some(json!({"role": 1}))).await;
    assert_eq!(r.status, 400, "a role that is not a string: {:?}", r.body);
    let r = call(&app, &alice, Method::PUT, path, Some(json!({}))).await;
    assert_eq!(r.status, 400, "no role: {:?}", r.body);

    let r = set_role(&app, &alice, "public", "bob", "moderator").await;
    let member = status(&r, 200, "the owner promotes");
    assert_eq!(
        keys(&member),
        [
            "avatar_url",
            "bot",
            "created_at",
            "display_name",
            "id",
            "last_read_seq",
            "role",
            "status",
            "username"
        ],
        "{member}"
    );
    assert_eq!(
        (member["username"].clone(), member["role"].clone()),
        (json!("bob"), json!("moderator"))
    );
    let again = status(
        &set_role(&app, &alice, "public", "bob", "moderator").await,
        200,
        "the same role again",
    );
    assert_eq!(again["role"], "moderator");
    refused(
        &set_role(&app, &bob, "public", "carol", "moderator").await,
        403,
        "forbidden",
        "a moderator promotes",
    );
    refused(
        &set_role(&app, &alice, "public", "outsider", "moderator").await,
        404,
        "user_not_found",
        "a non-member",
    );
    refused(
        &set_role(&app, &alice, "public", "ghost", "moderator").await,
        404,
        "user_not_found",
        "an unknown user",
    );
    refused(
        &set_role(&app, &alice, "public", "alice", "member").await,
        403,
        "forbidden",
        "the owner's own role",
    );
    refused(
        &set_role(&app, &alice, "nowhere", "bob", "member").await,
        404,
        "room_not_found",
        "unknown room",
    );
    let roles = |list: serde_json::Value| -> Vec<(String, String)> {
        list["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["username"].as_str().unwrap().to_string(),
                    m["role"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let list = status(&members(&app, &carol, "public").await, 200, "members");
    assert_eq!(
        roles(list),
        [
            ("alice".into(), "owner".into()),
            ("bob".into(), "moderator".into()),
            ("carol".into(), "member".into())
        ]
    );

    // The role takes effect: as a moderator bob removes a member; demoted,
    // he may not.
    status(&join(&app, &out, "public").await, 200, "outsider joins");
    assert_eq!(remove(&app, &bob, "public", "outsider").await.status, 204);
    let demoted = status(
        &set_role(&app, &alice, "public", "bob", "member").await,
        200,
        "demote",
    );
    assert_eq!(demoted["role"], "member");
    refused(
        &remove(&app, &bob, "public", "carol").await,
        403,
        "forbidden",
        "a demoted moderator removes",
    );
}

async fn bans_follow_the_removal_rules_and_remove_the_membership(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let mod1 = app.signup("mod1").await;
    let mod2 = app.signup("mod2").await;
    let mem1 = app.signup("mem1").await;
    let mem2 = app.signup("mem2").await;
    let out = app.signup("outsider").await;
    let early = app.signup("early").await;
    room_with(
        &app,
        "public",
        false,
        &alice,
        &[&mod1, &mod2],
        &[&mem1, &mem2],
    )
    .await;

    let forbidden = [
        (&mem1, "mem2", "a member bans a member"),
        (&mem1, "outsider", "a member bans a non-member"),
        (&out, "mem1", "a non-member bans"),
        (&mod1, "mod2", "a moderator bans a moderator"),
        (&mod1, "alice", "a moderator bans the owner"),
        (&alice, "alice", "the owner bans themself"),
    ];
    for (who, target, what) in forbidden {
        refused(
            &ban(&app, who, "public", target).await,
            403,
            "forbidden",
            what,
        );
    }
    let list = status(&bans(&app, &alice, "public").await, 200, "bans");
    assert_eq!(list, json!({"bans": []}), "nobody banned");

    let r = ban(&app, &mod1, "public", "mem1").await;
    let list = status(&r, 200, "a moderator bans a member");
    assert_eq!(names(&list["bans"]), ["mem1"], "{list}");
    let banned = &list["bans"][0];
    assert_eq!(
        keys(banned),
        [
            "avatar_url",
            "bot",
            "created_at",
            "display_name",
            "id",
            "status",
            "username"
        ],
        "plain user: {banned}"
    );
    assert_eq!(banned["id"], mem1.user_id);
    assert!(
        !member_names(&app, &alice, "public")
            .await
            .contains(&user(&mem1)),
        "banning removes"
    );

    let r = ban(&app, &mod1, "public", "early").await;
    let list = status(&r, 200, "banning a user who is not in the room");
    assert_eq!(
        names(&list["bans"]),
        ["early", "mem1"],
        "ordered by username"
    );
    let r = ban(&app, &mod1, "public", "mem1").await;
    let list = status(&r, 200, "banning twice is idempotent");
    assert_eq!(names(&list["bans"]), ["early", "mem1"]);
    refused(
        &ban(&app, &mod1, "public", "ghost").await,
        404,
        "user_not_found",
        "an unknown user",
    );
    refused(
        &ban(&app, &alice, "nowhere", "mem2").await,
        404,
        "room_not_found",
        "unknown room",
    );
    let list = status(
        &ban(&app, &alice, "public", "mod2").await,
        200,
        "the owner bans a moderator",
    );
    assert_eq!(names(&list["bans"]), ["early", "mem1", "mod2"]);
    assert_eq!(
        member_names(&app, &alice, "public").await,
        ["alice", "mem2", "mod1"]
    );
    refused(
        &join(&app, &early, "public").await,
        404,
        "room_not_found",
        "a user banned in advance cannot join",
    );

    // The same in a private room.
    room_with(&app, "team", true, &alice, &[&mod1], &[&mem2]).await;
    refused(
        &ban(&app, &out, "team", "mem2").await,
        404,
        "room_not_found",
        "a non-member bans in a private room",
    );
    let list = status(&ban(&app, &mod1, "team", "mem2").await, 200, "ban in team");
    assert_eq!(names(&list["bans"]), ["mem2"]);
    assert_eq!(member_names(&app, &alice, "team").await, ["alice", "mod1"]);
}

async fn ban_list_is_for_the_owner_and_moderators(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let mem = app.signup("mem").await;
    let out = app.signup("outsider").await;
    app.signup("zed").await;
    app.signup("abe").await;
    room_with(&app, "public", false, &alice, &[&moder], &[&mem]).await;
    room_with(&app, "team", true, &alice, &[&moder], &[&mem]).await;
    for room in ["public", "team"] {
        status(&ban(&app, &alice, room, "zed").await, 200, "ban zed");
        status(&ban(&app, &alice, room, "abe").await, 200, "ban abe");
        for who in [&alice, &moder] {
            let list = status(&bans(&app, who, room).await, 200, "ban list");
            assert_eq!(names(&list["bans"]), ["abe", "zed"], "{room}");
        }
        refused(&bans(&app, &mem, room).await, 403, "forbidden", "a member");
    }
    refused(
        &bans(&app, &out, "public").await,
        403,
        "forbidden",
        "a non-member of a public room",
    );
    refused(
        &bans(&app, &out, "team").await,
        404,
        "room_not_found",
        "a non-member of a private room",
    );
    refused(
        &bans(&app, &alice, "nowhere").await,
        404,
        "room_not_found",
        "unknown",
    );
}

async fn unban_answers_204_then_404_and_does_not_restore_membership(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let mem = app.signup("mem").await;
    let bob = app.signup("bob").await;
    room_with(&app, "team", true, &alice, &[&moder], &[&mem, &bob]).await;
    status(&ban(&app, &alice, "team", "bob").await, 200, "ban");
    refused(
        &unban(&app, &mem, "team", "bob").await,
        403,
        "forbidden",
        "a member unbans",
    );
    refused(
        &unban(&app, &bob, "team", "bob").await,
        404,
        "room_not_found",
        "the banned user unbans themself",
    );
    let r = unban(&app, &moder, "team", "bob").await;
    assert_eq!(r.status, 204, "a moderator unbans: {:?}", r.body);
    refused(
        &unban(&app, &moder, "team", "bob").await,
        404,
        "user_not_found",
        "not banned any more",
    );
    refused(
        &unban(&app, &alice, "team", "ghost").await,
        404,
        "user_not_found",
        "unknown user",
    );
    refused(
        &unban(&app, &alice, "team", "mem").await,
        404,
        "user_not_found",
        "never banned",
    );
    let list = status(&bans(&app, &alice, "team").await, 200, "bans");
    assert_eq!(list, json!({"bans": []}));
    assert_eq!(
        member_names(&app, &alice, "team").await,
        ["alice", "mem", "moder"],
        "unbanning does not make them a member again"
    );
    refused(
        &get_room(&app, &bob, "team").await,
        404,
        "room_not_found",
        "an unbanned non-member of a private room still sees nothing",
    );
    status(
        &add_member(&app, &alice, "team", "bob").await,
        200,
        "added again",
    );
    status(&get_room(&app, &bob, "team").await, 200, "back in");
    // The owner unbans too.
    status(&ban(&app, &moder, "team", "bob").await, 200, "ban again");
    assert_eq!(unban(&app, &alice, "team", "bob").await.status, 204);
}

/// Everything a banned user tries on `room`, next to the same on a room
/// that never existed: the same answers.
async fn assert_looks_missing(app: &TestApp, who: &TestUser, room: &str) {
    let paths = |r: &str| {
        vec![
            (Method::GET, format!("/api/v1/rooms/{r}"), None),
            (Method::GET, format!("/api/v1/rooms/{r}/messages"), None),
            (
                Method::GET,
                format!("/api/v1/rooms/{r}/messages?after=0"),
                None,
            ),
            (Method::GET, format!("/api/v1/rooms/{r}/messages/1"), None),
            (Method::GET, format!("/api/v1/rooms/{r}/members"), None),
            (Method::GET, format!("/api/v1/rooms/{r}/events"), None),
            (Method::POST, format!("/api/v1/rooms/{r}/join"), None),
            (Method::POST, format!("/api/v1/rooms/{r}/leave"), None),
            (
                Method::POST,
                format!("/api/v1/rooms/{r}/messages"),
                Some(json!({"body": "let me in"})),
            ),
            (
                Method::PATCH,
                format!("/api/v1/rooms/{r}/messages/1"),
                Some(json!({"body": "edited"})),
            ),
            (
                Method::PUT,
                format!("/api/v1/rooms/{r}/messages/1/reactions/x"),
                None,
            ),
        ]
    };
    for ((method, path, body), (_, unknown, _)) in paths(room).into_iter().zip(paths("nowhere")) {
        let r = call(app, who, method.clone(), &path, body.clone()).await;
        let u = call(app, who, method.clone(), &unknown, body).await;
        refused(
            &r,
            404,
            "room_not_found",
            &format!("{method} {path} as banned {}", who.username),
        );
        assert_eq!(
            r.body, u.body,
            "{method} {path}: the same answer as an unknown room"
        );
    }
    assert!(
        !room_names(app, who).await.contains(&room.to_string()),
        "GET /rooms must not list {room} for banned {}",
        who.username
    );
    let unknown = unknown_room_error(app, who).await;
    for command in ["SUBSCRIBE", "SEND"] {
        let mut c = StompClient::connect(app, &who.access_token).await;
        if command == "SUBSCRIBE" {
            send_subscribe(&mut c, "s", room).await;
        } else {
            send_raw(&mut c, room, "let me in", "r").await;
        }
        let e = c.expect_error_then_close().await;
        assert_eq!(
            e.header("message").unwrap_or_default(),
            unknown,
            "{command} by banned {}: the unknown-room ERROR",
            who.username
        );
    }
}

async fn banned_user_sees_room_as_missing(backend: Backend, private: bool) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    room_with(&app, "club", private, &alice, &[], &[&bob]).await;
    say(&app, &bob, "club", "hello from bob").await;
    status(&ban(&app, &alice, "club", "bob").await, 200, "ban");
    assert_looks_missing(&app, &bob, "club").await;
    // Nothing bob tried was stored or joined.
    let page = status(
        &app.get("/api/v1/rooms/club/messages", &alice.access_token)
            .await,
        200,
        "history",
    );
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(member_names(&app, &alice, "club").await, ["alice"]);

    assert_eq!(unban(&app, &alice, "club", "bob").await.status, 204);
    if private {
        refused(
            &get_room(&app, &bob, "club").await,
            404,
            "room_not_found",
            "not a member",
        );
        status(
            &add_member(&app, &alice, "club", "bob").await,
            200,
            "add again",
        );
    } else {
        status(
            &get_room(&app, &bob, "club").await,
            200,
            "visible after unban",
        );
        status(&join(&app, &bob, "club").await, 200, "join after unban");
    }
    assert_eq!(member_names(&app, &alice, "club").await, ["alice", "bob"]);
    say(&app, &bob, "club", "back").await;
    let mut c = StompClient::connect(&app, &bob.access_token).await;
    c.subscribe("s", "club").await;
    c.close().await;
}

async fn a_banned_user_sees_a_public_room_as_missing_until_unbanned(backend: Backend) {
    banned_user_sees_room_as_missing(backend, false).await;
}

async fn a_banned_user_sees_a_private_room_as_missing_until_unbanned(backend: Backend) {
    banned_user_sees_room_as_missing(backend, true).await;
}

async fn a_removed_member_of_a_public_room_can_join_again_and_a_banned_one_cannot(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    room_with(&app, "public", false, &alice, &[], &[&bob, &carol]).await;
    assert_eq!(remove(&app, &alice, "public", "bob").await.status, 204);
    status(&ban(&app, &alice, "public", "carol").await, 200, "ban");
    let r = join(&app, &bob, "public").await;
    let room = status(&r, 200, "a removed member joins again");
    assert_eq!(room["name"], "public");
    // A SUBSCRIBE joins too.
    assert_eq!(remove(&app, &alice, "public", "bob").await.status, 204);
    let mut c = StompClient::connect(&app, &bob.access_token).await;
    c.subscribe("s", "public").await;
    refused(
        &join(&app, &carol, "public").await,
        404,
        "room_not_found",
        "banned joins",
    );
    let mut c2 = StompClient::connect(&app, &carol.access_token).await;
    send_subscribe(&mut c2, "s", "public").await;
    c2.expect_error_then_close().await;
    assert_eq!(member_names(&app, &alice, "public").await, ["alice", "bob"]);
    c.close().await;
}

async fn only_the_owner_deletes_a_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let mem = app.signup("mem").await;
    let out = app.signup("outsider").await;
    room_with(&app, "public", false, &alice, &[&moder], &[&mem]).await;
    room_with(&app, "team", true, &alice, &[&moder], &[&mem]).await;
    for room in ["public", "team"] {
        for who in [&moder, &mem] {
            refused(
                &delete_room(&app, who, room).await,
                403,
                "forbidden",
                &format!("{} deletes {room}", who.username),
            );
        }
    }
    refused(
        &delete_room(&app, &out, "public").await,
        403,
        "forbidden",
        "a non-member deletes a public room",
    );
    refused(
        &delete_room(&app, &out, "team").await,
        404,
        "room_not_found",
        "a non-member deletes a private room",
    );
    refused(
        &delete_room(&app, &alice, "nowhere").await,
        404,
        "room_not_found",
        "unknown",
    );
    status(&get_room(&app, &mem, "team").await, 200, "still there");
    for room in ["public", "team"] {
        let r = delete_room(&app, &alice, room).await;
        assert_eq!(r.status, 204, "the owner deletes {room}: {:?}", r.body);
        for who in [&alice, &moder, &mem] {
            refused(
                &get_room(&app, who, room).await,
                404,
                "room_not_found",
                "deleted",
            );
            assert!(!room_names(&app, who).await.contains(&room.to_string()));
        }
        refused(
            &delete_room(&app, &alice, room).await,
            404,
            "room_not_found",
            "twice",
        );
    }
}

async fn a_deleted_rooms_name_is_free_and_nothing_of_it_leaks_into_the_new_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    for private in [false, true] {
        room_with(&app, "club", private, &alice, &[&bob], &[&carol]).await;
        for i in 0..3 {
            say(&app, &carol, "club", &format!("old {i}")).await;
        }
        status(&ban(&app, &alice, "club", "carol").await, 200, "ban carol");
        assert_eq!(delete_room(&app, &alice, "club").await.status, 204);

        // Carol, banned from the old room, creates the new one.
        let created = app.create_room(&carol, "club", private).await;
        assert_eq!(created["owner"], "carol", "{created}");
        assert_ne!(created["id"], json!(null));
        assert_eq!(
            member_names(&app, &carol, "club").await,
            ["carol"],
            "no old members"
        );
        let page = status(
            &app.get("/api/v1/rooms/club/messages", &carol.access_token)
                .await,
            200,
            "new history",
        );
        assert_eq!(page["messages"], json!([]), "none of the old log");
        refused(
            &app.get("/api/v1/rooms/club/messages/1", &carol.access_token)
                .await,
            404,
            "message_not_found",
            "old seq 1",
        );
        let list = status(&bans(&app, &carol, "club").await, 200, "new bans");
        assert_eq!(list, json!({"bans": []}), "no old bans");
        let first = say(&app, &carol, "club", "new room").await;
        assert_eq!(first["seq"], 1, "the new log starts at 1");
        if private {
            for who in [&alice, &bob] {
                refused(
                    &get_room(&app, who, "club").await,
                    404,
                    "room_not_found",
                    "old member",
                );
            }
        } else {
            let room = status(&get_room(&app, &alice, "club").await, 200, "public");
            assert_eq!(room["owner"], "carol");
        }
        for who in [&alice, &bob] {
            refused(
                &remove(&app, who, "club", "carol").await,
                if private { 404 } else { 403 },
                if private {
                    "room_not_found"
                } else {
                    "forbidden"
                },
                "old owner and moderator have no rights in the new room",
            );
        }
        assert_eq!(delete_room(&app, &carol, "club").await.status, 204);
    }
}

async fn moderators_and_the_owner_delete_other_members_messages(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let mem1 = app.signup("mem1").await;
    let mem2 = app.signup("mem2").await;
    room_with(&app, "public", false, &alice, &[&moder], &[&mem1, &mem2]).await;
    let seqs: Vec<i64> = {
        let mut out = Vec::new();
        for i in 0..3 {
            let m = say(&app, &mem1, "public", &format!("from mem1 {i}")).await;
            out.push(m["seq"].as_i64().unwrap());
        }
        out
    };
    let del = |who: &TestUser, seq: i64| {
        let path = format!("/api/v1/rooms/public/messages/{seq}");
        let token = who.access_token.clone();
        let app = &app;
        async move { app.request(Method::DELETE, &path, Some(&token), None).await }
    };
    refused(
        &del(&mem2, seqs[0]).await,
        403,
        "forbidden",
        "a member deletes another's message",
    );
    let e = status(&del(&moder, seqs[0]).await, 200, "a moderator deletes");
    assert_eq!(
        (e["type"].clone(), e["sender"].clone(), e["target"].clone()),
        (json!("delete"), json!("moder"), json!(seqs[0]))
    );
    let e = status(&del(&alice, seqs[1]).await, 200, "the owner deletes");
    assert_eq!(e["sender"], "alice");
    status(
        &set_role(&app, &alice, "public", "moder", "member").await,
        200,
        "demote",
    );
    refused(
        &del(&moder, seqs[2]).await,
        403,
        "forbidden",
        "a demoted moderator deletes",
    );
}

async fn concurrent_adds_removes_and_bans_of_one_target_end_banned_and_not_a_member(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let bob = app.signup("bob").await;
    room_with(&app, "team", true, &alice, &[&moder], &[&bob]).await;
    let answers = join_all((0..21).map(|i| {
        let app = &app;
        let who = if i % 2 == 0 { &alice } else { &moder };
        async move {
            match i % 3 {
                0 => ("add", add_member(app, who, "team", "bob").await),
                1 => ("remove", remove(app, who, "team", "bob").await),
                _ => ("ban", ban(app, who, "team", "bob").await),
            }
        }
    }))
    .await;
    for (op, r) in &answers {
        let ok = match *op {
            "add" => r.status == 200 || (r.status == 409 && r.code() == "user_banned"),
            "remove" => r.status == 204 || (r.status == 404 && r.code() == "user_not_found"),
            _ => r.status == 200,
        };
        assert!(ok, "{op}: {} {:?}", r.status, r.body);
    }
    let list = status(&bans(&app, &alice, "team").await, 200, "bans");
    assert_eq!(names(&list["bans"]), ["bob"], "banned");
    assert_eq!(
        member_names(&app, &alice, "team").await,
        ["alice", "moder"],
        "a banned user is never left a member"
    );
    refused(
        &get_room(&app, &bob, "team").await,
        404,
        "room_not_found",
        "bob",
    );
}

async fn concurrent_joins_racing_a_ban_end_banned_and_not_a_member(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "public", false).await;
    let joins = join_all((0..20).map(|_| join(&app, &bob, "public")));
    let banning = ban(&app, &alice, "public", "bob");
    let (joins, banned) = tokio::join!(joins, banning);
    status(&banned, 200, "ban");
    for r in &joins {
        assert!(
            r.status == 200 || (r.status == 404 && r.code() == "room_not_found"),
            "join: {} {:?}",
            r.status,
            r.body
        );
    }
    assert_eq!(member_names(&app, &alice, "public").await, ["alice"]);
    refused(
        &join(&app, &bob, "public").await,
        404,
        "room_not_found",
        "after the race",
    );
}

async fn membership_routes_need_a_token(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.signup("bob").await;
    app.create_room(&alice, "public", false).await;
    let routes = [
        (
            Method::POST,
            "/api/v1/rooms/public/members",
            Some(json!({"username": "bob"})),
        ),
        (Method::POST, "/api/v1/rooms/public/leave", None),
        (Method::DELETE, "/api/v1/rooms/public/members/bob", None),
        (
            Method::PUT,
            "/api/v1/rooms/public/members/bob/role",
            Some(json!({"role": "member"})),
        ),
        (
            Method::POST,
            "/api/v1/rooms/public/bans",
            Some(json!({"username": "bob"})),
        ),
        (Method::GET, "/api/v1/rooms/public/bans", None),
        (Method::DELETE, "/api/v1/rooms/public/bans/bob", None),
        (Method::DELETE, "/api/v1/rooms/public", None),
        (
            Method::POST,
            "/api/v1/dms",
            Some(json!({"username": "bob"})),
        ),
        (Method::GET, "/api/v1/me/blocks", None),
        (Method::PUT, "/api/v1/me/blocks/bob", None),
        (Method::DELETE, "/api/v1/me/blocks/bob", None),
    ];
    for (method, path, body) in routes {
        let r = app.request(method.clone(), path, None, body.clone()).await;
        refused(
            &r,
            401,
            "unauthorized",
            &format!("{method} {path} without a token"),
        );
        let r = app
            .request(method.clone(), path, Some("not-a-jwt"), body)
            .await;
        refused(
            &r,
            401,
            "unauthorized",
            &format!("{method} {path} with a bad token"),
        );
    }
    status(
        &get_room(&app, &alice, "public").await,
        200,
        "nothing happened",
    );
}

async fn bodies_are_checked_before_the_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.signup("bob").await;
    app.create_room(&alice, "public", false).await;
    for room in ["public", "nowhere"] {
        for (method, path, body) in [
            (
                Method::POST,
                format!("/api/v1/rooms/{room}/members"),
                json!({}),
            ),
            (
                Method::POST,
                format!("/api/v1/rooms/{room}/members"),
                json!({"username": "bob", "extra": true}),
            ),
            (
                Method::POST,
                format!("/api/v1/rooms/{room}/bans"),
                json!({"user": "bob"}),
            ),
            (
                Method::PUT,
                format!("/api/v1/rooms/{room}/members/bob/role"),
                json!({"role": "member", "extra": 1}),
            ),
        ] {
            let r = call(&app, &alice, method.clone(), &path, Some(body.clone())).await;
            assert_eq!(r.status, 400, "{method} {path} {body}: {:?}", r.body);
        }
    }
    assert_eq!(member_names(&app, &alice, "public").await, ["alice"]);
}

async fn an_added_or_returning_members_last_read_seq_is_their_join_point(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "team", true).await;
    app.create_room(&alice, "public", false).await;
    say(&app, &alice, "team", "one").await;
    say(&app, &alice, "team", "two").await;
    status(
        &add_member(&app, &alice, "team", "bob").await,
        200,
        "add bob",
    );
    say(&app, &alice, "public", "one").await;
    status(&join(&app, &carol, "public").await, 200, "carol joins");
    for _ in 0..3 {
        say(&app, &alice, "public", "more").await;
    }
    assert_eq!(leave(&app, &carol, "public").await.status, 204);
    status(
        &join(&app, &carol, "public").await,
        200,
        "carol joins again",
    );
    let seq_of = |list: Value, who: &str| {
        list["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["username"] == who)
            .unwrap_or_else(|| panic!("{who} in {list}"))["last_read_seq"]
            .clone()
    };
    let team = status(&members(&app, &bob, "team").await, 200, "team");
    assert_eq!(seq_of(team, "bob"), 2, "added after seq 2");
    let public = status(&members(&app, &carol, "public").await, 200, "public");
    assert_eq!(
        seq_of(public.clone(), "carol"),
        4,
        "joined again after seq 4"
    );
    assert_eq!(seq_of(public, "alice"), 0, "the creator");
}

async fn a_removed_or_banned_moderator_comes_back_as_a_member(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    room_with(&app, "public", false, &alice, &[&bob, &carol], &[]).await;
    assert_eq!(remove(&app, &alice, "public", "bob").await.status, 204);
    status(&join(&app, &bob, "public").await, 200, "bob joins again");
    status(
        &ban(&app, &alice, "public", "carol").await,
        200,
        "ban carol",
    );
    assert_eq!(unban(&app, &alice, "public", "carol").await.status, 204);
    status(
        &join(&app, &carol, "public").await,
        200,
        "carol joins again",
    );
    let list = status(&members(&app, &alice, "public").await, 200, "members");
    let roles: Vec<(String, String)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".into(), "owner".into()),
            ("bob".into(), "member".into()),
            ("carol".into(), "member".into())
        ],
        "a moderator who lost membership does not keep the role"
    );
    app.signup("dave").await;
    status(
        &join(&app, &app.signup("erin").await, "public").await,
        200,
        "erin",
    );
    refused(
        &remove(&app, &bob, "public", "erin").await,
        403,
        "forbidden",
        "the old moderator has no moderator rights",
    );
}

async fn usernames_in_paths_and_bodies_match_case_insensitively(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("Bob").await;
    room_with(&app, "team", true, &alice, &[], &[]).await;
    status(
        &add_member(&app, &alice, "team", "BOB").await,
        200,
        "add BOB",
    );
    let list = status(&members(&app, &alice, "team").await, 200, "members");
    assert_eq!(
        names(&list["members"]),
        ["alice", "Bob"],
        "the canonical name"
    );
    let m = status(
        &set_role(&app, &alice, "team", "bob", "moderator").await,
        200,
        "role",
    );
    assert_eq!(m["username"], "Bob");
    refused(
        &remove(&app, &bob, "team", "ALICE").await,
        403,
        "forbidden",
        "the owner, in capitals",
    );
    refused(
        &set_role(&app, &alice, "team", "ALICE", "member").await,
        403,
        "forbidden",
        "own role",
    );
    assert_eq!(remove(&app, &alice, "team", "BOB").await.status, 204);
    let bans = status(&ban(&app, &alice, "team", "bOb").await, 200, "ban");
    assert_eq!(names(&bans["bans"]), ["Bob"]);
    assert_eq!(unban(&app, &alice, "team", "BOB").await.status, 204);
    // Oneself, in another case, is still oneself.
    refused(
        &open_dm(&app, &alice, "ALICE").await,
        400,
        "invalid_username",
        "a DM with oneself",
    );
    refused(
        &block(&app, &alice, "Alice").await,
        400,
        "invalid_username",
        "blocking oneself",
    );
    let dm = status(&open_dm(&app, &alice, "BOB").await, 201, "DM");
    assert_eq!(dm["peer"], "Bob", "the canonical name: {dm}");
    assert_eq!(
        status(&open_dm(&app, &bob, "ALICE").await, 200, "DM back")["id"],
        dm["id"]
    );
    assert_eq!(block(&app, &alice, "BOB").await.status, 204);
    assert_eq!(
        names(&status(&blocks(&app, &alice).await, 200, "blocks")["blocks"]),
        ["Bob"]
    );
    assert_eq!(unblock(&app, &alice, "bob").await.status, 204);
    assert_eq!(
        status(&blocks(&app, &alice).await, 200, "blocks"),
        json!({"blocks": []})
    );
}

async fn deleting_a_room_deletes_its_events_reactions_and_mentions(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    room_with(&app, "doomed", false, &alice, &[], &[&bob]).await;
    room_with(&app, "kept", false, &alice, &[], &[&bob]).await;
    for room in ["doomed", "kept"] {
        let said = say(&app, &alice, room, "hello @bob").await;
        let seq = said["seq"].as_i64().unwrap();
        let path = format!("/api/v1/rooms/{room}/messages/{seq}/reactions/ok");
        status(
            &call(&app, &bob, Method::PUT, &path, None).await,
            200,
            "bob reacts",
        );
        say(&app, &bob, room, "hi").await;
    }
    let rows = |table: &str, room: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE room_id = \
             (SELECT id FROM rooms WHERE name = '{room}')"
        )
    };
    let doomed_id = app
        .count("SELECT id FROM rooms WHERE name = 'doomed'")
        .await;
    for table in ["messages", "reactions", "mentions"] {
        assert!(
            app.count(&rows(table, "doomed")).await > 0,
            "{table} stored"
        );
    }
    assert_eq!(delete_room(&app, &alice, "doomed").await.status, 204);
    for table in ["messages", "reactions", "mentions"] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM {table} WHERE room_id = {doomed_id}"
            ))
            .await,
            0,
            "the deleted room's {table} are gone from the database"
        );
        assert!(
            app.count(&rows(table, "kept")).await > 0,
            "the other room's {table} stay"
        );
    }
}
