//! Chat without WebSocket: the README, "Chat over plain HTTP" (REST posting, Server-Sent
//! Events, long polling), shared with STOMP subscribers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, spawn_app_unthrottled as app};
use stomp_client::StompClient;

on_both_backends!(
    posted_message_is_stored_and_idempotent,
    posting_bad_input_gets_clear_errors,
    events_stream_delivers_rest_and_stomp_messages_in_order,
    events_stream_resumes_after_last_event_id_without_gap_or_duplicate,
    events_stream_of_private_room_is_404_for_non_members,
    long_poll_answers_as_soon_as_a_message_is_committed,
    long_poll_times_out_with_an_empty_page,
    long_poll_rejects_invalid_wait,
);

const WAIT: Duration = Duration::from_secs(10);

async fn post(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    body: &str,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(format!("{}/api/v1/rooms/{room}/messages", app.base))
        .bearer_auth(&who.access_token)
        .json(&json!({"body": body}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = TestApp::reply(req.send().await.unwrap()).await;
    (r.status, r.body)
}

/// An open SSE response and the text read from it so far.
struct EventStream {
    resp: reqwest::Response,
    buf: String,
}

impl EventStream {
    async fn open(
        app: &TestApp,
        who: &TestUser,
        room: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut req = app
            .client
            .get(format!("{}/api/v1/rooms/{room}/events", app.base))
            .bearer_auth(&who.access_token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        req.send().await.unwrap()
    }

    /// The next `n` `message` events as (id, data JSON).
    async fn messages(&mut self, n: usize) -> Vec<(i64, Value)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while out.len() < n {
            while let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                let mut kind = None;
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse::<i64>().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str::<Value>(v).ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = Some(v.to_string());
                    }
                }
                if let (Some(id), Some(data), Some("message")) = (id, data, kind.as_deref()) {
                    out.push((id, data));
                }
            }
            if out.len() >= n {
                break;
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("waited {WAIT:?} for {n} events, got {}", out.len()))
                .expect("stream readable")
                .expect("stream still open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        out
    }
}

async fn posted_message_is_stored_and_idempotent(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (status, first) = post(&app, &alice, "general", "hello over http", Some("k-1")).await;
    assert_eq!(status, 201, "{first:?}");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["sender"], "alice");
    assert_eq!(first["client_id"], "k-1");
    let (status, again) = post(&app, &alice, "general", "hello over http", Some("k-1")).await;
    assert_eq!(status, 200, "a retry answers 200 with the original");
    assert_eq!(again, first);
    let page = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    assert_eq!(
        page.body["messages"].as_array().unwrap().len(),
        1,
        "stored once"
    );
    let bob = app.signup("bob").await;
    let (status, m) = post(&app, &bob, "general", "public rooms take posts", None).await;
    assert_eq!((status.as_u16(), m["seq"].as_i64()), (201, Some(2)));
}

async fn posting_bad_input_gets_clear_errors(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "secret", true).await;
    let long_key = "k".repeat(65);
    let too_big = "x".repeat(4097);
    for (what, room, body, key, status, code) in [
        ("empty body", "general", "", None, 400, "invalid_body"),
        (
            "oversize body",
            "general",
            too_big.as_str(),
            None,
            400,
            "invalid_body",
        ),
        (
            "long key",
            "general",
            "hi",
            Some(long_key.as_str()),
            400,
            "invalid_idempotency_key",
        ),
        ("unknown room", "nope", "hi", None, 404, "room_not_found"),
    ] {
        let (s, b) = post(&app, &alice, room, body, key).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{what}"
        );
    }
    let (s, b) = post(&app, &bob, "secret", "let me in", None).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (404, Some("room_not_found")),
        "private room"
    );
    let nul = app
        .client
        .post(format!("{}/api/v1/rooms/general/messages", app.base))
        .bearer_auth(&alice.access_token)
        .json(&json!({"body": "a\u{0}b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(nul.status(), 400, "U+0000 is refused");
    let page = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    assert_eq!(
        page.body["messages"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
}

async fn events_stream_delivers_rest_and_stomp_messages_in_order(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let resp = EventStream::open(&app, &alice, "general", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = EventStream {
        resp,
        buf: String::new(),
    };
    post(&app, &alice, "general", "one (rest)", None).await;
    let mut stomp = StompClient::connect(&app, &alice.access_token).await;
    stomp.send_chat("general", "two (stomp)", "r2").await;
    post(&app, &alice, "general", "three (rest)", None).await;
    let got = events.messages(3).await;
    let ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [1, 2, 3], "SSE id is the seq, in order");
    let bodies: Vec<&str> = got
        .iter()
        .map(|(_, m)| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one (rest)", "two (stomp)", "three (rest)"]);
    assert_eq!(got[1].1["seq"], 2, "data is the message object");
}

async fn events_stream_resumes_after_last_event_id_without_gap_or_duplicate(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 5).await;
    let resp = EventStream::open(&app, &alice, "general", Some("2")).await;
    let mut events = EventStream {
        resp,
        buf: String::new(),
    };
    let replay = events.messages(3).await;
    assert_eq!(
        replay.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    post(&app, &alice, "general", "live", None).await;
    let live = events.messages(1).await;
    assert_eq!(
        live[0].0, 6,
        "live continues right after the replay, no duplicate"
    );
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/rooms/general/events?since_seq=4",
            app.base
        ))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    let mut by_query = EventStream {
        resp,
        buf: String::new(),
    };
    let got = by_query.messages(2).await;
    assert_eq!(
        got.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [5, 6],
        "?since_seq= works too"
    );
}

async fn events_stream_of_private_room_is_404_for_non_members(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "secret", true).await;
    let resp = EventStream::open(&app, &bob, "secret", None).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "room_not_found");
    let resp = EventStream::open(&app, &alice, "secret", None).await;
    assert_eq!(resp.status(), 200, "the member may stream it");
}

async fn long_poll_answers_as_soon_as_a_message_is_committed(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 2).await;
    let poll = app
        .client
        .get(format!(
            "{}/api/v1/rooms/general/messages?after=2&wait=20",
            app.base
        ))
        .bearer_auth(&alice.access_token)
        .send();
    let poster = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        post(&app, &alice, "general", "wake up", None).await
    };
    let (resp, _) = tokio::join!(poll, poster);
    let body: Value = resp.unwrap().json().await.unwrap();
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        1,
        "the held poll returns the new message: {body}"
    );
    assert_eq!(messages[0]["seq"], 3);
    assert_eq!(messages[0]["body"], "wake up");
    let immediate = app
        .get(
            "/api/v1/rooms/general/messages?after=0&wait=5",
            &alice.access_token,
        )
        .await;
    assert_eq!(
        immediate.body["messages"].as_array().unwrap().len(),
        3,
        "nothing to wait for"
    );
}

async fn long_poll_times_out_with_an_empty_page(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let r = app
        .get(
            "/api/v1/rooms/general/messages?after=0&wait=1",
            &alice.access_token,
        )
        .await;
    assert_eq!(r.status, 200);
    // A history page: it carries the room's retention horizon too (README,
    // "Retention"; 0, nothing is pruned here).
    assert_eq!(
        r.body,
        json!({"messages": [], "has_more": false, "horizon_seq": 0})
    );
}

async fn long_poll_rejects_invalid_wait(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for q in [
        "wait=5",
        "after=0&wait=0",
        "after=0&wait=31",
        "after=0&wait=x",
        "before=3&wait=2",
    ] {
        let r = app
            .get(
                &format!("/api/v1/rooms/general/messages?{q}"),
                &alice.access_token,
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_query"), "{q}");
    }
}
