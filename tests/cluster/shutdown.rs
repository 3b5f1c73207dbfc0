//! SIGTERM (the README, "Deploying"): `/readyz` turns 503, in-flight SENDs are
//! committed and receipted (or answered with ERROR), every WebSocket is
//! closed with 1012 so clients reconnect elsewhere, and the process exits 0
//! within 30 s.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::actors::{SenderPlan, SubscriberPlan, spawn_sender, spawn_subscriber};
use crate::cluster::Cluster;
use crate::http;

/// WebSocket close code 1012, "service restart".
const SERVICE_RESTART: u16 = 1012;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_websockets_with_1012_exits_zero_and_loses_no_receipted_message() {
    const PER_SENDER: usize = 150;
    let mut cluster = Cluster::start(2).await;
    let nginx = cluster.nginx().await;
    let (a, b) = (cluster.port(0), cluster.port(1));
    let tokens: Vec<String> =
        futures_util::future::join_all(["alice", "bob"].map(|u| http::signup(b, u))).await;
    http::create_room(b, &tokens[0], "lobby").await;

    let subscriber = |name: &str, endpoints: Vec<u16>| SubscriberPlan {
        name: name.into(),
        endpoints,
        token: tokens[1].clone(),
        room: "lobby".into(),
    };
    let on_a = spawn_subscriber(subscriber("subscriber-on-a", vec![a, b])).await;
    let on_b = spawn_subscriber(subscriber("subscriber-on-b", vec![b])).await;
    // Through the balancer (least connections): one lands on each instance.
    // The one on A comes back through nginx too, which sends it to B.
    let mut via_nginx = Vec::new();
    for n in 0..2 {
        let name = format!("via-nginx-{n}");
        via_nginx.push(spawn_subscriber(subscriber(&name, vec![nginx.port, nginx.port])).await);
    }

    let (_phase, phase) = watch::channel(0u8);
    let plan = |name: &str, token: &str, endpoints: Vec<u16>| SenderPlan {
        name: name.into(),
        endpoints,
        token: token.into(),
        room: "lobby".into(),
        count: Some(PER_SENDER),
        window: 8,
        pace: Duration::from_millis(5),
    };
    let mut sender_a = spawn_sender(plan("alice-on-a", &tokens[0], vec![a, b]), phase.clone());
    let sender_b = spawn_sender(plan("bob-on-b", &tokens[1], vec![b]), phase.clone());
    sender_a
        .wait_receipts(PER_SENDER / 5, Duration::from_secs(30))
        .await;

    cluster.instances[0].sigterm();
    let signalled = Instant::now();
    // Not ready any more: 503 while draining, or no answer once the listener
    // is closed.
    let seen = http::readyz_until(a, Duration::from_secs(5), |s| s != Some(200))
        .await
        .unwrap_or_else(|seen| {
            panic!(
                "/readyz of the draining instance still answered 200 5 s after SIGTERM: {seen:?}"
            )
        });
    let exit = cluster.instances[0]
        .wait_exit(Duration::from_secs(30))
        .await;
    let took = signalled.elapsed();
    let status = exit.unwrap_or_else(|| panic!("the instance did not exit within 30 s of SIGTERM"));
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM is a clean shutdown: exit status 0, got {status:?}"
    );
    eprintln!("SIGTERM to exit: {took:?}; /readyz went {seen:?}");

    let report_a = sender_a.finish().await;
    let report_b = sender_b.finish().await;
    eprintln!(
        "the draining instance's sender re-sent {} SENDs elsewhere; ERRORs: {:?}",
        report_a.resent.len(),
        report_a.errors
    );
    assert_eq!(
        report_a.closes.first(),
        Some(&Some(SERVICE_RESTART)),
        "the sender's WebSocket on the draining instance is closed with 1012 (errors: {:?})",
        report_a.errors
    );
    assert!(
        report_a.stored_without_receipt.is_empty(),
        "a SEND the draining instance committed must have its RECEIPT sent before the close; \
         committed without RECEIPT: {:?}",
        report_a.stored_without_receipt
    );
    assert!(
        report_b.closes.is_empty(),
        "the other instance's clients are unaffected: {:?}",
        report_b.closes
    );

    // Nothing receipted is lost; with the re-sends, everything is stored once.
    let history = http::history(b, &tokens[0], "lobby").await;
    let total = 2 * PER_SENDER;
    let by_client_id: HashMap<&str, &Value> = history
        .iter()
        .map(|m| (m["client_id"].as_str().expect("client_id"), m))
        .collect();
    assert_eq!(
        by_client_id.len(),
        history.len(),
        "no client-id stored twice"
    );
    assert_eq!(history.len(), total, "each message stored exactly once");
    for r in [&report_a, &report_b] {
        assert_eq!(
            r.receipted().count(),
            PER_SENDER,
            "{}: all receipted",
            r.name
        );
        for (sent, receipt) in r.receipted() {
            let stored = by_client_id
                .get(sent.client_id.as_str())
                .unwrap_or_else(|| {
                    panic!("{}: receipted {} is not in history", r.name, sent.client_id)
                });
            assert_eq!(
                (stored["seq"].as_i64(), stored["id"].as_i64()),
                (Some(receipt.seq), Some(receipt.message_id)),
                "{}: the RECEIPT of {} describes the stored message",
                r.name,
                sent.client_id
            );
        }
    }

    let last = total as i64;
    let resumed = on_a.finish(last).await;
    assert_eq!(
        resumed.closes.first(),
        Some(&Some(SERVICE_RESTART)),
        "the subscriber's WebSocket on the draining instance is closed with 1012"
    );
    resumed.assert_complete(last);
    on_b.finish(last).await.assert_complete(last);

    let mut restarted = 0;
    for sub in via_nginx {
        let report = sub.finish(last).await;
        for code in &report.closes {
            assert_eq!(
                *code,
                Some(SERVICE_RESTART),
                "{}: the 1012 close passes through nginx",
                report.name
            );
        }
        restarted += report.closes.len();
        report.assert_complete(last);
    }
    assert!(
        restarted >= 1,
        "one of the subscribers behind nginx was on the draining instance and was closed with 1012"
    );
}
