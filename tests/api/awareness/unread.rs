//! Unread and mention counts in room objects: `last_seq` and `membership`
//! in `GET /rooms` and `GET /rooms/{name}`, counting only others' current
//! messages after the marker.

use serde_json::json;

use super::*;
use crate::db::Backend;
use crate::helpers::on_both_backends;

on_both_backends!(
    room_objects_carry_last_seq_and_membership,
    a_joining_member_starts_with_nothing_unread,
    unread_counts_only_others_messages_after_the_marker,
    deleted_messages_edits_and_reactions_are_not_unread,
    messages_from_blocked_users_are_not_unread,
    mentions_count_unread_messages_mentioning_the_reader,
);

async fn room_objects_carry_last_seq_and_membership(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve01").await;
    let created = app.create_room(&alice, "general", false).await;
    assert_eq!(created["last_seq"], 0, "{created}");
    assert_eq!(
        created["membership"],
        json!({"role": "owner", "last_read_seq": 0, "unread": 0, "mentions": 0,
               "notifications": {"level": "mentions", "muted_until": null}}),
        "{created}"
    );
    say(&app, &alice, "general", "one").await;
    say(&app, &alice, "general", "two").await;
    let mine = room(&app, &alice, "general").await;
    assert_eq!(mine["last_seq"], 2, "{mine}");
    assert_eq!(mine["membership"]["role"], "owner", "{mine}");
    assert_eq!(
        mine["membership"]["unread"], 0,
        "own messages are never unread: {mine}"
    );
    let theirs = room(&app, &eve, "general").await;
    assert_eq!(theirs["last_seq"], 2, "{theirs}");
    assert!(
        theirs["membership"].is_null(),
        "a non-member's membership is null: {theirs}"
    );
    let listed = listed_room(&app, &eve, "general").await;
    assert_eq!(listed["last_seq"], 2, "{listed}");
    assert!(listed["membership"].is_null(), "{listed}");
    let joined = join(&app, &eve, "general").await;
    assert_eq!(joined["membership"]["role"], "member", "{joined}");
}

async fn a_joining_member_starts_with_nothing_unread(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "secret", true).await;
    for i in 0..3 {
        say(&app, &alice, "general", &format!("m{i}")).await;
        say(&app, &alice, "secret", &format!("m{i}")).await;
    }
    let joined = join(&app, &bob, "general").await;
    assert_eq!(
        joined["membership"],
        json!({"role": "member", "last_read_seq": 3, "unread": 0, "mentions": 0,
               "notifications": {"level": "mentions", "muted_until": null}}),
        "{joined}"
    );
    add_member(&app, &alice, "secret", &carol).await;
    let r = room(&app, &carol, "secret").await;
    assert_eq!(r["membership"]["last_read_seq"], 3, "{r}");
    assert_eq!(r["membership"]["unread"], 0, "{r}");
}

async fn unread_counts_only_others_messages_after_the_marker(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    for i in 0..5 {
        say(&app, &alice, "general", &format!("m{i}")).await;
    }
    say(&app, &bob, "general", "mine").await;
    assert_eq!(counts(&app, &bob, "general").await, (5, 0));
    assert_eq!(counts(&app, &alice, "general").await, (1, 0));
    mark_read(&app, &bob, "general", 2).await;
    assert_eq!(counts(&app, &bob, "general").await, (3, 0));
    mark_read(&app, &bob, "general", 6).await;
    assert_eq!(counts(&app, &bob, "general").await, (0, 0));
}

async fn deleted_messages_edits_and_reactions_are_not_unread(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    let first = say(&app, &alice, "general", "first").await;
    let second = say(&app, &alice, "general", "second @bobby").await;
    let third = say(&app, &alice, "general", "third").await;
    assert_eq!(counts(&app, &bob, "general").await, (3, 1));
    let r = call(
        &app,
        &alice,
        Method::PATCH,
        &format!("/api/v1/rooms/general/messages/{first}"),
        Some(json!({"body": "first, edited"})),
    )
    .await;
    assert!(r.status.is_success(), "edit: {:?}", r.body);
    let r = call(
        &app,
        &alice,
        Method::PUT,
        &format!("/api/v1/rooms/general/messages/{third}/reactions/ok"),
        None,
    )
    .await;
    assert!(r.status.is_success(), "react: {:?}", r.body);
    assert_eq!(
        counts(&app, &bob, "general").await,
        (3, 1),
        "edits and reactions are not messages"
    );
    let r = call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/rooms/general/messages/{second}"),
        None,
    )
    .await;
    assert!(r.status.is_success(), "delete: {:?}", r.body);
    assert_eq!(
        counts(&app, &bob, "general").await,
        (2, 0),
        "a deleted message is neither unread nor a mention"
    );
    let r = room(&app, &bob, "general").await;
    assert_eq!(r["last_seq"], 6, "edit, reaction and delete take seqs: {r}");
}

async fn messages_from_blocked_users_are_not_unread(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    block(&app, &bob, &carol).await;
    say(&app, &carol, "general", "hey @bobby").await;
    say(&app, &carol, "general", "hey again").await;
    say(&app, &alice, "general", "hello @bobby").await;
    assert_eq!(
        counts(&app, &bob, "general").await,
        (1, 1),
        "the blocked user's messages and mentions do not count"
    );
    assert_eq!(counts(&app, &alice, "general").await, (2, 0));
}

async fn mentions_count_unread_messages_mentioning_the_reader(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bobby").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;
    say(&app, &alice, "general", "@bobby look").await;
    say(&app, &alice, "general", "@carol look").await;
    say(&app, &carol, "general", "hi @BOBBY and @bobby").await;
    say(&app, &alice, "general", "no mention, bobby").await;
    assert_eq!(counts(&app, &bob, "general").await, (4, 2));
    assert_eq!(counts(&app, &carol, "general").await, (3, 1));
    mark_read(&app, &bob, "general", 1).await;
    assert_eq!(
        counts(&app, &bob, "general").await,
        (3, 1),
        "mentions before the marker are read"
    );
    say(&app, &bob, "general", "@bobby talking to myself").await;
    assert_eq!(
        counts(&app, &bob, "general").await,
        (3, 1),
        "own messages never count, mentioning oneself or not"
    );
}
