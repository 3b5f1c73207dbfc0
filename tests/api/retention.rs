//! Retention (README, "Retention"): `RETENTION_MAX_EVENTS_PER_ROOM` and
//! `RETENTION_DAYS` prune the oldest events of a room in the background; seq
//! is never reused; history carries `horizon_seq` and stops there; a
//! `since-seq` or SSE resume below the horizon gets a `horizon` notice, then
//! the events from the horizon on; what a pruned message had (reactions,
//! mentions, search entries) goes with it, and writing to it is a clear
//! client error.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, spawn_app_with};
use parley::config::Config;
use parley::store::{PartitionLayout, RetentionPolicy};
use stomp_client::{Frame, StompClient, frame, topic};

on_both_backends!(
    events_past_the_count_are_pruned_and_seq_continues,
    what_a_pruned_message_had_goes_with_it_and_writing_to_it_is_a_client_error,
    events_past_the_age_are_pruned,
    history_pages_back_to_the_horizon_and_stops,
    since_seq_below_the_horizon_gets_the_horizon_message_first,
    sse_resume_below_the_horizon_gets_event_horizon_first,
    concurrent_sends_while_pruning_lose_nothing_above_the_horizon,
    concurrent_pruners_take_turns_in_small_batches,
);

/// Postgres only: the room log's time partitions (docs/SCALING.md,
/// "Retention: the room log in time partitions").
mod partitions {
    use crate::db::Backend;

    #[tokio::test]
    async fn expired_partitions_are_dropped_whole_with_what_their_events_had() {
        super::expired_partitions_are_dropped_whole(Backend::Postgres).await
    }

    #[tokio::test]
    async fn sends_and_reads_go_on_while_partitions_are_dropped() {
        super::sends_and_reads_go_on_while_partitions_are_dropped(Backend::Postgres).await
    }
}

/// Longest a test waits for the pruner to reach a horizon.
const WAIT: Duration = Duration::from_secs(15);

/// The app with the pruner passing every 50 ms under `policy`, and no send
/// rate limit.
async fn spawn_pruning(backend: Backend, policy: RetentionPolicy) -> TestApp {
    spawn_app_with(backend, |c: &mut Config| {
        c.retention.max_age = policy.max_age;
        c.retention.max_events = policy.max_events;
        c.retention.interval = Duration::from_millis(50);
        c.limits.send_rate = 0;
    })
    .await
}

/// The app with partitions a second wide (five ahead), events kept `age`
/// and the task passing every 100 ms.
async fn spawn_partitioned(backend: Backend, age: Duration) -> TestApp {
    spawn_app_with(backend, |c: &mut Config| {
        c.retention.max_age = Some(age);
        c.retention.partitions = PartitionLayout {
            width: Duration::from_secs(1),
            ahead: Duration::from_secs(5),
        };
        c.retention.interval = Duration::from_millis(100);
        c.limits.send_rate = 0;
    })
    .await
}

fn keep(n: i64) -> RetentionPolicy {
    RetentionPolicy {
        max_age: None,
        max_events: Some(n),
    }
}

async fn post(app: &TestApp, who: &TestUser, room: &str, body: Value) -> Value {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.access_token),
            body,
        )
        .await;
    assert_eq!(r.status, 201, "post to {room}: {:?}", r.body);
    r.body
}

async fn join(app: &TestApp, who: &TestUser, room: &str) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/join"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    assert!(
        r.status.is_success(),
        "{} joins: {:?}",
        who.username,
        r.body
    );
}

/// `who` reacts `ok` to message `seq`.
async fn react_ok(app: &TestApp, who: &TestUser, room: &str, seq: i64) {
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/rooms/{room}/messages/{seq}/reactions/ok"),
            Some(&who.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn post_n(app: &TestApp, who: &TestUser, room: &str, n: usize) {
    for i in 0..n {
        post(app, who, room, json!({"body": format!("filler {i}")})).await;
    }
}

/// A history page (`query` after the `?`).
async fn page(app: &TestApp, who: &TestUser, room: &str, query: &str) -> Value {
    let r = app
        .get(
            &format!("/api/v1/rooms/{room}/messages?{query}"),
            &who.access_token,
        )
        .await;
    assert_eq!(r.status, 200, "history {query}: {:?}", r.body);
    r.body
}

fn page_seqs(page: &Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

/// Waits (bounded) until the room's history shows `horizon`; the latest
/// page then.
async fn wait_for_horizon(app: &TestApp, who: &TestUser, room: &str, horizon: i64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let latest = page(app, who, room, "limit=200").await;
        let now = latest["horizon_seq"]
            .as_i64()
            .expect("horizon_seq is a number");
        assert!(now <= horizon, "the horizon went past {horizon}: {latest}");
        if now == horizon {
            return latest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the horizon of {room} did not reach {horizon} within {WAIT:?}: {latest}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events_past_the_count_are_pruned_and_seq_continues(backend: Backend) {
    let app = spawn_pruning(backend, keep(5)).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    post_n(&app, &alice, "general", 12).await;

    let latest = wait_for_horizon(&app, &alice, "general", 7).await;
    assert_eq!(
        page_seqs(&latest),
        (8..=12).collect::<Vec<_>>(),
        "only the newest 5 events are kept: {latest}"
    );
    assert_eq!(
        latest["has_more"], false,
        "nothing older can be had: {latest}"
    );

    let next = post(&app, &alice, "general", json!({"body": "after pruning"})).await;
    assert_eq!(next["seq"], 13, "seq goes on after pruning, never reused");
    let latest = wait_for_horizon(&app, &alice, "general", 8).await;
    assert_eq!(page_seqs(&latest), (9..=13).collect::<Vec<_>>());

    let room = app.get("/api/v1/rooms/general", &alice.access_token).await;
    assert_eq!(room.status, 200);
    assert_eq!(room.body["last_seq"], 13, "{:?}", room.body);
    let left = app
        .count(
            "SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id \
         WHERE r.name = 'general'",
        )
        .await;
    assert_eq!(left, 5, "the pruned rows are deleted from the database");

    // An event past the horizon is not found; one above it still is.
    let gone = app
        .get("/api/v1/rooms/general/messages/3", &alice.access_token)
        .await;
    assert_eq!(gone.status, 404, "{:?}", gone.body);
    assert_eq!(gone.code(), "message_not_found");
    let kept = app
        .get("/api/v1/rooms/general/messages/9", &alice.access_token)
        .await;
    assert_eq!(kept.status, 200, "{:?}", kept.body);
}

async fn what_a_pruned_message_had_goes_with_it_and_writing_to_it_is_a_client_error(
    backend: Backend,
) {
    let app = spawn_pruning(backend, keep(3)).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    // seq 1: a message mentioning bob, with search text; seq 2: bob's
    // reaction to it; seq 3: an edit of it.
    let first = post(&app, &alice, "general", json!({"body": "zanzibar hi @bob"})).await;
    assert_eq!(first["mentions"], json!(["bob"]));
    react_ok(&app, &bob, "general", 1).await;
    let edited = app
        .request(
            Method::PATCH,
            "/api/v1/rooms/general/messages/1",
            Some(&alice.access_token),
            Some(json!({"body": "zanzibar hello @bob"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let mentions = app.get("/api/v1/me/mentions", &bob.access_token).await;
    assert_eq!(mentions.body["results"].as_array().unwrap().len(), 1);

    post_n(&app, &alice, "general", 4).await; // seq 4..=7: horizon 4
    wait_for_horizon(&app, &alice, "general", 4).await;

    let mentions = app.get("/api/v1/me/mentions", &bob.access_token).await;
    assert_eq!(mentions.status, 200, "{:?}", mentions.body);
    assert_eq!(
        mentions.body["results"],
        json!([]),
        "a pruned message no longer mentions anyone"
    );
    let found = app
        .get("/api/v1/search?q=zanzibar", &bob.access_token)
        .await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(
        found.body["results"],
        json!([]),
        "a pruned message is not found"
    );
    for (table, sql) in [
        ("reactions", "SELECT count(*) FROM reactions"),
        ("mentions", "SELECT count(*) FROM mentions"),
    ] {
        assert_eq!(
            app.count(sql).await,
            0,
            "the {table} of a pruned message go with it"
        );
    }
    // Room objects (unread counts start below the horizon) still answer.
    let rooms = app.get("/api/v1/rooms", &bob.access_token).await;
    assert_eq!(rooms.status, 200, "{:?}", rooms.body);
    let general = &rooms.body["rooms"][0];
    assert_eq!(general["membership"]["unread"], 3, "{general}");

    // Writing to a pruned message: clear client errors, nothing stored.
    let edit = app
        .request(
            Method::PATCH,
            "/api/v1/rooms/general/messages/1",
            Some(&alice.access_token),
            Some(json!({"body": "too late"})),
        )
        .await;
    assert_eq!(
        (edit.status.as_u16(), edit.code()),
        (404, "message_not_found")
    );
    let react = app
        .request(
            Method::PUT,
            "/api/v1/rooms/general/messages/1/reactions/ok",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(
        (react.status.as_u16(), react.code()),
        (404, "message_not_found")
    );
    let delete = app
        .request(
            Method::DELETE,
            "/api/v1/rooms/general/messages/1",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(
        (delete.status.as_u16(), delete.code()),
        (404, "message_not_found")
    );
    let reply = app
        .post(
            "/api/v1/rooms/general/messages",
            Some(&alice.access_token),
            json!({"body": "re", "reply_to": 1}),
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (400, "invalid_reply")
    );
    let mut stomp = StompClient::connect(&app, &alice.access_token).await;
    stomp
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("in-reply-to", "1"),
                ("receipt", "r"),
            ],
            "re",
        ))
        .await;
    let error = stomp.expect_error_then_close().await;
    assert!(
        error.header("message").is_some_and(|m| !m.is_empty()),
        "a reply to a pruned message over STOMP is an ERROR: {error}"
    );
    let latest = page(&app, &alice, "general", "limit=200").await;
    assert_eq!(
        page_seqs(&latest),
        vec![5, 6, 7],
        "nothing was stored: {latest}"
    );
}

async fn events_past_the_age_are_pruned(backend: Backend) {
    let app = spawn_pruning(
        backend,
        RetentionPolicy {
            max_age: Some(Duration::from_secs(86_400)),
            max_events: None,
        },
    )
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "fresh", false).await;
    post_n(&app, &alice, "general", 6).await;
    post_n(&app, &alice, "fresh", 2).await;
    // Two days ago, as far as the database knows (epoch milliseconds on
    // SQLite, timestamptz on Postgres).
    let aged = match backend {
        Backend::Postgres => {
            "UPDATE messages SET created_at = created_at - interval '2 days' \
             WHERE seq <= 4 AND room_id = (SELECT id FROM rooms WHERE name = 'general')"
        }
        Backend::Sqlite => {
            "UPDATE messages SET created_at = created_at - 2 * 86400000 \
             WHERE seq <= 4 AND room_id = (SELECT id FROM rooms WHERE name = 'general')"
        }
    };
    let url = &app.state.config.database_url;
    let changed = match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(aged)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(aged)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
    };
    assert_eq!(changed, 4);

    let latest = wait_for_horizon(&app, &alice, "general", 4).await;
    assert_eq!(
        page_seqs(&latest),
        vec![5, 6],
        "events older than RETENTION_DAYS are pruned: {latest}"
    );
    assert_eq!(latest["has_more"], false);
    // Long enough for several passes: younger events stay.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let latest = page(&app, &alice, "general", "limit=200").await;
    assert_eq!(page_seqs(&latest), vec![5, 6], "{latest}");
    let fresh = page(&app, &alice, "fresh", "limit=200").await;
    assert_eq!(fresh["horizon_seq"], 0, "nothing pruned: {fresh}");
    assert_eq!(page_seqs(&fresh), vec![1, 2]);
}

async fn history_pages_back_to_the_horizon_and_stops(backend: Backend) {
    let app = spawn_pruning(backend, keep(5)).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    post_n(&app, &alice, "general", 12).await;
    wait_for_horizon(&app, &alice, "general", 7).await;

    let newest = page(&app, &alice, "general", "limit=3").await;
    assert_eq!(page_seqs(&newest), vec![10, 11, 12]);
    assert_eq!(newest["has_more"], true, "8 and 9 are older: {newest}");
    assert_eq!(newest["horizon_seq"], 7);
    let older = page(&app, &alice, "general", "before=10&limit=3").await;
    assert_eq!(page_seqs(&older), vec![8, 9]);
    assert_eq!(
        older["has_more"], false,
        "has_more is false at the horizon: {older}"
    );
    assert_eq!(older["horizon_seq"], 7);
    let below = page(&app, &alice, "general", "before=5").await;
    assert_eq!(page_seqs(&below), Vec::<i64>::new());
    assert_eq!(below["has_more"], false);
    assert_eq!(
        below["horizon_seq"], 7,
        "an empty page carries the horizon too"
    );
    let after = page(&app, &alice, "general", "after=2&limit=2").await;
    assert_eq!(
        page_seqs(&after),
        vec![8, 9],
        "paging forward from below the horizon starts after it"
    );
    assert_eq!(after["has_more"], true);
    assert_eq!(after["horizon_seq"], 7);
}

/// MESSAGE frames until one with seq `last` (RECEIPTs skipped), bounded.
async fn frames_through(client: &mut StompClient, last: i64) -> Vec<Frame> {
    let mut out = Vec::new();
    for _ in 0..50 {
        let f = client.expect_frame().await;
        match f.command.as_str() {
            "RECEIPT" => {}
            "MESSAGE" => {
                let done = f.header("event-type").as_deref() != Some("horizon") && f.seq() >= last;
                out.push(f);
                if done {
                    return out;
                }
            }
            _ => panic!("expected MESSAGE frames, got {f}"),
        }
    }
    panic!("seq {last} did not arrive within 50 frames");
}

async fn subscribe_since(client: &mut StompClient, id: &str, since: i64) {
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", id),
                ("destination", &topic("general")),
                ("since-seq", &since.to_string()),
                ("receipt", &format!("sub-{id}")),
            ],
            "",
        ))
        .await;
}

async fn since_seq_below_the_horizon_gets_the_horizon_message_first(backend: Backend) {
    let app = spawn_pruning(backend, keep(5)).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    post_n(&app, &alice, "general", 10).await;
    wait_for_horizon(&app, &alice, "general", 5).await;

    let mut above = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut above, "above", 7).await;
    let replay = frames_through(&mut above, 10).await;
    assert_eq!(
        replay.iter().map(Frame::seq).collect::<Vec<_>>(),
        vec![8, 9, 10],
        "a resume above the horizon gets no notice"
    );
    let mut at = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut at, "at", 5).await;
    let replay = frames_through(&mut at, 10).await;
    assert_eq!(
        replay.iter().map(Frame::seq).collect::<Vec<_>>(),
        vec![6, 7, 8, 9, 10],
        "a resume at the horizon has lost nothing: no notice"
    );

    let mut below = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut below, "below", 2).await;
    let replay = frames_through(&mut below, 10).await;
    let notice = &replay[0];
    assert_eq!(
        notice.header("event-type").as_deref(),
        Some("horizon"),
        "the first MESSAGE is the horizon: {notice}"
    );
    assert_eq!(notice.header("subscription").as_deref(), Some("below"));
    assert_eq!(
        notice.header("destination").as_deref(),
        Some("/topic/rooms/general")
    );
    assert_eq!(
        notice.json(),
        json!({"type": "horizon", "room": "general", "horizon_seq": 5})
    );
    assert_eq!(
        replay[1..].iter().map(Frame::seq).collect::<Vec<_>>(),
        vec![6, 7, 8, 9, 10],
        "then the replay goes on from the horizon + 1"
    );
    for f in &replay[1..] {
        assert_eq!(f.header("event-type").as_deref(), Some("message"));
    }

    post(&app, &alice, "general", json!({"body": "live"})).await;
    for client in [&mut below, &mut at, &mut above] {
        let live = frames_through(client, 11).await;
        assert_eq!(
            live.iter().map(Frame::seq).collect::<Vec<_>>(),
            vec![11],
            "live messages follow the replay"
        );
    }
}

/// The first `n` events of an SSE stream: (event, id, data).
async fn sse_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut kind, mut id, mut data) = (None, None, None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str::<Value>(v).ok();
                }
            }
            if let Some(data) = data {
                let kind = kind.unwrap_or_else(|| panic!("no `event:` in {block}"));
                let id = id.unwrap_or_else(|| panic!("no `id:` in {block}"));
                out.push((kind, id, data));
            }
        }
        if out.len() >= n {
            return out;
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("waited {WAIT:?} for {n} SSE events, got {out:?}"))
            .expect("stream readable")
            .expect("stream still open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn sse_resume_below_the_horizon_gets_event_horizon_first(backend: Backend) {
    let app = spawn_pruning(backend, keep(5)).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    post_n(&app, &alice, "general", 10).await;
    wait_for_horizon(&app, &alice, "general", 5).await;

    let mut resp = app
        .client
        .get(format!("{}/api/v1/rooms/general/events", app.base))
        .bearer_auth(&alice.access_token)
        .header("Last-Event-ID", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = sse_events(&mut resp, 6).await;
    assert_eq!(
        events[0],
        (
            "horizon".to_string(),
            5,
            json!({"type": "horizon", "room": "general", "horizon_seq": 5})
        ),
        "the first event is `event: horizon` with `id:` the horizon"
    );
    assert_eq!(
        events[1..]
            .iter()
            .map(|(kind, id, data)| (kind.as_str(), *id, data["seq"].as_i64().unwrap()))
            .collect::<Vec<_>>(),
        (6..=10).map(|s| ("message", s, s)).collect::<Vec<_>>(),
        "then the events from the horizon + 1"
    );

    let mut above = app
        .client
        .get(format!(
            "{}/api/v1/rooms/general/events?since_seq=8",
            app.base
        ))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    let events = sse_events(&mut above, 2).await;
    assert_eq!(
        events
            .iter()
            .map(|(k, id, _)| (k.as_str(), *id))
            .collect::<Vec<_>>(),
        vec![("message", 9), ("message", 10)],
        "a resume above the horizon gets no notice"
    );
}

async fn concurrent_sends_while_pruning_lose_nothing_above_the_horizon(backend: Backend) {
    const SENDERS: usize = 4;
    const EACH: usize = 60;
    const KEEP: i64 = 40;
    let app = spawn_pruning(backend, keep(KEEP)).await;
    let owner = app.signup("owner").await;
    app.create_room(&owner, "general", false).await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(app.signup(&format!("sender{i}")).await);
    }
    let posted: Vec<Vec<(i64, String)>> = join_all(senders.iter().map(|who| {
        let app = &app;
        async move {
            let mut mine = Vec::new();
            for n in 0..EACH {
                let body = format!("{} #{n}", who.username);
                let m = post(app, who, "general", json!({"body": body})).await;
                mine.push((m["seq"].as_i64().unwrap(), body));
            }
            mine
        }
    }))
    .await;
    let total = (SENDERS * EACH) as i64;
    let mut all: Vec<(i64, String)> = posted.into_iter().flatten().collect();
    all.sort();
    assert_eq!(
        all.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>(),
        "every send got its own seq while the pruner ran"
    );

    let latest = wait_for_horizon(&app, &owner, "general", total - KEEP).await;
    let kept: Vec<(i64, String)> = latest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["body"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        all[(total - KEEP) as usize..].to_vec(),
        "every event above the horizon is there, as it was sent"
    );
}

async fn concurrent_pruners_take_turns_in_small_batches(backend: Backend) {
    // No background pruner: this test runs the passes itself.
    let app = spawn_app_with(backend, |_| {}).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 2500).await;
    let room = app.stored_room("general").await;
    let store = &app.state.store;
    let policy = keep(100);
    let now = chrono::Utc::now();

    let first = store
        .prune_room(room.id, &policy, now, 1000)
        .await
        .unwrap()
        .expect("something to prune");
    assert_eq!(
        (first.horizon_seq, first.deleted),
        (1000, 1000),
        "one call deletes one batch, oldest first"
    );

    // Two instances' pruners at once: together they prune exactly the rest.
    let (a, b) = tokio::join!(
        parley::retention::prune_pass(&**store, &policy),
        parley::retention::prune_pass(&**store, &policy),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, 1400, "each event is deleted once (got {a} + {b})");
    let latest = page(&app, &alice, "general", "limit=200").await;
    assert_eq!(latest["horizon_seq"], 2400);
    assert_eq!(
        page_seqs(&latest),
        (2401..=2500).collect::<Vec<_>>(),
        "the newest 100 are kept"
    );
    assert_eq!(
        store.prune_room(room.id, &policy, now, 1000).await.unwrap(),
        None,
        "nothing left to prune"
    );
    assert_eq!(
        parley::retention::prune_pass(&**store, &policy)
            .await
            .unwrap(),
        0
    );
}

async fn expired_partitions_are_dropped_whole(backend: Backend) {
    let app = spawn_partitioned(backend, Duration::from_secs(3)).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    // seq 1 mentions bob, seq 2 is his reaction to it, seq 3 a reply.
    post(&app, &alice, "general", json!({"body": "zanzibar hi @bob"})).await;
    react_ok(&app, &bob, "general", 1).await;
    post(
        &app,
        &alice,
        "general",
        json!({"body": "and more", "reply_to": 1}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM mentions").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM reactions").await, 1);

    // Where they are: regular partitions, not the legacy one.
    let mut db = sqlx::PgConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let holders: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT tableoid::regclass::text FROM messages")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(!holders.is_empty());
    assert!(
        holders.iter().all(|(name,)| name.starts_with("messages_p")),
        "new events go to the time partitions: {holders:?}"
    );

    let latest = wait_for_horizon(&app, &alice, "general", 3).await;
    assert_eq!(page_seqs(&latest), Vec::<i64>::new(), "{latest}");
    assert_eq!(latest["has_more"], false, "{latest}");
    for (name,) in &holders {
        let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
            .bind(name)
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert!(!exists, "the partition {name} is dropped, not emptied");
    }
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    for table in ["reactions", "mentions"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "the {table} of dropped events go with them"
        );
    }
    let found = app
        .get("/api/v1/search?q=zanzibar", &bob.access_token)
        .await;
    assert_eq!(found.body["results"], json!([]), "{:?}", found.body);
    let mentions = app.get("/api/v1/me/mentions", &bob.access_token).await;
    assert_eq!(mentions.body["results"], json!([]), "{:?}", mentions.body);
    let gone = app
        .get("/api/v1/rooms/general/messages/1", &alice.access_token)
        .await;
    assert_eq!(gone.status, 404, "{:?}", gone.body);

    // The log goes on: seq continues, partitions keep being added ahead.
    let next = post(&app, &alice, "general", json!({"body": "later"})).await;
    assert_eq!(next["seq"], 4, "seq is never reused");
    let (ahead,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM messages_partitions() WHERE starts_at > now()")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(ahead >= 1, "partitions are kept ahead of now");
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM messages_partitions()")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        total <= 16,
        "expired partitions do not pile up: {total} partitions"
    );
    db.close().await.unwrap();
}

async fn sends_and_reads_go_on_while_partitions_are_dropped(backend: Backend) {
    const SENDERS: usize = 4;
    const EACH: usize = 40;
    let app = spawn_partitioned(backend, Duration::from_secs(2)).await;
    let owner = app.signup("owner").await;
    app.create_room(&owner, "general", false).await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(app.signup(&format!("sender{i}")).await);
    }
    let sending = join_all(senders.iter().map(|who| {
        let app = &app;
        async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let m = post(app, who, "general", json!({"body": format!("#{n}")})).await;
                seqs.push(m["seq"].as_i64().unwrap());
                // About 4 s of sending: partitions expire meanwhile.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seqs
        }
    }));
    // Meanwhile a reader: every page is a run of seqs without a hole, above
    // the horizon it carries.
    let reading = async {
        let mut pages = 0;
        let mut horizons = Vec::new();
        for _ in 0..200 {
            let latest = page(&app, &owner, "general", "limit=200").await;
            let horizon = latest["horizon_seq"].as_i64().unwrap();
            let seqs = page_seqs(&latest);
            if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
                assert!(
                    *first > horizon,
                    "a page shows only events above {horizon}: {seqs:?}"
                );
                assert_eq!(
                    seqs,
                    (*first..=*last).collect::<Vec<_>>(),
                    "no hole in a page"
                );
            }
            horizons.push(horizon);
            pages += 1;
            if app
                .count("SELECT last_seq FROM rooms WHERE name = 'general'")
                .await
                >= (SENDERS * EACH) as i64
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (pages, horizons)
    };
    let (sent, (pages, horizons)) = tokio::join!(sending, reading);
    let total = (SENDERS * EACH) as i64;
    let mut all: Vec<i64> = sent.into_iter().flatten().collect();
    all.sort();
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "every send was stored, with its own seq, while partitions were dropped"
    );
    assert!(pages > 1);
    assert!(
        horizons.windows(2).all(|w| w[0] <= w[1]),
        "the horizon never moves back: {horizons:?}"
    );
    // In the end everything expires, and the log goes on.
    wait_for_horizon(&app, &owner, "general", total).await;
    let next = post(&app, &owner, "general", json!({"body": "after"})).await;
    assert_eq!(next["seq"], total + 1);
}
