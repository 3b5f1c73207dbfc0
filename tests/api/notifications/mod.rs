//! Notification levels and Web Push (README, "Notifications"), against a
//! push service on loopback that decrypts each push and verifies its VAPID
//! token (`receiver.rs`).

pub mod receiver;

use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{Reply, TestApp, TestUser, on_both_backends, refused, spawn_app_with, status};
use receiver::{Receiver, Subscriber, verify_vapid};

on_both_backends!(
    levels_default_to_all_in_a_direct_conversation_and_mentions_elsewhere,
    a_level_and_a_mute_are_stored_shown_in_room_objects_and_announced,
    notification_settings_refuse_bad_input_and_non_members,
    subscriptions_are_stored_listed_and_deleted,
    endpoints_on_forbidden_addresses_are_refused,
    the_vapid_key_is_generated_once_and_kept,
    a_due_event_is_pushed_once_encrypted_and_signed,
    a_reply_in_a_followed_thread_is_pushed,
    without_preview_a_push_carries_no_text,
    nothing_is_pushed_for_level_none_a_mute_a_blocked_sender_or_an_undue_message,
    nothing_is_pushed_to_an_online_user,
    a_gone_subscription_is_deleted,
    a_failing_push_service_is_retried_until_it_accepts,
    a_message_deleted_before_it_is_sent_is_not_pushed,
    a_redirect_is_not_followed,
    retry_after_delays_the_retry_in_seconds_or_as_a_date,
    a_user_keeps_the_newest_subscriptions_up_to_the_cap_even_when_concurrent,
    an_edit_notifies_only_those_it_newly_mentions_and_they_follow_its_thread,
);

/// How long a due push may take (README: within 5 s).
const WITHIN: Duration = Duration::from_secs(5);

async fn app(backend: Backend, receiver: &Receiver) -> TestApp {
    let host = receiver.host();
    spawn_app_with(backend, move |c| {
        c.limits.send_rate = 0;
        c.push.allowed_hosts = host;
    })
    .await
}

/// A push service on loopback and an app allowed to reach it.
async fn started(backend: Backend) -> (Receiver, TestApp) {
    let receiver = Receiver::start().await;
    let app = app(backend, &receiver).await;
    (receiver, app)
}

/// What most push tests start from: a push service on loopback, an app
/// allowed to reach it, alice subscribed there as `phone`, and bob.
async fn scene(backend: Backend) -> (Receiver, TestApp, TestUser, TestUser, Subscriber) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let phone = receiver.subscriber("phone");
    subscribe(&app, &alice, &phone).await;
    (receiver, app, alice, bob, phone)
}

async fn put(app: &TestApp, who: &TestUser, path: &str, body: Value) -> Reply {
    app.request(Method::PUT, path, Some(&who.access_token), Some(body))
        .await
}

async fn set_level(app: &TestApp, who: &TestUser, room: &str, body: Value) -> Reply {
    put(
        app,
        who,
        &format!("/api/v1/rooms/{room}/notifications"),
        body,
    )
    .await
}

async fn level(app: &TestApp, who: &TestUser, room: &str) -> Reply {
    app.get(
        &format!("/api/v1/rooms/{room}/notifications"),
        &who.access_token,
    )
    .await
}

async fn post_subscription(app: &TestApp, who: &TestUser, body: Value) -> Reply {
    app.post(
        "/api/v1/me/push-subscriptions",
        Some(&who.access_token),
        body,
    )
    .await
}

async fn subscribe(app: &TestApp, who: &TestUser, sub: &Subscriber) -> Value {
    status(
        &post_subscription(app, who, sub.json()).await,
        201,
        "subscribe",
    )
}

/// Opens the direct conversation of `a` and `b`; its name.
async fn dm(app: &TestApp, a: &TestUser, b: &TestUser) -> String {
    let r = app
        .post(
            "/api/v1/dms",
            Some(&a.access_token),
            json!({"username": b.username}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "open dm: {:?}", r.body);
    r.body["name"].as_str().unwrap().to_string()
}

/// Posts `body` to `room` as `who`; its seq.
async fn say(app: &TestApp, who: &TestUser, room: &str, body: &str) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.access_token),
            json!({"body": body}),
        )
        .await;
    status(&r, 201, "post")["seq"].as_i64().unwrap()
}

async fn join(app: &TestApp, who: &TestUser, room: &str) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/join"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    status(&r, 200, "join");
}

async fn outbox(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM push_outbox").await
}

/// Waits until the outbox is empty (every due push handled).
async fn settled(app: &TestApp) {
    let deadline = Instant::now() + WITHIN;
    while outbox(app).await > 0 {
        assert!(Instant::now() < deadline, "the outbox drains within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of `who`'s subscriptions, oldest first.
async fn subscription_ids(app: &TestApp, who: &TestUser) -> Vec<i64> {
    let r = app
        .get("/api/v1/me/push-subscriptions", &who.access_token)
        .await;
    status(&r, 200, "list")["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

async fn vapid_key(app: &TestApp) -> String {
    let r = app
        .request(Method::GET, "/api/v1/push/vapid-key", None, None)
        .await;
    status(&r, 200, "vapid key")["public_key"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn levels_default_to_all_in_a_direct_conversation_and_mentions_elsewhere(backend: Backend) {
    let (_receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let dm = dm(&app, &alice, &bob).await;
    assert_eq!(
        status(&level(&app, &alice, "general").await, 200, "room"),
        json!({"level": "mentions", "muted_until": null})
    );
    assert_eq!(
        status(&level(&app, &bob, &dm).await, 200, "dm"),
        json!({"level": "all", "muted_until": null})
    );
    let room = app.get("/api/v1/rooms/general", &alice.access_token).await;
    assert_eq!(
        status(&room, 200, "room object")["membership"]["notifications"],
        json!({"level": "mentions", "muted_until": null})
    );
    let rooms = status(
        &app.get("/api/v1/rooms", &bob.access_token).await,
        200,
        "list",
    );
    let direct = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == dm.as_str())
        .expect("bob lists the conversation");
    assert_eq!(direct["membership"]["notifications"]["level"], "all");
}

async fn a_level_and_a_mute_are_stored_shown_in_room_objects_and_announced(backend: Backend) {
    let (_receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut updates = stomp_client::StompClient::connect(&app, &alice.access_token).await;
    updates
        .send(stomp_client::frame(
            "SUBSCRIBE",
            &[
                ("id", "me"),
                ("destination", "/user/queue/updates"),
                ("receipt", "r"),
            ],
            "",
        ))
        .await;
    updates.expect_receipt("r").await;

    let until = "2099-01-02T03:04:05.678Z";
    let set = set_level(
        &app,
        &alice,
        "general",
        json!({"level": "none", "muted_until": until}),
    )
    .await;
    let want = json!({"level": "none", "muted_until": until});
    assert_eq!(status(&set, 200, "set"), want, "answered as stored");
    assert_eq!(
        status(&level(&app, &alice, "general").await, 200, "get"),
        want
    );
    let room = app.get("/api/v1/rooms/general", &alice.access_token).await;
    assert_eq!(
        status(&room, 200, "room")["membership"]["notifications"],
        want
    );

    let f = updates.expect_frame_within(Duration::from_secs(2)).await;
    assert_eq!(
        f.command, "MESSAGE",
        "room_updated on the user destination: {f}"
    );
    let update = f.json();
    assert_eq!(update["type"], "room_updated");
    assert_eq!(update["room"]["membership"]["notifications"], want);

    // Back to the default level's words, unmuted; a mute in the past is
    // no mute.
    let set = set_level(
        &app,
        &alice,
        "general",
        json!({"level": "all", "muted_until": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        status(&set, 200, "set"),
        json!({"level": "all", "muted_until": null})
    );
    let set = set_level(&app, &alice, "general", json!({"level": "mentions"})).await;
    assert_eq!(
        status(&set, 200, "muted_until may be absent"),
        json!({"level": "mentions", "muted_until": null})
    );
}

async fn notification_settings_refuse_bad_input_and_non_members(backend: Backend) {
    let (_receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "secret", true).await;
    for (body, what) in [
        (json!({"level": "loud"}), "unknown level"),
        (json!({}), "no level"),
        (
            json!({"level": "all", "muted_until": "tomorrow"}),
            "not RFC 3339",
        ),
        (json!({"level": "all", "volume": 3}), "unknown field"),
    ] {
        refused(
            &set_level(&app, &alice, "general", body).await,
            400,
            "invalid_request",
            what,
        );
    }
    refused(
        &set_level(&app, &bob, "general", json!({"level": "all"})).await,
        403,
        "not_a_member",
        "bob sees the public room but is not in it",
    );
    refused(
        &level(&app, &bob, "general").await,
        403,
        "not_a_member",
        "get",
    );
    refused(
        &set_level(&app, &bob, "secret", json!({"level": "all"})).await,
        404,
        "room_not_found",
        "a private room bob is not in",
    );
    refused(
        &level(&app, &bob, "nowhere").await,
        404,
        "room_not_found",
        "no room",
    );
    let anonymous = app
        .request(
            Method::GET,
            "/api/v1/rooms/general/notifications",
            None,
            None,
        )
        .await;
    refused(&anonymous, 401, "unauthorized", "no token");
    // Nothing was stored by the refusals.
    assert_eq!(
        status(&level(&app, &alice, "general").await, 200, "alice's")["level"],
        "mentions"
    );
}

async fn subscriptions_are_stored_listed_and_deleted(backend: Backend) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let phone = receiver.subscriber("phone");
    let laptop = receiver.subscriber("laptop");
    let first = subscribe(&app, &alice, &phone).await;
    assert!(first["id"].as_i64().is_some(), "an id: {first}");
    assert_eq!(first["endpoint"], phone.endpoint.as_str());
    assert_eq!(first["keys"], phone.json()["keys"]);
    assert_eq!(first["expirationTime"], Value::Null);
    let again = subscribe(&app, &alice, &phone).await;
    assert_eq!(
        again["id"], first["id"],
        "the same endpoint is one subscription"
    );
    let second = subscribe(&app, &alice, &laptop).await;

    assert_eq!(
        subscription_ids(&app, &alice).await,
        [
            first["id"].as_i64().unwrap(),
            second["id"].as_i64().unwrap()
        ],
        "oldest first"
    );
    assert!(
        subscription_ids(&app, &bob).await.is_empty(),
        "each user's own"
    );

    let path = format!("/api/v1/me/push-subscriptions/{}", first["id"]);
    let r = app
        .request(Method::DELETE, &path, Some(&bob.access_token), None)
        .await;
    refused(
        &r,
        404,
        "subscription_not_found",
        "bob cannot delete alice's",
    );
    let r = app
        .request(Method::DELETE, &path, Some(&alice.access_token), None)
        .await;
    assert_eq!(r.status, 204, "deleted: {:?}", r.body);
    let r = app
        .request(Method::DELETE, &path, Some(&alice.access_token), None)
        .await;
    refused(&r, 404, "subscription_not_found", "already gone");
    assert_eq!(subscription_ids(&app, &alice).await.len(), 1);

    for (body, what) in [
        (
            json!({"endpoint": phone.endpoint, "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
            "short keys",
        ),
        (json!({"endpoint": phone.endpoint}), "no keys"),
        (
            json!({"endpoint": phone.endpoint, "keys": phone.json()["keys"], "extra": 1}),
            "unknown field",
        ),
    ] {
        let r = post_subscription(&app, &alice, body).await;
        refused(&r, 400, "invalid_request", what);
    }
}

async fn endpoints_on_forbidden_addresses_are_refused(backend: Backend) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let keys = receiver.subscriber("x").json()["keys"].clone();
    for endpoint in [
        "http://push.example.com/send/1",
        "https://127.0.0.1/send",
        format!("https://127.0.0.1:{}/send", receiver.port + 1).as_str(),
        "https://10.1.2.3/send",
        "https://192.168.0.10/send",
        "https://172.16.5.4/send",
        "https://169.254.169.254/latest",
        "https://[::1]/send",
        "https://[::ffff:127.0.0.1]/send",
        "https://[::ffff:10.0.0.1]/send",
        "https://[fd00::1]/send",
        "https://[fe80::1]/send",
        "https://user:pw@push.example.com/send",
        "ftp://push.example.com/send",
        "not a url",
    ] {
        let r = post_subscription(&app, &alice, json!({"endpoint": endpoint, "keys": keys})).await;
        refused(&r, 400, "invalid_endpoint", endpoint);
    }
    for endpoint in [
        "https://push.example.com/send/1".to_string(),
        format!("http://127.0.0.1:{}/send", receiver.port),
    ] {
        let r = post_subscription(&app, &alice, json!({"endpoint": endpoint, "keys": keys})).await;
        status(&r, 201, &endpoint);
    }
}

async fn the_vapid_key_is_generated_once_and_kept(backend: Backend) {
    let (_receiver, app) = started(backend).await;
    let key = vapid_key(&app).await;
    let point = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &key)
        .expect("base64url");
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    assert_eq!(vapid_key(&app).await, key, "stable");
    assert_eq!(
        app.count("SELECT count(*) FROM server_settings WHERE name = 'vapid_private_key'")
            .await,
        1,
        "kept in the database for every instance"
    );
}

async fn a_due_event_is_pushed_once_encrypted_and_signed(backend: Backend) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let phone = receiver.subscriber("phone");
    let laptop = receiver.subscriber("laptop");
    subscribe(&app, &alice, &phone).await;
    subscribe(&app, &alice, &laptop).await;
    let key = vapid_key(&app).await;
    let room = dm(&app, &bob, &alice).await;
    let long = "é".repeat(250);
    let seq = say(&app, &bob, &room, &long).await;

    for sub in [&phone, &laptop] {
        let got = receiver.wait_for(&sub.path, 1, WITHIN).await;
        assert_eq!(got.len(), 1, "one push on each subscription within 5 s");
        let push = &got[0];
        let claims = verify_vapid(push, &receiver.origin(), &key);
        assert_eq!(claims["sub"], "mailto:admin@localhost");
        assert_eq!(push.headers["content-encoding"], "aes128gcm");
        assert_eq!(push.headers["urgency"], "high", "a dm is urgent");
        assert!(push.headers["ttl"].parse::<u64>().unwrap() > 0);
        let topic = &push.headers["topic"];
        assert!(
            topic.len() <= 32
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "a topic of at most 32 base64url characters: {topic}"
        );
        let payload = sub.decrypt(&push.body);
        assert_eq!(payload["type"], "message");
        assert_eq!(payload["room"], room.as_str());
        assert_eq!(payload["seq"], seq);
        assert_eq!(payload["sender"], "bob");
        assert_eq!(payload["reason"], "dm");
        assert_eq!(payload["body"], "é".repeat(200), "the first 200 characters");
        assert!(payload["url"].as_str().unwrap().contains(&room));
    }

    // A mention in a room at the default level; the same topic for the
    // room's pushes, another for another room.
    app.create_room(&bob, "general", false).await;
    join(&app, &alice, "general").await;
    let one = say(&app, &bob, "general", "hey @alice look").await;
    let two = say(&app, &bob, "general", "and @ALICE again").await;
    let got = receiver.wait_for(&phone.path, 3, WITHIN).await;
    assert_eq!(got.len(), 3, "two more pushes");
    let payloads: Vec<Value> = got[1..].iter().map(|p| phone.decrypt(&p.body)).collect();
    let mut seqs: Vec<i64> = payloads
        .iter()
        .map(|p| p["seq"].as_i64().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, [one, two]);
    for (p, push) in payloads.iter().zip(&got[1..]) {
        assert_eq!(p["reason"], "mention");
        assert_eq!(p["room"], "general");
        assert_eq!(push.headers["urgency"], "high");
    }
    assert_eq!(
        got[1].headers["topic"], got[2].headers["topic"],
        "one topic per room"
    );
    assert_ne!(
        got[0].headers["topic"], got[1].headers["topic"],
        "another room's"
    );

    // Level `all`: every message, not urgent.
    status(
        &set_level(&app, &alice, "general", json!({"level": "all"})).await,
        200,
        "all",
    );
    let three = say(&app, &bob, "general", "plain words").await;
    let got = receiver.wait_for(&phone.path, 4, WITHIN).await;
    let p = phone.decrypt(&got[3].body);
    assert_eq!(
        (p["seq"].as_i64(), &p["reason"]),
        (Some(three), &json!("room"))
    );
    assert_eq!(got[3].headers["urgency"], "normal");
    settled(&app).await;
    assert_eq!(
        receiver.received(&phone.path).len(),
        4,
        "exactly one push per event"
    );
    assert!(
        receiver.all().iter().all(|r| r.path != "/push/bob"),
        "the sender is never pushed"
    );
}

async fn a_reply_in_a_followed_thread_is_pushed(backend: Backend) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    app.create_room(&alice, "general", false).await;
    join(&app, &bob, "general").await;
    // Alice's own message: she follows its thread once it has one.
    let root = say(&app, &alice, "general", "lunch anyone?").await;
    let r = app
        .post(
            "/api/v1/rooms/general/messages",
            Some(&bob.access_token),
            json!({"body": "yes, noon", "reply_to": root}),
        )
        .await;
    let reply = status(&r, 201, "reply")["seq"].as_i64().unwrap();
    let got = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(got.len(), 1, "the reply is pushed to the thread's follower");
    let p = phone.decrypt(&got[0].body);
    assert_eq!((&p["seq"], &p["reason"]), (&json!(reply), &json!("thread")));
    assert_eq!(got[0].headers["urgency"], "normal");
    // A message outside the thread at the default level is not due.
    say(&app, &bob, "general", "unrelated").await;
    settled(&app).await;
    assert_eq!(receiver.received(&phone.path).len(), 1);
}

async fn without_preview_a_push_carries_no_text(backend: Backend) {
    let receiver = Receiver::start().await;
    let host = receiver.host();
    let app = spawn_app_with(backend, move |c| {
        c.push.allowed_hosts = host;
        c.push.preview = false;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let phone = receiver.subscriber("phone");
    subscribe(&app, &alice, &phone).await;
    let room = dm(&app, &bob, &alice).await;
    let seq = say(&app, &bob, &room, "my secret plans").await;
    let got = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(got.len(), 1);
    let p = phone.decrypt(&got[0].body);
    assert_eq!(p["seq"], seq);
    assert_eq!(p["body"], Value::Null, "PUSH_PREVIEW=false: no text");
    assert_eq!(p["sender"], "bob");
}

async fn nothing_is_pushed_for_level_none_a_mute_a_blocked_sender_or_an_undue_message(
    backend: Backend,
) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    let carol = app.signup("carol").await;
    for room in ["general", "quiet", "loud"] {
        app.create_room(&bob, room, false).await;
        join(&app, &alice, room).await;
    }
    status(
        &set_level(&app, &alice, "loud", json!({"level": "all"})).await,
        200,
        "all in loud",
    );
    let with_bob = dm(&app, &bob, &alice).await;

    // Not due: a room message at the default level (`mentions`).
    say(&app, &bob, "general", "no mention here").await;
    // Level none in the conversation with bob.
    status(
        &set_level(&app, &alice, &with_bob, json!({"level": "none"})).await,
        200,
        "none",
    );
    say(&app, &bob, &with_bob, "you will not hear this").await;
    // A mute, whatever the level and the mention.
    status(
        &set_level(
            &app,
            &alice,
            "quiet",
            json!({"level": "all", "muted_until": "2099-01-01T00:00:00Z"}),
        )
        .await,
        200,
        "mute",
    );
    say(&app, &bob, "quiet", "@alice muted").await;
    // A blocked sender, in a room at `all`, mentioning her.
    let r = put(&app, &alice, "/api/v1/me/blocks/carol", json!({})).await;
    assert_eq!(r.status, 204, "block: {:?}", r.body);
    say(&app, &carol, "loud", "@alice from carol").await;
    assert_eq!(outbox(&app).await, 0, "none of those was due");

    // Once unblocked, carol's next message is due, and arrives alone.
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/me/blocks/carol",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let due = say(&app, &carol, "loud", "now you hear me").await;
    let got = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(got.len(), 1);
    settled(&app).await;
    let got = receiver.received(&phone.path);
    assert_eq!(got.len(), 1, "only the due message was pushed");
    let payload = phone.decrypt(&got[0].body);
    assert_eq!(
        (&payload["seq"], &payload["reason"]),
        (&json!(due), &json!("room"))
    );
}

async fn nothing_is_pushed_to_an_online_user(backend: Backend) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    let room = dm(&app, &bob, &alice).await;
    let online = app
        .client
        .get(format!("{}/api/v1/me/events", app.base))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(online.status(), 200, "alice's event stream");
    tokio::time::sleep(Duration::from_millis(200)).await;
    say(&app, &bob, &room, "she sees this live").await;
    settled(&app).await;
    assert!(
        receiver.received(&phone.path).is_empty(),
        "no push while online"
    );
    drop(online);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seq = say(&app, &bob, &room, "she is away now").await;
    let got = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(got.len(), 1, "pushed once offline");
    assert_eq!(phone.decrypt(&got[0].body)["seq"], seq);
}

async fn a_gone_subscription_is_deleted(backend: Backend) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let old = receiver.subscriber("old");
    let lost = receiver.subscriber("lost");
    subscribe(&app, &alice, &old).await;
    subscribe(&app, &alice, &lost).await;
    receiver.answer(&old.path, &[410]);
    receiver.answer(&lost.path, &[404]);
    let room = dm(&app, &bob, &alice).await;
    say(&app, &bob, &room, "anyone there?").await;
    receiver.wait_for(&old.path, 1, WITHIN).await;
    receiver.wait_for(&lost.path, 1, WITHIN).await;
    settled(&app).await;
    assert!(
        subscription_ids(&app, &alice).await.is_empty(),
        "404 and 410 delete the subscription"
    );
    say(&app, &bob, &room, "again?").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.all().len(), 2, "nothing more is sent to them");
}

async fn a_failing_push_service_is_retried_until_it_accepts(backend: Backend) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    receiver.answer(&phone.path, &[500, 429, 503]);
    let room = dm(&app, &bob, &alice).await;
    let seq = say(&app, &bob, &room, "persistent").await;
    // 1 s, 2 s, 4 s between the tries.
    let got = receiver
        .wait_for(&phone.path, 4, Duration::from_secs(15))
        .await;
    let answers: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [500, 429, 503, 201], "retried until accepted");
    for push in &got {
        assert_eq!(
            phone.decrypt(&push.body)["seq"],
            seq,
            "the same event each time"
        );
    }
    settled(&app).await;
    assert_eq!(
        receiver.received(&phone.path).len(),
        4,
        "not sent again once accepted"
    );
}

async fn a_message_deleted_before_it_is_sent_is_not_pushed(backend: Backend) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    // The first try fails; the message is deleted before the retry.
    receiver.answer(&phone.path, &[503]);
    let room = dm(&app, &bob, &alice).await;
    let seq = say(&app, &bob, &room, "oops, wrong person").await;
    assert_eq!(receiver.wait_for(&phone.path, 1, WITHIN).await.len(), 1);
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/messages/{seq}"),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "delete: {:?}", r.body);
    settled(&app).await;
    assert_eq!(
        receiver.received(&phone.path).len(),
        1,
        "the retry of a deleted message is not sent"
    );
}

async fn a_redirect_is_not_followed(backend: Backend) {
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    let app = app(backend, &receiver).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let phone = receiver.subscriber("phone");
    subscribe(&app, &alice, &phone).await;
    receiver.redirect(
        &phone.path,
        &format!("http://127.0.0.1:{}/stolen", elsewhere.port),
    );
    let room = dm(&app, &bob, &alice).await;
    say(&app, &bob, &room, "follow me").await;
    assert_eq!(receiver.wait_for(&phone.path, 1, WITHIN).await.len(), 1);
    settled(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        elsewhere.all().is_empty(),
        "the redirect to loopback was not followed"
    );
    assert_eq!(
        receiver.received(&phone.path).len(),
        1,
        "a 3xx is not retried"
    );
}

async fn retry_after_delays_the_retry_in_seconds_or_as_a_date(backend: Backend) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    // A 503 asking for 3 s, then a 429 asking until a date about 12 s
    // ahead (the backoff alone would be 1 s, then 2 s).
    receiver.answer_with(&phone.path, 503, &[("Retry-After", "3")]);
    let room = dm(&app, &bob, &alice).await;
    let seq = say(&app, &bob, &room, "patience").await;
    let first = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(first.len(), 1, "the first try");
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(12));
    receiver.answer_with(&phone.path, 429, &[("Retry-After", &date)]);
    let got = receiver
        .wait_for(&phone.path, 3, Duration::from_secs(30))
        .await;
    let answers: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [503, 429, 201], "retried until accepted");
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_secs(3),
        "Retry-After: 3 is waited out, not the 1 s backoff: {waited:?}"
    );
    // The second try came about 3 s after the date was set; at least 8 s of
    // the 12 (in whole seconds) were left to wait.
    let waited = got[2].at - got[1].at;
    assert!(
        waited >= Duration::from_secs(5),
        "a Retry-After date is waited for, not the 2 s backoff: {waited:?}"
    );
    for push in &got {
        assert_eq!(phone.decrypt(&push.body)["seq"], seq, "the same event");
    }
    settled(&app).await;
    assert_eq!(receiver.received(&phone.path).len(), 3);
}

async fn a_user_keeps_the_newest_subscriptions_up_to_the_cap_even_when_concurrent(
    backend: Backend,
) {
    let (receiver, app) = started(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let subscribers: Vec<Subscriber> = (0..20)
        .map(|i| receiver.subscriber(&format!("device{i}")))
        .collect();
    let answers = join_all(
        subscribers
            .iter()
            .map(|s| post_subscription(&app, &alice, s.json())),
    )
    .await;
    let mut ids: Vec<i64> = answers
        .iter()
        .map(|r| status(r, 201, "each subscribes")["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        subscription_ids(&app, &alice).await,
        ids[10..],
        "the default cap of 10 keeps the newest, oldest first"
    );

    // The same endpoint 20 times at once is one subscription, updated in
    // place: nothing else is pushed out.
    let newest = answers
        .iter()
        .map(|r| r.body.clone())
        .max_by_key(|b| b["id"].as_i64())
        .unwrap();
    let again = subscribers
        .iter()
        .find(|s| s.endpoint == newest["endpoint"].as_str().unwrap())
        .unwrap();
    let repeated = join_all((0..20).map(|_| post_subscription(&app, &alice, again.json()))).await;
    for r in &repeated {
        assert_eq!(
            status(r, 201, "re-subscribing")["id"],
            newest["id"],
            "the same subscription"
        );
    }
    assert_eq!(
        subscription_ids(&app, &alice).await,
        ids[10..],
        "nothing replaced"
    );
    assert!(
        subscription_ids(&app, &bob).await.is_empty(),
        "another user's are apart"
    );

    // A lower cap: the next one replaces the oldest, whose pushes go with it.
    let host = receiver.host();
    let small = spawn_app_with(backend, move |c| {
        c.push.allowed_hosts = host;
        c.push.subscriptions_per_user = 2;
    })
    .await;
    let carol = small.signup("carol").await;
    let dave = small.signup("dave").await;
    let [one, two, three] = ["one", "two", "three"].map(|n| receiver.subscriber(n));
    subscribe(&small, &carol, &one).await;
    subscribe(&small, &carol, &two).await;
    // One's push fails and waits a minute for its retry.
    receiver.answer_with(&one.path, 503, &[("Retry-After", "60")]);
    let room = dm(&small, &dave, &carol).await;
    say(&small, &dave, &room, "queued for one").await;
    receiver.wait_for(&one.path, 1, WITHIN).await;
    assert!(outbox(&small).await >= 1, "one's push waits for a retry");
    subscribe(&small, &carol, &three).await;
    let endpoints: Vec<String> = status(
        &small
            .get("/api/v1/me/push-subscriptions", &carol.access_token)
            .await,
        200,
        "carol's",
    )["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        endpoints,
        [two.endpoint.clone(), three.endpoint.clone()],
        "the oldest was replaced"
    );
    settled(&small).await;
    assert_eq!(
        receiver.received(&one.path).len(),
        1,
        "the replaced subscription's pending push went with it"
    );
}

async fn an_edit_notifies_only_those_it_newly_mentions_and_they_follow_its_thread(
    backend: Backend,
) {
    let (receiver, app, alice, bob, phone) = scene(backend).await;
    let carol = app.signup("carol").await;
    let dave = app.signup("dave").await;
    let tablet = receiver.subscriber("carol");
    let laptop = receiver.subscriber("dave");
    let bobs = receiver.subscriber("bob");
    subscribe(&app, &carol, &tablet).await;
    subscribe(&app, &dave, &laptop).await;
    subscribe(&app, &bob, &bobs).await;
    app.create_room(&bob, "general", false).await;
    for who in [&alice, &carol, &dave] {
        join(&app, who, "general").await;
    }
    let r = put(&app, &dave, "/api/v1/me/blocks/bob", json!({})).await;
    assert_eq!(r.status, 204, "dave blocks bob: {:?}", r.body);
    let root = say(&app, &bob, "general", "plans for friday").await;
    let r = app
        .post(
            "/api/v1/rooms/general/messages",
            Some(&bob.access_token),
            json!({"body": "cc @carol", "reply_to": root}),
        )
        .await;
    let reply = status(&r, 201, "reply")["seq"].as_i64().unwrap();
    assert_eq!(receiver.wait_for(&tablet.path, 1, WITHIN).await.len(), 1);

    let path = format!("/api/v1/rooms/general/messages/{reply}");
    let edit = |body: &str| {
        app.request(
            Method::PATCH,
            &path,
            Some(&bob.access_token),
            Some(json!({"body": body})),
        )
    };
    status(&edit("cc @carol @alice @dave @bob").await, 200, "edit");
    let got = receiver.wait_for(&phone.path, 1, WITHIN).await;
    assert_eq!(got.len(), 1, "alice, newly mentioned, is pushed");
    let p = phone.decrypt(&got[0].body);
    assert_eq!(
        (&p["seq"], &p["reason"], &p["sender"]),
        (&json!(reply), &json!("mention"), &json!("bob")),
        "the edited message, for the mention"
    );
    assert_eq!(p["body"], "cc @carol @alice @dave @bob", "its text now");
    assert_eq!(got[0].headers["urgency"], "high");
    // The same mentions again, and one fewer: nobody is new.
    status(&edit("cc @carol @alice").await, 200, "edit again");
    status(&edit("cc @carol @alice, see above").await, 200, "and again");
    settled(&app).await;
    assert_eq!(receiver.received(&phone.path).len(), 1, "alice once");
    assert_eq!(
        receiver.received(&tablet.path).len(),
        1,
        "carol was mentioned before the edit: no second push"
    );
    assert!(
        receiver.received(&laptop.path).is_empty(),
        "dave blocks the editor"
    );
    assert!(
        receiver.received(&bobs.path).is_empty(),
        "the editor mentioning himself is never pushed"
    );

    // Alice follows the thread now, the mentioning reply unread.
    let r = app.get("/api/v1/me/threads", &alice.access_token).await;
    let threads = status(&r, 200, "alice's threads")["threads"].clone();
    assert_eq!(threads.as_array().unwrap().len(), 1, "{threads}");
    assert_eq!(threads[0]["root"]["seq"], root);
    assert_eq!(threads[0]["unread"], 1, "the reply that mentions her");
}

/// The Postgres statement that queues a message's pushes, in a room of
/// 3,000 members (3 at `all`) with statistics, reads the members at `all`
/// through their partial index and never scans the room's memberships.
#[tokio::test]
async fn on_postgres_a_message_reads_only_the_members_at_all_never_the_whole_room() {
    use sqlx::Connection;
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "big", false).await;
    let mut db = sqlx::PgConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let (room, sender): (i64, i64) = sqlx::query_as(
        "SELECT r.id, u.id FROM rooms r JOIN users u ON u.username = 'alice' WHERE r.name = 'big'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    for sql in [
        "INSERT INTO users (username, password_hash) \
         SELECT 'member' || g, 'x' FROM generate_series(1, 3000) g",
        "INSERT INTO memberships (room_id, user_id) \
         SELECT $1, id FROM users WHERE username LIKE 'member%'",
        "UPDATE memberships SET notify_level = 'all' WHERE room_id = $1 AND user_id IN \
         (SELECT id FROM users WHERE username IN ('member1', 'member2', 'member3'))",
        "ANALYZE",
    ] {
        let q = sqlx::query(sql);
        let q = if sql.contains("$1") { q.bind(room) } else { q };
        q.execute(&mut db).await.unwrap();
    }
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN {}",
        parley::store::push::POSTGRES_QUEUE_PUSHES
    ))
    .bind(vec![room])
    .bind(vec![100_i64])
    .bind(vec![sender])
    .bind(vec!["[]"])
    .bind(vec![None::<i64>])
    .bind(vec![false])
    .fetch_all(&mut db)
    .await
    .unwrap();
    db.close().await.ok();
    let plan = plan.join("\n");
    assert!(
        plan.contains("memberships_notify_all_idx"),
        "the members at `all` are read through their partial index:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan on memberships"),
        "no scan of the memberships:\n{plan}"
    );
}
