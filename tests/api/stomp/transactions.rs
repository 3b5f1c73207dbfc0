//! BEGIN / COMMIT / ABORT: transactional SENDs are stored and broadcast at
//! COMMIT and dropped at ABORT.

use std::time::Duration;

use super::{history, history_seqs, seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};
use stomp_client::{StompClient, frame, topic};

on_both_backends!(
    committed_transaction_is_stored_and_delivered_at_commit,
    aborted_transaction_stores_and_delivers_nothing,
);

fn tx_send(tx: &str, body: &str) -> Vec<u8> {
    frame(
        "SEND",
        &[("destination", &topic("general")), ("transaction", tx)],
        body,
    )
}

async fn committed_transaction_is_stored_and_delivered_at_commit(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("s", "general").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;

    client
        .send(frame("BEGIN", &[("transaction", "tx1")], ""))
        .await;
    client.send(tx_send("tx1", "in tx 1")).await;
    client.send(tx_send("tx1", "in tx 2")).await;
    // A SEND outside the transaction, while it is open, is stored at once:
    // it takes seq 1 because the transaction's messages are not stored yet.
    let outside = client.send_chat("general", "outside", "r-out").await;
    assert_eq!(
        outside.seq(),
        1,
        "transactional SENDs must not be stored before COMMIT"
    );
    let first = sub.expect_message().await;
    assert_eq!(
        first.json()["body"],
        "outside",
        "nothing from tx1 is delivered before COMMIT"
    );
    sub.expect_no_frame_for(Duration::from_millis(300)).await;
    assert_eq!(
        history_seqs(&history(&app, &alice.access_token, "general").await),
        [1],
        "history holds only the non-transactional message before COMMIT"
    );

    client
        .send(frame(
            "COMMIT",
            &[("transaction", "tx1"), ("receipt", "c")],
            "",
        ))
        .await;
    client.expect_receipt("c").await;
    let committed = sub.expect_messages(2).await;
    assert_eq!(
        seqs(&committed),
        [2, 3],
        "COMMIT stores and delivers in order"
    );
    let bodies: Vec<_> = committed.iter().map(|m| m.json()["body"].clone()).collect();
    assert_eq!(bodies, ["in tx 1", "in tx 2"]);
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        history_seqs(&stored),
        [1, 2, 3],
        "the transaction's messages are stored"
    );
}

async fn aborted_transaction_stores_and_delivers_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("s", "general").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;

    client
        .send(frame("BEGIN", &[("transaction", "tx1")], ""))
        .await;
    client.send(tx_send("tx1", "dropped 1")).await;
    client.send(tx_send("tx1", "dropped 2")).await;
    client
        .send(frame(
            "ABORT",
            &[("transaction", "tx1"), ("receipt", "a")],
            "",
        ))
        .await;
    client.expect_receipt("a").await;
    let after = client.send_chat("general", "after abort", "r1").await;
    assert_eq!(after.seq(), 1, "the aborted messages took no seq");
    let m = sub.expect_message().await;
    assert_eq!(
        m.json()["body"],
        "after abort",
        "aborted messages are never delivered"
    );
    sub.expect_no_frame_for(Duration::from_millis(300)).await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        stored.len(),
        1,
        "ABORT drops the transaction's messages: {stored:?}"
    );
}
