//! Limits of README "Configuration" over STOMP that one client must not get past:
//! bounded transactions, ids without control characters, the receipt of an
//! oversize SEND, per-user connection caps, a replay to a client that stops
//! reading, and one connection's SENDs committed in the order it sent them.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{history, history_seqs, seqs};
use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, spawn_app_with};
use stomp_client::{Handshake, StompClient, connect_frame, frame, topic};

on_both_backends!(
    a_bad_client_id_is_refused_and_other_users_messages_are_stored,
    a_transaction_of_one_send_too_many_stores_nothing,
);

fn unlimited(c: &mut parley::config::Config) {
    c.limits.send_rate = 0;
}

#[tokio::test]
async fn a_seventeenth_open_transaction_is_refused_on_every_connection() {
    let app = spawn_app_with(Backend::Sqlite, unlimited).await;
    let alice = app.signup("alice").await;
    // Five connections try it at once; each is refused at its 17th BEGIN.
    let tries = (0..5).map(|c| {
        let app = &app;
        let token = alice.access_token.clone();
        async move {
            let mut client = StompClient::connect(app, &token).await;
            let mut wire = Vec::new();
            for i in 0..16 {
                let tx = format!("c{c}-t{i}");
                wire.extend(frame("BEGIN", &[("transaction", &tx)], ""));
            }
            wire.extend(frame(
                "BEGIN",
                &[("transaction", "one-more"), ("receipt", "r17")],
                "",
            ));
            client.send(wire).await;
            client.expect_error_then_close().await
        }
    });
    for error in join_all(tries).await {
        let message = error.header("message").unwrap_or_default();
        assert!(
            message.contains("too many open transactions"),
            "the 17th BEGIN breaks the session: {error}"
        );
        assert_eq!(error.header("receipt-id").as_deref(), Some("r17"));
    }
}

#[tokio::test]
async fn huge_transaction_ids_are_refused_instead_of_stored() {
    let app = spawn_app_with(Backend::Sqlite, unlimited).await;
    let alice = app.signup("alice").await;
    // Just under the header line limit (8 KB with its name).
    let long = "t".repeat(8 * 1024 - 32);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(StompClient::connect(&app, &alice.access_token).await);
    }
    let tries = clients.iter_mut().map(|client| {
        let long = long.clone();
        async move {
            // What used to grow the server by 21 MB: 3000 BEGINs of 8 KB
            // ids, five frames per WebSocket message.
            for group in 0..600 {
                let mut wire = Vec::new();
                for i in 0..5 {
                    let tx = format!("{long}{}", group * 5 + i);
                    wire.extend(frame("BEGIN", &[("transaction", &tx)], ""));
                }
                if !client.try_send(wire).await {
                    break; // the server closed the connection
                }
            }
            client.expect_closed().await
        }
    });
    for frames in join_all(tries).await {
        let error = frames.first().expect("an ERROR before the close");
        assert_eq!(error.command, "ERROR", "{error}");
        assert!(
            error
                .header("message")
                .is_some_and(|m| m.contains("transaction header must be 1-256 characters")),
            "an 8 KB transaction id is refused at once: {error}"
        );
    }
}

async fn a_transaction_of_one_send_too_many_stores_nothing(backend: Backend) {
    let app = spawn_app_with(backend, unlimited).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    let dest = topic("general");
    let transaction = |room_dest: &str, sends: usize| {
        let mut wire = frame("BEGIN", &[("transaction", "t")], "");
        for i in 0..sends {
            wire.extend(frame(
                "SEND",
                &[("destination", room_dest), ("transaction", "t")],
                format!("m{i}"),
            ));
        }
        wire.extend(frame(
            "COMMIT",
            &[("transaction", "t"), ("receipt", "done")],
            "",
        ));
        wire
    };
    // At the same time: alice one SEND over the limit, bob exactly at it.
    let mut over = StompClient::connect(&app, &alice.access_token).await;
    let mut at = StompClient::connect(&app, &bob.access_token).await;
    let over_wire = transaction(&dest, 257);
    let at_wire = transaction(&topic("other"), 256);
    let (error, receipt) = tokio::join!(
        async {
            over.send(over_wire).await;
            over.expect_error_then_close().await
        },
        async {
            at.send(at_wire).await;
            at.expect_receipt("done").await
        }
    );
    assert!(
        error
            .header("message")
            .is_some_and(|m| m.contains("too many SENDs in transaction t (at most 256)")),
        "{error}"
    );
    assert_eq!(receipt.header("receipt-id").as_deref(), Some("done"));
    assert_eq!(
        history(&app, &alice.access_token, "general").await.len(),
        0,
        "nothing of the refused transaction is stored"
    );
    assert_eq!(
        history(&app, &bob.access_token, "other").await.len(),
        256,
        "a transaction at the limit is committed whole"
    );
}

#[tokio::test]
async fn an_oversize_send_body_error_carries_the_receipt_id() {
    let app = spawn_app_with(Backend::Sqlite, unlimited).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let dest = topic("general");
    let body = "a".repeat(4097);
    let len = body.len().to_string();
    let wires = [
        frame(
            "SEND",
            &[("destination", &dest), ("receipt", "big-1")],
            &body,
        ),
        frame(
            "SEND",
            &[
                ("destination", &dest),
                ("receipt", "big-2"),
                ("content-length", &len),
            ],
            &body,
        ),
    ];
    let tries = wires.into_iter().enumerate().map(|(i, wire)| {
        let app = &app;
        let token = alice.access_token.clone();
        async move {
            let mut client = StompClient::connect(app, &token).await;
            client.send(wire).await;
            (i, client.expect_error_then_close().await)
        }
    });
    for (i, error) in join_all(tries).await {
        assert_eq!(
            error.header("receipt-id").as_deref(),
            Some(format!("big-{}", i + 1).as_str()),
            "the ERROR for a 4097-byte body names the frame's receipt: {error}"
        );
        assert_eq!(error.header("message").as_deref(), Some("body too large"));
    }
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

async fn a_bad_client_id_is_refused_and_other_users_messages_are_stored(backend: Backend) {
    const BOB_SENDS: usize = 40;
    let app = spawn_app_with(backend, unlimited).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let dest = topic("general");
    // A raw NUL in the header, and LF / CR through the 1.2 escapes.
    let bad_ids = ["nul\0here", r"lf\nhere", r"cr\rhere", "esc\u{1b}[0m"];
    let mut bob_client = StompClient::connect(&app, &bob.access_token).await;
    let mut bad_clients = Vec::new();
    for _ in bad_ids {
        bad_clients.push(StompClient::connect(&app, &alice.access_token).await);
    }
    let bad = bad_clients.iter_mut().zip(bad_ids).map(|(client, id)| {
        let dest = dest.clone();
        async move {
            let mut wire = Vec::new();
            for i in 0..5 {
                wire.extend(frame(
                    "SEND",
                    &[("destination", &dest), ("receipt", &format!("a{i}"))],
                    format!("fine {i}"),
                ));
            }
            wire.extend(frame(
                "SEND",
                &[
                    ("destination", &dest),
                    ("client-id", id),
                    ("receipt", "bad"),
                ],
                "bad",
            ));
            client.send(wire).await;
            let frames = client.expect_closed().await;
            (id, frames)
        }
    });
    let good = async {
        let mut wire = Vec::new();
        for i in 0..BOB_SENDS {
            let receipt = format!("b{i}");
            let client_id = format!("bob-{i}");
            wire.extend(frame(
                "SEND",
                &[
                    ("destination", &dest),
                    ("client-id", &client_id),
                    ("receipt", &receipt),
                ],
                format!("bob {i}"),
            ));
        }
        bob_client.send(wire).await;
        for i in 0..BOB_SENDS {
            bob_client.expect_receipt(&format!("b{i}")).await;
        }
    };
    let (bad_results, ()) = tokio::join!(join_all(bad), good);
    for (id, frames) in bad_results {
        let (receipts, errors): (Vec<_>, Vec<_>) =
            frames.iter().partition(|f| f.command == "RECEIPT");
        assert_eq!(receipts.len(), 5, "{id:?}: the SENDs before it are stored");
        assert_eq!(errors.len(), 1, "{id:?}: one ERROR, then close: {frames:?}");
        let error = errors[0];
        assert_eq!(error.command, "ERROR");
        assert!(
            error
                .header("message")
                .is_some_and(|m| m.contains("control characters")),
            "{id:?}: {error}"
        );
        assert_eq!(error.header("receipt-id").as_deref(), Some("bad"));
    }
    let stored = history(&app, &bob.access_token, "general").await;
    let bodies: Vec<&str> = stored.iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(
        bodies.iter().filter(|b| b.starts_with("bob ")).count(),
        BOB_SENDS,
        "every message of the other user is stored"
    );
    assert_eq!(
        bodies.iter().filter(|b| b.starts_with("fine ")).count(),
        5 * bad_ids.len()
    );
    assert!(!bodies.contains(&"bad"), "no message with a bad client-id");
    assert_eq!(
        history_seqs(&stored),
        (1..=stored.len() as i64).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn control_characters_in_every_id_header_are_refused() {
    let app = spawn_app_with(Backend::Sqlite, unlimited).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let dest = topic("general");
    let frames = vec![
        frame("BEGIN", &[("transaction", "t\0x")], ""),
        frame(
            "SEND",
            &[("destination", &dest), ("transaction", r"t\nx")],
            "x",
        ),
        frame(
            "SEND",
            &[("destination", &dest), ("receipt", "r\u{7f}")],
            "x",
        ),
        frame("SUBSCRIBE", &[("id", "s\0"), ("destination", &dest)], ""),
        frame("UNSUBSCRIBE", &[("id", r"s\r")], ""),
        frame("ACK", &[("id", "a\u{1}")], ""),
    ];
    let tries = frames.into_iter().map(|wire| {
        let app = &app;
        let token = alice.access_token.clone();
        async move {
            let mut client = StompClient::connect(app, &token).await;
            client.send(wire).await;
            client.expect_error_then_close().await
        }
    });
    for error in join_all(tries).await {
        assert!(
            error
                .header("message")
                .is_some_and(|m| m.contains("must not contain control characters")),
            "{error}"
        );
    }
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_user_gets_at_most_max_connections_per_user_websockets() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.max_connections_per_user = 5;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    // Eight CONNECTs at once: five get CONNECTED, three the ERROR.
    let opens =
        (0..8).map(|_| StompClient::open_and_send(&app, connect_frame(&alice.access_token)));
    let mut results = join_all(opens).await;
    let connected = results
        .iter()
        .filter(|(_, f)| f.command == "CONNECTED")
        .count();
    assert_eq!(connected, 5, "exactly MAX_CONNECTIONS_PER_USER connect");
    for (client, first) in results.iter_mut().filter(|(_, f)| f.command != "CONNECTED") {
        assert_eq!(first.command, "ERROR", "{first}");
        assert_eq!(
            first.header("message").as_deref(),
            Some("too many connections")
        );
        client.expect_closed().await;
    }
    // Another user is not affected.
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(StompClient::connect(&app, &bob.access_token).await);
    }
    // Closing one of alice's connections frees its place.
    let mut open: Vec<StompClient> = results
        .into_iter()
        .filter(|(_, f)| f.command == "CONNECTED")
        .map(|(c, _)| c)
        .collect();
    let mut leaving = open.pop().unwrap();
    leaving
        .send(frame("DISCONNECT", &[("receipt", "bye")], ""))
        .await;
    leaving.expect_receipt("bye").await;
    leaving.expect_closed().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (mut client, first) =
            StompClient::open_and_send(&app, connect_frame(&alice.access_token)).await;
        if first.command == "CONNECTED" {
            client.send(frame("DISCONNECT", &[], "")).await;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed connection's place must be given back: {first}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const STALLED_REPLAY: usize = 5000;

/// An app whose room `general` holds 5000 × 4 KB = 20 MB (far beyond every
/// socket buffer), and carol's connection that subscribes with `since-seq:0`
/// and then never reads.
async fn stalled_replay() -> (TestApp, TestUser, TestUser, StompClient) {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.outbound_queue = 64;
        c.limits.send_rate = 0;
    })
    .await;
    let alice = app.signup("alice").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    let room = app.stored_room("general").await;
    let body = "x".repeat(4000);
    for chunk in 0..(STALLED_REPLAY / 500) {
        let batch: Vec<_> = (0..500)
            .map(|i| parley::store::NewEvent {
                room_id: room.id,
                room: room.name.clone(),
                sender_id: alice.user_id,
                sender: alice.username.clone(),
                change: parley::store::LogWrite::Message {
                    body: format!("{} {body}", chunk * 500 + i),
                    client_id: None,
                    reply_to: None,
                    attachments: Vec::new(),
                },
                tied_to_next: false,
                moderates: false,
            })
            .collect();
        app.state.store.append_batch(&batch).await.unwrap();
    }
    let hs = Handshake {
        recv_buffer: Some(4096),
        ..Handshake::default()
    };
    let (mut stalled, _) = StompClient::open_with(app.port, hs).await.expect("upgrade");
    stalled.send(connect_frame(&carol.access_token)).await;
    stalled.expect_command("CONNECTED").await;
    stalled
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "s"),
                ("destination", &topic("general")),
                ("since-seq", "0"),
            ],
            "",
        ))
        .await;
    (app, alice, carol, stalled)
}

/// Waits, without reading, until the server has let go of `user`'s
/// connections; then reads what was sent and checks the replay was cut.
async fn expect_dropped_within(
    app: &TestApp,
    user: &TestUser,
    stalled: &mut StompClient,
    wait: Duration,
) {
    let deadline = Instant::now() + wait;
    while app.state.connections.count(user.user_id) > 0 {
        assert!(
            Instant::now() < deadline,
            "a client that stops reading during a replay must be let go within {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let frames = stalled.expect_closed_within(Duration::from_secs(30)).await;
    let got = frames.iter().filter(|f| f.command == "MESSAGE").count();
    assert!(
        got < STALLED_REPLAY,
        "the stalled replay was cut short, got {got}"
    );
    assert!(
        frames.iter().all(|f| f.command == "MESSAGE"),
        "no RECEIPT for an unfinished replay"
    );
}

#[tokio::test]
async fn a_replay_to_a_client_that_stops_reading_ends_without_blocking_others() {
    let (app, alice, carol, mut stalled) = stalled_replay().await;
    // Meanwhile another user chats normally.
    let mut other = StompClient::connect(&app, &alice.access_token).await;
    other.subscribe("o", "other").await;
    for i in 0..20 {
        other
            .send_chat("other", &format!("hi {i}"), &format!("r{i}"))
            .await;
    }
    assert_eq!(
        seqs(&other.expect_messages(20).await),
        (1..=20).collect::<Vec<_>>()
    );
    // Its socket takes nothing: the server drops it as a slow consumer.
    expect_dropped_within(&app, &carol, &mut stalled, Duration::from_secs(40)).await;
}

#[tokio::test]
async fn shutdown_is_observed_during_a_replay_to_a_client_that_stops_reading() {
    let (app, _alice, carol, mut stalled) = stalled_replay().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let began = Instant::now();
    app.state.begin_shutdown();
    // Closing writes are bounded by 5 s; well before the stall timeout.
    expect_dropped_within(&app, &carol, &mut stalled, Duration::from_secs(8)).await;
    assert!(began.elapsed() < Duration::from_secs(9));
}

#[tokio::test]
async fn a_large_replay_through_a_small_outbound_queue_is_whole_and_in_order() {
    const STORED: usize = 3000;
    const LIVE: usize = 100;
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.outbound_queue = 256;
        c.limits.send_rate = 0;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, STORED).await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    let mut reader = StompClient::connect(&app, &bob.access_token).await;
    reader
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", "s"),
                ("destination", &topic("general")),
                ("since-seq", "0"),
                ("receipt", "sub"),
            ],
            "",
        ))
        .await;
    // Live messages committed while the replay runs.
    let live = async {
        for i in 0..LIVE {
            sender
                .send_chat("general", &format!("live {i}"), &format!("l{i}"))
                .await;
        }
    };
    let read = async {
        let mut got = Vec::new();
        let mut receipt = None;
        while got.len() < STORED + LIVE {
            let f = reader.expect_frame().await;
            match f.command.as_str() {
                "MESSAGE" => got.push(f.seq()),
                "RECEIPT" => receipt = Some(got.len()),
                _ => panic!("unexpected {f}"),
            }
        }
        (got, receipt)
    };
    let ((got, receipt), ()) = tokio::join!(read, live);
    assert_eq!(
        got,
        (1..=(STORED + LIVE) as i64).collect::<Vec<_>>(),
        "every message exactly once, in order, across the replay seam"
    );
    assert!(
        receipt.is_some_and(|n| n >= STORED),
        "the SUBSCRIBE receipt comes after the replay"
    );
}

#[tokio::test]
async fn a_connections_sends_are_committed_in_the_order_it_sent_them() {
    const ROUNDS: usize = 60;
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.limits.send_rate = 0;
        c.commit.workers = 4;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let r1 = app.create_room(&alice, "r1", false).await["id"]
        .as_i64()
        .unwrap();
    let r2 = app.create_room(&alice, "r2", false).await["id"]
        .as_i64()
        .unwrap();
    assert_ne!(
        app.state.chat.commit_worker(r1),
        app.state.chat.commit_worker(r2),
        "the two rooms must be committed by different workers"
    );
    // Bob keeps r1's worker busy, so that a store queued there lags.
    let mut busy = StompClient::connect(&app, &bob.access_token).await;
    let busy_wire: Vec<u8> = (0..600)
        .flat_map(|i| {
            frame(
                "SEND",
                &[("destination", &topic("r1")), ("receipt", &format!("b{i}"))],
                format!("busy {i}"),
            )
        })
        .collect();

    let mut client = StompClient::connect(&app, &alice.access_token).await;
    // Each body starts with its place in the order alice sends them.
    let mut k = 0;
    let mut next = || {
        k += 1;
        k
    };
    let mut wire = Vec::new();
    for i in 0..ROUNDS {
        let tx = format!("t{i}");
        wire.extend(frame("BEGIN", &[("transaction", &tx)], ""));
        for room in ["r1", "r2"] {
            wire.extend(frame(
                "SEND",
                &[("destination", &topic(room)), ("transaction", &tx)],
                format!("{} tx", next()),
            ));
        }
        wire.extend(frame("COMMIT", &[("transaction", &tx)], ""));
        wire.extend(frame(
            "SEND",
            &[("destination", &topic("r2")), ("receipt", &format!("p{i}"))],
            format!("{} plain", next()),
        ));
        // Alternating rooms, pipelined.
        for room in ["r1", "r2", "r1"] {
            wire.extend(frame(
                "SEND",
                &[("destination", &topic(room))],
                format!("{} alt", next()),
            ));
        }
    }
    wire.extend(frame("DISCONNECT", &[("receipt", "end")], ""));
    busy.send(busy_wire).await;
    client.send(wire).await;
    for i in 0..ROUNDS {
        client.expect_receipt(&format!("p{i}")).await;
    }
    client.expect_receipt("end").await;
    for i in 0..600 {
        busy.expect_receipt(&format!("b{i}")).await;
    }

    // Message ids are assigned at commit: alice's messages, across both
    // rooms, must have rising ids in the order she sent them.
    let mut mine = Vec::new();
    for room in ["r1", "r2"] {
        for m in history(&app, &alice.access_token, room).await {
            if m["sender"] == "alice" {
                let body = m["body"].as_str().unwrap();
                let place: usize = body.split(' ').next().unwrap().parse().unwrap();
                mine.push((m["id"].as_i64().unwrap(), place));
            }
        }
    }
    mine.sort();
    let places: Vec<usize> = mine.iter().map(|(_, place)| *place).collect();
    assert_eq!(
        places.len(),
        ROUNDS * 6,
        "every message of alice was stored"
    );
    assert_eq!(
        places,
        (1..=ROUNDS * 6).collect::<Vec<_>>(),
        "alice's messages were committed out of the order she sent them"
    );
}
