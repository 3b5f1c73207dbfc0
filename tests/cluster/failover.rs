//! An instance killed outright (SIGKILL) while clients send with receipts
//! (the README, "Real-time chat" and "Deploying"): a RECEIPT means durable, and clients that
//! reconnect to another instance with `since-seq` (subscribers) or re-send
//! with the same `client-id` (senders) end with the complete sequence.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::actors::{SenderPlan, SubscriberPlan, spawn_sender, spawn_subscriber};
use crate::cluster::Cluster;
use crate::http;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_receipted_message_and_clients_resume_elsewhere_with_since_seq() {
    const PER_SENDER: usize = 80;
    let mut cluster = Cluster::start(2).await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let tokens: Vec<String> =
        futures_util::future::join_all(["alice", "bob"].map(|u| http::signup(b, u))).await;
    http::create_room(b, &tokens[0], "lobby").await;

    // A subscriber on each instance; the one on A moves to B when A dies.
    let on_a = spawn_subscriber(SubscriberPlan {
        name: "subscriber-on-a".into(),
        endpoints: vec![a, b],
        token: tokens[1].clone(),
        room: "lobby".into(),
    })
    .await;
    let on_b = spawn_subscriber(SubscriberPlan {
        name: "subscriber-on-b".into(),
        endpoints: vec![b],
        token: tokens[0].clone(),
        room: "lobby".into(),
    })
    .await;

    let (_phase, phase) = watch::channel(0u8);
    let plan = |name: &str, token: &str, endpoints: Vec<u16>| SenderPlan {
        name: name.into(),
        endpoints,
        token: token.into(),
        room: "lobby".into(),
        count: Some(PER_SENDER),
        window: 4,
        pace: Duration::from_millis(10),
    };
    let mut sender_a = spawn_sender(plan("alice-on-a", &tokens[0], vec![a, b]), phase.clone());
    let sender_b = spawn_sender(plan("bob-on-b", &tokens[1], vec![b]), phase.clone());

    sender_a
        .wait_receipts(PER_SENDER / 4, Duration::from_secs(30))
        .await;
    cluster.instances[0].sigkill();

    let report_a = sender_a.finish().await;
    let report_b = sender_b.finish().await;
    assert!(
        !report_a.closes.is_empty(),
        "the sender on A saw its connection end when A was killed"
    );
    eprintln!(
        "after SIGKILL: {} SENDs re-sent on B, {} of them had been stored by A without a RECEIPT",
        report_a.resent.len(),
        report_a.stored_without_receipt.len()
    );
    assert!(
        report_b.closes.is_empty(),
        "the sender on B is unaffected: {:?}",
        report_b.closes
    );

    // Every RECEIPT means durable; with re-sends under the same client-id,
    // every message is stored exactly once and seqs have no hole.
    let history = http::history(b, &tokens[0], "lobby").await;
    let total = 2 * PER_SENDER;
    let by_client_id: HashMap<&str, &Value> = history
        .iter()
        .map(|m| (m["client_id"].as_str().expect("client_id"), m))
        .collect();
    assert_eq!(
        by_client_id.len(),
        history.len(),
        "no client-id is stored twice (a re-sent SEND is idempotent across instances)"
    );
    assert_eq!(
        history.len(),
        total,
        "each of the {total} messages is stored exactly once"
    );
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "seqs 1..={total}"
    );
    for r in [&report_a, &report_b] {
        assert_eq!(
            r.receipted().count(),
            PER_SENDER,
            "{}: every message got a RECEIPT in the end",
            r.name
        );
        for (sent, receipt) in r.receipted() {
            let stored = by_client_id
                .get(sent.client_id.as_str())
                .unwrap_or_else(|| {
                    panic!("{}: receipted {} is not in history", r.name, sent.client_id)
                });
            assert_eq!(
                (
                    stored["seq"].as_i64(),
                    stored["id"].as_i64(),
                    stored["body"].as_str()
                ),
                (
                    Some(receipt.seq),
                    Some(receipt.message_id),
                    Some(sent.body.as_str())
                ),
                "{}: the RECEIPT of {} describes the stored message",
                r.name,
                sent.client_id
            );
        }
    }
    let resent: HashSet<&str> = report_a.resent.iter().map(String::as_str).collect();
    for (sent, receipt) in report_a.receipted() {
        if receipt.port == a {
            assert!(
                !resent.contains(sent.client_id.as_str()),
                "{} was receipted by A, so it was never re-sent",
                sent.client_id
            );
        }
    }

    let last = total as i64;
    let resumed = on_a.finish(last).await;
    assert!(
        !resumed.closes.is_empty() && !resumed.resumed_since.is_empty(),
        "the subscriber on A lost its socket and resumed on B: closes {:?}",
        resumed.closes
    );
    resumed.assert_complete(last);
    let stayed = on_b.finish(last).await;
    stayed.assert_complete(last);
}
