//! Messages that Redis never carried still reach every subscriber (README,
//! "Deploying: several instances"): a quiet room is checked against the
//! database within a few seconds, and a room's relay subscription follows
//! its local subscribers however they come and go.

use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::{Cluster, Instance, Shared, room_id};
use crate::http;
use stomp_client::{Event, StompClient, WAIT, frame, topic};

/// An instance without `REDIS_URL` shares the database: what it stores is
/// committed but never published, like a publish the relay dropped. A
/// subscriber on a relayed instance gets each such message within 5 s, with
/// no later message in the room to reveal the hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_never_reaches_redis_reaches_other_instances_within_5_s() {
    let cluster = Cluster::start(1).await;
    let unrelayed = Instance::start(
        "parley-unrelayed",
        &Shared {
            redis_url: String::new(),
            ..cluster.shared.clone()
        },
    )
    .await;
    let token = http::signup(cluster.port(0), "alice").await;
    http::create_room(cluster.port(0), &token, "quiet").await;

    let mut subscriber = StompClient::try_connect(cluster.port(0), &token)
        .await
        .unwrap();
    subscriber.subscribe("s", "quiet").await;
    let mut sender = StompClient::try_connect(unrelayed.port, &token)
        .await
        .unwrap();
    for n in 1..=3i64 {
        let receipt = format!("r{n}");
        assert!(
            sender
                .try_send(frame(
                    "SEND",
                    &[("destination", &topic("quiet")), ("receipt", &receipt)],
                    format!("unrelayed {n}"),
                ))
                .await
        );
        match sender.next_event(WAIT).await {
            Some(Event::Frame(f)) if f.command == "RECEIPT" => assert_eq!(f.number("seq"), n),
            other => panic!("expected RECEIPT {receipt}, got {other:?}"),
        }
        let committed = Instant::now();
        match subscriber.next_event(Duration::from_secs(5)).await {
            Some(Event::Frame(f)) if f.command == "MESSAGE" => assert_eq!(
                f.number("seq"),
                n,
                "the unrelayed messages arrive once, in order: {f}"
            ),
            other => panic!(
                "message {n}, committed on an instance without Redis, did not reach the subscriber within 5 s: {other:?}"
            ),
        }
        eprintln!(
            "unrelayed message {n} delivered {:?} after its commit",
            committed.elapsed()
        );
    }
    match subscriber.next_event(Duration::from_millis(2500)).await {
        None => {}
        other => panic!("nothing more is delivered, and nothing twice: {other:?}"),
    }
}

/// Many clients subscribe to and leave one room on one instance as fast as
/// they can (the room empties and fills again over and over); afterwards the
/// instance, which still has a subscriber, is subscribed to the room's Redis
/// channel and gets messages from the other instance at once (well before
/// any quiet-room check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_emptied_as_a_subscriber_arrives_stays_subscribed_to_the_relay() {
    const CLIENTS: usize = 12;
    const ROUNDS: usize = 40;
    let cluster = Cluster::start(2).await;
    let token = http::signup(cluster.port(0), "alice").await;
    http::create_room(cluster.port(0), &token, "lobby").await;
    let channel = format!(
        "parley:room:{}",
        room_id(&cluster.shared.database_url, "lobby").await
    );

    let port = cluster.port(0);
    let churners: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let token = token.clone();
            tokio::spawn(async move {
                let mut conn = StompClient::try_connect(port, &token).await.unwrap();
                let dest = topic("lobby");
                for round in 0..ROUNDS {
                    let id = format!("c{c}-{round}");
                    let sub_receipt = format!("sub-{id}");
                    let unsub_receipt = format!("unsub-{id}");
                    // SUBSCRIBE and UNSUBSCRIBE pipelined: the room is
                    // emptied and refilled as often as possible.
                    assert!(
                        conn.try_send(frame(
                            "SUBSCRIBE",
                            &[
                                ("id", &id),
                                ("destination", &dest),
                                ("receipt", &sub_receipt)
                            ],
                            "",
                        ))
                        .await
                    );
                    assert!(
                        conn.try_send(frame(
                            "UNSUBSCRIBE",
                            &[("id", &id), ("receipt", &unsub_receipt)],
                            "",
                        ))
                        .await
                    );
                    let mut receipts = 0;
                    while receipts < 2 {
                        match conn.next_event(WAIT).await {
                            Some(Event::Frame(f)) if f.command == "RECEIPT" => receipts += 1,
                            Some(Event::Frame(f)) if f.command == "MESSAGE" => {}
                            other => panic!("churner {c}: {other:?}"),
                        }
                    }
                }
                conn.close().await;
            })
        })
        .collect();
    // One subscriber joins and stays while the churn goes on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stayer = StompClient::try_connect(port, &token).await.unwrap();
    stayer.subscribe("stay", "lobby").await;
    for c in churners {
        c.await.expect("churner");
    }

    let mut subscribed = None;
    for _ in 0..20 {
        subscribed = cluster.redis.numsub(&channel).await;
        if subscribed == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        subscribed,
        Some(1),
        "the instance with a subscriber left is subscribed to {channel} once"
    );
    let mut sender = StompClient::try_connect(cluster.port(1), &token)
        .await
        .unwrap();
    for n in 1..=5i64 {
        assert!(
            sender
                .try_send(frame(
                    "SEND",
                    &[("destination", &topic("lobby")), ("receipt", "r")],
                    "from the other instance",
                ))
                .await
        );
        let sent = Instant::now();
        match stayer.next_event(Duration::from_millis(900)).await {
            Some(Event::Frame(f)) if f.command == "MESSAGE" => {
                assert_eq!(f.number("seq"), n, "{f}")
            }
            other => panic!(
                "message {n} from the other instance is relayed at once (not by a later check): {other:?}"
            ),
        }
        eprintln!("relayed in {:?}", sent.elapsed());
        match sender.next_event(WAIT).await {
            Some(Event::Frame(f)) if f.command == "RECEIPT" => {}
            other => panic!("expected RECEIPT: {other:?}"),
        }
    }
}
