//! The README's limits over STOMP: a slow consumer is dropped without
//! slowing the room, and the send rate is enforced by backpressure.

use std::time::{Duration, Instant};

use super::{history, history_seqs, seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app_with};
use stomp_client::{Handshake, StompClient, connect_frame, frame, topic};

on_both_backends!(
    slow_consumer_is_disconnected_and_the_room_is_not_slowed,
    send_rate_applies_backpressure_without_losing_messages,
    send_rate_is_per_user_across_connections,
);

async fn slow_consumer_is_disconnected_and_the_room_is_not_slowed(backend: Backend) {
    // 3000 × 3 KB ≈ 9 MB: far more than the stalled reader's socket buffers,
    // the server's send buffer (≤ 4 MB here) and an outbound queue of 256
    // frames. The queue is not smaller so that the subscriber that does read
    // is never mistaken for a slow one on a busy 2-core test machine (with
    // 16 it sometimes was, when its writer was not scheduled for 16 commits).
    const COUNT: usize = 3000;
    const WINDOW: usize = 8;
    let app = spawn_app_with(backend, |c| {
        c.limits.outbound_queue = 256;
        c.limits.send_rate = 0;
    })
    .await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "general", false).await;

    // Carol subscribes, then never reads her socket (a tiny receive buffer
    // makes the backlog land on the server quickly).
    let hs = Handshake {
        recv_buffer: Some(4096),
        ..Handshake::default()
    };
    let (mut stalled, _) = StompClient::open_with(app.port, hs).await.expect("upgrade");
    stalled.send(connect_frame(&carol.access_token)).await;
    stalled.expect_command("CONNECTED").await;
    stalled.subscribe("s", "general").await;

    let mut reader = StompClient::connect(&app, &bob.access_token).await;
    reader.subscribe("s", "general").await;
    let reading = tokio::spawn(async move { reader.expect_messages(COUNT).await });

    let mut publisher = StompClient::connect(&app, &alice.access_token).await;
    let body = "x".repeat(3000);
    let dest = topic("general");
    let publishing = tokio::spawn(async move {
        let mut receipts = Vec::with_capacity(COUNT);
        for start in (0..COUNT).step_by(WINDOW) {
            let end = (start + WINDOW).min(COUNT);
            for i in start..end {
                publisher
                    .send(frame(
                        "SEND",
                        &[("destination", &dest), ("receipt", &format!("r{i}"))],
                        &body,
                    ))
                    .await;
            }
            for i in start..end {
                receipts.push(publisher.expect_receipt(&format!("r{i}")).await.seq());
            }
        }
        receipts
    });

    let receipts = tokio::time::timeout(Duration::from_secs(150), publishing)
        .await
        .expect("the publisher's receipts must keep coming while a subscriber stalls")
        .expect("publisher task");
    assert_eq!(
        receipts,
        (1..=COUNT as i64).collect::<Vec<_>>(),
        "every SEND got its RECEIPT, in order"
    );
    let delivered = reading.await.expect("reading subscriber task");
    assert_eq!(
        seqs(&delivered),
        (1..=COUNT as i64).collect::<Vec<_>>(),
        "the subscriber that reads gets every message, once, in order"
    );

    // Now look at what the stalled subscriber was sent: a gap-free prefix
    // of the room, then (maybe) an ERROR, then the close.
    let frames = stalled.expect_closed_within(Duration::from_secs(30)).await;
    let (messages, rest): (Vec<_>, Vec<_>) =
        frames.into_iter().partition(|f| f.command == "MESSAGE");
    let got = seqs(&messages);
    assert!(
        got.len() < COUNT,
        "the stalled subscriber must have been dropped, yet it got all {COUNT} messages"
    );
    assert_eq!(
        got,
        (1..=got.len() as i64).collect::<Vec<_>>(),
        "what a slow consumer did get is gap-free and in order"
    );
    assert!(
        rest.iter().all(|f| f.command == "ERROR") && rest.len() <= 1,
        "after its messages a slow consumer gets at most one ERROR: {rest:?}"
    );
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored.len(), COUNT, "every message was stored");
}

async fn send_rate_applies_backpressure_without_losing_messages(backend: Backend) {
    const COUNT: usize = 20;
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 5;
        c.limits.send_burst = 5;
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let dest = topic("general");
    let started = Instant::now();
    let mut all = Vec::new();
    for i in 1..=COUNT {
        all.extend(frame(
            "SEND",
            &[("destination", &dest), ("receipt", &format!("r{i}"))],
            format!("burst {i}"),
        ));
    }
    client.send(all).await;
    for i in 1..=COUNT {
        let receipt = client.expect_receipt(&format!("r{i}")).await;
        assert_eq!(
            receipt.seq(),
            i as i64,
            "receipts arrive in order, nothing lost"
        );
    }
    let took = started.elapsed();
    // Burst 5, then 15 more at 5/s: about 3 s. Anything under 2 s means the
    // rate was not applied.
    assert!(
        took >= Duration::from_secs(2),
        "20 SENDs at 5/s with burst 5 cannot all be served in {took:?}"
    );
    assert_eq!(
        history_seqs(&history(&app, &alice.access_token, "general").await),
        (1..=COUNT as i64).collect::<Vec<_>>(),
        "backpressure loses nothing"
    );
}

async fn send_rate_is_per_user_across_connections(backend: Backend) {
    const PER_CONNECTION: usize = 10;
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 5;
        c.limits.send_burst = 5;
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..2 {
        let mut client = StompClient::connect(&app, &alice.access_token).await;
        tasks.push(tokio::spawn(async move {
            let dest = topic("general");
            let mut all = Vec::new();
            for i in 0..PER_CONNECTION {
                all.extend(frame(
                    "SEND",
                    &[("destination", &dest), ("receipt", &format!("c{conn}-{i}"))],
                    format!("connection {conn} message {i}"),
                ));
            }
            client.send(all).await;
            for i in 0..PER_CONNECTION {
                client.expect_receipt(&format!("c{conn}-{i}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender task");
    }
    let took = started.elapsed();
    // One bucket for alice: burst 5, then 15 more at 5/s, about 3 s. Two
    // separate buckets would finish in about 1 s.
    assert!(
        took >= Duration::from_secs(2),
        "20 SENDs by one user over two connections at 5/s took only {took:?}: the rate is per user"
    );
    assert_eq!(
        history(&app, &alice.access_token, "general").await.len(),
        2 * PER_CONNECTION,
        "backpressure loses nothing"
    );
}
