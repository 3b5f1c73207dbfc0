//! Losing access takes effect live, on one instance: STOMP subscriptions
//! get a last `access_revoked` MESSAGE and nothing after it, SSE streams end
//! with `event: access_revoked`, held long polls answer 404, later SENDs get
//! the unknown-room ERROR.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::helpers::on_both_backends;

on_both_backends!(
    a_removed_subscriber_gets_access_revoked_and_nothing_after_it,
    a_banned_subscriber_gets_access_revoked_and_nothing_after_it,
    a_subscriber_who_leaves_gets_access_revoked_and_nothing_after_it,
    deleting_a_room_revokes_every_subscriber_and_nothing_of_a_new_room_leaks,
    a_removed_members_sse_stream_ends_with_access_revoked,
    a_banned_members_sse_stream_ends_with_access_revoked,
    a_leaving_members_sse_stream_ends_with_access_revoked,
    deleting_a_room_ends_every_sse_stream_with_access_revoked,
    a_held_long_poll_answers_404_when_the_member_is_removed,
    a_held_long_poll_answers_404_when_the_member_is_banned,
    a_held_long_poll_answers_404_when_the_member_leaves,
    a_held_long_poll_answers_404_when_the_room_is_deleted,
    a_new_subscribe_after_revocation_checks_access_afresh,
    revocation_of_a_private_room_subscription_refuses_later_sends,
    a_connection_that_only_sent_is_refused_after_removal,
    banning_a_non_member_ends_their_streams_of_a_public_room,
    a_removal_racing_a_flood_of_messages_ends_each_stream_with_access_revoked_last,
    deleting_a_room_while_messages_are_sent_leaks_nothing_into_a_new_room_of_the_name,
    deleting_a_room_revokes_many_subscriptions_at_once_within_2s,
    subscriptions_streams_and_polls_opened_while_a_ban_lands_never_see_later_messages,
    an_activity_subscription_is_revoked_with_the_rooms_messages,
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    Removed,
    Banned,
    Left,
    Deleted,
}

impl Loss {
    fn reason(self) -> &'static str {
        match self {
            Loss::Removed => "removed",
            Loss::Banned => "banned",
            Loss::Left => "left",
            Loss::Deleted => "room_deleted",
        }
    }
}

/// The people of each scenario: alice owns, moder moderates, bob loses
/// access, carol watches.
struct Cast {
    alice: TestUser,
    moder: TestUser,
    bob: TestUser,
    carol: TestUser,
}

async fn cast(app: &TestApp, room: &str, private: bool) -> Cast {
    let alice = app.signup("alice").await;
    let moder = app.signup("moder").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    room_with(app, room, private, &alice, &[&moder], &[&bob, &carol]).await;
    Cast {
        alice,
        moder,
        bob,
        carol,
    }
}

/// Makes bob lose access the given way (a moderator removes or bans him,
/// he leaves, the owner deletes the room).
async fn lose(app: &TestApp, c: &Cast, room: &str, loss: Loss) {
    let r = match loss {
        Loss::Removed => remove(app, &c.moder, room, "bob").await,
        Loss::Banned => ban(app, &c.moder, room, "bob").await,
        Loss::Left => leave(app, &c.bob, room).await,
        Loss::Deleted => delete_room(app, &c.alice, room).await,
    };
    assert!(
        r.status == 200 || r.status == 204,
        "{loss:?}: {} {:?}",
        r.status,
        r.body
    );
}

async fn stomp_revocation(backend: Backend, loss: Loss) {
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    // Bob: two subscriptions on one connection, one on another; one of
    // them with client acks.
    let mut bob1 = StompClient::connect(&app, &c.bob.access_token).await;
    bob1.subscribe("b1", "general").await;
    bob1.subscribe_with("b2", "general", &[("ack", "client-individual")])
        .await;
    let mut bob2 = StompClient::connect(&app, &c.bob.access_token).await;
    bob2.subscribe("b3", "general").await;
    // Another room on the same connection is not affected.
    app.create_room(&c.carol, "other", false).await;
    bob2.subscribe("o", "other").await;
    let mut carol = StompClient::connect(&app, &c.carol.access_token).await;
    carol.subscribe("c", "general").await;
    let mut alice_sender = StompClient::connect(&app, &c.alice.access_token).await;

    let first = alice_sender.send_chat("general", "before", "r0").await;
    assert_eq!(first.seq(), 1);
    for (client, n) in [(&mut bob1, 2), (&mut bob2, 1), (&mut carol, 1)] {
        let got = client.expect_messages(n).await;
        assert!(got.iter().all(|f| f.seq() == 1), "before the loss");
    }

    lose(&app, &c, "general", loss).await;
    let deadline = Instant::now() + REVOKE_WITHIN;
    let mut revoked_subs = Vec::new();
    for (client, subs) in [(&mut bob1, 2), (&mut bob2, 1)] {
        for _ in 0..subs {
            let left = deadline.saturating_duration_since(Instant::now());
            let (before, f) = until_revoked(client, left).await;
            assert!(
                before.is_empty(),
                "nothing new before access_revoked: {before:?}"
            );
            let sub = f.expect_header("subscription");
            assert_revoked(&f, &sub, "general", loss.reason());
            revoked_subs.push(sub);
        }
    }
    revoked_subs.sort();
    assert_eq!(
        revoked_subs,
        ["b1", "b2", "b3"],
        "one access_revoked per subscription"
    );
    if loss == Loss::Deleted {
        let (before, f) = until_revoked(&mut carol, REVOKE_WITHIN).await;
        assert!(before.is_empty(), "{before:?}");
        assert_revoked(&f, "c", "general", "room_deleted");
        return deleted_room_stays_silent(&app, &c, bob1, carol).await;
    }

    // Everything sent afterwards reaches carol and never bob.
    let mut seqs = Vec::new();
    for i in 0..3 {
        let receipt = alice_sender
            .send_chat("general", &format!("after {i}"), &format!("r{}", i + 1))
            .await;
        seqs.push(receipt.seq());
    }
    let posted = say(&app, &c.carol, "general", "after, over http").await;
    seqs.push(posted["seq"].as_i64().unwrap());
    assert_eq!(seqs, [2, 3, 4, 5]);
    let got = carol.expect_messages(4).await;
    assert_eq!(
        got.iter().map(|f| f.seq()).collect::<Vec<_>>(),
        seqs,
        "carol keeps receiving"
    );
    bob2.expect_no_frame_for(QUIET).await;
    bob1.expect_no_frame_for(QUIET).await;
    let other = say(&app, &c.carol, "other", "in another room").await;
    let f = bob2.expect_message().await;
    assert_eq!(f.header("subscription").as_deref(), Some("o"), "{f}");
    assert_eq!(f.json(), other, "the other room's subscription goes on");
    let r = bob2
        .send_chat("other", "bob still talks elsewhere", "o1")
        .await;
    assert_eq!(r.seq(), 2);
    bob2.expect_message().await;

    // UNSUBSCRIBE of a revoked id is fine; a SEND there is the unknown-room
    // ERROR, then close.
    let unknown = unknown_room_error(&app, &c.carol).await;
    bob1.send(stomp_client::frame(
        "UNSUBSCRIBE",
        &[("id", "b1"), ("receipt", "u")],
        "",
    ))
    .await;
    bob1.expect_receipt("u").await;
    send_raw(&mut bob1, "general", "still here?", "late").await;
    let e = bob1.expect_error_then_close().await;
    assert_eq!(e.header("message").unwrap_or_default(), unknown, "{e}");
    let history = crate::stomp::history(&app, &c.alice.access_token, "general").await;
    assert_eq!(history.len(), 5, "the late SEND stored nothing");
    assert!(history.iter().all(|m| m["sender"] != "bob"));
    carol.expect_no_frame_for(QUIET).await;
    bob2.close().await;
}

/// After a deletion: the name is free; a new room of the same name reaches
/// none of the old subscriptions.
async fn deleted_room_stays_silent(
    app: &TestApp,
    c: &Cast,
    mut bob: StompClient,
    mut carol: StompClient,
) {
    app.create_room(&c.alice, "general", false).await;
    let m = say(app, &c.alice, "general", "a new room").await;
    assert_eq!(m["seq"], 1);
    bob.expect_no_frame_for(QUIET).await;
    carol.expect_no_frame_for(Duration::from_millis(100)).await;
    let mut fresh = StompClient::connect(app, &c.carol.access_token).await;
    fresh.subscribe("n", "general").await;
    say(app, &c.alice, "general", "to the new subscriber").await;
    let f = fresh.expect_message().await;
    assert_eq!(
        (f.seq(), f.json()["body"].clone()),
        (2, json!("to the new subscriber"))
    );
    carol.expect_no_frame_for(Duration::from_millis(100)).await;
    bob.expect_no_frame_for(Duration::from_millis(100)).await;
    fresh.close().await;
}

async fn a_removed_subscriber_gets_access_revoked_and_nothing_after_it(backend: Backend) {
    stomp_revocation(backend, Loss::Removed).await;
}

async fn a_banned_subscriber_gets_access_revoked_and_nothing_after_it(backend: Backend) {
    stomp_revocation(backend, Loss::Banned).await;
}

async fn a_subscriber_who_leaves_gets_access_revoked_and_nothing_after_it(backend: Backend) {
    stomp_revocation(backend, Loss::Left).await;
}

async fn deleting_a_room_revokes_every_subscriber_and_nothing_of_a_new_room_leaks(
    backend: Backend,
) {
    stomp_revocation(backend, Loss::Deleted).await;
}

async fn sse_revocation(backend: Backend, loss: Loss) {
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    let mut bob = Sse::open(&app, &c.bob, "general", None).await;
    let mut carol = Sse::open(&app, &c.carol, "general", None).await;
    say(&app, &c.alice, "general", "before").await;
    for s in [&mut bob, &mut carol] {
        let got = s.events(1).await;
        assert_eq!((got[0].0.as_str(), got[0].1), ("message", Some(1)));
    }
    lose(&app, &c, "general", loss).await;
    let start = Instant::now();
    let got = bob.until_end(REVOKE_WITHIN).await;
    let waited = start.elapsed();
    let revoked = json!({"type": "access_revoked", "room": "general", "reason": loss.reason()});
    assert_eq!(got.len(), 1, "exactly one last event: {got:?}");
    assert_eq!(got[0].0, "access_revoked", "{got:?}");
    assert_eq!(got[0].2, revoked);
    assert!(waited <= REVOKE_WITHIN, "ended after {waited:?}");
    if loss == Loss::Deleted {
        let got = carol.until_end(REVOKE_WITHIN).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0.as_str(), &got[0].2), ("access_revoked", &revoked));
        return;
    }
    say(&app, &c.alice, "general", "after").await;
    let got = carol.events(1).await;
    assert_eq!(
        (got[0].0.as_str(), got[0].1),
        ("message", Some(2)),
        "carol's stream goes on"
    );
    carol.expect_quiet(Duration::from_millis(100)).await;
}

async fn a_removed_members_sse_stream_ends_with_access_revoked(backend: Backend) {
    sse_revocation(backend, Loss::Removed).await;
}

async fn a_banned_members_sse_stream_ends_with_access_revoked(backend: Backend) {
    sse_revocation(backend, Loss::Banned).await;
}

async fn a_leaving_members_sse_stream_ends_with_access_revoked(backend: Backend) {
    sse_revocation(backend, Loss::Left).await;
}

async fn deleting_a_room_ends_every_sse_stream_with_access_revoked(backend: Backend) {
    sse_revocation(backend, Loss::Deleted).await;
}

/// A long poll held by `who` on `room` after `after`, waiting up to 10 s.
fn hold_poll(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    after: i64,
) -> tokio::task::JoinHandle<(u16, Value, Duration)> {
    let client = app.client.clone();
    let url = format!(
        "{}/api/v1/rooms/{room}/messages?after={after}&wait=10",
        app.base
    );
    let token = who.access_token.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        let resp = client.get(url).bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, start.elapsed())
    })
}

async fn long_poll_revocation(backend: Backend, loss: Loss) {
    let app = app(backend).await;
    let c = cast(&app, "team", true).await;
    say(&app, &c.alice, "team", "one").await;
    let bob_poll = hold_poll(&app, &c.bob, "team", 1);
    let carol_poll = hold_poll(&app, &c.carol, "team", 1);
    // Both polls are held by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !bob_poll.is_finished(),
        "the poll is held while nothing is new"
    );
    let start = Instant::now();
    lose(&app, &c, "team", loss).await;
    let (status, body, _) = tokio::time::timeout(REVOKE_WITHIN, bob_poll)
        .await
        .unwrap_or_else(|_| panic!("bob's held poll still open {REVOKE_WITHIN:?} after {loss:?}"))
        .unwrap();
    assert!(start.elapsed() <= REVOKE_WITHIN + Duration::from_millis(200));
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap_or("")),
        (404, "room_not_found"),
        "{body}"
    );
    if loss == Loss::Deleted {
        let (status, body, _) = tokio::time::timeout(REVOKE_WITHIN, carol_poll)
            .await
            .expect("every poll of a deleted room answers")
            .unwrap();
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("room_not_found"))
        );
        return;
    }
    let sent = say(&app, &c.alice, "team", "two").await;
    let (status, body, _) = tokio::time::timeout(WAIT, carol_poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["messages"],
        json!([sent]),
        "carol's poll is answered by the new message"
    );
}

async fn a_held_long_poll_answers_404_when_the_member_is_removed(backend: Backend) {
    long_poll_revocation(backend, Loss::Removed).await;
}

async fn a_held_long_poll_answers_404_when_the_member_is_banned(backend: Backend) {
    long_poll_revocation(backend, Loss::Banned).await;
}

async fn a_held_long_poll_answers_404_when_the_member_leaves(backend: Backend) {
    long_poll_revocation(backend, Loss::Left).await;
}

async fn a_held_long_poll_answers_404_when_the_room_is_deleted(backend: Backend) {
    long_poll_revocation(backend, Loss::Deleted).await;
}

async fn a_new_subscribe_after_revocation_checks_access_afresh(backend: Backend) {
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    let dave = app.signup("dave").await;
    status(&join(&app, &dave, "general").await, 200, "dave joins");
    let mut bob = StompClient::connect(&app, &c.bob.access_token).await;
    bob.subscribe("b", "general").await;
    let mut dave_c = StompClient::connect(&app, &dave.access_token).await;
    dave_c.subscribe("d", "general").await;

    // Removed from a public room: a new SUBSCRIBE on the same connection
    // joins again and receives.
    lose(&app, &c, "general", Loss::Removed).await;
    let (_, f) = until_revoked(&mut bob, REVOKE_WITHIN).await;
    assert_revoked(&f, "b", "general", "removed");
    bob.subscribe("b-again", "general").await;
    assert!(
        member_names(&app, &c.alice, "general")
            .await
            .contains(&"bob".to_string())
    );
    say(&app, &c.alice, "general", "welcome back").await;
    let f = bob.expect_message().await;
    assert_eq!(f.header("subscription").as_deref(), Some("b-again"), "{f}");
    assert_eq!(f.json()["body"], "welcome back");
    bob.expect_no_frame_for(Duration::from_millis(200)).await;

    // Banned: a new SUBSCRIBE there is the unknown-room ERROR.
    let unknown = unknown_room_error(&app, &c.carol).await;
    let r = ban(&app, &c.moder, "general", "dave").await;
    status(&r, 200, "ban dave");
    let (_, f) = until_revoked(&mut dave_c, REVOKE_WITHIN).await;
    assert_revoked(&f, "d", "general", "banned");
    send_subscribe(&mut dave_c, "d-again", "general").await;
    let e = dave_c.expect_error_then_close().await;
    assert_eq!(e.header("message").unwrap_or_default(), unknown);
    bob.close().await;
}

async fn revocation_of_a_private_room_subscription_refuses_later_sends(backend: Backend) {
    let app = app(backend).await;
    let c = cast(&app, "team", true).await;
    let mut bob = StompClient::connect(&app, &c.bob.access_token).await;
    bob.subscribe("b", "team").await;
    // The connection has used its access (a SEND) before losing it.
    let r = bob.send_chat("team", "while a member", "r1").await;
    assert_eq!(r.seq(), 1);
    bob.expect_message().await;
    lose(&app, &c, "team", Loss::Removed).await;
    let (_, f) = until_revoked(&mut bob, REVOKE_WITHIN).await;
    assert_revoked(&f, "b", "team", "removed");
    let unknown = unknown_room_error(&app, &c.carol).await;
    send_raw(&mut bob, "team", "not a member any more", "r2").await;
    let e = bob.expect_error_then_close().await;
    assert_eq!(e.header("message").unwrap_or_default(), unknown);
    let r = app
        .request(
            Method::GET,
            "/api/v1/rooms/team/messages",
            Some(&c.alice.access_token),
            None,
        )
        .await;
    assert_eq!(
        r.body["messages"].as_array().unwrap().len(),
        1,
        "{:?}",
        r.body
    );
}

async fn a_connection_that_only_sent_is_refused_after_removal(backend: Backend) {
    let app = app(backend).await;
    let c = cast(&app, "team", true).await;
    let unknown = unknown_room_error(&app, &c.carol).await;
    // No subscription: the connection has only ever sent to the room.
    let mut bob = StompClient::connect(&app, &c.bob.access_token).await;
    for i in 0..3 {
        bob.send_chat("team", &format!("send {i}"), &format!("r{i}"))
            .await;
    }
    lose(&app, &c, "team", Loss::Removed).await;
    // Within the revocation bound, the connection's access is gone.
    tokio::time::sleep(REVOKE_WITHIN).await;
    send_raw(&mut bob, "team", "after removal", "late").await;
    let e = bob.expect_error_then_close().await;
    assert_eq!(e.header("message").unwrap_or_default(), unknown, "{e}");
    let log = crate::stomp::history(&app, &c.alice.access_token, "team").await;
    assert_eq!(log.len(), 3, "nothing stored after the removal");
}

async fn banning_a_non_member_ends_their_streams_of_a_public_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve").await;
    app.create_room(&alice, "general", false).await;
    // Reading a public room needs no membership.
    let mut sse = Sse::open(&app, &eve, "general", None).await;
    say(&app, &alice, "general", "one").await;
    assert_eq!(sse.events(1).await[0].0, "message");
    let poll = {
        let client = app.client.clone();
        let url = format!("{}/api/v1/rooms/general/messages?after=1&wait=10", app.base);
        let token = eve.access_token.clone();
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    status(&ban(&app, &alice, "general", "eve").await, 200, "ban eve");
    let got = sse.until_end(REVOKE_WITHIN).await;
    assert_eq!(
        got.iter()
            .map(|e| (e.0.clone(), e.2.clone()))
            .collect::<Vec<_>>(),
        [(
            "access_revoked".to_string(),
            json!({"type": "access_revoked", "room": "general", "reason": "banned"})
        )]
    );
    let (s, body) = tokio::time::timeout(REVOKE_WITHIN, poll)
        .await
        .expect("the held poll answers")
        .unwrap();
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (404, json!("room_not_found"))
    );
}

/// Bob is removed while alice floods the room: each of bob's streams is a
/// gapless prefix of the log, then `access_revoked`, then nothing; carol
/// gets every message.
async fn a_removal_racing_a_flood_of_messages_ends_each_stream_with_access_revoked_last(
    backend: Backend,
) {
    const SENT: usize = 150;
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    let mut bob = StompClient::connect(&app, &c.bob.access_token).await;
    bob.subscribe("b", "general").await;
    let mut bob_sse = Sse::open(&app, &c.bob, "general", None).await;
    let mut carol = StompClient::connect(&app, &c.carol.access_token).await;
    carol.subscribe("c", "general").await;

    let mut sender = StompClient::connect(&app, &c.alice.access_token).await;
    let flood = async {
        for i in 0..SENT {
            sender
                .send(stomp_client::frame(
                    "SEND",
                    &[("destination", &stomp_client::topic("general"))],
                    format!("flood {i}"),
                ))
                .await;
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        sender
            .send(stomp_client::frame(
                "SEND",
                &[
                    ("destination", &stomp_client::topic("general")),
                    ("receipt", "last"),
                ],
                "the last",
            ))
            .await;
        sender.expect_receipt("last").await;
    };
    let removal = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        lose(&app, &c, "general", Loss::Removed).await;
    };
    tokio::join!(flood, removal);

    let (before, revoked) = until_revoked(&mut bob, WAIT).await;
    assert_revoked(&revoked, "b", "general", "removed");
    let seqs: Vec<i64> = before.iter().map(|f| f.seq()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "bob's messages before access_revoked are a gapless prefix"
    );
    bob.expect_no_frame_for(QUIET).await;

    let events = bob_sse.until_end(WAIT).await;
    let (last, rest) = events.split_last().expect("SSE events");
    assert_eq!(
        last.0, "access_revoked",
        "the SSE stream ends with it: {last:?}"
    );
    let ids: Vec<i64> = rest.iter().map(|e| e.1.unwrap()).collect();
    assert!(rest.iter().all(|e| e.0 == "message"));
    assert_eq!(
        ids,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "SSE prefix gapless"
    );

    let total = SENT + 1;
    let got = carol.expect_messages(total).await;
    assert_eq!(
        got.iter().map(|f| f.seq()).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>(),
        "carol gets every message"
    );
    carol.expect_no_frame_for(Duration::from_millis(100)).await;
}

async fn deleting_a_room_while_messages_are_sent_leaks_nothing_into_a_new_room_of_the_name(
    backend: Backend,
) {
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    let posts = futures_util::future::join_all((0..30).map(|i| {
        let who = if i % 2 == 0 { &c.carol } else { &c.bob };
        post_message(&app, who, "general", "old")
    }));
    let deletion = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        delete_room(&app, &c.alice, "general").await
    };
    let (answers, deleted) = tokio::join!(posts, deletion);
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    for r in &answers {
        assert!(
            r.status == 201 || (r.status == 404 && r.code() == "room_not_found"),
            "a post racing the deletion: {} {:?}",
            r.status,
            r.body
        );
    }
    app.create_room(&c.moder, "general", false).await;
    let log = crate::stomp::history(&app, &c.moder.access_token, "general").await;
    assert_eq!(log, Vec::<Value>::new(), "the new room's log is empty");
    let m = say(&app, &c.moder, "general", "new").await;
    assert_eq!(m["seq"], 1);
    assert_eq!(member_names(&app, &c.moder, "general").await, ["moder"]);
}

async fn deleting_a_room_revokes_many_subscriptions_at_once_within_2s(backend: Backend) {
    const USERS: usize = 5;
    const CONNS: usize = 6;
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut clients = Vec::new();
    for u in 0..USERS {
        let user = app.signup(&format!("user{u}")).await;
        for k in 0..CONNS {
            let mut c = StompClient::connect(&app, &user.access_token).await;
            c.subscribe(&format!("s{u}-{k}"), "general").await;
            clients.push((format!("s{u}-{k}"), c));
        }
    }
    say(&app, &alice, "general", "before").await;
    assert_eq!(delete_room(&app, &alice, "general").await.status, 204);
    let start = Instant::now();
    let results = futures_util::future::join_all(clients.iter_mut().map(|(sub, c)| async move {
        let got = until_revoked(c, REVOKE_WITHIN).await;
        (sub.clone(), got)
    }))
    .await;
    for (sub, (before, f)) in &results {
        let seqs: Vec<i64> = before.iter().map(|f| f.seq()).collect();
        assert_eq!(seqs, [1], "{sub}: the message before, then the end");
        assert_revoked(f, sub, "general", "room_deleted");
    }
    assert!(start.elapsed() <= REVOKE_WITHIN, "{:?}", start.elapsed());
    for (_, c) in clients {
        c.close().await;
    }
}

/// Bob subscribes, opens streams and polls at the very moment he is
/// banned: whichever way each race goes, none of them sees a message sent
/// after the ban has taken effect.
async fn subscriptions_streams_and_polls_opened_while_a_ban_lands_never_see_later_messages(
    backend: Backend,
) {
    const N: usize = 8;
    let app = app(backend).await;
    let c = cast(&app, "general", false).await;
    // Several rounds, the ban landing a little later each time.
    for delay_ms in [0u64, 3, 8, 15] {
        ban_race_round(&app, &c, delay_ms, N).await;
        assert_eq!(unban(&app, &c.moder, "general", "bob").await.status, 204);
        status(&join(&app, &c.bob, "general").await, 200, "bob is back");
    }
}

async fn ban_race_round(app: &TestApp, c: &Cast, delay_ms: u64, n: usize) {
    let last = say(app, &c.alice, "general", "before").await["seq"]
        .as_i64()
        .unwrap();
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(StompClient::connect(&app, &c.bob.access_token).await);
    }
    let subscribes =
        futures_util::future::join_all(conns.iter_mut().enumerate().map(|(i, conn)| async move {
            send_subscribe(conn, &format!("s{i}"), "general").await
        }));
    let sse_opens = futures_util::future::join_all((0..n).map(|_| {
        app.client
            .get(format!("{}/api/v1/rooms/general/events", app.base))
            .bearer_auth(&c.bob.access_token)
            .send()
    }));
    let polls: Vec<_> = (0..n)
        .map(|_| hold_poll(app, &c.bob, "general", last))
        .collect();
    let banning = async {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        ban(app, &c.moder, "general", "bob").await
    };
    let (_, streams, banned) = tokio::join!(subscribes, sse_opens, banning);
    status(&banned, 200, "ban");
    tokio::time::sleep(REVOKE_WITHIN).await;
    let after = say(app, &c.alice, "general", "after the ban").await;
    let after_seq = after["seq"].as_i64().unwrap();

    for (i, conn) in conns.iter_mut().enumerate() {
        // RECEIPT, access_revoked, the first message, ERROR and close are
        // all fine; the message sent after the ban is not.
        for _ in 0..10 {
            match conn.next_event(QUIET).await {
                Some(stomp_client::Event::Frame(f)) => {
                    if f.command == "MESSAGE"
                        && f.header("event-type").as_deref() == Some("message")
                    {
                        assert_ne!(
                            f.seq(),
                            after_seq,
                            "connection {i} got a message sent after the ban: {f}"
                        );
                    }
                }
                Some(stomp_client::Event::Closed(_)) | None => break,
            }
        }
    }
    for (i, resp) in streams.into_iter().enumerate() {
        let mut resp = resp.expect("SSE request");
        if resp.status() == 404 {
            continue;
        }
        assert_eq!(resp.status(), 200, "SSE {i}");
        let mut text = String::new();
        let deadline = Instant::now() + QUIET;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            !text.contains("after the ban"),
            "SSE {i} carried a message sent after the ban: {text}"
        );
    }
    for (i, poll) in polls.into_iter().enumerate() {
        let (s, body, _) = tokio::time::timeout(WAIT, poll)
            .await
            .expect("poll answers")
            .unwrap();
        assert!(
            !body.to_string().contains("after the ban"),
            "poll {i} answered with a message sent after the ban: {s} {body}"
        );
        assert_eq!(s, 404, "poll {i}: {body}");
    }
}

async fn subscribe_activity(client: &mut StompClient, id: &str, room: &str) {
    let dest = format!("/topic/rooms/{room}/activity");
    let receipt = format!("sub-{id}");
    client
        .send(stomp_client::frame(
            "SUBSCRIBE",
            &[("id", id), ("destination", &dest), ("receipt", &receipt)],
            "",
        ))
        .await;
    client.expect_receipt(&receipt).await;
}

/// Typing signals on the room's activity, skipping other kinds of signal.
async fn typing_of(client: &mut StompClient, wait: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while let Some(stomp_client::Event::Frame(f)) = client
        .next_event(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        if f.header("event-type").as_deref() == Some("typing") {
            out.push(f.json());
        }
    }
    out
}

async fn an_activity_subscription_is_revoked_with_the_rooms_messages(backend: Backend) {
    let app = app(backend).await;
    let c = cast(&app, "team", true).await;
    let mut bob = StompClient::connect(&app, &c.bob.access_token).await;
    bob.subscribe("m", "team").await;
    subscribe_activity(&mut bob, "act", "team").await;
    let mut carol = StompClient::connect(&app, &c.carol.access_token).await;
    subscribe_activity(&mut carol, "act", "team").await;

    lose(&app, &c, "team", Loss::Removed).await;
    let mut revoked = Vec::new();
    let deadline = Instant::now() + REVOKE_WITHIN;
    while revoked.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = bob.expect_frame_within(left).await;
        if f.header("event-type").as_deref() == Some("access_revoked") {
            revoked.push(f);
        } else {
            assert!(
                revoked.is_empty() || f.header("subscription").as_deref() != Some("m"),
                "{f}"
            );
        }
    }
    let mut subs: Vec<String> = revoked
        .iter()
        .map(|f| f.expect_header("subscription"))
        .collect();
    subs.sort();
    assert_eq!(subs, ["act", "m"], "both subscriptions to the room");
    for f in &revoked {
        assert_eq!(
            f.json(),
            json!({"type": "access_revoked", "room": "team", "reason": "removed"})
        );
    }
    let path = "/api/v1/rooms/team/typing";
    let r = call(&app, &c.alice, Method::POST, path, None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let seen = typing_of(&mut carol, Duration::from_secs(1)).await;
    assert_eq!(seen.len(), 1, "carol sees alice typing: {seen:?}");
    bob.expect_no_frame_for(QUIET).await;
}
