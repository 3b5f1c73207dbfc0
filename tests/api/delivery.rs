//! The broker's promise (README, "Real-time chat"): every message committed after
//! a subscribe returns is delivered to that subscriber, exactly once and in
//! seq order, whoever else joins the room at the same moment and however
//! slowly or badly the database answers the read of the room's start.

use parley::domain::{RoomName, Username};
use std::sync::Arc;
use std::time::Duration;

use parley::broker::{Broker, DynBroker, RoomFeed};
use parley::committer::Committer;
use parley::config::CommitSettings;
use parley::store::{self, DynStore, LogWrite, NewEvent, Room, User};
use parley::viewers::Viewer;
use tokio::time::Instant;

use crate::db::{Backend, TestDatabase};
use crate::helpers::spawn_app;
use crate::wrapped_store::WrappedStore;
use stomp_client::{Event, StompClient, frame, topic};

struct Fixture {
    store: DynStore,
    wrapped: Arc<WrappedStore>,
    broker: DynBroker,
    committer: Committer,
    owner: User,
    room: Room,
    _database: TestDatabase,
}

/// A room with `stored` messages; the hub reads through a [`WrappedStore`].
async fn fixture(stored: usize) -> Fixture {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let (store, owner, room) = crate::helpers::store_with_room(&database, "busy").await;
    let wrapped = WrappedStore::new(Arc::clone(&store));
    let broker: DynBroker = Broker::local(wrapped.clone());
    let committer = Committer::start(
        Arc::clone(&store),
        Arc::clone(&broker),
        CommitSettings {
            batch_max: 64,
            linger: Duration::ZERO,
            workers: 1,
        },
    );
    let fixture = Fixture {
        store,
        wrapped,
        broker,
        committer,
        owner,
        room,
        _database: database,
    };
    for i in 0..stored {
        fixture.post(&format!("old {i}")).await;
    }
    fixture
}

impl Fixture {
    /// Posts one message and waits for its commit; returns its seq.
    async fn post(&self, body: &str) -> i64 {
        let batch = vec![NewEvent {
            room_id: self.room.id,
            room: self.room.name.clone(),
            sender_id: self.owner.id,
            sender: self.owner.username.clone(),
            change: LogWrite::Message {
                body: body.to_string(),
                client_id: None,
                reply_to: None,
                attachments: Vec::new(),
            },
            tied_to_next: false,
            moderates: false,
        }];
        let appended = self.committer.submit(batch).await.await.unwrap().unwrap();
        appended[0].event().expect("stored").seq
    }
}

/// Everything queued on the feed within `wait` of the previous message.
async fn drain(feed: &mut RoomFeed, wait: Duration) -> Vec<i64> {
    let mut seqs = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(wait, feed.queue.recv()).await {
        seqs.push(d.message.seq);
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_joining_while_the_room_start_is_read_get_every_later_message() {
    const SUBSCRIBERS: usize = 24;
    let f = Arc::new(fixture(5).await);
    // The database takes 300 ms to say where the room stands: every
    // subscriber below joins during that read.
    f.wrapped.delay_last_seq(Duration::from_millis(300));

    // A sender commits a message every ~10 ms throughout.
    let sender = {
        let f = Arc::clone(&f);
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..80 {
                let submitted = Instant::now();
                let seq = f.post(&format!("live {i}")).await;
                sent.push((submitted, seq));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        })
    };
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
                let feed =
                    RoomFeed::open(&f.broker, &f.room, Arc::new(Viewer::new(0, [])), 1024).await;
                (Instant::now(), feed)
            })
        })
        .collect();
    let mut joined = Vec::new();
    for s in subscribers {
        joined.push(s.await.unwrap());
    }
    let sent = sender.await.unwrap();
    let last = sent.last().unwrap().1;
    assert_eq!(
        f.wrapped
            .last_seq_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the room's start is read once for all its subscribers"
    );

    for (i, (returned, mut feed)) in joined.into_iter().enumerate() {
        let got = drain(&mut feed, Duration::from_millis(100)).await;
        // Every message submitted after subscribe returned was committed
        // after it: all of them must be there.
        let owed: Vec<i64> = sent
            .iter()
            .filter(|(submitted, _)| *submitted > returned)
            .map(|&(_, seq)| seq)
            .collect();
        let missing: Vec<i64> = owed.iter().copied().filter(|s| !got.contains(s)).collect();
        assert!(
            missing.is_empty(),
            "subscriber {i}: messages committed after its subscribe returned are delivered; missing {missing:?}, got {got:?}"
        );
        let first = *got.first().expect("messages were delivered");
        assert_eq!(
            got,
            (first..=last).collect::<Vec<_>>(),
            "subscriber {i}: each message once, in seq order, no gap, up to the last"
        );
        assert!(
            first > 5,
            "subscriber {i}: messages stored before the room had subscribers are not live ones: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_read_of_the_room_start_is_retried_not_replayed_as_history() {
    let f = fixture(30).await;
    f.wrapped.fail_last_seq(3);
    let mut feed = RoomFeed::open(&f.broker, &f.room, Arc::new(Viewer::new(0, [])), 1024).await;
    assert_eq!(
        f.wrapped
            .last_seq_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        4,
        "three failed reads of the room's start, then one that worked, before subscribe returned"
    );
    let seq = f.post("after the subscribe").await;
    assert_eq!(seq, 31);
    let got = drain(&mut feed, Duration::from_millis(800)).await;
    assert_eq!(
        got,
        vec![31],
        "only the message committed after subscribing is live; the room's history is not replayed"
    );
    let last = f.store.last_seq(f.room.id).await.unwrap();
    assert_eq!(last, 31);
}

/// Through the real server: 30 STOMP clients SUBSCRIBE at once to a room
/// that has no subscriber yet while another client posts to it as fast as
/// it can; each gets, after its SUBSCRIBE's RECEIPT, every message whose
/// SEND was written after that RECEIPT, once, in order, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_subscribing_together_to_a_busy_room_get_every_later_message_once() {
    const SUBSCRIBERS: usize = 30;
    const MESSAGES: usize = 150;
    let app = spawn_app(Backend::Postgres).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "busy", false).await;
    let app = Arc::new(app);

    let sender = {
        let app = Arc::clone(&app);
        let token = alice.access_token.clone();
        tokio::spawn(async move {
            let mut client = StompClient::connect(&app, &token).await;
            let mut sent = Vec::with_capacity(MESSAGES);
            for i in 0..MESSAGES {
                let written = Instant::now();
                let receipt = client
                    .send_chat("busy", &format!("m{i}"), &format!("r{i}"))
                    .await;
                sent.push((written, receipt.seq()));
            }
            client.send(frame("DISCONNECT", &[], "")).await;
            sent
        })
    };
    let mut clients = Vec::new();
    for _ in 0..SUBSCRIBERS {
        clients.push(StompClient::connect(&app, &alice.access_token).await);
    }
    // Let the room get busy, then subscribe everyone at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let subscribed = futures_util::future::join_all(clients.into_iter().map(|mut c| async move {
        c.send(frame(
            "SUBSCRIBE",
            &[
                ("id", "s"),
                ("destination", &topic("busy")),
                ("receipt", "subscribed"),
            ],
            "",
        ))
        .await;
        c.expect_receipt("subscribed").await;
        (Instant::now(), c)
    }))
    .await;
    let sent = sender.await.unwrap();
    let last = sent.last().unwrap().1;
    assert_eq!(last, MESSAGES as i64);

    for (i, (receipted, mut client)) in subscribed.into_iter().enumerate() {
        let mut got = Vec::new();
        while !got.contains(&last) {
            match client.next_event(Duration::from_secs(5)).await {
                Some(Event::Frame(f)) if f.command == "MESSAGE" => got.push(f.seq()),
                other => {
                    panic!("subscriber {i}: expected MESSAGE {last}, got {other:?} after {got:?}")
                }
            }
        }
        let owed: Vec<i64> = sent
            .iter()
            .filter(|(written, _)| *written > receipted)
            .map(|&(_, seq)| seq)
            .collect();
        let first = *got.first().unwrap();
        assert!(
            owed.first().is_none_or(|&o| first <= o),
            "subscriber {i}: every message sent after its RECEIPT is delivered (first owed {:?}, first got {first})",
            owed.first()
        );
        assert_eq!(
            got,
            (first..=last).collect::<Vec<_>>(),
            "subscriber {i}: each message once, in seq order, no gap"
        );
    }
}

crate::helpers::on_both_backends!(last_seqs_reads_the_newest_seq_of_many_rooms_at_once);

/// The quiet-room check's query: every existing room of the list with its
/// newest seq, unknown ids left out, however long the list.
async fn last_seqs_reads_the_newest_seq_of_many_rooms_at_once(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let url = database.url.clone();
    let store = store::connect(&url, 4).await.unwrap();
    let owner = store
        .create_user(&Username::parse("alice").unwrap(), "x")
        .await
        .unwrap();
    let mut rooms = Vec::new();
    for i in 0..3i64 {
        let room = store
            .create_room(
                &RoomName::parse(&format!("room-{i}")).unwrap(),
                false,
                owner.id,
            )
            .await
            .unwrap();
        let batch: Vec<NewEvent> = (0..i)
            .map(|n| NewEvent {
                room_id: room.id,
                room: room.name.clone(),
                sender_id: owner.id,
                sender: owner.username.clone(),
                change: LogWrite::Message {
                    body: format!("m{n}"),
                    client_id: None,
                    reply_to: None,
                    attachments: Vec::new(),
                },
                tied_to_next: false,
                moderates: false,
            })
            .collect();
        store.append_batch(&batch).await.unwrap();
        rooms.push(room.id);
    }
    let mut ids: Vec<i64> = (1_000_000..1_002_000).collect();
    ids.extend(&rooms);
    let mut got = store.last_seqs(&ids).await.unwrap();
    got.sort_unstable();
    let want: Vec<(i64, i64)> = rooms.iter().zip(0..).map(|(&id, n)| (id, n)).collect();
    assert_eq!(
        got, want,
        "existing rooms with their newest seq, nothing else"
    );
    assert_eq!(store.last_seqs(&[]).await.unwrap(), vec![]);
}
