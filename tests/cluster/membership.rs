//! Membership across instances (README, "Members, moderation and
//! blocking" and "Deploying"): loss of access made
//! on one instance takes effect within 2 s on every other, for STOMP
//! subscriptions, SSE streams and held long polls; two users opening their
//! conversation at once on two instances get one room; a block made on one
//! instance filters deliveries on another.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::http;
use stomp_client::{Event, Frame, StompClient, frame, topic};

/// How soon loss of access must reach every instance.
const REVOKE_WITHIN: Duration = Duration::from_secs(2);
/// Long enough for a frame relayed late to show up.
const QUIET: Duration = Duration::from_millis(700);
const WAIT: Duration = Duration::from_secs(10);

#[track_caller]
fn ok(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

async fn post(port: u16, token: &str, room: &str, body: &str) -> Value {
    let path = format!("/api/v1/rooms/{room}/messages");
    let answer = http::call(
        port,
        Method::POST,
        &path,
        token,
        Some(json!({"body": body})),
    )
    .await;
    ok(answer, 201, &format!("post {body:?} on {port}"))
}

/// A client without a request timeout, for streams and held polls.
fn streaming_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// An open SSE stream; `events_until_end` reads it to its end.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(port: u16, token: &str, room: &str) -> Sse {
        let resp = streaming_client()
            .get(format!("{}/api/v1/rooms/{room}/events", http::base(port)))
            .bearer_auth(token)
            .send()
            .await
            .expect("SSE request");
        assert_eq!(resp.status(), 200, "SSE of {room} on {port}");
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// (event type, data) of every event until `n` arrived or the stream
    /// ended (then `true`), bounded by `wait`.
    async fn read(&mut self, n: usize, wait: Duration) -> (Vec<(String, Value)>, bool) {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut ended = false;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut kind = String::new();
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str::<Value>(v).ok();
                    }
                }
                if let Some(d) = data {
                    out.push((kind, d));
                }
            }
            if out.len() >= n || ended {
                return (out, ended);
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return (out, false),
                Ok(Ok(Some(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) => ended = true,
            }
        }
    }
}

/// A long poll held on `port` after `after`, up to 10 s.
fn hold_poll(
    port: u16,
    token: &str,
    room: &str,
    after: i64,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = format!(
        "{}/api/v1/rooms/{room}/messages?after={after}&wait=10",
        http::base(port)
    );
    let token = token.to_string();
    tokio::spawn(async move {
        let r = streaming_client()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("long poll");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    })
}

/// Frames until an `access_revoked` MESSAGE (returned last), bounded.
async fn until_revoked(client: &mut StompClient, wait: Duration) -> Result<Vec<Frame>, String> {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    for _ in 0..1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left).await {
            Some(Event::Frame(f)) => {
                let last = f.header("event-type").as_deref() == Some("access_revoked");
                frames.push(f);
                if last {
                    return Ok(frames);
                }
            }
            Some(Event::Closed(_)) => return Err(format!("closed after {frames:?}")),
            None => return Err(format!("nothing within {wait:?}; frames: {frames:?}")),
        }
    }
    Err("no access_revoked within 1000 frames".into())
}

#[track_caller]
fn assert_revoked(frames: &[Frame], sub: &str, room: &str, reason: &str, who: &str) {
    let f = frames.last().unwrap();
    assert_eq!(
        frames.len(),
        1,
        "{who}: nothing new before access_revoked: {frames:?}"
    );
    assert_eq!(f.header("subscription").as_deref(), Some(sub), "{who}: {f}");
    assert_eq!(
        f.header("destination").as_deref(),
        Some(topic(room).as_str()),
        "{who}: {f}"
    );
    assert_eq!(
        f.json(),
        json!({"type": "access_revoked", "room": room, "reason": reason}),
        "{who}: {f}"
    );
}

#[derive(Clone, Copy, PartialEq, Debug)]
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

/// Bob is subscribed over STOMP, streams SSE and holds a long poll on
/// instance B; he loses access through instance A. Carol (on A) and dave
/// (on B) watch.
async fn loss_on_a_reaches_b(loss: Loss) {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let moder = http::signup(a, "moder").await;
    let bob = http::signup(b, "bob").await;
    let carol = http::signup(a, "carol").await;
    let dave = http::signup(b, "dave").await;
    let room = "team";
    let (s, body) = http::call(
        a,
        Method::POST,
        "/api/v1/rooms",
        &alice,
        Some(json!({"name": room, "private": true})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    for u in ["moder", "bob", "carol", "dave"] {
        let path = format!("/api/v1/rooms/{room}/members");
        ok(
            http::call(a, Method::POST, &path, &alice, Some(json!({"username": u}))).await,
            200,
            "add",
        );
    }
    let path = format!("/api/v1/rooms/{room}/members/moder/role");
    ok(
        http::call(
            b,
            Method::PUT,
            &path,
            &alice,
            Some(json!({"role": "moderator"})),
        )
        .await,
        200,
        "promote on B",
    );

    let mut bob_stomp = StompClient::connect(b, &bob).await;
    bob_stomp.subscribe("b", room).await;
    // Bob on A too, and a connection of his on B that only ever sends.
    let mut bob_on_a = StompClient::connect(a, &bob).await;
    bob_on_a.subscribe("ba", room).await;
    let mut bob_sender = StompClient::connect(b, &bob).await;
    let mut bob_sse = Sse::open(b, &bob, room).await;
    let mut carol_stomp = StompClient::connect(a, &carol).await;
    carol_stomp.subscribe("c", room).await;
    let mut dave_stomp = StompClient::connect(b, &dave).await;
    dave_stomp.subscribe("d", room).await;

    let receipt = bob_sender.send_chat(room, "before, from bob", "r0").await;
    assert_eq!(receipt.seq(), 1);
    for (who, c) in [
        ("bob", &mut bob_stomp),
        ("bob on A", &mut bob_on_a),
        ("carol", &mut carol_stomp),
        ("dave", &mut dave_stomp),
    ] {
        let f = c.expect_message().await;
        assert_eq!(f.seq(), 1, "{who}");
    }
    let (got, _) = bob_sse.read(1, WAIT).await;
    assert_eq!(got.len(), 1, "bob's SSE before: {got:?}");
    let bob_poll = hold_poll(b, &bob, room, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!bob_poll.is_finished(), "the poll is held");

    let (path, method, token) = match loss {
        Loss::Removed => (
            format!("/api/v1/rooms/{room}/members/bob"),
            Method::DELETE,
            &moder,
        ),
        Loss::Banned => (format!("/api/v1/rooms/{room}/bans"), Method::POST, &moder),
        Loss::Left => (format!("/api/v1/rooms/{room}/leave"), Method::POST, &bob),
        Loss::Deleted => (format!("/api/v1/rooms/{room}"), Method::DELETE, &alice),
    };
    let body = (loss == Loss::Banned).then(|| json!({"username": "bob"}));
    let start = Instant::now();
    let (s, answer) = http::call(a, method, &path, token, body).await;
    assert!(s == 200 || s == 204, "{loss:?} on A: {s} {answer}");

    // On B, within 2 s: the subscription, the stream and the poll.
    let (stomp, sse, poll) = tokio::join!(
        until_revoked(&mut bob_stomp, REVOKE_WITHIN),
        bob_sse.read(usize::MAX, REVOKE_WITHIN),
        tokio::time::timeout(REVOKE_WITHIN, bob_poll),
    );
    let frames =
        stomp.unwrap_or_else(|e| panic!("bob's subscription on B after {loss:?} on A: {e}"));
    assert_revoked(&frames, "b", room, loss.reason(), "bob on B");
    let frames = until_revoked(&mut bob_on_a, REVOKE_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("bob's subscription on A: {e}"));
    assert_revoked(&frames, "ba", room, loss.reason(), "bob on A");
    let (events, ended) = sse;
    assert!(
        ended,
        "bob's SSE stream on B must end within {REVOKE_WITHIN:?}: {events:?}"
    );
    assert_eq!(
        events,
        [(
            "access_revoked".to_string(),
            json!({"type": "access_revoked", "room": room, "reason": loss.reason()})
        )],
        "bob's SSE on B"
    );
    let (status, body) = poll
        .unwrap_or_else(|_| panic!("bob's held poll on B still open after {REVOKE_WITHIN:?}"))
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("room_not_found")),
        "{body}"
    );
    assert!(
        start.elapsed() < REVOKE_WITHIN + Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    if loss == Loss::Deleted {
        for (who, sub, c) in [
            ("carol on A", "c", &mut carol_stomp),
            ("dave on B", "d", &mut dave_stomp),
        ] {
            let frames = until_revoked(c, REVOKE_WITHIN)
                .await
                .unwrap_or_else(|e| panic!("{who}: {e}"));
            assert_revoked(&frames, sub, room, "room_deleted", who);
        }
        assert_send_refused(&mut bob_sender, room).await;
        // A new room of the same name reaches none of them.
        http::create_room(b, &dave, room).await;
        post(b, &dave, room, "new room").await;
        for c in [
            &mut bob_stomp,
            &mut bob_on_a,
            &mut carol_stomp,
            &mut dave_stomp,
        ] {
            c.expect_no_frame_for(QUIET).await;
        }
        return;
    }

    // Everything sent afterwards, on either instance, reaches carol and
    // dave, never bob.
    let mut seqs = Vec::new();
    for (i, port) in [a, b, a, b].into_iter().enumerate() {
        let m = post(port, &alice, room, &format!("after {i}")).await;
        seqs.push(m["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, [2, 3, 4, 5]);
    for (who, c) in [
        ("carol on A", &mut carol_stomp),
        ("dave on B", &mut dave_stomp),
    ] {
        let got = c.expect_messages(4).await;
        assert_eq!(
            got.iter().map(Frame::seq).collect::<Vec<_>>(),
            seqs,
            "{who}"
        );
        c.expect_no_frame_for(Duration::from_millis(100)).await;
    }
    bob_stomp.expect_no_frame_for(QUIET).await;
    bob_on_a
        .expect_no_frame_for(Duration::from_millis(100))
        .await;
    // A SEND on the subscribed connection, and on the one that only sent,
    // is the unknown-room ERROR.
    assert_send_refused(&mut bob_stomp, room).await;
    assert_send_refused(&mut bob_sender, room).await;
    let history = http::history(a, &alice, room).await;
    assert_eq!(history.len(), 5, "the late SENDs stored nothing");
}

/// A SEND to `room` gets an ERROR naming an unknown room, then the close.
async fn assert_send_refused(client: &mut StompClient, room: &str) {
    client
        .send(frame(
            "SEND",
            &[("destination", &topic(room)), ("receipt", "late")],
            "still here?",
        ))
        .await;
    let frames = client.expect_closed().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].command, "ERROR", "{}", frames[0]);
    let message = frames[0].header("message").unwrap_or_default();
    assert!(
        message.contains("not found"),
        "the unknown-room ERROR: {}",
        frames[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_on_one_instance_revokes_subscriptions_streams_and_polls_on_another() {
    loss_on_a_reaches_b(Loss::Removed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_on_one_instance_revokes_subscriptions_streams_and_polls_on_another() {
    loss_on_a_reaches_b(Loss::Banned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_on_one_instance_revokes_subscriptions_streams_and_polls_on_another() {
    loss_on_a_reaches_b(Loss::Left).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_room_on_one_instance_revokes_everyone_on_every_instance() {
    loss_on_a_reaches_b(Loss::Deleted).await;
}

/// Through nginx: bob's subscriptions land wherever the balancer puts them;
/// a removal made through the balancer reaches every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_through_nginx_reaches_every_subscription_wherever_it_landed() {
    const CONNS: usize = 4;
    let cluster = Cluster::start(2).await;
    let nginx = cluster.nginx().await;
    let lb = nginx.port;
    let alice = http::signup(lb, "alice").await;
    let bob = http::signup(lb, "bob").await;
    let carol = http::signup(lb, "carol").await;
    http::create_room(lb, &alice, "lobby").await;
    for t in [&bob, &carol] {
        ok(
            http::call(lb, Method::POST, "/api/v1/rooms/lobby/join", t, None).await,
            200,
            "join",
        );
    }
    let mut bobs = Vec::new();
    let mut carols = Vec::new();
    for i in 0..CONNS {
        let mut c = StompClient::connect(lb, &bob).await;
        c.subscribe(&format!("b{i}"), "lobby").await;
        bobs.push(c);
        let mut c = StompClient::connect(lb, &carol).await;
        c.subscribe(&format!("c{i}"), "lobby").await;
        carols.push(c);
    }
    ok(
        http::call(
            lb,
            Method::DELETE,
            "/api/v1/rooms/lobby/members/bob",
            &alice,
            None,
        )
        .await,
        204,
        "remove bob",
    );
    let results = join_all(bobs.iter_mut().map(|c| until_revoked(c, REVOKE_WITHIN))).await;
    for (i, r) in results.into_iter().enumerate() {
        let frames = r.unwrap_or_else(|e| panic!("bob's connection {i}: {e}"));
        assert_revoked(
            &frames,
            &format!("b{i}"),
            "lobby",
            "removed",
            &format!("bob {i}"),
        );
    }
    for i in 0..3 {
        post(lb, &alice, "lobby", &format!("after {i}")).await;
    }
    for (i, c) in carols.iter_mut().enumerate() {
        let got = c.expect_messages(3).await;
        assert_eq!(
            got.iter().map(Frame::seq).collect::<Vec<_>>(),
            [1, 2, 3],
            "carol {i}"
        );
    }
    for b in bobs.iter_mut() {
        b.expect_no_frame_for(Duration::from_millis(200)).await;
    }
    for c in bobs.into_iter().chain(carols) {
        c.close().await;
    }
    let spread = nginx.websockets_per_upstream(&cluster.ports());
    // Informative only: the balancer's choice is not the promise.
    eprintln!("WebSocket sessions per instance: {spread:?}");
}

/// Ten pairs open their conversation from both sides at the same moment,
/// each side on its own instance: one room per pair, exactly one 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_of_a_conversation_on_two_instances_make_one_room_per_pair() {
    const PAIRS: usize = 10;
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let usernames: Vec<String> = (0..2 * PAIRS).map(|i| format!("user{i:02}")).collect();
    // One after another: password hashing is deliberately slow, and the
    // concurrency under test is that of the conversation opens below.
    let mut users: Vec<(String, i64)> = Vec::new();
    for (i, u) in usernames.iter().enumerate() {
        users.push(http::signup_with_id(if i % 2 == 0 { a } else { b }, u).await);
    }
    let name = |p: usize| {
        let (x, y) = (users[2 * p].1, users[2 * p + 1].1);
        format!("dm-{}-{}", x.min(y), x.max(y))
    };
    for round in 0..2 {
        let answers = join_all((0..2 * PAIRS).map(|i| {
            let (port, token) = (if i % 2 == 0 { a } else { b }, &users[i].0);
            let peer = format!("user{:02}", i ^ 1);
            async move {
                http::call(
                    port,
                    Method::POST,
                    "/api/v1/dms",
                    token,
                    Some(json!({"username": peer})),
                )
                .await
            }
        }))
        .await;
        for p in 0..PAIRS {
            let (x, y) = (&answers[2 * p], &answers[2 * p + 1]);
            let mut statuses = [x.0, y.0];
            statuses.sort();
            let want = if round == 0 { [200, 201] } else { [200, 200] };
            assert_eq!(statuses, want, "pair {p}, round {round}: {} / {}", x.1, y.1);
            assert_eq!(x.1["name"], name(p).as_str(), "pair {p}: {}", x.1);
            assert_eq!(y.1["name"], name(p).as_str(), "pair {p}: {}", y.1);
            assert_eq!(x.1["id"], y.1["id"], "pair {p}: the same room");
            assert_eq!(x.1["kind"], "direct");
        }
    }
    // Each user has exactly one conversation, seen the same on both.
    for (i, (token, _)) in users.iter().enumerate() {
        for port in [a, b] {
            let (s, list) = http::call(port, Method::GET, "/api/v1/rooms", token, None).await;
            assert_eq!(s, 200);
            let rooms: Vec<_> = list["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].clone())
                .collect();
            assert_eq!(rooms, [json!(name(i / 2))], "user {i} on {port}");
        }
    }
}

/// Bob's subscription is on instance B; he blocks alice through instance
/// A; alice's events reach him only as placeholders, gapless, while carol
/// on B sees them; unblocking through A restores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_on_one_instance_filters_deliveries_on_another() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    let carol = http::signup(b, "carol").await;
    http::create_room(a, &carol, "lobby").await;
    for t in [&alice, &bob] {
        ok(
            http::call(a, Method::POST, "/api/v1/rooms/lobby/join", t, None).await,
            200,
            "join",
        );
    }
    let mut bob_sub = StompClient::connect(b, &bob).await;
    bob_sub.subscribe("b", "lobby").await;
    let mut carol_sub = StompClient::connect(b, &carol).await;
    carol_sub.subscribe("c", "lobby").await;
    let (s, body) = http::call(a, Method::PUT, "/api/v1/me/blocks/alice", &bob, None).await;
    assert_eq!(s, 204, "{body}");

    post(a, &alice, "lobby", "1 from alice on A").await;
    post(b, &carol, "lobby", "2 from carol on B").await;
    post(b, &alice, "lobby", "3 from alice on B").await;
    let frames = bob_sub.expect_messages(3).await;
    assert_eq!(
        frames.iter().map(Frame::seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "gapless"
    );
    for seq in [1, 3] {
        let f = &frames[seq - 1];
        assert_eq!(f.header("event-type").as_deref(), Some("hidden"), "{f}");
        assert_eq!(
            f.json(),
            json!({"type": "hidden", "room": "lobby", "seq": seq}),
            "{f}"
        );
    }
    assert_eq!(frames[1].json()["sender"], "carol");
    let carols = carol_sub.expect_messages(3).await;
    assert_eq!(carols[0].json()["sender"], "alice");
    assert_eq!(carols[2].json()["sender"], "alice");
    // History read from either instance: the same placeholders.
    for port in [a, b] {
        let log = http::history(port, &bob, "lobby").await;
        assert_eq!(
            log[0],
            json!({"type": "hidden", "room": "lobby", "seq": 1}),
            "on {port}"
        );
        assert_eq!(log[1]["sender"], "carol");
    }

    // A replay on A: the same placeholders.
    let mut replay = StompClient::connect(a, &bob).await;
    replay
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "r"),
                ("destination", &topic("lobby")),
                ("since-seq", "0"),
                ("receipt", "sub-r"),
            ],
            "",
        ))
        .await;
    let mut replayed = Vec::new();
    for _ in 0..5 {
        let f = replay.expect_frame().await;
        if f.command == "RECEIPT" {
            continue;
        }
        let done = f.seq() >= 3;
        replayed.push(f);
        if done {
            break;
        }
    }
    assert_eq!(
        replayed.iter().map(Frame::seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for (f, live) in replayed.iter().zip(&frames) {
        assert_eq!(f.header("event-type"), live.header("event-type"), "{f}");
        assert_eq!(
            f.json(),
            live.json(),
            "replayed on A as delivered on B: {f}"
        );
    }
    replay.close().await;

    let (s, _) = http::call(a, Method::DELETE, "/api/v1/me/blocks/alice", &bob, None).await;
    assert_eq!(s, 204);
    let sent = post(b, &alice, "lobby", "4 from alice, unblocked").await;
    let f = bob_sub.expect_message().await;
    assert_eq!(f.json(), sent, "new deliveries show alice again: {f}");
    bob_sub
        .expect_no_frame_for(Duration::from_millis(200))
        .await;
    bob_sub.close().await;
    carol_sub.close().await;
}

/// Alice's connection on B has already written to her conversation with
/// bob; bob blocks her through A: her next SEND on B is refused with
/// `blocked`, and so is an HTTP post on either instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_on_one_instance_refuses_sends_on_another() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(b, "alice").await;
    let bob = http::signup(a, "bob").await;
    let dm = ok(
        http::call(
            b,
            Method::POST,
            "/api/v1/dms",
            &alice,
            Some(json!({"username": "bob"})),
        )
        .await,
        201,
        "open",
    );
    let name = dm["name"].as_str().unwrap().to_string();
    let mut on_b = StompClient::connect(b, &alice).await;
    on_b.send_chat(&name, "hello bob", "r1").await;
    let (s, _) = http::call(a, Method::PUT, "/api/v1/me/blocks/alice", &bob, None).await;
    assert_eq!(s, 204);
    on_b.send(frame(
        "SEND",
        &[("destination", &topic(&name)), ("receipt", "r2")],
        "are you there?",
    ))
    .await;
    let frames = on_b.expect_closed().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].command, "ERROR", "{}", frames[0]);
    assert_eq!(
        frames[0].header("message").as_deref(),
        Some("blocked"),
        "{}",
        frames[0]
    );
    for port in [a, b] {
        let path = format!("/api/v1/rooms/{name}/messages");
        let (s, body) = http::call(
            port,
            Method::POST,
            &path,
            &alice,
            Some(json!({"body": "hi"})),
        )
        .await;
        assert_eq!(
            (s, body["error"]["code"].clone()),
            (403, json!("blocked")),
            "on {port}"
        );
    }
    let log = http::history(a, &alice, &name).await;
    assert_eq!(log.len(), 1, "only the message before the block: {log:?}");
}
