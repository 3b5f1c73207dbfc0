//! Messages relayed between instances through Redis (the README, "Deploying"):
//! clients behind the balancer land on every instance, and every subscriber
//! gets every message exactly once, in seq order, wherever it was sent.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use crate::actors::{SenderPlan, SubscriberPlan, spawn_sender, spawn_subscriber};
use crate::cluster::Cluster;
use crate::http;
use stomp_client::StompClient;

/// Three instances behind nginx; subscribers connect through the balancer,
/// one sender per instance and one through the balancer post concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_message_once_in_order_across_instances() {
    const PER_SENDER: usize = 40;
    const SUBSCRIBERS: usize = 6;
    let cluster = Cluster::start(3).await;
    let nginx = cluster.nginx().await;
    let ports = cluster.ports();

    let users = ["alice", "bob", "carol"];
    let tokens: Vec<String> =
        futures_util::future::join_all(users.iter().map(|u| http::signup(nginx.port, u))).await;
    http::create_room(nginx.port, &tokens[0], "lobby").await;

    let mut subscribers = Vec::new();
    for n in 0..SUBSCRIBERS {
        subscribers.push(
            spawn_subscriber(SubscriberPlan {
                name: format!("via-nginx-{n}"),
                endpoints: vec![nginx.port],
                token: tokens[n % tokens.len()].clone(),
                room: "lobby".into(),
            })
            .await,
        );
    }

    // One sender on each instance, and one through the balancer, all at once.
    let (_phase, phase) = watch::channel(0u8);
    let mut endpoints: Vec<(String, u16)> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| (format!("{}-on-{}", users[i], i + 1), port))
        .collect();
    endpoints.push(("alice-via-nginx".into(), nginx.port));
    let senders: Vec<_> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (name, port))| {
            spawn_sender(
                SenderPlan {
                    name: name.clone(),
                    endpoints: vec![*port],
                    token: tokens[i % tokens.len()].clone(),
                    room: "lobby".into(),
                    count: Some(PER_SENDER),
                    window: 4,
                    pace: Duration::ZERO,
                },
                phase.clone(),
            )
        })
        .collect();
    let mut reports = Vec::new();
    for s in senders {
        reports.push(s.finish().await);
    }

    let total = (PER_SENDER * endpoints.len()) as i64;
    let mut receipted: Vec<i64> = reports.iter().flat_map(|r| r.seqs()).collect();
    receipted.sort_unstable();
    assert_eq!(
        receipted,
        (1..=total).collect::<Vec<_>>(),
        "every SEND is receipted with its own seq, 1..={total} over all instances"
    );
    for r in &reports {
        let seqs = r.seqs();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{}: one connection's SENDs are stored in the order sent: {seqs:?}",
            r.name
        );
        assert!(
            r.closes.is_empty(),
            "{}: connection ended: {:?}",
            r.name,
            r.closes
        );
    }

    let history = http::history(nginx.port, &tokens[0], "lobby").await;
    assert_eq!(history.len(), total as usize, "history holds every message");
    let by_seq: HashMap<i64, &serde_json::Value> = history
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m))
        .collect();
    for r in &reports {
        for (sent, receipt) in r.receipted() {
            let stored = by_seq[&receipt.seq];
            assert_eq!(stored["body"], sent.body.as_str(), "{stored}");
            assert_eq!(stored["client_id"], sent.client_id.as_str(), "{stored}");
            assert_eq!(stored["id"].as_i64(), Some(receipt.message_id), "{stored}");
        }
    }

    for sub in subscribers {
        let report = sub.finish(total).await;
        report.assert_complete(total);
        for got in &report.received {
            assert_eq!(
                &got.message, by_seq[&got.seq],
                "{}: a relayed MESSAGE carries the stored message",
                report.name
            );
        }
    }

    // The subscribers have closed their sockets; nginx logs each WebSocket
    // when it ends, with the instance that served it.
    let mut spread = Vec::new();
    for _ in 0..100 {
        spread = nginx.websockets_per_upstream(&ports);
        if spread.iter().sum::<usize>() >= SUBSCRIBERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        spread.iter().all(|&n| n > 0),
        "clients connected through nginx land on every instance; WebSockets per instance: {spread:?}"
    );
}

/// However many rooms and clients an instance serves, it holds one Redis
/// pub/sub connection (not one per room or per client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_holds_one_redis_pubsub_connection() {
    const ROOMS: usize = 4;
    const CLIENTS_PER_INSTANCE: usize = 3;
    let cluster = Cluster::start(2).await;
    let token = http::signup(cluster.port(0), "alice").await;
    let rooms: Vec<String> = (0..ROOMS).map(|i| format!("room-{i}")).collect();
    for room in &rooms {
        http::create_room(cluster.port(0), &token, room).await;
    }

    let mut clients = Vec::new();
    for port in cluster.ports() {
        for _ in 0..CLIENTS_PER_INSTANCE {
            let mut c = StompClient::try_connect(port, &token)
                .await
                .expect("connect");
            for room in &rooms {
                c.subscribe(room, room).await;
            }
            clients.push(c);
        }
    }

    // The relay may subscribe in the background: wait (bounded) until both
    // instances show up in pub/sub mode, then count.
    for _ in 0..50 {
        if cluster.redis.pubsub_clients().await.len() >= cluster.instances.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Settle, then look again: extra connections would show up by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pubsub = cluster.redis.pubsub_clients().await;
    assert_eq!(
        pubsub.len(),
        cluster.instances.len(),
        "{} instances with {CLIENTS_PER_INSTANCE} clients in {ROOMS} rooms each hold one pub/sub connection each; Redis sees:\n{}",
        cluster.instances.len(),
        pubsub.join("\n")
    );
    for c in clients {
        c.close().await;
    }
}
