//! Threads across instances (README, "Threads"): a reply stored on one
//! instance reaches subscribers on another with its `thread`, and the
//! root's summary and the followers' unread counts read the same from
//! every instance.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::http;
use crate::http::call;
use stomp_client::StompClient;

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

async fn post(port: u16, token: &str, body: &str, reply_to: Option<i64>) -> Value {
    let mut json = json!({"body": body});
    if let Some(to) = reply_to {
        json["reply_to"] = json!(to);
    }
    let path = "/api/v1/rooms/lobby/messages";
    ok(
        call(port, Method::POST, path, token, Some(json)).await,
        201,
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_on_one_instance_arrives_with_its_thread_on_the_other() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    http::create_room(a, &alice, "lobby").await;
    ok(
        call(b, Method::POST, "/api/v1/rooms/lobby/join", &bob, None).await,
        200,
        "bob joins on B",
    );

    let mut on_b = StompClient::connect(b, &bob).await;
    on_b.subscribe("b", "lobby").await;
    post(a, &alice, "root", None).await; // 1
    post(a, &alice, "on A", Some(1)).await; // 2
    post(b, &bob, "on B", Some(2)).await; // 3

    let frames = on_b.expect_messages(3).await;
    let threads: Vec<Value> = frames.iter().map(|f| f.json()["thread"].clone()).collect();
    assert_eq!(threads, [json!(null), json!(1), json!(1)], "live on B");

    for port in [a, b] {
        let root = ok(
            call(
                port,
                Method::GET,
                "/api/v1/rooms/lobby/messages/1",
                &alice,
                None,
            )
            .await,
            200,
            "root",
        );
        assert_eq!(
            root["thread_summary"],
            json!({"reply_count": 2, "last_reply_seq": 3, "participants": ["alice", "bob"]}),
            "the summary on instance {port}"
        );
        let mine = ok(
            call(port, Method::GET, "/api/v1/me/threads", &alice, None).await,
            200,
            "alice's threads",
        );
        assert_eq!(mine["threads"][0]["unread"], 1, "bob's reply, on {port}");
    }
}
