//! A room's webhooks and slash commands: the README, "Bots and webhooks".
//! Outgoing requests go to a receiver on 127.0.0.1
//! (`tests/support/webhook_receiver.rs`), allowed through
//! `WEBHOOK_ALLOWED_HOSTS`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use stomp_client::StompClient;

use crate::db::Backend;
use crate::helpers::{
    TestApp, TestUser, on_both_backends, refused, spawn_app, spawn_app_with, status,
};

#[path = "../support/webhook_receiver.rs"]
pub mod webhook_receiver;
use webhook_receiver::{Answer, Receiver};

on_both_backends!(
    an_incoming_webhook_posts_from_webhook_name,
    only_the_owner_and_moderators_manage_webhooks,
    an_unknown_or_deleted_incoming_webhook_is_not_found,
    incoming_messages_follow_the_body_rules,
    incoming_messages_follow_the_send_rate,
    outgoing_webhooks_deliver_signed_events_in_seq_order,
    retries_keep_the_order_and_the_id,
    the_events_filter_chooses_what_is_delivered,
    slash_commands_answer_over_http,
    slash_commands_answer_over_stomp_before_the_receipt,
);
crate::helpers::on_sqlite!(
    addresses_are_checked_and_redirects_not_followed,
    a_command_that_times_out_is_504_and_a_notice_over_stomp,
);

async fn app_with_receivers(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.webhook_allowed_hosts = "127.0.0.1".into();
        c.limits.send_rate = 0;
    })
    .await
}

async fn create(app: &TestApp, who: &TestUser, room: &str, body: Value) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/rooms/{room}/webhooks"),
        Some(&who.access_token),
        body,
    )
    .await
}

/// The path of an incoming webhook's URL (the app answers on its own base).
fn path_of(url: &str) -> String {
    let at = url.find("/api/v1/hooks/").expect("a hooks URL");
    url[at..].to_string()
}

/// Alice, owner of the public room `ops`.
async fn alice_in_ops(app: &TestApp) -> TestUser {
    let alice = app.signup("alice").await;
    app.create_room(&alice, "ops", false).await;
    alice
}

/// An incoming webhook `name` of `room`, made by `who`: (its id, the path
/// of its URL).
async fn incoming(app: &TestApp, who: &TestUser, room: &str, name: &str) -> (i64, String) {
    let body = json!({"kind": "incoming", "name": name});
    let made = status(&create(app, who, room, body).await, 201, "create incoming");
    let path = path_of(made["url"].as_str().expect("a URL"));
    (made["id"].as_i64().expect("an id"), path)
}

/// Webhook `id`'s delivery log, as `who` reads it.
async fn deliveries(app: &TestApp, who: &TestUser, room: &str, id: i64) -> Vec<Value> {
    let path = format!("/api/v1/rooms/{room}/webhooks/{id}/deliveries");
    let log = status(&app.get(&path, &who.access_token).await, 200, "deliveries");
    log["deliveries"].as_array().expect("a list").clone()
}

/// The delivery log once `done` holds for it (an attempt is recorded after
/// its answer arrives, so a receiver may have an event its log does not show
/// yet); at most 10 s, then the log as it is.
async fn deliveries_when(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    id: i64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(app, who, room, id).await;
        if done(&log) || std::time::Instant::now() >= deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events of `room`'s history, as `who` reads them.
async fn history(app: &TestApp, who: &TestUser, room: &str) -> Vec<Value> {
    let path = format!("/api/v1/rooms/{room}/messages");
    let page = status(&app.get(&path, &who.access_token).await, 200, "history");
    page["messages"].as_array().expect("a list").clone()
}

async fn an_incoming_webhook_posts_from_webhook_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "ops", true).await;
    app.post(
        "/api/v1/rooms/ops/members",
        Some(&alice.access_token),
        json!({"username": "bob"}),
    )
    .await;
    let mut watcher = StompClient::connect(&app, &bob.access_token).await;
    watcher.subscribe("s", "ops").await;

    let created = status(
        &create(
            &app,
            &alice,
            "ops",
            json!({"kind": "incoming", "name": "ci"}),
        )
        .await,
        201,
        "create",
    );
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.base),
        "an absolute URL on this server: {url}"
    );
    assert!(created["id"].as_i64().is_some());
    assert!(created.get("secret").is_none());

    let r = app
        .post(&path_of(url), None, json!({"text": "build *green*"}))
        .await;
    let message = status(&r, 200, "post through the webhook");
    assert_eq!(message["sender"], "webhook:ci");
    assert_eq!(message["body"], "build *green*");
    let live = watcher.expect_message().await;
    assert!(
        live.body_text().contains("build *green*"),
        "delivered live: {live}"
    );
    let r = app
        .post(&path_of(url), None, json!({"body": "second"}))
        .await;
    assert_eq!(
        status(&r, 200, "body field")["seq"],
        message["seq"].as_i64().unwrap() + 1
    );

    let listed = status(
        &app.get("/api/v1/rooms/ops/webhooks", &alice.access_token)
            .await,
        200,
        "list",
    );
    let hooks = listed["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["kind"], "incoming");
    assert_eq!(hooks[0]["name"], "ci");
    let text = listed.to_string();
    let secret = url.rsplit('/').next().unwrap();
    assert!(!text.contains(secret), "no secret in the list: {text}");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username = 'webhook:ci'")
            .await,
        1
    );
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "webhook:ci", "password": "whatever-pw"}),
        )
        .await;
    refused(
        &login,
        401,
        "invalid_credentials",
        "webhook senders do not log in",
    );
}

async fn only_the_owner_and_moderators_manage_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    let dave = app.signup("dave").await;
    app.create_room(&alice, "team", true).await;
    for who in ["bob", "carol"] {
        app.post(
            "/api/v1/rooms/team/members",
            Some(&alice.access_token),
            json!({"username": who}),
        )
        .await;
    }
    let promoted = app
        .request(
            Method::PUT,
            "/api/v1/rooms/team/members/carol/role",
            Some(&alice.access_token),
            Some(json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(promoted.status, 200, "{:?}", promoted.body);
    let body = json!({"kind": "incoming", "name": "ci"});
    refused(
        &create(&app, &bob, "team", body.clone()).await,
        403,
        "forbidden",
        "a member",
    );
    refused(
        &create(&app, &dave, "team", body.clone()).await,
        404,
        "room_not_found",
        "a stranger",
    );
    refused(
        &app.get("/api/v1/rooms/team/webhooks", &bob.access_token)
            .await,
        403,
        "forbidden",
        "a member lists",
    );
    let made = status(
        &create(&app, &carol, "team", body).await,
        201,
        "a moderator",
    );
    let id = made["id"].as_i64().unwrap();
    let path = format!("/api/v1/rooms/team/webhooks/{id}");
    let r = app
        .request(Method::DELETE, &path, Some(&bob.access_token), None)
        .await;
    refused(&r, 403, "forbidden", "a member deletes");
    let r = app
        .request(Method::DELETE, &path, Some(&alice.access_token), None)
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .request(Method::DELETE, &path, Some(&alice.access_token), None)
        .await;
    refused(&r, 404, "webhook_not_found", "deleted twice");
}

async fn an_unknown_or_deleted_incoming_webhook_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = alice_in_ops(&app).await;
    let (id, path) = incoming(&app, &alice, "ops", "ci").await;
    let (base, secret) = path.rsplit_once('/').unwrap();
    let mut wrong = secret.to_string();
    wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
    for bad in [
        format!("{base}/{wrong}"),
        format!("{base}/"),
        format!("/api/v1/hooks/{}/{secret}", id + 1000),
        format!("/api/v1/hooks/x/{secret}"),
    ] {
        let r = app.post(&bad, None, json!({"text": "hi"})).await;
        assert_eq!(r.status, 404, "{bad}: {:?}", r.body);
    }
    app.request(
        Method::DELETE,
        &format!("/api/v1/rooms/ops/webhooks/{id}"),
        Some(&alice.access_token),
        None,
    )
    .await;
    refused(
        &app.post(&path, None, json!({"text": "hi"})).await,
        404,
        "webhook_not_found",
        "deleted",
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages").await,
        0,
        "nothing stored"
    );
}

async fn incoming_messages_follow_the_body_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = alice_in_ops(&app).await;
    let (_, path) = incoming(&app, &alice, "ops", "ci").await;
    let too_long = "x".repeat(app.state.config.limits.max_body_bytes + 1);
    for (body, code) in [
        (json!({"text": ""}), "invalid_body"),
        (json!({"text": "a\u{0}b"}), "invalid_body"),
        (json!({"text": too_long}), "invalid_body"),
        (json!({}), "invalid_body"),
        (json!({"text": "a", "body": "b"}), "invalid_body"),
        (json!({"text": "a", "channel": "#x"}), "invalid_request"),
    ] {
        refused(
            &app.post(&path, None, body.clone()).await,
            400,
            code,
            &body.to_string(),
        );
    }
    let bad = [
        json!({"kind": "incoming"}),
        json!({"kind": "incoming", "name": "has space"}),
        json!({"kind": "incoming", "name": "ci", "url": "https://example.com"}),
        json!({"kind": "outgoing"}),
        json!({"kind": "outgoing", "url": "https://example.com", "events": []}),
        json!({"kind": "command", "url": "https://example.com"}),
        json!({"kind": "command", "command": "Bad", "url": "https://example.com"}),
    ];
    for body in bad {
        refused(
            &create(&app, &alice, "ops", body.clone()).await,
            400,
            "invalid_webhook",
            &body.to_string(),
        );
    }
    refused(
        &create(&app, &alice, "ops", json!({"kind": "other", "name": "x"})).await,
        400,
        "invalid_request",
        "kind",
    );
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
}

async fn incoming_messages_follow_the_send_rate(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 1;
        c.limits.send_burst = 1;
    })
    .await;
    let alice = alice_in_ops(&app).await;
    let (_, path) = incoming(&app, &alice, "ops", "ci").await;
    let posts = (0..12).map(|i| app.post(&path, None, json!({"text": format!("m{i}")})));
    let replies = futures_util::future::join_all(posts).await;
    let stored = replies.iter().filter(|r| r.status == 200).count();
    let limited = replies
        .iter()
        .filter(|r| r.code() == "rate_limited")
        .count();
    assert_eq!(
        stored + limited,
        12,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(limited >= 1, "12 posts at 1/s cannot all pass within 5 s");
    assert_eq!(
        app.count("SELECT count(*) FROM messages").await,
        stored as i64
    );
}

/// Creates an outgoing webhook to `receiver` and gives the receiver its key.
async fn outgoing(
    app: &TestApp,
    owner: &TestUser,
    room: &str,
    receiver: &Receiver,
    extra: Value,
) -> i64 {
    let mut body = json!({"kind": "outgoing", "url": receiver.url("/hook")});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let made = status(
        &create(app, owner, room, body).await,
        201,
        "create outgoing",
    );
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_key(secret);
    made["id"].as_i64().unwrap()
}

/// `who` posts `body` to `room` over HTTP.
async fn send(app: &TestApp, who: &TestUser, room: &str, body: &str) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&who.access_token),
        json!({"body": body}),
    )
    .await
}

/// As [`send`], which must store it: the stored message.
async fn post(app: &TestApp, who: &TestUser, room: &str, body: &str) -> Value {
    status(&send(app, who, room, body).await, 201, "post")
}

async fn outgoing_webhooks_deliver_signed_events_in_seq_order(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    post(&app, &alice, "ops", "before the webhook").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let id = outgoing(&app, &alice, "ops", &receiver, json!({"name": "audit"})).await;
    for i in 1..=3 {
        post(&app, &alice, "ops", &format!("m{i}")).await;
    }
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/rooms/ops/messages/2",
            Some(&alice.access_token),
            Some(json!({"body": "m1 edited"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    let ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(
        ids,
        ["ops:2", "ops:3", "ops:4", "ops:5"],
        "after the creation, in seq order"
    );
    assert!(
        got.iter().all(|g| g.verified),
        "every request is signed with the secret"
    );
    assert_eq!(got[0].json()["body"], "m1");
    assert_eq!(got[0].json()["sender"], "alice");
    assert_eq!(got[3].json()["type"], "edit");
    let now = chrono::Utc::now().timestamp();
    let ts: i64 = got[0].timestamp.parse().unwrap();
    assert!(
        (now - ts).abs() < 60,
        "webhook-timestamp is now, in seconds: {ts}"
    );

    let log = deliveries_when(&app, &alice, "ops", id, |log| log.len() >= 4).await;
    let seqs: Vec<i64> = log.iter().map(|d| d["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [5, 4, 3, 2], "newest first");
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["code"], 200);
    let listed = app
        .get("/api/v1/rooms/ops/webhooks", &alice.access_token)
        .await;
    assert_eq!(
        listed.body["webhooks"][0]["events"],
        json!(["message", "edit", "delete", "reaction"])
    );
    assert!(
        !listed.body.to_string().contains("whsec_"),
        "no secrets listed"
    );
}

async fn retries_keep_the_order_and_the_id(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    let receiver = Receiver::start(Answer::Status(503)).await;
    let id = outgoing(&app, &alice, "ops", &receiver, json!({})).await;
    for i in 1..=3 {
        post(&app, &alice, "ops", &format!("m{i}")).await;
    }
    // Failing: 1 s, then 2 s between tries of the first event.
    let failed = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        failed.iter().all(|g| g.id == "ops:1"),
        "the next event waits: {failed:?}"
    );
    receiver.answer(Answer::Status(204));
    let got = receiver
        .wait_for(failed.len() + 3, Duration::from_secs(20))
        .await;
    let ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    let mut dedup = ids.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        ["ops:1", "ops:2", "ops:3"],
        "in order, retries of one id together: {ids:?}"
    );
    assert_eq!(receiver.max_in_flight(), 1, "one request at a time");
    let log = deliveries_when(&app, &alice, "ops", id, |log| {
        log.first().and_then(|d| d["seq"].as_i64()) == Some(3)
    })
    .await;
    let last = log.last().unwrap();
    assert_eq!(
        (
            last["seq"].as_i64(),
            last["status"].as_str(),
            last["code"].as_i64()
        ),
        (Some(1), Some("failed"), Some(503))
    );
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["code"], 204);
}

async fn the_events_filter_chooses_what_is_delivered(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    outgoing(
        &app,
        &alice,
        "ops",
        &receiver,
        json!({"events": ["reaction", "delete"]}),
    )
    .await;
    post(&app, &alice, "ops", "one").await;
    let r = app
        .request(
            Method::PUT,
            "/api/v1/rooms/ops/messages/1/reactions/%F0%9F%91%8D",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/rooms/ops/messages/1",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    post(&app, &alice, "ops", "two").await;
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let types: Vec<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["reaction", "delete"]);
    // The message after them moves the cursor without a request.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 2);
}

async fn addresses_are_checked_and_redirects_not_followed(backend: Backend) {
    let strict = spawn_app(backend).await;
    let alice = alice_in_ops(&strict).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    for url in [
        receiver.url("/hook"),
        format!("https://127.0.0.1:{}/hook", receiver.port),
        "https://10.1.2.3/hook".to_string(),
        "https://[::1]/hook".to_string(),
        "https://169.254.169.254/latest".to_string(),
        "https://user:pw@example.com/hook".to_string(),
        "ftp://example.com/hook".to_string(),
    ] {
        let r = create(
            &strict,
            &alice,
            "ops",
            json!({"kind": "outgoing", "url": url}),
        )
        .await;
        refused(&r, 400, "address_not_allowed", &url);
    }

    let app = app_with_receivers(Backend::Sqlite).await;
    let alice = alice_in_ops(&app).await;
    let elsewhere = Receiver::start(Answer::Status(200)).await;
    let redirecting = Receiver::start(Answer::Redirect(elsewhere.url("/taken"))).await;
    let id = outgoing(&app, &alice, "ops", &redirecting, json!({})).await;
    post(&app, &alice, "ops", "one").await;
    redirecting.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        elsewhere.received().is_empty(),
        "a redirect is not followed"
    );
    let first = deliveries_when(&app, &alice, "ops", id, |log| !log.is_empty()).await[0].clone();
    assert_eq!(
        (first["status"].as_str(), first["code"].as_i64()),
        (Some("failed"), Some(302))
    );
}

/// A command `/deploy` in `room` answered by `receiver`.
async fn command(app: &TestApp, owner: &TestUser, room: &str, receiver: &Receiver) {
    let body = json!({"kind": "command", "command": "deploy", "url": receiver.url("/cmd")});
    let made = status(&create(app, owner, room, body).await, 201, "create command");
    receiver.set_key(made["secret"].as_str().unwrap());
}

async fn slash_commands_answer_over_http(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    let receiver = Receiver::start(Answer::Json(200, r#"{"text":"deploying main"}"#.into())).await;
    command(&app, &alice, "ops", &receiver).await;
    let again = json!({"kind": "command", "command": "deploy", "url": receiver.url("/x")});
    refused(
        &create(&app, &alice, "ops", again).await,
        409,
        "command_exists",
        "one per name",
    );

    let answer = post(&app, &alice, "ops", "/deploy main now").await;
    assert_eq!(answer["sender"], "webhook:deploy");
    assert_eq!(answer["body"], "deploying main");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].verified, "signed");
    assert_eq!(
        got[0].json(),
        json!({"room": "ops", "user": "alice", "text": "main now"})
    );
    let history = history(&app, &alice, "ops").await;
    let bodies: Vec<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["deploying main"],
        "the command itself is not stored"
    );

    let plain = post(&app, &alice, "ops", "/unknown thing").await;
    assert_eq!(
        (plain["sender"].as_str(), plain["body"].as_str()),
        (Some("alice"), Some("/unknown thing"))
    );
    let plain = post(&app, &alice, "ops", "/deployx").await;
    assert_eq!(plain["sender"], "alice", "a longer name is another command");

    receiver.answer(Answer::Status(500));
    let r = send(&app, &alice, "ops", "/deploy").await;
    refused(&r, 502, "command_failed", "an error answer");
    receiver.answer(Answer::Json(200, "not json".into()));
    let r = send(&app, &alice, "ops", "/deploy").await;
    refused(&r, 502, "command_failed", "not JSON");
}

async fn slash_commands_answer_over_stomp_before_the_receipt(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    let receiver = Receiver::start(Answer::Json(200, r#"{"text":"pong"}"#.into())).await;
    command(&app, &alice, "ops", &receiver).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client.subscribe("s", "ops").await;
    let receipt = client.send_chat("ops", "/deploy ping", "r1").await;
    assert_eq!(receipt.command, "RECEIPT");
    // The RECEIPT comes after the answer is stored.
    let history = history(&app, &alice, "ops").await;
    let last = history.last().cloned().unwrap();
    assert_eq!(
        (last["sender"].as_str(), last["body"].as_str()),
        (Some("webhook:deploy"), Some("pong"))
    );
    assert_eq!(history.len(), 1, "the command is not stored");
    let live = client.expect_message().await;
    assert!(
        live.body_text().contains("pong"),
        "subscribers get the answer: {live}"
    );
    assert_eq!(receiver.received()[0].json()["text"], "ping");
}

async fn a_command_that_times_out_is_504_and_a_notice_over_stomp(backend: Backend) {
    let app = app_with_receivers(backend).await;
    let alice = alice_in_ops(&app).await;
    let receiver = Receiver::start(Answer::Hang).await;
    command(&app, &alice, "ops", &receiver).await;
    let r = send(&app, &alice, "ops", "/deploy").await;
    refused(&r, 504, "command_timeout", "a hanging command");
    assert_eq!(
        app.count("SELECT count(*) FROM messages").await,
        0,
        "over HTTP nothing is stored"
    );

    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client.subscribe("s", "ops").await;
    client
        .send(stomp_client::frame(
            "SEND",
            &[("destination", "/topic/rooms/ops"), ("receipt", "r1")],
            "/deploy now",
        ))
        .await;
    // The command's 10 s, then the notice and the RECEIPT.
    let mut frames = vec![client.expect_frame_within(Duration::from_secs(15)).await];
    if frames[0].command != "RECEIPT" {
        frames.push(client.expect_frame().await);
    }
    let commands: Vec<&str> = frames.iter().map(|f| f.command.as_str()).collect();
    assert!(commands.contains(&"RECEIPT"), "{commands:?}");
    let messages = history(&app, &alice, "ops").await;
    assert_eq!(messages.len(), 1, "only the notice: {messages:?}");
    assert_eq!(messages[0]["sender"], "webhook:deploy");
    assert_eq!(
        messages[0]["body"],
        "command /deploy failed: the command did not answer in time"
    );
    let live = match frames.iter().find(|f| f.command == "MESSAGE") {
        Some(f) => f.clone(),
        None => client.expect_message().await,
    };
    assert!(
        live.body_text().contains("command /deploy failed"),
        "{live}"
    );
}
