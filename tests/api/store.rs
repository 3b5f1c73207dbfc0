//! The storage contract. Every test is written once and runs against both
//! backends (`store::postgres::…` and `store::sqlite::…`), each on a fresh
//! database, so the two stores cannot drift apart.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use parley::domain::{RoomName, Username};
use parley::store::moderation::MembershipRequest;
use parley::store::{
    self, Appended, DynStore, Event, HistoryPage, HistoryQuery, LogWrite, NewEvent, Room, Rotation,
    StoreError, Timestamp, User,
};

use crate::db::{Backend, TestDatabase};

/// A fresh database of one backend and a store connected to it.
struct TestDb {
    backend: Backend,
    url: String,
    store: DynStore,
    /// Removes the database when the test is done.
    _database: TestDatabase,
}

impl TestDb {
    async fn new(backend: Backend) -> Self {
        let database = TestDatabase::new(backend).await;
        let url = database.url.clone();
        let store = connect(&url).await;
        TestDb {
            backend,
            url,
            store,
            _database: database,
        }
    }
}

async fn connect(url: &str) -> DynStore {
    store::connect(url, 5)
        .await
        .expect("connect to the test database and run migrations")
}

/// Expands each `async fn name(db: TestDb)` into `postgres::name` and
/// `sqlite::name` tests.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::TestDb::new(crate::db::Backend::Postgres).await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::TestDb::new(crate::db::Backend::Sqlite).await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    the_database_answers_pings,
    usernames_are_unique_case_insensitively,
    creating_a_room_makes_the_owner_its_first_member,
    room_names_are_unique,
    private_rooms_are_visible_only_to_members,
    adding_a_member_is_idempotent_and_members_sort_by_username,
    seq_starts_at_one_and_rises_by_one,
    a_batch_spanning_rooms_gets_a_seq_range_per_room,
    a_repeated_client_id_returns_the_original_and_stores_nothing,
    a_client_id_repeated_within_a_batch_is_stored_once,
    an_unknown_room_fails_the_whole_batch,
    history_without_cursor_is_the_latest_page,
    history_before_pages_backwards,
    history_after_pages_forwards,
    concurrent_appends_from_two_instances_are_gapless,
    rotating_a_live_refresh_token_retires_it,
    presenting_a_rotated_refresh_token_revokes_its_family,
    logging_out_with_a_rotated_refresh_token_revokes_its_family,
    expired_and_unknown_refresh_tokens_are_invalid,
    revoking_a_family_kills_every_token_in_it,
    concurrent_rotations_of_one_token_let_exactly_one_win,
);

// ---------------------------------------------------------------- fixtures

async fn user(store: &DynStore, username: &str) -> User {
    store
        .create_user(
            &valid_username(username),
            &format!("argon2-hash-of-{username}"),
        )
        .await
        .expect("create user")
}

async fn room(store: &DynStore, name: &str, private: bool, owner: &User) -> Room {
    store
        .create_room(&room_name(name), private, owner.id)
        .await
        .expect("create room")
}

fn valid_username(name: &str) -> Username {
    Username::parse(name).expect("a valid username")
}

fn room_name(name: &str) -> RoomName {
    RoomName::parse(name).expect("a valid room name")
}

fn message(room: &Room, sender: &User, body: &str, client_id: Option<&str>) -> NewEvent {
    NewEvent {
        room_id: room.id,
        room: room.name.clone(),
        sender_id: sender.id,
        sender: sender.username.clone(),
        change: LogWrite::Message {
            body: body.to_owned(),
            client_id: client_id.map(str::to_owned),
            reply_to: None,
            attachments: Vec::new(),
        },
        tied_to_next: false,
        moderates: false,
    }
}

fn stored(appended: Appended) -> Event {
    match appended {
        Appended::Stored(message) => message,
        other => panic!("expected a new event, got {other:?}"),
    }
}

/// Appends `count` messages ("m1", "m2", …) one batch each.
async fn append_many(store: &DynStore, room: &Room, sender: &User, count: usize) -> Vec<Event> {
    let mut messages = Vec::with_capacity(count);
    for n in 1..=count {
        let batch = [message(room, sender, &format!("m{n}"), None)];
        let mut appended = store.append_batch(&batch).await.expect("append");
        messages.push(stored(appended.remove(0)));
    }
    messages
}

async fn history(store: &DynStore, room: &Room, query: HistoryQuery) -> HistoryPage {
    store.history(room.id, query).await.expect("read history")
}

fn latest(limit: i64) -> HistoryQuery {
    HistoryQuery {
        before: None,
        after: None,
        limit,
    }
}

fn before(seq: i64, limit: i64) -> HistoryQuery {
    HistoryQuery {
        before: Some(seq),
        after: None,
        limit,
    }
}

fn after(seq: i64, limit: i64) -> HistoryQuery {
    HistoryQuery {
        before: None,
        after: Some(seq),
        limit,
    }
}

fn seqs(messages: &[Event]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn names(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(|r| r.name.as_str()).collect()
}

fn assert_millisecond_precision(at: Timestamp) {
    assert_eq!(
        at.timestamp_subsec_nanos() % 1_000_000,
        0,
        "timestamps are stored with millisecond precision: {at}"
    );
}

// ------------------------------------------------------------------- users

async fn the_database_answers_pings(db: TestDb) {
    db.store.ping().await.expect("ping");
}

async fn usernames_are_unique_case_insensitively(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "Alice").await;
    assert_eq!(alice.username, "Alice", "the name is stored as given");
    assert_millisecond_precision(alice.created_at);

    let taken = store
        .create_user(&valid_username("aLICE"), "other-hash")
        .await;
    assert!(
        matches!(taken, Err(StoreError::UsernameTaken)),
        "a name differing only in case is taken, got {taken:?}"
    );

    for spelling in ["Alice", "alice", "ALICE"] {
        assert_eq!(
            store.user_by_name(spelling).await.unwrap(),
            Some(alice.clone()),
            "lookup of {spelling:?} finds Alice"
        );
    }
    let (found, hash) = store
        .user_credentials("aLiCe")
        .await
        .unwrap()
        .expect("credentials of Alice");
    assert_eq!(found, alice);
    assert_eq!(
        hash, "argon2-hash-of-Alice",
        "the first password hash is kept"
    );
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap(),
        Some(alice.clone())
    );

    assert_eq!(store.user_by_name("bob").await.unwrap(), None);
    assert_eq!(store.user_credentials("bob").await.unwrap(), None);
    assert_eq!(store.user_by_id(alice.id + 1000).await.unwrap(), None);
}

// ------------------------------------------------------------------- rooms

async fn creating_a_room_makes_the_owner_its_first_member(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;

    let general = room(store, "general", false, &alice).await;
    assert_eq!(general.name, "general");
    assert!(!general.private);
    assert_eq!(general.owner, "alice", "the creator owns the room");
    assert_millisecond_precision(general.created_at);
    assert_eq!(
        store.room_by_name(&room_name("general")).await.unwrap(),
        Some(general.clone()),
        "the room reads back as created"
    );

    assert_eq!(
        store.standing(general.id, alice.id).await.unwrap().role,
        Some(parley::domain::Role::Owner),
        "the owner is a member, as owner"
    );
    assert_eq!(
        store.standing(general.id, bob.id).await.unwrap().role,
        None,
        "bob never joined"
    );
    let members = store.members(general.id).await.unwrap();
    assert_eq!(
        members.iter().map(|m| &m.user).collect::<Vec<_>>(),
        vec![&alice]
    );

    let secret = room(store, "secret", true, &bob).await;
    assert!(secret.private);
    assert_eq!(secret.owner, "bob");
    assert_eq!(
        store.room_by_name(&room_name("nowhere")).await.unwrap(),
        None
    );
}

async fn room_names_are_unique(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let general = room(store, "general", false, &alice).await;

    let again = store.create_room(&room_name("general"), true, bob.id).await;
    assert!(
        matches!(again, Err(StoreError::RoomExists)),
        "a second room named general is refused, got {again:?}"
    );
    assert_eq!(
        store.room_by_name(&room_name("general")).await.unwrap(),
        Some(general.clone()),
        "the original room is untouched"
    );
    assert_eq!(
        member_users(store, general.id).await,
        vec![alice],
        "the failed creation added no membership"
    );
}

async fn private_rooms_are_visible_only_to_members(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    room(store, "zeta", false, &alice).await;
    let alpha = room(store, "alpha", true, &alice).await;
    room(store, "mid", false, &alice).await;

    let visible = store.rooms_visible_to(bob.id).await.unwrap();
    assert_eq!(
        names(&visible),
        ["mid", "zeta"],
        "bob sees only public rooms, by name"
    );
    let visible = store.rooms_visible_to(alice.id).await.unwrap();
    assert_eq!(
        names(&visible),
        ["alpha", "mid", "zeta"],
        "alice also sees her private room"
    );

    add_member(store, alpha.id, &alice, &bob).await;
    let visible = store.rooms_visible_to(bob.id).await.unwrap();
    assert_eq!(
        names(&visible),
        ["alpha", "mid", "zeta"],
        "a member sees the private room"
    );
    assert_eq!(visible[0], alpha, "rooms read back whole");
}

async fn adding_a_member_is_idempotent_and_members_sort_by_username(db: TestDb) {
    let store = &db.store;
    let carol = user(store, "carol").await;
    let bob = user(store, "Bob").await;
    let alice = user(store, "alice").await;
    let a_z = user(store, "a_z").await;
    let lounge = room(store, "lounge", false, &carol).await;

    for member in [&bob, &alice, &bob, &a_z, &carol] {
        add_member(store, lounge.id, &carol, member).await;
    }
    add_member(store, lounge.id, &carol, &bob).await;

    let members = member_users(store, lounge.id).await;
    assert_eq!(
        members,
        vec![a_z, alice, bob.clone(), carol],
        "each member once, ordered case-insensitively by username"
    );
    assert!(
        store
            .standing(lounge.id, bob.id)
            .await
            .unwrap()
            .role
            .is_some()
    );
}

/// `owner` adds `member` to the room (idempotent).
async fn add_member(store: &DynStore, room_id: i64, owner: &User, member: &User) {
    let added = store
        .moderate(room_id, owner.id, member.id, MembershipRequest::Add)
        .await
        .expect("add member");
    assert!(added.is_ok(), "the owner may add members: {added:?}");
}

/// The members of the room, as users.
async fn member_users(store: &DynStore, room_id: i64) -> Vec<User> {
    let members = store.members(room_id).await.unwrap();
    members.into_iter().map(|m| m.user).collect()
}

// ---------------------------------------------------------------- messages

async fn seq_starts_at_one_and_rises_by_one(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;
    assert_eq!(
        store.last_seq(general.id).await.unwrap(),
        0,
        "a new room is empty"
    );
    assert_eq!(
        store.append_batch(&[]).await.unwrap(),
        vec![],
        "an empty batch stores nothing"
    );

    let singles = append_many(store, &general, &alice, 3).await;
    assert_eq!(seqs(&singles), [1, 2, 3]);
    let first = &singles[0];
    assert_eq!(first.room, "general");
    assert_eq!(first.sender, "alice");
    assert_eq!(first.body, "m1");
    assert_eq!(first.client_id, None);
    assert_millisecond_precision(first.created_at);

    let batch = [
        message(&general, &alice, "b1", Some("c-1")),
        message(&general, &alice, "b2", None),
        message(&general, &alice, "b3", Some("c-3")),
    ];
    let batched: Vec<Event> = store
        .append_batch(&batch)
        .await
        .unwrap()
        .into_iter()
        .map(stored)
        .collect();
    assert_eq!(
        seqs(&batched),
        [4, 5, 6],
        "a batch continues the room's seq"
    );
    assert_eq!(
        batched.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["b1", "b2", "b3"],
        "results come in input order"
    );
    assert_eq!(batched[0].client_id.as_deref(), Some("c-1"));

    let all: Vec<Event> = singles.into_iter().chain(batched).collect();
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "ids rise with seq: {all:?}"
    );
    assert_eq!(store.last_seq(general.id).await.unwrap(), 6);
    assert_eq!(history(store, &general, latest(50)).await.events, all);
}

async fn a_batch_spanning_rooms_gets_a_seq_range_per_room(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let ants = room(store, "ants", false, &alice).await;
    let bees = room(store, "bees", false, &alice).await;
    append_many(store, &bees, &alice, 2).await;

    let batch = [
        message(&bees, &alice, "b3", None),
        message(&ants, &alice, "a1", None),
        message(&bees, &alice, "b4", None),
        message(&ants, &alice, "a2", None),
        message(&ants, &alice, "a3", None),
    ];
    let results: Vec<Event> = store
        .append_batch(&batch)
        .await
        .unwrap()
        .into_iter()
        .map(stored)
        .collect();
    let got: Vec<(&str, i64, &str)> = results
        .iter()
        .map(|m| (m.room.as_str(), m.seq, m.body.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("bees", 3, "b3"),
            ("ants", 1, "a1"),
            ("bees", 4, "b4"),
            ("ants", 2, "a2"),
            ("ants", 3, "a3"),
        ],
        "each room continues its own seq; results in input order"
    );
    assert_eq!(store.last_seq(ants.id).await.unwrap(), 3);
    assert_eq!(store.last_seq(bees.id).await.unwrap(), 4);
    let ants_history = history(store, &ants, latest(50)).await.events;
    assert_eq!(
        ants_history,
        vec![results[1].clone(), results[3].clone(), results[4].clone()]
    );
}

async fn a_repeated_client_id_returns_the_original_and_stores_nothing(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let bob = user(store, "bob").await;
    let general = room(store, "general", false, &alice).await;
    let random = room(store, "random", false, &alice).await;

    let original = stored(
        store
            .append_batch(&[message(&general, &alice, "first", Some("c-1"))])
            .await
            .unwrap()
            .remove(0),
    );
    append_many(store, &general, &alice, 1).await;

    let retry = store
        .append_batch(&[message(&general, &alice, "retried", Some("c-1"))])
        .await
        .unwrap();
    assert_eq!(
        retry,
        vec![Appended::Duplicate(original.clone())],
        "a retry gets the original message back, body and all"
    );
    assert_eq!(
        store.last_seq(general.id).await.unwrap(),
        2,
        "the retry took no seq"
    );
    assert_eq!(history(store, &general, latest(50)).await.events.len(), 2);

    // The key is (room, sender, client_id): other senders and rooms are free.
    let others = store
        .append_batch(&[
            message(&general, &bob, "bob's", Some("c-1")),
            message(&random, &alice, "elsewhere", Some("c-1")),
        ])
        .await
        .unwrap();
    assert!(
        others.iter().all(|a| matches!(a, Appended::Stored(_))),
        "same client_id from another sender or in another room is new: {others:?}"
    );
    assert_eq!(store.last_seq(general.id).await.unwrap(), 3);
    assert_eq!(store.last_seq(random.id).await.unwrap(), 1);
}

async fn a_client_id_repeated_within_a_batch_is_stored_once(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;

    let results = store
        .append_batch(&[
            message(&general, &alice, "one", Some("c-9")),
            message(&general, &alice, "two", None),
            message(&general, &alice, "one again", Some("c-9")),
            message(&general, &alice, "three", Some("c-10")),
        ])
        .await
        .unwrap();
    let first = results[0].event().expect("stored").clone();
    assert!(matches!(results[0], Appended::Stored(_)));
    assert_eq!(first.seq, 1);
    assert_eq!(results[1].event().expect("stored").seq, 2);
    assert_eq!(
        results[2],
        Appended::Duplicate(first.clone()),
        "the repeat inside the batch is the earlier message"
    );
    assert!(
        matches!(&results[3], Appended::Stored(m) if m.seq == 3),
        "{results:?}"
    );
    assert_eq!(
        store.last_seq(general.id).await.unwrap(),
        3,
        "no seq for the repeat"
    );

    // A key already stored, repeated twice in a new batch: both are the original.
    let results = store
        .append_batch(&[
            message(&general, &alice, "late retry", Some("c-9")),
            message(&general, &alice, "four", None),
            message(&general, &alice, "later retry", Some("c-9")),
        ])
        .await
        .unwrap();
    assert_eq!(results[0], Appended::Duplicate(first.clone()));
    assert!(
        matches!(&results[1], Appended::Stored(m) if m.seq == 4),
        "{results:?}"
    );
    assert_eq!(results[2], Appended::Duplicate(first));
    assert_eq!(store.last_seq(general.id).await.unwrap(), 4);
}

async fn an_unknown_room_fails_the_whole_batch(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;
    let ghost = Room {
        id: general.id + 1000,
        name: "ghost".into(),
        ..general.clone()
    };

    // Plain messages (stored without taking the room locks first, on
    // Postgres) and a message with a client id (the locked path).
    for client_id in [None, Some("c-1")] {
        let result = store
            .append_batch(&[
                message(&general, &alice, "lost", client_id),
                message(&ghost, &alice, "nowhere", None),
            ])
            .await;
        assert!(
            matches!(result, Err(StoreError::RoomNotFound)),
            "an unknown room id fails the batch ({client_id:?}), got {result:?}"
        );
        assert_eq!(
            store.last_seq(general.id).await.unwrap(),
            0,
            "nothing was stored ({client_id:?})"
        );
    }
    assert_eq!(history(store, &general, latest(50)).await.events, vec![]);
    assert!(matches!(
        store.last_seq(ghost.id).await,
        Err(StoreError::RoomNotFound)
    ));

    let retry = store
        .append_batch(&[message(&general, &alice, "lost", Some("c-1"))])
        .await
        .unwrap();
    assert!(
        matches!(&retry[0], Appended::Stored(m) if m.seq == 1),
        "the rolled-back batch left neither a seq nor a client_id behind: {retry:?}"
    );
}

// ----------------------------------------------------------------- history

async fn history_without_cursor_is_the_latest_page(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;
    let empty = room(store, "empty", false, &alice).await;
    let all = append_many(store, &general, &alice, 10).await;

    let page = history(store, &general, latest(4)).await;
    assert_eq!(page.events, all[6..10], "the latest 4, ascending");
    assert!(page.has_more, "older messages exist");

    let page = history(store, &general, latest(10)).await;
    assert_eq!(page.events, all, "exactly everything");
    assert!(!page.has_more, "nothing older than seq 1");

    let page = history(store, &general, latest(200)).await;
    assert_eq!(page.events, all);
    assert!(!page.has_more);

    let page = history(store, &empty, latest(50)).await;
    assert_eq!(
        page,
        HistoryPage {
            events: vec![],
            has_more: false,
            horizon_seq: 0,
        }
    );
}

async fn history_before_pages_backwards(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;
    let all = append_many(store, &general, &alice, 10).await;

    let page = history(store, &general, before(7, 3)).await;
    assert_eq!(page.events, all[3..6], "seq 4..=6, ascending");
    assert!(page.has_more, "seq 1..=3 are older");

    let page = history(store, &general, before(4, 3)).await;
    assert_eq!(page.events, all[0..3], "seq 1..=3");
    assert!(!page.has_more, "the page reaches seq 1");

    let page = history(store, &general, before(3, 5)).await;
    assert_eq!(page.events, all[0..2]);
    assert!(!page.has_more);

    let page = history(store, &general, before(1, 5)).await;
    assert_eq!(
        page,
        HistoryPage {
            events: vec![],
            has_more: false,
            horizon_seq: 0,
        }
    );

    let page = history(store, &general, before(1000, 2)).await;
    assert_eq!(
        page.events,
        all[8..10],
        "a cursor past the end is the latest page"
    );
    assert!(page.has_more);
}

async fn history_after_pages_forwards(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let general = room(store, "general", false, &alice).await;
    let mut all = append_many(store, &general, &alice, 9).await;
    let tagged = store
        .append_batch(&[message(&general, &alice, "tagged", Some("c-10"))])
        .await
        .unwrap();
    all.push(stored(tagged.into_iter().next().unwrap()));

    let page = history(store, &general, after(0, 4)).await;
    assert_eq!(page.events, all[0..4], "seq 1..=4");
    assert!(page.has_more, "newer messages exist");

    let page = history(store, &general, after(6, 4)).await;
    assert_eq!(page.events, all[6..10], "seq 7..=10, client_id included");
    assert!(!page.has_more, "the page reaches the newest message");

    let page = history(store, &general, after(8, 4)).await;
    assert_eq!(page.events, all[8..10]);
    assert!(!page.has_more);

    let page = history(store, &general, after(10, 4)).await;
    assert_eq!(
        page,
        HistoryPage {
            events: vec![],
            has_more: false,
            horizon_seq: 0,
        }
    );
}

/// Writers in two pools (two instances) appending into one room at once.
async fn concurrent_appends_from_two_instances_are_gapless(db: TestDb) {
    let (tasks, per_task) = match db.backend {
        Backend::Postgres => (8, 50),
        Backend::Sqlite => (4, 25),
    };
    let total = (tasks * per_task) as i64;
    let instances = [db.store.clone(), connect(&db.url).await];
    let alice = user(&db.store, "alice").await;
    let general = room(&db.store, "general", false, &alice).await;

    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = instances[task % 2].clone();
        let (general, alice) = (general.clone(), alice.clone());
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(per_task);
            for n in 0..per_task {
                let batch = [message(&general, &alice, &format!("t{task}-{n}"), None)];
                let appended = store.append_batch(&batch).await.expect("concurrent append");
                mine.push(stored(appended.into_iter().next().unwrap()));
            }
            mine
        }));
    }
    let mut appended = Vec::new();
    for handle in handles {
        let mine = handle.await.expect("writer task");
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "one writer's messages get rising seqs"
        );
        appended.extend(mine);
    }
    appended.sort_by_key(|m| m.seq);
    assert_eq!(
        seqs(&appended),
        (1..=total).collect::<Vec<_>>(),
        "seq is exactly 1..={total}: no gap, no duplicate"
    );
    assert!(
        appended.windows(2).all(|w| w[0].id < w[1].id),
        "ids follow seq order"
    );
    assert!(
        appended
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "time never runs backwards against seq"
    );

    let mut read = Vec::new();
    let mut cursor = 0;
    loop {
        let page = history(&instances[1], &general, after(cursor, 200)).await;
        cursor = page.events.last().map_or(cursor, |m| m.seq);
        read.extend(page.events);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        read, appended,
        "history holds exactly what the writers were told"
    );
    for store in &instances {
        assert_eq!(store.last_seq(general.id).await.unwrap(), total);
    }
}

// ---------------------------------------------------------- refresh tokens

fn in_an_hour() -> Timestamp {
    Utc::now() + TimeDelta::hours(1)
}

async fn rotating_a_live_refresh_token_retires_it(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    store
        .insert_refresh_token(b"t1", alice.id, "login-1", in_an_hour())
        .await
        .unwrap();

    let rotation = store
        .rotate_refresh_token(b"t1", b"t2", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        rotation,
        Rotation::Rotated(alice.clone(), None),
        "a live token rotates"
    );
    let rotation = store
        .rotate_refresh_token(b"t2", b"t3", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        rotation,
        Rotation::Rotated(alice, None),
        "its successor is live"
    );
    assert!(
        store
            .revoke_refresh_family(b"t3", Utc::now())
            .await
            .unwrap(),
        "the newest token can log out"
    );
}

async fn logging_out_with_a_rotated_refresh_token_revokes_its_family(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    store
        .insert_refresh_token(b"t1", alice.id, "login-1", in_an_hour())
        .await
        .unwrap();
    store
        .insert_refresh_token(b"other", alice.id, "login-2", in_an_hour())
        .await
        .unwrap();
    for (old, new) in [(b"t1", b"t2"), (b"t2", b"t3")] {
        let rotation = store
            .rotate_refresh_token(old, new, in_an_hour(), Utc::now())
            .await
            .unwrap();
        assert!(matches!(rotation, Rotation::Rotated(..)), "{rotation:?}");
    }

    assert!(
        !store
            .revoke_refresh_family(b"t1", Utc::now())
            .await
            .unwrap(),
        "a rotated token cannot log out"
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"t3", b"t4", in_an_hour(), Utc::now())
            .await
            .unwrap(),
        Rotation::Invalid,
        "but presenting it revoked the live descendant, as a refresh would"
    );
    assert!(
        !store
            .revoke_refresh_family(b"t3", Utc::now())
            .await
            .unwrap(),
        "the descendant cannot log out either"
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"other", b"other-2", in_an_hour(), Utc::now())
            .await
            .unwrap(),
        Rotation::Rotated(alice, None),
        "another login is unaffected"
    );
}

async fn presenting_a_rotated_refresh_token_revokes_its_family(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    store
        .insert_refresh_token(b"t1", alice.id, "login-1", in_an_hour())
        .await
        .unwrap();
    store
        .insert_refresh_token(b"other", alice.id, "login-2", in_an_hour())
        .await
        .unwrap();
    let rotation = store
        .rotate_refresh_token(b"t1", b"t2", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert!(matches!(rotation, Rotation::Rotated(..)));

    let reuse = store
        .rotate_refresh_token(b"t1", b"t3", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(reuse, Rotation::Reused, "the rotated token came back");
    let descendant = store
        .rotate_refresh_token(b"t2", b"t4", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        descendant,
        Rotation::Invalid,
        "reuse revoked the live descendant"
    );
    let never_issued = store
        .rotate_refresh_token(b"t3", b"t5", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        never_issued,
        Rotation::Invalid,
        "the reuse attempt issued nothing"
    );

    let other = store
        .rotate_refresh_token(b"other", b"other-2", in_an_hour(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        other,
        Rotation::Rotated(alice, None),
        "another login is unaffected"
    );
}

async fn expired_and_unknown_refresh_tokens_are_invalid(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    let now = Utc::now();
    store
        .insert_refresh_token(b"old", alice.id, "login-1", now - TimeDelta::seconds(1))
        .await
        .unwrap();
    store
        .insert_refresh_token(b"edge", alice.id, "login-2", now)
        .await
        .unwrap();

    for token in [b"old".as_slice(), b"edge", b"unknown"] {
        let rotation = store
            .rotate_refresh_token(token, b"new", in_an_hour(), now)
            .await
            .unwrap();
        assert_eq!(
            rotation,
            Rotation::Invalid,
            "{:?}",
            String::from_utf8_lossy(token)
        );
        assert!(
            !store.revoke_refresh_family(token, now).await.unwrap(),
            "{:?} cannot log out",
            String::from_utf8_lossy(token)
        );
    }
    assert_eq!(
        store
            .rotate_refresh_token(b"new", b"newer", in_an_hour(), now)
            .await
            .unwrap(),
        Rotation::Invalid,
        "no token was issued for an invalid one"
    );
}

async fn revoking_a_family_kills_every_token_in_it(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    store
        .insert_refresh_token(b"t1", alice.id, "login-1", in_an_hour())
        .await
        .unwrap();
    store
        .insert_refresh_token(b"other", alice.id, "login-2", in_an_hour())
        .await
        .unwrap();
    store
        .rotate_refresh_token(b"t1", b"t2", in_an_hour(), Utc::now())
        .await
        .unwrap();

    assert!(
        store
            .revoke_refresh_family(b"t2", Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"t2", b"t3", in_an_hour(), Utc::now())
            .await
            .unwrap(),
        Rotation::Invalid,
        "a revoked token no longer rotates"
    );
    assert!(
        !store
            .revoke_refresh_family(b"t2", Utc::now())
            .await
            .unwrap(),
        "revoking twice reports false"
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"t1", b"t4", in_an_hour(), Utc::now())
            .await
            .unwrap(),
        Rotation::Invalid,
        "the rotated ancestor is revoked too (no longer merely reused)"
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"other", b"other-2", in_an_hour(), Utc::now())
            .await
            .unwrap(),
        Rotation::Rotated(alice, None),
        "another login is unaffected"
    );
}

async fn concurrent_rotations_of_one_token_let_exactly_one_win(db: TestDb) {
    let store = &db.store;
    let alice = user(store, "alice").await;
    for round in 0..5 {
        let token = format!("r{round}");
        store
            .insert_refresh_token(
                token.as_bytes(),
                alice.id,
                &format!("login-{round}"),
                in_an_hour(),
            )
            .await
            .unwrap();
        let contenders: Vec<_> = (0..4)
            .map(|n| {
                let store = Arc::clone(store);
                let (token, new) = (token.clone(), format!("r{round}-{n}"));
                tokio::spawn(async move {
                    let rotation = store
                        .rotate_refresh_token(
                            token.as_bytes(),
                            new.as_bytes(),
                            in_an_hour(),
                            Utc::now(),
                        )
                        .await
                        .expect("rotate");
                    (new, rotation)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut reused = 0;
        for contender in contenders {
            let (new, rotation) = contender.await.expect("rotation task");
            match rotation {
                Rotation::Rotated(user, _) => {
                    assert_eq!(user, alice);
                    winners.push(new);
                }
                Rotation::Reused => reused += 1,
                // A loser that comes after another loser's reuse finds the
                // family already revoked.
                Rotation::Invalid => {}
            }
        }
        assert_eq!(winners.len(), 1, "exactly one rotation wins: {winners:?}");
        assert!(reused >= 1, "the first loser presents a rotated token");
        assert_eq!(
            store
                .rotate_refresh_token(winners[0].as_bytes(), b"after", in_an_hour(), Utc::now())
                .await
                .unwrap(),
            Rotation::Invalid,
            "the losers' reuse revoked the winner's token"
        );
    }
}

/// Postgres: the room log's appends run on connections of their own
/// (`parley-appends` in `pg_stat_activity`), at most as many as set apart
/// for them, and with the rest of the pool never more than the pool's size
/// in all, however many appends and reads run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_appends_have_their_own_connections_within_the_pool_size() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let store = store::connect_with(&database.url, 4, 2, &Default::default())
        .await
        .expect("connect with two appenders");
    let alice = user(&store, "alice").await;
    let mut rooms = Vec::new();
    for i in 0..8 {
        rooms.push(room(&store, &format!("room-{i}"), false, &alice).await);
    }

    // 64 appends and 64 history reads at once, over the 8 rooms.
    let mut tasks = Vec::new();
    for i in 0..64usize {
        let (store, room, alice) = (store.clone(), rooms[i % 8].clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let batch = [message(&room, &alice, &format!("m{i}"), None)];
            let appended = store.append_batch(&batch).await.expect("append");
            stored(appended.into_iter().next().unwrap());
            store
                .history(room.id, after(0, 100))
                .await
                .expect("read beside the appends");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    for room in &rooms {
        let page = history(&store, room, after(0, 100)).await;
        assert_eq!(
            seqs(&page.events),
            (1..=8).collect::<Vec<_>>(),
            "{}",
            room.name
        );
    }

    let admin = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (appends, others): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE application_name = $1), \
                count(*) FILTER (WHERE application_name IS DISTINCT FROM $1) \
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .bind(store::APPENDS_APPLICATION_NAME)
    .fetch_one(&admin)
    .await
    .unwrap();
    admin.close().await;
    assert!(
        (1..=2).contains(&appends),
        "the appends ran on their own connections, at most 2: {appends}"
    );
    assert!(others <= 2, "the rest of the pool is 4 - 2: {others}");
}
