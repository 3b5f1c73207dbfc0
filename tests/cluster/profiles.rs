//! Profiles and account deletion across instances (README, "Accounts"): a
//! profile changed through one instance reaches, as `user_updated`, the
//! user destination of someone who shares a room with that user on
//! another; an account deleted through one instance has its messages
//! deleted live for subscribers on another.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::http;
use stomp_client::{StompClient, frame};

const WITHIN: Duration = Duration::from_secs(2);

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

#[tokio::test]
async fn a_profile_changed_on_one_instance_reaches_a_room_mate_on_another() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    let create = json!({"name": "team", "private": false});
    ok(
        http::call(a, Method::POST, "/api/v1/rooms", &alice, Some(create)).await,
        201,
        "create on A",
    );
    ok(
        http::call(b, Method::POST, "/api/v1/rooms/team/join", &bob, None).await,
        200,
        "bob joins on B",
    );
    let mut stomp = StompClient::connect(b, &bob).await;
    stomp
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "me"),
                ("destination", "/user/queue/updates"),
                ("receipt", "me"),
            ],
            "",
        ))
        .await;
    stomp.expect_receipt("me").await;

    let patch = json!({"display_name": "Alice of A"});
    let alice_now = ok(
        http::call(a, Method::PATCH, "/api/v1/me", &alice, Some(patch)).await,
        200,
        "alice changes her name on A",
    );
    let f = stomp.expect_frame_within(WITHIN).await;
    assert_eq!(f.command, "MESSAGE", "{f}");
    assert_eq!(f.header("event-type").as_deref(), Some("user_updated"));
    let body = f.json();
    assert_eq!(
        body["user"], alice_now,
        "bob on B hears alice's new profile"
    );
    stomp.close().await;
}

#[tokio::test]
async fn an_account_deleted_on_one_instance_has_its_messages_deleted_live_on_another() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    let create = json!({"name": "team", "private": false});
    ok(
        http::call(b, Method::POST, "/api/v1/rooms", &bob, Some(create)).await,
        201,
        "create on B",
    );
    let post = json!({"body": "alice was here"});
    let said = ok(
        http::call(
            a,
            Method::POST,
            "/api/v1/rooms/team/messages",
            &alice,
            Some(post),
        )
        .await,
        201,
        "alice posts on A",
    );
    let mut stomp = StompClient::connect(b, &bob).await;
    stomp.subscribe("t", "team").await;
    let confirm = json!({"password": "pw-alice-secret"});
    ok(
        http::call(a, Method::DELETE, "/api/v1/me", &alice, Some(confirm)).await,
        204,
        "alice deletes her account on A",
    );
    let f = stomp.expect_frame_within(WITHIN).await;
    assert_eq!(f.command, "MESSAGE", "{f}");
    let event = f.json();
    assert_eq!(event["type"], "delete", "{event}");
    assert_eq!(event["target"], said["seq"]);
    stomp.close().await;
}
