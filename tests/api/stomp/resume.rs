//! Resuming with `SUBSCRIBE since-seq:N` (the README, "Real-time chat"): stored
//! messages after N first, then live ones, no gap and no duplicate.

use std::time::Duration;

use super::{history, seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with};
use stomp_client::{Frame, StompClient, frame, topic};

on_both_backends!(
    subscribe_with_since_seq_replays_stored_messages_then_live_ones,
    since_seq_resume_has_no_gap_and_no_duplicate_while_messages_flow,
);

/// Sends SUBSCRIBE with `since-seq` (and a receipt, whose RECEIPT may come
/// before, between or after the replayed MESSAGEs).
async fn subscribe_since(client: &mut StompClient, id: &str, room: &str, since: i64) {
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", id),
                ("destination", &topic(room)),
                ("since-seq", &since.to_string()),
                ("receipt", &format!("sub-{id}")),
            ],
            "",
        ))
        .await;
}

/// MESSAGE frames until one with seq `last` (or later) arrives; the one
/// RECEIPT of the SUBSCRIBE is skipped. Bounded by `max` frames.
async fn messages_through(client: &mut StompClient, last: i64, max: usize) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::new();
    let mut receipts = 0;
    for _ in 0..max {
        let f = client.expect_frame().await;
        match f.command.as_str() {
            "RECEIPT" => {
                receipts += 1;
                assert_eq!(receipts, 1, "one RECEIPT for the SUBSCRIBE: {f}");
            }
            "MESSAGE" => {
                let done = f.seq() >= last;
                out.push(f);
                if done {
                    return out;
                }
            }
            _ => panic!("expected MESSAGE frames, got {f}"),
        }
    }
    panic!(
        "seq {last} did not arrive within {max} frames; got seqs {:?}",
        seqs(&out)
    );
}

async fn subscribe_with_since_seq_replays_stored_messages_then_live_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, 10).await;
    let stored = history(&app, &alice.access_token, "general").await;

    let mut resumed = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut resumed, "s", "general", 3).await;
    let replay = messages_through(&mut resumed, 10, 20).await;
    assert_eq!(
        seqs(&replay),
        (4..=10).collect::<Vec<_>>(),
        "since-seq:3 replays every stored message with seq > 3, in order"
    );
    for (m, s) in replay.iter().zip(&stored[3..]) {
        assert_eq!(
            &m.json(),
            s,
            "a replayed MESSAGE carries the stored message"
        );
        assert_eq!(m.header("subscription").as_deref(), Some("s"));
        assert_eq!(
            m.header("destination").as_deref(),
            Some("/topic/rooms/general")
        );
    }

    let mut everything = StompClient::connect(&app, &bob.access_token).await;
    subscribe_since(&mut everything, "all", "general", 0).await;
    let all = messages_through(&mut everything, 10, 20).await;
    assert_eq!(
        seqs(&all),
        (1..=10).collect::<Vec<_>>(),
        "since-seq:0 replays the whole room"
    );

    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender.send_chat("general", "live", "r-live").await;
    for client in [&mut resumed, &mut everything] {
        let live = messages_through(client, 11, 5).await;
        assert_eq!(seqs(&live), [11], "after the replay, live messages follow");
        client.expect_no_frame_for(Duration::from_millis(300)).await;
    }
}

async fn since_seq_resume_has_no_gap_and_no_duplicate_while_messages_flow(backend: Backend) {
    const STORED: i64 = 20;
    const LIVE: usize = 150;
    const WINDOW: usize = 5;
    const SINCE: i64 = 10;
    let app = spawn_app_with(backend, |c| c.limits.send_rate = 0).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.store_messages("general", &alice, STORED as usize).await;

    let (progress_tx, progress) = tokio::sync::watch::channel(0usize);
    let mut publisher = StompClient::connect(&app, &alice.access_token).await;
    let publishing = tokio::spawn(async move {
        let dest = topic("general");
        let mut last = 0;
        for start in (0..LIVE).step_by(WINDOW) {
            let end = (start + WINDOW).min(LIVE);
            for i in start..end {
                publisher
                    .send(frame(
                        "SEND",
                        &[("destination", &dest), ("receipt", &format!("r{i}"))],
                        format!("live {i}"),
                    ))
                    .await;
            }
            for i in start..end {
                last = publisher.expect_receipt(&format!("r{i}")).await.seq();
            }
            progress_tx.send_replace(end);
        }
        last
    });

    // Three clients resume from the same seq at different moments of the flow.
    let mut resumers = Vec::new();
    for (n, after_sends) in [10usize, 50, 100].into_iter().enumerate() {
        let mut p = progress.clone();
        tokio::time::timeout(
            Duration::from_secs(30),
            p.wait_for(|&sent| sent >= after_sends),
        )
        .await
        .expect("the publisher makes progress")
        .expect("publisher alive");
        let mut c = StompClient::connect(&app, &bob.access_token).await;
        subscribe_since(&mut c, &format!("resume-{n}"), "general", SINCE).await;
        resumers.push(c);
    }

    let last = publishing.await.expect("publisher task");
    assert_eq!(last, STORED + LIVE as i64, "every live SEND was stored");
    for (n, mut c) in resumers.into_iter().enumerate() {
        let got = messages_through(&mut c, last, LIVE + STORED as usize + 5).await;
        assert_eq!(
            seqs(&got),
            (SINCE + 1..=last).collect::<Vec<_>>(),
            "resumer {n}: seqs {}..={last} exactly once each, in order, no gap at the seam",
            SINCE + 1
        );
        c.expect_no_frame_for(Duration::from_millis(300)).await;
    }
}
