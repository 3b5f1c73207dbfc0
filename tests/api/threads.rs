//! Threads and following them (README, "Threads"): the thread a reply
//! joins, the root's summary, a room's threads and one thread, following,
//! unread counts and the thread read marker, access, and `thread` carried
//! live, in replays and over Server-Sent Events.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use stomp_client::{StompClient, frame, topic};

use crate::db::Backend;
use crate::helpers::{
    Reply, TestApp, TestUser, on_both_backends, refused, spawn_app_unthrottled as app,
};
use crate::room_log::Sse;

on_both_backends!(
    a_reply_to_a_reply_stays_in_the_roots_thread_and_the_root_is_summarised,
    a_rooms_threads_are_listed_by_latest_reply_and_paged,
    repliers_root_senders_and_mentioned_users_follow_with_unread_counts,
    my_threads_lists_those_with_unread_replies_unless_read_ones_are_asked_for,
    the_thread_read_marker_never_moves_back_nor_past_the_last_reply,
    threads_of_a_private_room_are_invisible_and_following_needs_membership,
    replies_carry_their_thread_live_in_replays_and_over_sse,
    concurrent_replies_are_all_counted,
);

// ------------------------------------------------------------ REST calls --

async fn post(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    body: &str,
    reply_to: Option<i64>,
) -> Value {
    let mut json = json!({"body": body});
    if let Some(to) = reply_to {
        json["reply_to"] = json!(to);
    }
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.access_token),
            json,
        )
        .await;
    assert_eq!(r.status, 201, "POST {body:?}: {:?}", r.body);
    r.body
}

async fn call(
    app: &TestApp,
    method: Method,
    who: &TestUser,
    path: &str,
    body: Option<Value>,
) -> Reply {
    app.request(method, path, Some(&who.access_token), body)
        .await
}

#[track_caller]
fn ok(r: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    r.body.clone()
}

async fn thread(app: &TestApp, who: &TestUser, room: &str, seq: impl ToString) -> Reply {
    app.get(
        &format!("/api/v1/rooms/{room}/threads/{}", seq.to_string()),
        &who.access_token,
    )
    .await
}

async fn message(app: &TestApp, who: &TestUser, room: &str, seq: i64) -> Value {
    let r = app
        .get(
            &format!("/api/v1/rooms/{room}/messages/{seq}"),
            &who.access_token,
        )
        .await;
    ok(&r, 200, "GET message")
}

async fn join(app: &TestApp, who: &TestUser, room: &str) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/join"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    ok(&r, 200, "join");
}

/// Every thread `who` follows, read or not (`GET
/// /me/threads?include_read=true`), as (room, root seq, unread).
async fn my_threads(app: &TestApp, who: &TestUser) -> Vec<(String, i64, i64)> {
    listed(app, who, "?include_read=true").await
}

/// The threads with unread replies `who` follows (`GET /me/threads`).
async fn unread_threads(app: &TestApp, who: &TestUser) -> Vec<(String, i64, i64)> {
    listed(app, who, "").await
}

/// `GET /me/threads{query}` as (room, root seq, unread).
async fn listed(app: &TestApp, who: &TestUser, query: &str) -> Vec<(String, i64, i64)> {
    let r = app
        .get(&format!("/api/v1/me/threads{query}"), &who.access_token)
        .await;
    let body = ok(&r, 200, "GET /me/threads");
    body["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["root"]["room"], t["room"], "the root is of the room: {t}");
            (
                t["room"].as_str().unwrap().to_string(),
                t["root"]["seq"].as_i64().unwrap(),
                t["unread"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn follow(app: &TestApp, who: &TestUser, room: &str, seq: i64, on: bool) -> Reply {
    let method = if on { Method::PUT } else { Method::DELETE };
    let path = format!("/api/v1/rooms/{room}/threads/{seq}/follow");
    call(app, method, who, &path, None).await
}

async fn mark(app: &TestApp, who: &TestUser, room: &str, root: i64, seq: i64) -> Reply {
    let path = format!("/api/v1/rooms/{room}/threads/{root}/read");
    call(app, Method::PUT, who, &path, Some(json!({"seq": seq}))).await
}

fn summary(root: &Value) -> (i64, i64, Vec<String>) {
    let s = &root["thread_summary"];
    assert!(s.is_object(), "a root carries its summary: {root}");
    let names = s["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    (
        s["reply_count"].as_i64().unwrap(),
        s["last_reply_seq"].as_i64().unwrap(),
        names,
    )
}

fn seqs_of(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

// ----------------------------------------------------------------- tests --

async fn a_reply_to_a_reply_stays_in_the_roots_thread_and_the_root_is_summarised(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    join(&app, &carol, "general").await;

    let root = post(&app, &alice, "general", "a question", None).await;
    assert_eq!(root["thread"], Value::Null, "a new message is in no thread");
    assert_eq!(root["thread_summary"], Value::Null, "nor a root yet");
    let r2 = post(&app, &bob, "general", "an answer", Some(1)).await;
    assert_eq!(r2["thread"], 1, "a reply to a root joins its thread");
    assert_eq!(r2["thread_summary"], Value::Null);
    let r3 = post(&app, &carol, "general", "to the answer", Some(2)).await;
    assert_eq!(
        r3["thread"], 1,
        "a reply to a reply joins the root's thread"
    );
    post(&app, &bob, "general", "outside", None).await; // 4
    post(&app, &bob, "general", "again", Some(3)).await; // 5

    let root = message(&app, &alice, "general", 1).await;
    assert_eq!(root["thread"], Value::Null, "a root's own thread is null");
    assert_eq!(
        summary(&root),
        (3, 5, vec!["bob".to_string(), "carol".to_string()]),
        "three replies, the last at 5, participants in order of first reply"
    );
    let outside = message(&app, &alice, "general", 4).await;
    assert_eq!(
        (&outside["thread"], &outside["thread_summary"]),
        (&Value::Null, &Value::Null)
    );

    // History shows the same.
    let r = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    let page = ok(&r, 200, "history");
    let threads: Vec<Value> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["thread"].clone())
        .collect();
    assert_eq!(
        threads,
        [json!(null), json!(1), json!(1), json!(null), json!(1)]
    );
    assert_eq!(
        page["messages"][0]["thread_summary"],
        root["thread_summary"]
    );

    // The thread page: the root and its replies in seq order.
    let page = ok(&thread(&app, &carol, "general", 1).await, 200, "thread 1");
    assert_eq!(page["root"], root);
    assert_eq!(seqs_of(&page["replies"]), [2, 3, 5]);
    assert_eq!(page["has_more"], false);
    assert_eq!(page["following"], true, "carol replied");
    let paged = app
        .get(
            "/api/v1/rooms/general/threads/1?after=2&limit=1",
            &carol.access_token,
        )
        .await;
    let paged = ok(&paged, 200, "thread page after 2");
    assert_eq!(seqs_of(&paged["replies"]), [3]);
    assert_eq!(paged["has_more"], true);

    // No thread at a reply, a message without replies, or nothing at all.
    for seq in ["2", "4", "99", "0", "x"] {
        refused(
            &thread(&app, &alice, "general", seq).await,
            404,
            "thread_not_found",
            &format!("thread at {seq}"),
        );
    }
    let bad = app
        .get(
            "/api/v1/rooms/general/threads/1?limit=0",
            &alice.access_token,
        )
        .await;
    refused(&bad, 400, "invalid_query", "limit 0");

    // A deleted reply no longer counts; the last activity stays.
    let d = call(
        &app,
        Method::DELETE,
        &bob,
        "/api/v1/rooms/general/messages/5",
        None,
    )
    .await;
    ok(&d, 200, "delete 5");
    let root = message(&app, &alice, "general", 1).await;
    assert_eq!(summary(&root).0, 2, "two replies are not deleted");
    assert_eq!(summary(&root).1, 5, "the latest activity is still 5");
    let page = ok(&thread(&app, &alice, "general", 1).await, 200, "thread 1");
    assert_eq!(page["replies"][2]["deleted"], true, "a tombstone stays");
}

async fn a_rooms_threads_are_listed_by_latest_reply_and_paged(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for text in ["one", "two", "three", "no replies"] {
        post(&app, &alice, "general", text, None).await; // 1..=4
    }
    post(&app, &alice, "general", "re two", Some(2)).await; // 5
    post(&app, &alice, "general", "re one", Some(1)).await; // 6
    post(&app, &alice, "general", "re three", Some(3)).await; // 7
    post(&app, &alice, "general", "re two again", Some(5)).await; // 8

    let list = |q: &'static str| {
        let app = &app;
        let token = alice.access_token.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/rooms/general/threads{q}"), &token)
                .await;
            ok(&r, 200, q)
        }
    };
    let all = list("").await;
    assert_eq!(
        seqs_of(&all["threads"]),
        [2, 3, 1],
        "by latest reply, newest first"
    );
    assert_eq!(all["has_more"], false);
    assert_eq!(
        summary(&all["threads"][0]),
        (2, 8, vec!["alice".to_string()])
    );

    let first = list("?limit=2").await;
    assert_eq!(seqs_of(&first["threads"]), [2, 3]);
    assert_eq!(first["has_more"], true);
    let next = list("?limit=2&before=7").await;
    assert_eq!(seqs_of(&next["threads"]), [1]);
    assert_eq!(next["has_more"], false);

    for q in ["?limit=0", "?limit=201", "?limit=x", "?before=-1"] {
        let r = app
            .get(
                &format!("/api/v1/rooms/general/threads{q}"),
                &alice.access_token,
            )
            .await;
        refused(&r, 400, "invalid_query", q);
    }

    // A thread whose every reply is deleted is listed no more.
    let d = call(
        &app,
        Method::DELETE,
        &alice,
        "/api/v1/rooms/general/messages/6",
        None,
    )
    .await;
    ok(&d, 200, "delete 6");
    assert_eq!(seqs_of(&list("").await["threads"]), [2, 3]);
}

async fn repliers_root_senders_and_mentioned_users_follow_with_unread_counts(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    let dave = app.signup("dave").await;
    app.create_room(&alice, "general", false).await;
    for u in [&bob, &carol, &dave] {
        join(&app, u, "general").await;
    }
    post(&app, &alice, "general", "root", None).await; // 1
    assert!(my_threads(&app, &alice).await.is_empty(), "no thread yet");
    refused(
        &follow(&app, &dave, "general", 1, true).await,
        404,
        "thread_not_found",
        "follow a message without replies",
    );
    post(&app, &bob, "general", "hi @carol", Some(1)).await; // 2

    let g = "general".to_string();
    assert_eq!(
        my_threads(&app, &alice).await,
        [(g.clone(), 1, 1)],
        "root sender"
    );
    assert_eq!(
        my_threads(&app, &bob).await,
        [(g.clone(), 1, 0)],
        "own reply"
    );
    assert_eq!(
        my_threads(&app, &carol).await,
        [(g.clone(), 1, 1)],
        "mentioned"
    );
    assert!(
        my_threads(&app, &dave).await.is_empty(),
        "dave takes no part"
    );

    ok(
        &follow(&app, &dave, "general", 1, true).await,
        204,
        "dave follows",
    );
    ok(
        &follow(&app, &dave, "general", 1, true).await,
        204,
        "idempotent",
    );
    assert_eq!(
        my_threads(&app, &dave).await,
        [(g.clone(), 1, 0)],
        "nothing unread at first"
    );
    let page = ok(&thread(&app, &dave, "general", 1).await, 200, "thread");
    assert_eq!(
        (&page["following"], &page["last_read_seq"]),
        (&json!(true), &json!(2))
    );

    post(&app, &bob, "general", "more", Some(2)).await; // 3
    post(&app, &carol, "general", "mine", Some(1)).await; // 4
    assert_eq!(my_threads(&app, &alice).await, [(g.clone(), 1, 3)]);
    assert_eq!(my_threads(&app, &dave).await, [(g.clone(), 1, 2)]);
    assert_eq!(
        my_threads(&app, &carol).await,
        [(g.clone(), 1, 2)],
        "not her own"
    );

    // A deleted reply is unread no more; a blocked sender's never is.
    ok(
        &call(
            &app,
            Method::DELETE,
            &bob,
            "/api/v1/rooms/general/messages/3",
            None,
        )
        .await,
        200,
        "delete 3",
    );
    assert_eq!(my_threads(&app, &dave).await, [(g.clone(), 1, 1)]);
    ok(
        &call(&app, Method::PUT, &dave, "/api/v1/me/blocks/carol", None).await,
        204,
        "dave blocks carol",
    );
    assert_eq!(my_threads(&app, &dave).await, [(g.clone(), 1, 0)]);

    // Unfollowing: gone from the list, and the marker cannot move.
    ok(
        &follow(&app, &alice, "general", 1, false).await,
        204,
        "alice unfollows",
    );
    ok(
        &follow(&app, &alice, "general", 1, false).await,
        204,
        "idempotent",
    );
    assert!(my_threads(&app, &alice).await.is_empty());
    refused(
        &mark(&app, &alice, "general", 1, 4).await,
        403,
        "not_following",
        "marker",
    );
    // Another reply does not make the root's sender follow again…
    post(&app, &bob, "general", "still here?", Some(1)).await; // 5
    assert!(
        my_threads(&app, &alice).await.is_empty(),
        "unfollowed stays so"
    );
    // …her own does.
    post(&app, &alice, "general", "yes", Some(1)).await; // 6
    assert_eq!(my_threads(&app, &alice).await, [(g.clone(), 1, 0)]);

    // Leaving the room takes its threads out of the list.
    let r = app
        .post(
            "/api/v1/rooms/general/leave",
            Some(&dave.access_token),
            json!({}),
        )
        .await;
    ok(&r, 204, "dave leaves");
    assert!(my_threads(&app, &dave).await.is_empty());
}

async fn my_threads_lists_those_with_unread_replies_unless_read_ones_are_asked_for(
    backend: Backend,
) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    post(&app, &alice, "general", "first root", None).await; // 1
    post(&app, &alice, "general", "second root", None).await; // 2
    post(&app, &bob, "general", "re first", Some(1)).await; // 3
    post(&app, &bob, "general", "re second", Some(2)).await; // 4
    let g = "general".to_string();
    assert_eq!(
        unread_threads(&app, &alice).await,
        [(g.clone(), 2, 1), (g.clone(), 1, 1)],
        "both have a reply after alice's marker, latest first"
    );
    assert!(
        unread_threads(&app, &bob).await.is_empty(),
        "bob's own replies are nothing unread for him"
    );
    assert_eq!(
        my_threads(&app, &bob).await,
        [(g.clone(), 2, 0), (g.clone(), 1, 0)],
        "include_read=true lists them anyway"
    );

    ok(&mark(&app, &alice, "general", 2, 4).await, 200, "read 2");
    assert_eq!(
        unread_threads(&app, &alice).await,
        [(g.clone(), 1, 1)],
        "a thread read is left out"
    );
    assert_eq!(
        my_threads(&app, &alice).await,
        [(g.clone(), 2, 0), (g.clone(), 1, 1)]
    );
    post(&app, &bob, "general", "again", Some(2)).await; // 5
    assert_eq!(
        unread_threads(&app, &alice).await,
        [(g.clone(), 2, 1), (g.clone(), 1, 1)],
        "a new reply brings it back"
    );
    // The default spelled out, and bad values.
    assert_eq!(
        listed(&app, &alice, "?include_read=false").await,
        unread_threads(&app, &alice).await
    );
    for bad in ["?include_read=yes", "?include_read=", "?include_read=TRUE"] {
        let r = app
            .get(&format!("/api/v1/me/threads{bad}"), &alice.access_token)
            .await;
        refused(&r, 400, "invalid_query", bad);
    }
}

async fn the_thread_read_marker_never_moves_back_nor_past_the_last_reply(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    post(&app, &alice, "general", "root", None).await; // 1
    for i in 0..3 {
        post(&app, &bob, "general", &format!("reply {i}"), Some(1)).await; // 2, 3, 4
    }
    post(&app, &bob, "general", "outside", None).await; // 5
    assert_eq!(my_threads(&app, &alice).await[0].2, 3);

    let at = |r: Reply| ok(&r, 200, "mark")["last_read_seq"].as_i64().unwrap();
    assert_eq!(at(mark(&app, &alice, "general", 1, 3).await), 3);
    assert_eq!(my_threads(&app, &alice).await[0].2, 1, "one reply after 3");
    assert_eq!(
        at(mark(&app, &alice, "general", 1, 2).await),
        3,
        "never back"
    );
    assert_eq!(
        at(mark(&app, &alice, "general", 1, 1000).await),
        4,
        "never past the thread's last reply"
    );
    assert_eq!(my_threads(&app, &alice).await[0].2, 0);

    // Concurrent marks coalesce to the highest.
    let marks = (0..20).map(|i| mark(&app, &bob, "general", 1, i % 5));
    for r in join_all(marks).await {
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let page = ok(&thread(&app, &bob, "general", 1).await, 200, "thread");
    assert_eq!(page["last_read_seq"], 4);

    let path = "/api/v1/rooms/general/threads/1/read";
    for body in [json!({"seq": -1}), json!({}), json!({"seq": 1, "x": 1})] {
        let r = call(&app, Method::PUT, &alice, path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
    }
    refused(
        &mark(&app, &alice, "general", 2, 1).await,
        404,
        "thread_not_found",
        "a reply",
    );
}

async fn threads_of_a_private_room_are_invisible_and_following_needs_membership(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let eve = app.signup("eve").await;
    app.create_room(&alice, "secret", true).await;
    app.create_room(&alice, "open", false).await;
    for room in ["secret", "open"] {
        post(&app, &alice, room, "root", None).await;
        post(&app, &alice, room, "reply", Some(1)).await;
    }
    let s = "/api/v1/rooms/secret/threads";
    for r in [
        app.get(s, &eve.access_token).await,
        thread(&app, &eve, "secret", 1).await,
        follow(&app, &eve, "secret", 1, true).await,
        follow(&app, &eve, "secret", 1, false).await,
        mark(&app, &eve, "secret", 1, 2).await,
    ] {
        refused(&r, 404, "room_not_found", "a private room's thread");
    }
    // A public room's threads are readable like its history…
    let list = ok(
        &app.get("/api/v1/rooms/open/threads", &eve.access_token)
            .await,
        200,
        "list",
    );
    assert_eq!(seqs_of(&list["threads"]), [1]);
    let page = ok(&thread(&app, &eve, "open", 1).await, 200, "thread");
    assert_eq!(page["following"], false);
    assert_eq!(page["last_read_seq"], Value::Null);
    // …following it is for members.
    refused(
        &follow(&app, &eve, "open", 1, true).await,
        403,
        "not_a_member",
        "follow",
    );
    refused(
        &mark(&app, &eve, "open", 1, 2).await,
        403,
        "not_a_member",
        "mark",
    );
    let unauth = app
        .request(Method::GET, "/api/v1/me/threads", None, None)
        .await;
    assert_eq!(unauth.status, 401);
}

async fn replies_carry_their_thread_live_in_replays_and_over_sse(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;

    let mut live = StompClient::connect(&app, &alice.access_token).await;
    live.subscribe("l", "general").await;
    let mut sse = Sse::open(&app, &alice, "general", None).await;
    post(&app, &alice, "general", "root", None).await; // 1
    // A STOMP reply, and one to it over HTTP.
    let mut sender = StompClient::connect(&app, &bob.access_token).await;
    sender
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("in-reply-to", "1"),
                ("receipt", "r"),
            ],
            "over stomp",
        ))
        .await;
    sender.expect_receipt("r").await;
    post(&app, &alice, "general", "over http", Some(2)).await; // 3

    let frames = live.expect_messages(3).await;
    let threads: Vec<Value> = frames.iter().map(|f| f.json()["thread"].clone()).collect();
    assert_eq!(threads, [json!(null), json!(1), json!(1)], "live");
    assert_eq!(
        frames[0].json()["thread_summary"],
        Value::Null,
        "a live MESSAGE shows the root as committed"
    );
    let streamed = sse.events(3).await;
    let threads: Vec<Value> = streamed
        .iter()
        .map(|(_, _, d)| d["thread"].clone())
        .collect();
    assert_eq!(threads, [json!(null), json!(1), json!(1)], "SSE");

    // A replay shows the root in its current state, with its summary.
    let mut replay = StompClient::connect(&app, &bob.access_token).await;
    replay
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "r"),
                ("destination", &topic("general")),
                ("since-seq", "0"),
            ],
            "",
        ))
        .await;
    let frames = replay.expect_messages(3).await;
    assert_eq!(
        summary(&frames[0].json()),
        (2, 3, vec!["bob".into(), "alice".into()])
    );
    assert_eq!(frames[2].json()["thread"], 1);
    let mut resumed = Sse::open(&app, &bob, "general", Some(0)).await;
    let got = resumed.events(3).await;
    assert_eq!(summary(&got[0].2).0, 2, "SSE resume shows the summary");

    // Search results carry them too.
    let r = app
        .get("/api/v1/search?q=over&room=general", &alice.access_token)
        .await;
    let found = ok(&r, 200, "search");
    for m in found["results"].as_array().unwrap() {
        assert_eq!(m["thread"], 1, "{m}");
    }
}

async fn concurrent_replies_are_all_counted(backend: Backend) {
    let app = app(backend).await;
    let users: Vec<TestUser> = join_all((0..4).map(|i| {
        let app = &app;
        async move { app.signup(&format!("user{i}")).await }
    }))
    .await;
    app.create_room(&users[0], "general", false).await;
    for u in &users[1..] {
        join(&app, u, "general").await;
    }
    post(&app, &users[0], "general", "root", None).await; // 1
    post(&app, &users[1], "general", "first", Some(1)).await; // 2
    let replies = (0..40).map(|i| {
        let app = &app;
        let who = &users[i % users.len()];
        // Half to the root, half to the first reply: one thread.
        let to = if i % 2 == 0 { 1 } else { 2 };
        async move { post(app, who, "general", &format!("r{i}"), Some(to)).await }
    });
    let stored = join_all(replies).await;
    let last = stored
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(
        stored.iter().all(|m| m["thread"] == 1),
        "every reply in thread 1"
    );
    let root = message(&app, &users[0], "general", 1).await;
    let (count, last_reply, participants) = summary(&root);
    assert_eq!(count, 41, "every reply counted once");
    assert_eq!(last_reply, last);
    assert_eq!(participants.len(), 4);
    assert_eq!(participants[0], "user1", "the first replier first");
    let page = ok(&thread(&app, &users[2], "general", 1).await, 200, "thread");
    assert_eq!(page["replies"].as_array().unwrap().len(), 41);
    assert_eq!(
        my_threads(&app, &users[0]).await[0].2,
        31,
        "the others' replies after the root"
    );
}
