//! Group commit (the README, `COMMIT_*` settings): concurrent sends share
//! transactions, per-room seq stays gapless and in submission order, and no
//! result (so no RECEIPT) is released before its batch is committed.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use parley::broker::{Broker, DynBroker, RoomFeed};
use parley::committer::Committer;
use parley::config::CommitSettings;
use parley::domain::{RoomName, Username};
use parley::store::{self, Appended, HistoryQuery, LogWrite, NewEvent};
use parley::viewers::Viewer;

use crate::db::{Backend, TestDatabase};
use crate::helpers::on_both_backends;

on_both_backends!(concurrent_sends_share_a_transaction_and_keep_seq_order);

/// `(count, sum)` of a histogram in `recorder`.
fn histogram(recorder: &PrometheusHandle, name: &str) -> (f64, f64) {
    let text = recorder.render();
    let read = |suffix: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}_{suffix} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (read("count"), read("sum"))
}

async fn concurrent_sends_share_a_transaction_and_keep_seq_order(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let url = database.url.clone();
    let store = store::connect(&url, 4).await.unwrap();
    let alice = Username::parse("alice").unwrap();
    let owner = store.create_user(&alice, "x").await.unwrap();
    let [one, two] = ["one", "two"].map(|name| RoomName::parse(name).unwrap());
    let rooms = [
        store.create_room(&one, false, owner.id).await.unwrap(),
        store.create_room(&two, false, owner.id).await.unwrap(),
    ];
    let broker: DynBroker = Broker::local(Arc::clone(&store));
    let mut feed = RoomFeed::open(&broker, &rooms[0], Arc::new(Viewer::new(0, [])), 1024).await;
    let committer = Committer::start(
        Arc::clone(&store),
        Arc::clone(&broker),
        CommitSettings {
            batch_max: 512,
            linger: Duration::from_millis(5),
            workers: 1,
        },
    );
    // The committer's workers run on this test's thread (a current-thread
    // runtime): a recorder local to it counts this test's batches only,
    // even when other tests commit in the same process (`cargo test`).
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    let before = histogram(&metrics, "parley_commit_batch_messages");

    // 40 sends submitted back to back (the worker cannot run in between on
    // this single-threaded test runtime), alternating rooms; sends 0, 10, 20
    // and 30 (all to room one) carry the same client id.
    let mut pending = Vec::new();
    for i in 0..40usize {
        let room = &rooms[i % 2];
        let client_id = (i % 10 == 0).then(|| "same-key".to_string());
        let batch = vec![NewEvent {
            room_id: room.id,
            room: room.name.clone(),
            sender_id: owner.id,
            sender: owner.username.clone(),
            change: LogWrite::Message {
                body: format!("m{i}"),
                client_id,
                reply_to: None,
                attachments: Vec::new(),
            },
            tied_to_next: false,
        }];
        pending.push(committer.submit(batch).await);
    }
    let mut results = Vec::new();
    for p in pending {
        let appended = p.await.expect("answered").expect("stored");
        // Released only after commit: a separate connection already sees it.
        let m = appended[0].event().expect("stored").clone();
        let page = store
            .history(
                if m.room == "one" {
                    rooms[0].id
                } else {
                    rooms[1].id
                },
                HistoryQuery {
                    before: None,
                    after: Some(m.seq - 1),
                    limit: 1,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.events.first(),
            Some(&m),
            "a result is only released once committed"
        );
        results.push(appended.into_iter().next().unwrap());
    }

    let after = histogram(&metrics, "parley_commit_batch_messages");
    let transactions = after.0 - before.0;
    let messages = after.1 - before.1;
    assert_eq!(messages, 40.0, "every message went through the committer");
    assert!(
        transactions < 40.0,
        "sends submitted together share transactions (got {transactions} transactions for 40)"
    );

    for (r, room) in rooms.iter().enumerate() {
        let seqs: Vec<i64> = results
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == r)
            .filter_map(|(_, a)| match a {
                Appended::Stored(m) => Some(m.seq),
                _ => None,
            })
            .collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(
            seqs, expected,
            "room {}: gapless and in submission order",
            room.name
        );
        let stored = store.last_seq(room.id).await.unwrap();
        assert_eq!(stored, seqs.len() as i64, "nothing stored twice");
    }
    let duplicates = results
        .iter()
        .filter(|a| matches!(a, Appended::Duplicate(_)))
        .count();
    assert_eq!(
        duplicates, 3,
        "a repeated client id is answered with the original"
    );

    // Subscribers of room one got its messages in seq order, once.
    let mut seen = Vec::new();
    while let Ok(d) = feed.queue.try_recv() {
        seen.push(d.message.seq);
    }
    let stored_one = store.last_seq(rooms[0].id).await.unwrap();
    assert_eq!(
        seen,
        (1..=stored_one).collect::<Vec<_>>(),
        "published in commit order"
    );
}

on_both_backends!(one_request_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits);

/// Makes the database itself refuse any message whose body is `poison`.
async fn refuse_poison(backend: Backend, url: &str) {
    use sqlx::Connection;
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poisoned message'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::raw_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
                 WHEN NEW.body = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned message'); END;",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}

async fn one_request_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits(
    backend: Backend,
) {
    const SENDS: usize = 64;
    const POISON: usize = 37;
    let database = TestDatabase::new(backend).await;
    let url = database.url.clone();
    let inner = store::connect(&url, 4).await.unwrap();
    refuse_poison(backend, &url).await;
    let owner = inner
        .create_user(&Username::parse("alice").unwrap(), "x")
        .await
        .unwrap();
    let rooms = [
        inner
            .create_room(&RoomName::parse("one").unwrap(), false, owner.id)
            .await
            .unwrap(),
        inner
            .create_room(&RoomName::parse("two").unwrap(), false, owner.id)
            .await
            .unwrap(),
    ];
    let counted = crate::wrapped_store::WrappedStore::new(Arc::clone(&inner));
    let store: parley::store::DynStore = counted.clone();
    let broker: DynBroker = Broker::local(Arc::clone(&store));
    let mut feed = RoomFeed::open(&broker, &rooms[0], Arc::new(Viewer::new(0, [])), 1024).await;
    let committer = Committer::start(
        Arc::clone(&store),
        Arc::clone(&broker),
        CommitSettings {
            batch_max: 512,
            linger: Duration::from_millis(20),
            workers: 1,
        },
    );

    // All submitted before the worker runs (single-threaded runtime): one
    // group of 64, with the poison in the middle of it.
    let mut pending = Vec::new();
    for i in 0..SENDS {
        let room = &rooms[i % 2];
        let body = if i == POISON {
            "poison".to_string()
        } else {
            format!("m{i}")
        };
        pending.push(
            committer
                .submit(vec![NewEvent {
                    room_id: room.id,
                    room: room.name.clone(),
                    sender_id: owner.id,
                    sender: owner.username.clone(),
                    change: LogWrite::Message {
                        body,
                        client_id: Some(format!("c{i}")),
                        reply_to: None,
                        attachments: Vec::new(),
                    },
                    tied_to_next: false,
                }])
                .await,
        );
    }
    let mut results = Vec::new();
    for p in pending {
        results.push(p.await.expect("every request is answered"));
    }

    assert!(
        results[POISON].is_err(),
        "the request the database refuses is answered with an error"
    );
    for (r, room) in rooms.iter().enumerate() {
        let seqs: Vec<i64> = results
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == r && *i != POISON)
            .map(|(i, result)| match result {
                Ok(appended) => match &appended[0] {
                    Appended::Stored(m) => m.seq,
                    other => panic!("send {i}: stored as new, got {other:?}"),
                },
                Err(e) => panic!("send {i} shared a batch with the poison and must commit: {e}"),
            })
            .collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "room {}: the others are stored gapless, in submission order",
            room.name
        );
        assert_eq!(inner.last_seq(room.id).await.unwrap(), seqs.len() as i64);
    }
    // One failed group of 64, then halves down to the poison: about
    // 2·log2(64) transactions, not one per message.
    let transactions = counted
        .append_batch_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        transactions <= 2 * 6 + 1,
        "a bad request costs O(log n) extra transactions, not one per request: {transactions} for {SENDS} sends"
    );

    let mut seen = Vec::new();
    while let Ok(d) = feed.queue.try_recv() {
        seen.push(d.message.seq);
    }
    assert_eq!(
        seen,
        (1..=(SENDS / 2) as i64).collect::<Vec<_>>(),
        "the stored messages are published once, in seq order"
    );
}
