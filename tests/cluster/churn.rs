//! Churn: three instances behind nginx, senders posting to two rooms on
//! every instance, subscribers joining and leaving continuously everywhere,
//! and Redis restarted once in the middle. Every subscription gets exactly
//! the messages committed after its start (its SUBSCRIBE's RECEIPT, or its
//! `since-seq`), each once, in seq order, with no gap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Cluster, room_id};
use crate::http;
use stomp_client::{Event, Frame, StompClient, WAIT, frame, topic};

const ROOMS: [&str; 2] = ["lobby", "side"];
/// How long subscribers churn and senders post.
const RUN: Duration = Duration::from_secs(16);
/// When Redis is stopped, and for how long.
const REDIS_DOWN_AT: Duration = Duration::from_secs(5);
const REDIS_DOWN_FOR: Duration = Duration::from_secs(2);
/// A message receipted this long before a subscription ended must have
/// reached it (live delivery takes milliseconds; through a Redis outage,
/// holes are filled from the database within a few hundred).
const DELIVERED_WITHIN: Duration = Duration::from_secs(3);

/// One receipted SEND.
#[derive(Debug, Clone, Copy)]
struct Committed {
    room: usize,
    seq: i64,
    /// When the SEND was written (it is committed after this).
    written: Instant,
    /// When its RECEIPT arrived (it was committed before this).
    receipted: Instant,
}

type Log = Arc<Mutex<Vec<Committed>>>;

/// One subscription's life.
#[derive(Debug)]
struct Cycle {
    who: String,
    room: usize,
    since: Option<i64>,
    /// When its SUBSCRIBE's RECEIPT arrived.
    started: Instant,
    /// When its UNSUBSCRIBE was written (None: stayed to the end).
    ended: Option<Instant>,
    seqs: Vec<i64>,
}

fn highest(log: &Log, room: usize) -> i64 {
    log.lock()
        .unwrap()
        .iter()
        .filter(|c| c.room == room)
        .map(|c| c.seq)
        .max()
        .unwrap_or(0)
}

async fn sender(
    name: String,
    port: u16,
    token: String,
    log: Log,
    stop: watch::Receiver<bool>,
) -> usize {
    let mut conn = StompClient::try_connect(port, &token).await.unwrap();
    let mut n = 0;
    while !*stop.borrow() {
        let room = n % ROOMS.len();
        let receipt = format!("{name}-{n}");
        let written = Instant::now();
        assert!(
            conn.try_send(frame(
                "SEND",
                &[
                    ("destination", &topic(ROOMS[room])),
                    ("receipt", &receipt),
                    ("client-id", &receipt),
                ],
                format!("{name} says {n}"),
            ))
            .await,
            "{name}: the connection survives"
        );
        let f = expect_receipt(&mut conn, &name).await;
        assert_eq!(
            f.header("receipt-id").as_deref(),
            Some(receipt.as_str()),
            "{f}"
        );
        log.lock().unwrap().push(Committed {
            room,
            seq: f.number("seq"),
            written,
            receipted: Instant::now(),
        });
        n += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    conn.close().await;
    n
}

async fn expect_receipt(conn: &mut StompClient, who: &str) -> Frame {
    match conn.next_event(WAIT).await {
        Some(Event::Frame(f)) if f.command == "RECEIPT" => f,
        other => panic!("{who}: expected a RECEIPT, got {other:?}"),
    }
}

/// Subscribes and leaves over and over on one connection: alternate rooms,
/// every other time with `since-seq` a little behind the room's newest seq.
async fn churner(
    who: String,
    port: u16,
    token: String,
    log: Log,
    stop: watch::Receiver<bool>,
) -> Vec<Cycle> {
    let mut conn = StompClient::try_connect(port, &token).await.unwrap();
    let mut cycles = Vec::new();
    let mut round = 0usize;
    while !*stop.borrow() {
        let room = round % ROOMS.len();
        let id = format!("{who}-{round}");
        let newest = highest(&log, room);
        let since = (round % 4 >= 2 && newest > 0).then(|| (newest - 3).max(0));
        let sub_receipt = format!("sub-{id}");
        let dest = topic(ROOMS[room]);
        let since_text = since.map(|s| s.to_string());
        let mut headers = vec![
            ("id", id.as_str()),
            ("destination", dest.as_str()),
            ("receipt", sub_receipt.as_str()),
        ];
        if let Some(s) = &since_text {
            headers.push(("since-seq", s));
        }
        assert!(conn.try_send(frame("SUBSCRIBE", &headers, "")).await);
        let mut cycle = Cycle {
            who: who.clone(),
            room,
            since,
            started: Instant::now(),
            ended: None,
            seqs: Vec::new(),
        };
        // Between 0.3 and 2.6 s subscribed.
        let length = Duration::from_millis(300 + ((round * 7919 + who.len() * 31) % 2300) as u64);
        let mut subscribed = false;
        let mut unsub_receipted = false;
        let hard_stop = Instant::now() + length + 2 * WAIT;
        while !unsub_receipted {
            assert!(Instant::now() < hard_stop, "{id}: no end to the cycle");
            if subscribed && cycle.ended.is_none() && cycle.started.elapsed() >= length {
                let receipt = format!("unsub-{id}");
                assert!(
                    conn.try_send(frame(
                        "UNSUBSCRIBE",
                        &[("id", &id), ("receipt", &receipt)],
                        ""
                    ))
                    .await
                );
                cycle.ended = Some(Instant::now());
            }
            match conn.next_event(Duration::from_millis(50)).await {
                None => {}
                Some(Event::Frame(f)) if f.command == "MESSAGE" => {
                    assert_eq!(
                        f.header("subscription").as_deref(),
                        Some(id.as_str()),
                        "{who}: no MESSAGE for a subscription after its UNSUBSCRIBE was receipted: {f}"
                    );
                    cycle.seqs.push(f.number("seq"));
                }
                Some(Event::Frame(f)) if f.command == "RECEIPT" => {
                    if f.header("receipt-id").as_deref() == Some(sub_receipt.as_str()) {
                        cycle.started = Instant::now();
                        subscribed = true;
                    } else {
                        unsub_receipted = true;
                    }
                }
                other => panic!("{who}: {other:?}"),
            }
        }
        cycles.push(cycle);
        round += 1;
    }
    conn.close().await;
    cycles
}

/// A subscription that joins before anything is sent and stays to the end.
async fn stayer(who: String, port: u16, token: String, room: usize) -> (StompClient, Cycle) {
    let mut conn = StompClient::try_connect(port, &token).await.unwrap();
    conn.subscribe(&who, ROOMS[room]).await;
    let cycle = Cycle {
        who,
        room,
        since: None,
        started: Instant::now(),
        ended: None,
        seqs: Vec::new(),
    };
    (conn, cycle)
}

/// Reads the stayer's MESSAGEs until it has seq `last` (bounded).
async fn finish_stayer(mut conn: StompClient, mut cycle: Cycle, last: i64) -> Cycle {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match conn.next_event(Duration::from_millis(200)).await {
            None if cycle.seqs.last() >= Some(&last) => break,
            None => {}
            Some(Event::Frame(f)) if f.command == "MESSAGE" => cycle.seqs.push(f.number("seq")),
            other => panic!("{}: {other:?}", cycle.who),
        }
    }
    conn.close().await;
    cycle
}

/// The cycle got exactly what it was owed: a run without gap or duplicate,
/// starting right after `since-seq` (or no later than the first message
/// sent after its RECEIPT), and reaching every message receipted well
/// before it ended.
fn check(cycle: &Cycle, log: &[Committed]) {
    let name = format!(
        "{} in {} (since {:?}, {:?} long)",
        cycle.who,
        ROOMS[cycle.room],
        cycle.since,
        cycle.ended.map(|e| e - cycle.started)
    );
    let room: Vec<&Committed> = log.iter().filter(|c| c.room == cycle.room).collect();
    let seqs = &cycle.seqs;
    if let Some(&first) = seqs.first() {
        let last = *seqs.last().unwrap();
        assert_eq!(
            seqs,
            &(first..=last).collect::<Vec<_>>(),
            "{name}: each message once, in seq order, without a gap"
        );
    }
    let end = cycle.ended.unwrap_or_else(Instant::now);
    // Owed for sure: committed after the start, receipted well before the end.
    let owed: Vec<i64> = room
        .iter()
        .filter(|c| c.written > cycle.started && c.receipted + DELIVERED_WITHIN < end)
        .map(|c| c.seq)
        .collect();
    let mut expected_first = owed.first().copied();
    if let Some(since) = cycle.since {
        // The replay starts right after since-seq, which was behind the
        // room's newest seq when the SUBSCRIBE was written.
        expected_first = Some(since + 1);
        assert!(
            seqs.first() == Some(&(since + 1)),
            "{name}: the replay starts at since-seq + 1; got {seqs:?}"
        );
    }
    if let (Some(want), Some(&first)) = (expected_first, seqs.first()) {
        assert!(
            first <= want,
            "{name}: every message committed after the RECEIPT is delivered: first got {first}, first owed {want}; got {seqs:?}"
        );
    }
    let missing: Vec<i64> = owed.iter().copied().filter(|s| !seqs.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "{name}: messages committed after its start and receipted {DELIVERED_WITHIN:?} before its end are delivered; missing {missing:?}, got {seqs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_coming_and_going_on_every_instance_through_a_redis_restart_get_exactly_their_messages()
 {
    const CHURNERS_PER_INSTANCE: usize = 3;
    const CHURNERS_VIA_NGINX: usize = 3;
    let mut cluster = Cluster::start(3).await;
    let nginx = cluster.nginx().await;
    let ports = cluster.ports();
    let users = ["alice", "bob", "carol"];
    let tokens: Vec<String> =
        futures_util::future::join_all(users.iter().map(|u| http::signup(nginx.port, u))).await;
    for room in ROOMS {
        http::create_room(nginx.port, &tokens[0], room).await;
    }

    // One subscription per instance and room that stays throughout.
    let mut stayers = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        for room in 0..ROOMS.len() {
            stayers.push(stayer(format!("stayer-{i}-{room}"), port, tokens[i].clone(), room).await);
        }
    }

    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop) = watch::channel(false);
    let senders: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            tokio::spawn(sender(
                format!("{}-on-{}", users[i], i + 1),
                port,
                tokens[i].clone(),
                Arc::clone(&log),
                stop.clone(),
            ))
        })
        .collect();
    let mut churners = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        for c in 0..CHURNERS_PER_INSTANCE {
            churners.push(tokio::spawn(churner(
                format!("churner-{c}-on-{}", i + 1),
                port,
                tokens[(i + c) % tokens.len()].clone(),
                Arc::clone(&log),
                stop.clone(),
            )));
        }
    }
    for c in 0..CHURNERS_VIA_NGINX {
        churners.push(tokio::spawn(churner(
            format!("churner-{c}-via-nginx"),
            nginx.port,
            tokens[c % tokens.len()].clone(),
            Arc::clone(&log),
            stop.clone(),
        )));
    }

    let began = Instant::now();
    tokio::time::sleep(REDIS_DOWN_AT).await;
    cluster.redis.stop();
    tokio::time::sleep(REDIS_DOWN_FOR).await;
    cluster.redis.restart().await;
    tokio::time::sleep(RUN.saturating_sub(began.elapsed())).await;
    stop_tx.send_replace(true);
    let mut sent = 0;
    for s in senders {
        sent += s.await.expect("sender");
    }
    let mut cycles = Vec::new();
    for c in churners {
        cycles.extend(c.await.expect("churner"));
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), sent);
    let last: Vec<i64> = (0..ROOMS.len())
        .map(|room| {
            log.iter()
                .filter(|c| c.room == room)
                .map(|c| c.seq)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (room, &last) in last.iter().enumerate() {
        let mut seqs: Vec<i64> = log
            .iter()
            .filter(|c| c.room == room)
            .map(|c| c.seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=last).collect::<Vec<_>>(),
            "{}: every SEND got its own seq",
            ROOMS[room]
        );
    }
    eprintln!(
        "{sent} messages, {} subscription cycles ({} with since-seq), last seqs {last:?}",
        cycles.len(),
        cycles.iter().filter(|c| c.since.is_some()).count()
    );
    assert!(
        cycles.len() >= 60,
        "the subscribers churned: {} cycles",
        cycles.len()
    );
    for cycle in &cycles {
        check(cycle, &log);
    }
    // After the churn and the restart, every instance (each still has a
    // stayer) is subscribed to both rooms' channels again.
    for room in ROOMS {
        let channel = format!(
            "parley:room:{}",
            room_id(&cluster.shared.database_url, room).await
        );
        assert_eq!(
            cluster.redis.numsub(&channel).await,
            Some(ports.len() as i64),
            "every instance is subscribed to {channel}"
        );
    }

    for (conn, cycle) in stayers {
        let room = cycle.room;
        let done = finish_stayer(conn, cycle, last[room]).await;
        assert_eq!(
            done.seqs,
            (1..=last[room]).collect::<Vec<_>>(),
            "{}: a subscription that stayed throughout gets every message of {} once, in order",
            done.who,
            ROOMS[room]
        );
    }
}
