//! The cost of an outgoing webhook's delivery (README, "Bots and
//! webhooks"): a busy webhook's deliverer renews its lease about once a
//! second, not once per event, and still delivers every event once, in seq
//! order; its delivery log keeps the newest attempts, not every one. The
//! deliverer runs here on a store that counts `take_lease` calls.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parley::broker::{Broker, DynBroker};
use parley::store::DynStore;
use parley::store::webhooks::{NewWebhook, WebhookKind};
use parley::webhooks::deliver::Deliveries;

use crate::db::{Backend, TestDatabase};
use crate::helpers::{messages, on_both_backends, store_with_room};
use crate::webhooks::webhook_receiver::{Answer, Receiver};
use crate::wrapped_store::WrappedStore;

on_both_backends!(a_busy_webhook_renews_its_lease_about_once_a_second_and_trims_its_log);

/// More than twice the attempts the log keeps.
const EVENTS: usize = 250;

async fn a_busy_webhook_renews_its_lease_about_once_a_second_and_trims_its_log(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (inner, owner, room) = store_with_room(&database, "ops").await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let key = [7u8; 32];
    receiver.set_key(&format!("whsec_{}", STANDARD.encode(key)));
    let url = receiver.url("/hook");
    let hook = inner
        .create_webhook(&NewWebhook {
            room_id: room.id,
            kind: WebhookKind::Outgoing,
            name: "audit",
            secret_hash: None,
            signing_key: Some(key.as_slice()),
            url: Some(url.as_str()),
            events: None,
            command: None,
            created_by: owner.id,
        })
        .await
        .unwrap()
        .expect("created");
    let batch = messages(&room, (owner.id, &owner.username), EVENTS);
    inner.append_batch(&batch).await.unwrap();

    let counted = WrappedStore::new(Arc::clone(&inner));
    let store: DynStore = counted.clone();
    let broker: DynBroker = Broker::local(Arc::clone(&store));
    let started = Instant::now();
    let egress = parley::webhooks::egress("127.0.0.1").unwrap();
    Deliveries::start(store, broker, egress).created(hook.id);
    let got = receiver.wait_for(EVENTS, Duration::from_secs(120)).await;
    let took = started.elapsed();
    let writes = counted.take_lease_calls.load(Ordering::SeqCst);

    let ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
    let expected: Vec<String> = (1..=EVENTS).map(|i| format!("ops:{i}")).collect();
    assert_eq!(ids, expected, "every event once, in seq order");
    assert!(got.iter().all(|r| r.verified), "every request signed");
    assert_eq!(receiver.max_in_flight(), 1, "one request at a time");
    // The first take, then a renewal at most once a second while
    // delivering (and one while waiting, at most every 2 s).
    let bound = 2 + took.as_secs() as usize + took.as_secs() as usize / 2 + 1;
    assert!(
        writes <= bound && writes < EVENTS,
        "{writes} lease writes for {EVENTS} events in {took:?}: renewed per event?"
    );

    // The last attempt is recorded just after the receiver answered it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = inner.deliveries(hook.id, 1000).await.unwrap();
        if log.first().map(|d| d.seq) == Some(EVENTS as i64) || Instant::now() >= deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        log.first().map(|d| (d.seq, d.delivered)),
        Some((EVENTS as i64, true))
    );
    let kept = parley::webhooks::deliver::LOG_KEPT as usize;
    assert!(
        (kept..2 * kept).contains(&log.len()),
        "the log keeps the newest {kept} attempts or so, not all {EVENTS}: {}",
        log.len()
    );
    let seqs: Vec<i64> = log.iter().map(|d| d.seq).collect();
    let newest: Vec<i64> = (EVENTS as i64 + 1 - log.len() as i64..=EVENTS as i64)
        .rev()
        .collect();
    assert_eq!(seqs, newest, "the newest ones, newest first");
}
