//! Search and mentions (README, "Search and mentions"): what matches (any
//! script, every term, any letter case, current text only), who sees what
//! (memberships, `room`, bans, blocks), paging, short terms, validation,
//! searching while messages are posted, and `GET /me/mentions`.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{
    Reply, TestApp, TestUser, on_both_backends, spawn_app_unthrottled as app, spawn_app_with,
};

on_both_backends!(
    search_finds_substrings_in_any_script,
    search_requires_every_term_in_any_order,
    search_ignores_letter_case_in_every_script,
    edited_messages_match_their_current_text_only,
    deleted_messages_never_match,
    rooms_one_may_not_see_are_never_searched,
    blocked_senders_never_appear_in_search_or_mentions,
    room_parameter_searches_one_visible_room,
    search_pages_back_without_duplicates_or_gaps,
    short_terms_answer_correctly_beyond_the_first_candidates,
    a_short_term_reads_at_most_the_scan_limit_and_goes_on_from_next_before,
    common_terms_page_back_in_order_past_the_newest_messages,
    invalid_search_queries_are_refused,
    concurrent_searches_while_posting_see_consistent_results,
    mentions_list_messages_that_mention_me_newest_first,
    mentions_follow_edits_and_deletions,
);

async fn say(app: &TestApp, who: &TestUser, room: &str, text: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&who.access_token),
            json!({"body": text}),
        )
        .await;
    assert_eq!(r.status, 201, "POST {text:?}: {:?}", r.body);
    r.body
}

async fn edit(app: &TestApp, who: &TestUser, room: &str, seq: i64, text: &str) {
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/rooms/{room}/messages/{seq}"),
            Some(&who.access_token),
            Some(json!({"body": text})),
        )
        .await;
    assert_eq!(r.status, 200, "edit: {:?}", r.body);
}

async fn delete(app: &TestApp, who: &TestUser, room: &str, seq: i64) {
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rooms/{room}/messages/{seq}"),
            Some(&who.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "delete: {:?}", r.body);
}

async fn join(app: &TestApp, who: &TestUser, room: &str) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/join"),
            Some(&who.access_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "join {room}: {:?}", r.body);
}

async fn add_member(app: &TestApp, owner: &TestUser, room: &str, who: &TestUser) {
    let r = app
        .post(
            &format!("/api/v1/rooms/{room}/members"),
            Some(&owner.access_token),
            json!({"username": who.username}),
        )
        .await;
    assert_eq!(r.status, 200, "add {}: {:?}", who.username, r.body);
}

async fn get_with(app: &TestApp, who: &TestUser, path: &str, params: &[(&str, &str)]) -> Reply {
    let resp = app
        .client
        .get(format!("{}{path}", app.base))
        .query(params)
        .bearer_auth(&who.access_token)
        .send()
        .await
        .expect("request sent");
    TestApp::reply(resp).await
}

async fn search_raw(app: &TestApp, who: &TestUser, params: &[(&str, &str)]) -> Reply {
    get_with(app, who, "/api/v1/search", params).await
}

/// The ids of a 200 answer's results, after checking they are `message`
/// events, newest first.
#[track_caller]
fn ids_of(r: &Reply, what: &str) -> Vec<i64> {
    assert_eq!(r.status, 200, "{what}: {:?}", r.body);
    let results = r.body["results"].as_array().expect("results array");
    let ids: Vec<i64> = results.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    for m in results {
        assert_eq!(m["type"], "message", "{what}: only message events: {m}");
        assert_eq!(m["deleted"], false, "{what}: never a deleted message: {m}");
    }
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "{what}: newest first, no duplicates: {ids:?}"
    );
    ids
}

/// The ids found for `q` by `who` (first page, limit 50).
async fn found(app: &TestApp, who: &TestUser, q: &str) -> Vec<i64> {
    let r = search_raw(app, who, &[("q", q), ("limit", "50")]).await;
    ids_of(&r, &format!("search {q:?}"))
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().unwrap()
}

fn seq(message: &Value) -> i64 {
    message["seq"].as_i64().unwrap()
}

async fn search_finds_substrings_in_any_script(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "world", false).await;
    let latin = say(&app, &alice, "world", "the quick brown fox").await;
    let korean = say(&app, &alice, "world", "안녕하세요 여러분").await;
    let japanese = say(&app, &alice, "world", "東京タワーに行きました").await;
    let chinese = say(&app, &alice, "world", "我们今天去北京吃烤鸭").await;
    say(&app, &alice, "world", "nothing to see here").await;

    assert_eq!(found(&app, &alice, "uick").await, vec![id(&latin)]);
    assert_eq!(
        found(&app, &alice, "안녕").await,
        vec![id(&korean)],
        "a 2-syllable Hangul term inside a word"
    );
    assert_eq!(found(&app, &alice, "하세요").await, vec![id(&korean)]);
    assert_eq!(found(&app, &alice, "京タワー").await, vec![id(&japanese)]);
    assert_eq!(found(&app, &alice, "北京").await, vec![id(&chinese)]);
    assert_eq!(found(&app, &alice, "今天去北京").await, vec![id(&chinese)]);
    assert!(found(&app, &alice, "서울").await.is_empty());
    // The answer is the same JSON as history's.
    let r = search_raw(&app, &alice, &[("q", "uick")]).await;
    let hit = &r.body["results"][0];
    assert_eq!(hit["room"], "world");
    assert_eq!(hit["sender"], "alice");
    assert_eq!(hit["body"], "the quick brown fox");
    assert_eq!(hit["seq"], latin["seq"]);
    assert_eq!(r.body["has_more"], false);
}

async fn search_requires_every_term_in_any_order(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "terms", false).await;
    let both = say(&app, &alice, "terms", "red apples and green pears").await;
    let red = say(&app, &alice, "terms", "red cars only").await;
    say(&app, &alice, "terms", "green fields only").await;

    assert_eq!(found(&app, &alice, "pears red").await, vec![id(&both)]);
    assert_eq!(
        found(&app, &alice, "  green   apple ").await,
        vec![id(&both)]
    );
    assert_eq!(
        found(&app, &alice, "red").await,
        vec![id(&red), id(&both)],
        "newest first"
    );
    assert!(found(&app, &alice, "red fields").await.is_empty());
    // Wildcards of LIKE are plain characters.
    let percent = say(&app, &alice, "terms", "a 100% sure_thing").await;
    assert_eq!(found(&app, &alice, "0% e_t").await, vec![id(&percent)]);
    assert!(found(&app, &alice, "1%0").await.is_empty());
    assert!(found(&app, &alice, "r_d").await.is_empty());
}

async fn search_ignores_letter_case_in_every_script(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "case", false).await;
    let ascii = say(&app, &alice, "case", "Hello World").await;
    let german = say(&app, &alice, "case", "ÄPFEL und Öl").await;
    let russian = say(&app, &alice, "case", "Привет, МИР").await;
    let greek = say(&app, &alice, "case", "Καλημέρα ΚΌΣΜΕ").await;

    assert_eq!(found(&app, &alice, "hELLO").await, vec![id(&ascii)]);
    assert_eq!(found(&app, &alice, "äpfel").await, vec![id(&german)]);
    assert_eq!(
        found(&app, &alice, "öl").await,
        vec![id(&german)],
        "short term"
    );
    assert_eq!(found(&app, &alice, "ПРИВЕТ").await, vec![id(&russian)]);
    assert_eq!(found(&app, &alice, "мир").await, vec![id(&russian)]);
    assert_eq!(
        found(&app, &alice, "ми").await,
        vec![id(&russian)],
        "short term"
    );
    assert_eq!(found(&app, &alice, "καλημέρα").await, vec![id(&greek)]);
    assert_eq!(found(&app, &alice, "κόσμε").await, vec![id(&greek)]);
}

async fn edited_messages_match_their_current_text_only(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "edits", false).await;
    let m = say(&app, &alice, "edits", "meet at the harbour").await;
    edit(&app, &alice, "edits", seq(&m), "meet at the station").await;

    assert!(found(&app, &alice, "harbour").await.is_empty(), "old text");
    assert_eq!(found(&app, &alice, "station").await, vec![id(&m)]);
    let r = search_raw(&app, &alice, &[("q", "station")]).await;
    assert_eq!(r.body["results"][0]["body"], "meet at the station");
    assert!(r.body["results"][0]["edited_at"].is_string());
    // The edit event itself is not a message and never matches.
    edit(&app, &alice, "edits", seq(&m), "meet at the airport").await;
    assert!(found(&app, &alice, "station").await.is_empty());
    assert_eq!(found(&app, &alice, "airport").await, vec![id(&m)]);
}

async fn deleted_messages_never_match(backend: Backend) {
    let mut url = String::new();
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 0;
        url = c.database_url.clone();
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "gone", false).await;
    let secret = "뷁뷂뷃 zqxjvk";
    let m = say(&app, &alice, "gone", secret).await;
    let edited = say(&app, &alice, "gone", "first draft").await;
    edit(&app, &alice, "gone", seq(&edited), "wqpfyb final").await;
    assert_eq!(found(&app, &alice, "zqxjvk").await, vec![id(&m)]);
    if backend == Backend::Sqlite {
        assert!(
            fts_holds(&url, "뷁뷂뷃").await && fts_holds(&url, "wqpfyb").await,
            "the check below can see indexed text"
        );
    }
    delete(&app, &alice, "gone", seq(&m)).await;
    delete(&app, &alice, "gone", seq(&edited)).await;

    for q in ["zqxjvk", "뷁뷂", "뷁뷂뷃", "wqpfyb", "draft"] {
        assert!(
            found(&app, &alice, q).await.is_empty(),
            "{q:?} after delete"
        );
    }
    if backend == Backend::Sqlite {
        assert!(
            !fts_holds(&url, "뷁뷂뷃").await,
            "the FTS tables no longer hold the deleted text"
        );
        assert!(!fts_holds(&url, "wqpfyb").await, "nor an edited one's");
    }
}

/// Whether any FTS5 table of the SQLite database holds `text` (its bytes in
/// the index blocks, or a row of the vocabulary).
async fn fts_holds(url: &str, text: &str) -> bool {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let blocks: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT block FROM message_search_data")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let needle = text.chars().take(3).collect::<String>().into_bytes();
    let in_blocks = blocks
        .iter()
        .any(|(b,)| b.windows(needle.len()).any(|w| w == needle.as_slice()));
    sqlx::query("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, message_search, 'row')")
        .execute(&mut conn)
        .await
        .unwrap();
    let (terms,): (i64,) = sqlx::query_as("SELECT count(*) FROM temp.vocab WHERE term = ?")
        .bind(text.chars().take(3).collect::<String>().to_lowercase())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    in_blocks || terms > 0
}

async fn rooms_one_may_not_see_are_never_searched(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "secret", true).await;
    app.create_room(&alice, "lobby", false).await;
    app.create_room(&alice, "strangers", false).await;
    join(&app, &bob, "lobby").await;
    join(&app, &carol, "lobby").await;
    say(&app, &alice, "secret", "banana in private").await;
    let lobby = say(&app, &alice, "lobby", "banana in the lobby").await;
    // A public room bob never joined is not among his rooms.
    say(&app, &alice, "strangers", "banana among strangers").await;

    assert_eq!(found(&app, &bob, "banana").await, vec![id(&lobby)]);
    assert_eq!(
        found(&app, &bob, "ba").await,
        vec![id(&lobby)],
        "short query"
    );
    assert_eq!(found(&app, &alice, "banana").await.len(), 3);

    let r = app
        .post(
            "/api/v1/rooms/lobby/bans",
            Some(&alice.access_token),
            json!({"username": "carol"}),
        )
        .await;
    assert_eq!(r.status, 200, "ban: {:?}", r.body);
    assert!(found(&app, &carol, "banana").await.is_empty(), "banned");
    assert!(found(&app, &carol, "na").await.is_empty(), "banned, short");
    let r = search_raw(&app, &carol, &[("q", "banana"), ("room", "lobby")]).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "room_not_found"));
}

async fn blocked_senders_never_appear_in_search_or_mentions(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let mallory = app.signup("mallory").await;
    app.create_room(&alice, "town", false).await;
    join(&app, &bob, "town").await;
    join(&app, &mallory, "town").await;
    let from_alice = say(&app, &alice, "town", "cherry pie @bob").await;
    say(&app, &mallory, "town", "cherry spam @bob").await;
    assert_eq!(found(&app, &bob, "cherry").await.len(), 2);

    let r = app
        .request(
            Method::PUT,
            "/api/v1/me/blocks/mallory",
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "block: {:?}", r.body);
    assert_eq!(found(&app, &bob, "cherry").await, vec![id(&from_alice)]);
    assert_eq!(found(&app, &bob, "ch").await, vec![id(&from_alice)]);
    let r = search_raw(&app, &bob, &[("q", "spam"), ("room", "town")]).await;
    assert!(ids_of(&r, "room search").is_empty());
    let r = get_with(&app, &bob, "/api/v1/me/mentions", &[]).await;
    assert_eq!(ids_of(&r, "mentions"), vec![id(&from_alice)]);
    // Others still see mallory's message.
    assert_eq!(found(&app, &alice, "cherry").await.len(), 2);
}

async fn room_parameter_searches_one_visible_room(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "one", false).await;
    app.create_room(&alice, "two", false).await;
    app.create_room(&alice, "hidden", true).await;
    let in_one = say(&app, &alice, "one", "kiwi one").await;
    let in_two = say(&app, &alice, "two", "kiwi two").await;
    say(&app, &alice, "hidden", "kiwi hidden").await;

    let r = search_raw(&app, &alice, &[("q", "kiwi"), ("room", "one")]).await;
    assert_eq!(ids_of(&r, "room=one"), vec![id(&in_one)]);
    let r = search_raw(&app, &alice, &[("q", "ki"), ("room", "two")]).await;
    assert_eq!(ids_of(&r, "room=two, short"), vec![id(&in_two)]);
    // A public room bob may see but never joined.
    let r = search_raw(&app, &bob, &[("q", "kiwi"), ("room", "two")]).await;
    assert_eq!(ids_of(&r, "bob, room=two"), vec![id(&in_two)]);
    assert!(found(&app, &bob, "kiwi").await.is_empty(), "not his rooms");
    for room in ["hidden", "nowhere", "Bad Name", ""] {
        let r = search_raw(&app, &bob, &[("q", "kiwi"), ("room", room)]).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (404, "room_not_found"),
            "room={room:?}"
        );
    }
}

async fn search_pages_back_without_duplicates_or_gaps(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "pa", false).await;
    app.create_room(&alice, "pb", false).await;
    let mut expected = Vec::new();
    for i in 0..23 {
        let room = if i % 2 == 0 { "pa" } else { "pb" };
        expected.push(id(
            &say(&app, &alice, room, &format!("lemon number {i}")).await
        ));
        say(&app, &alice, room, &format!("filling {i}")).await;
    }
    expected.reverse();
    for q in ["lemon", "le", "lemon er"] {
        let mut seen: Vec<i64> = Vec::new();
        let mut before: Option<i64> = None;
        for _ in 0..10 {
            let b = before.map(|b| b.to_string());
            let mut params = vec![("q", q), ("limit", "5")];
            if let Some(b) = &b {
                params.push(("before", b));
            }
            let r = search_raw(&app, &alice, &params).await;
            let page = ids_of(&r, "page");
            assert!(page.len() <= 5);
            seen.extend(&page);
            if r.body["has_more"] == false {
                assert_eq!(r.body["next_before"], Value::Null);
                break;
            }
            assert_eq!(page.len(), 5, "a page with more after it is full");
            assert_eq!(
                r.body["next_before"].as_i64(),
                page.last().copied(),
                "{q:?}: a full page goes on from its last result"
            );
            before = page.last().copied();
        }
        assert_eq!(seen, expected, "{q:?}: every match once, in order");
    }
}

/// Stores `count` messages from `who` in `room` (through the storage layer,
/// 300 per batch), the `n`th (from 0) with the text `body(n)`; their ids.
async fn store_bodies(
    app: &TestApp,
    who: &TestUser,
    room: &str,
    count: usize,
    body: impl Fn(usize) -> String,
) -> Vec<i64> {
    let room = app.stored_room(room).await;
    let mut ids = Vec::with_capacity(count);
    for first in (0..count).step_by(300) {
        let batch: Vec<_> = (first..count.min(first + 300))
            .map(|n| parley::store::NewEvent {
                room_id: room.id,
                room: room.name.clone(),
                sender_id: who.user_id,
                sender: who.username.clone(),
                change: parley::store::LogWrite::Message {
                    body: body(n),
                    client_id: None,
                    reply_to: None,
                    attachments: Vec::new(),
                },
                tied_to_next: false,
            })
            .collect();
        for a in app.state.store.append_batch(&batch).await.unwrap() {
            let parley::store::Appended::Stored(e) = a else {
                panic!("stored: {a:?}")
            };
            ids.push(e.id);
        }
    }
    ids
}

async fn short_terms_answer_correctly_beyond_the_first_candidates(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "many", false).await;
    // 1200 messages, 1 in 100 with the rare pair "qz".
    let rare = |n: usize| n % 100 == 7;
    let ids = store_bodies(&app, &alice, "many", 1200, |n| {
        if rare(n) {
            format!("rare QZ {n}")
        } else {
            format!("common text {n} with long words")
        }
    })
    .await;
    let mut wanted: Vec<i64> = (0..1200).filter(|n| rare(*n)).map(|n| ids[n]).collect();
    wanted.reverse();
    assert_eq!(wanted.len(), 12);
    assert_eq!(found(&app, &alice, "qz").await, wanted, "only short terms");
    assert_eq!(
        found(&app, &alice, "rare qz").await,
        wanted,
        "long and short"
    );
    assert_eq!(found(&app, &alice, "qz x").await, Vec::<i64>::new());
    let r = search_raw(&app, &alice, &[("q", "qz"), ("limit", "3")]).await;
    assert_eq!(ids_of(&r, "limit 3"), wanted[..3].to_vec());
    assert_eq!(r.body["has_more"], true);
    let last = wanted[11].to_string();
    let r = search_raw(&app, &alice, &[("q", "qz"), ("before", &last)]).await;
    assert!(ids_of(&r, "before the oldest").is_empty());
    assert_eq!(r.body["has_more"], false);
}

async fn a_short_term_reads_at_most_the_scan_limit_and_goes_on_from_next_before(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.send_rate = 0;
        c.limits.search_scan_limit = 100;
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "big", false).await;
    // 1200 messages; the pair "qz" only in the 6th and the 1151st.
    let ids = store_bodies(&app, &alice, "big", 1200, |n| match n {
        5 | 1150 => format!("rare QZ {n}"),
        _ => format!("common text {n}"),
    })
    .await;
    let r = search_raw(&app, &alice, &[("q", "qz")]).await;
    assert_eq!(ids_of(&r, "first page"), vec![ids[1150]]);
    assert_eq!(r.body["has_more"], true, "stopped at the scan limit");
    assert_eq!(
        r.body["next_before"].as_i64(),
        Some(ids[1100]),
        "goes on below the oldest of the 100 messages read"
    );
    // Following next_before reaches the other match, 100 messages a page.
    let mut seen = vec![ids[1150]];
    let mut before = ids[1100];
    let mut pages = 1;
    loop {
        let b = before.to_string();
        let r = search_raw(&app, &alice, &[("q", "qz"), ("before", &b)]).await;
        seen.extend(ids_of(&r, "next page"));
        pages += 1;
        if r.body["has_more"] == false {
            assert_eq!(r.body["next_before"], Value::Null);
            break;
        }
        let next = r.body["next_before"]
            .as_i64()
            .expect("a cursor with has_more");
        assert!(
            next < before,
            "the cursor moves back: {next} after {before}"
        );
        before = next;
        assert!(
            pages <= 13,
            "1200 messages are 12 pages of 100 (and one more)"
        );
    }
    assert_eq!(seen, vec![ids[1150], ids[5]]);
    assert!(
        pages >= 12,
        "each page read at most 100 messages: {pages} pages"
    );
    // A long term narrows through the index: no limit on what it reads.
    let r = search_raw(&app, &alice, &[("q", "rare qz")]).await;
    assert_eq!(ids_of(&r, "long and short"), vec![ids[1150], ids[5]]);
    assert_eq!(r.body["has_more"], false);
}

async fn common_terms_page_back_in_order_past_the_newest_messages(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "log", false).await;
    // 2400 messages (more than the newest ones an indexed search looks at
    // first on Postgres), "plum" in 1 of 3, "fig" in 1 of 400.
    let ids = store_bodies(&app, &alice, "log", 2400, |n| {
        let word = if n % 400 == 3 {
            "fig"
        } else if n.is_multiple_of(3) {
            "plum"
        } else {
            "pear"
        };
        format!("{word} number {n}")
    })
    .await;
    for (q, matches) in [
        (
            "plum",
            &(|n: usize| n.is_multiple_of(3) && n % 400 != 3) as &dyn Fn(usize) -> bool,
        ),
        ("fig", &|n: usize| n % 400 == 3),
    ] {
        let mut expected: Vec<i64> = (0..2400).filter(|n| matches(*n)).map(|n| ids[n]).collect();
        expected.reverse();
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..100 {
            let mut params = vec![("q", q), ("limit", "50")];
            if let Some(b) = &before {
                params.push(("before", b));
            }
            let r = search_raw(&app, &alice, &params).await;
            seen.extend(ids_of(&r, q));
            if r.body["has_more"] == false {
                break;
            }
            before = Some(r.body["next_before"].as_i64().unwrap().to_string());
        }
        assert_eq!(seen, expected, "{q:?}: every match once, newest first");
    }
}

async fn invalid_search_queries_are_refused(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let long = "x".repeat(101);
    let hundred = format!("  {}  ", "y".repeat(100));
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("q", "")],
        vec![("q", " a ")],
        vec![("q", "     ")],
        vec![("q", &long)],
        vec![("q", "ok"), ("limit", "0")],
        vec![("q", "ok"), ("limit", "51")],
        vec![("q", "ok"), ("limit", "ten")],
        vec![("q", "ok"), ("before", "-1")],
        vec![("q", "ok"), ("before", "x")],
        vec![("q", "ok"), ("room", "nowhere"), ("limit", "0")],
    ];
    for params in &bad {
        let r = search_raw(&app, &alice, params).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_query"),
            "{params:?}: {:?}",
            r.body
        );
    }
    for params in [
        vec![("q", "ab")],
        vec![("q", " 안녕 ")],
        vec![("q", hundred.as_str()), ("limit", "50"), ("before", "0")],
        vec![("q", "ok"), ("limit", "1")],
    ] {
        let r = search_raw(&app, &alice, &params).await;
        assert_eq!(r.status, 200, "{params:?}: {:?}", r.body);
    }
    for params in [
        vec![("limit", "0")],
        vec![("limit", "51")],
        vec![("before", "x")],
    ] {
        let r = get_with(&app, &alice, "/api/v1/me/mentions", &params).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_query"),
            "mentions {params:?}"
        );
    }
    let r = app
        .client
        .get(format!("{}/api/v1/search?q=hello", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn concurrent_searches_while_posting_see_consistent_results(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "busy", false).await;
    join(&app, &bob, "busy").await;
    const POSTS: usize = 60;
    let app = std::sync::Arc::new(app);
    let poster = {
        let (app, alice) = (app.clone(), alice.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..POSTS {
                let body = if i % 2 == 0 {
                    format!("needle {i} 바늘")
                } else {
                    format!("hay {i}")
                };
                ids.push((i % 2 == 0, id(&say(&app, &alice, "busy", &body).await)));
            }
            ids
        })
    };
    let searchers: Vec<_> = (0..8)
        .map(|k| {
            let (app, bob) = (app.clone(), bob.clone());
            tokio::spawn(async move {
                let q = ["needle", "바늘", "ne"][k % 3];
                let mut last_count = 0;
                for _ in 0..15 {
                    let r = search_raw(&app, &bob, &[("q", q), ("limit", "50")]).await;
                    let ids = ids_of(&r, "concurrent search");
                    for m in r.body["results"].as_array().unwrap() {
                        let body = m["body"].as_str().unwrap();
                        assert!(body.starts_with("needle "), "{q:?} found {body:?}");
                    }
                    assert!(
                        ids.len() >= last_count,
                        "a later search never finds fewer committed messages"
                    );
                    last_count = ids.len();
                }
            })
        })
        .collect();
    for s in searchers {
        s.await.expect("searcher");
    }
    let posted = poster.await.expect("poster");
    let mut needles: Vec<i64> = posted.iter().filter(|p| p.0).map(|p| p.1).collect();
    needles.reverse();
    for q in ["needle", "바늘", "ne"] {
        assert_eq!(found(&app, &bob, q).await, needles, "{q:?} after the posts");
    }
    let unique: HashSet<i64> = needles.iter().copied().collect();
    assert_eq!(unique.len(), POSTS / 2);
}

async fn mentions_list_messages_that_mention_me_newest_first(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "ma", false).await;
    app.create_room(&alice, "mb", true).await;
    join(&app, &bob, "ma").await;
    add_member(&app, &alice, "mb", &bob).await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let room = if i % 2 == 0 { "ma" } else { "mb" };
        expected.push(id(&say(
            &app,
            &alice,
            room,
            &format!("hey @BOB number {i}"),
        )
        .await));
        say(&app, &alice, room, &format!("no mention {i} @alice")).await;
    }
    // Not a member when it was said: not a mention.
    app.create_room(&alice, "mc", false).await;
    say(&app, &alice, "mc", "@bob is not here").await;
    join(&app, &bob, "mc").await;
    expected.reverse();

    let r = get_with(&app, &bob, "/api/v1/me/mentions", &[]).await;
    assert_eq!(ids_of(&r, "mentions"), expected);
    assert_eq!(r.body["results"][0]["mentions"], json!(["bob"]));
    assert_eq!(r.body["has_more"], false);
    let r = get_with(&app, &bob, "/api/v1/me/mentions", &[("limit", "3")]).await;
    assert_eq!(ids_of(&r, "page 1"), expected[..3].to_vec());
    assert_eq!(r.body["has_more"], true);
    let before = expected[2].to_string();
    let r = get_with(
        &app,
        &bob,
        "/api/v1/me/mentions",
        &[("limit", "3"), ("before", &before)],
    )
    .await;
    assert_eq!(ids_of(&r, "page 2"), expected[3..6].to_vec());
    let r = get_with(&app, &alice, "/api/v1/me/mentions", &[]).await;
    assert_eq!(ids_of(&r, "alice's").len(), 7);

    // Leaving a room takes its mentions out of the list.
    let r = app
        .post("/api/v1/rooms/mb/leave", Some(&bob.access_token), json!({}))
        .await;
    assert_eq!(r.status, 204, "leave: {:?}", r.body);
    let r = get_with(&app, &bob, "/api/v1/me/mentions", &[]).await;
    let in_ma: Vec<i64> = expected.iter().copied().step_by(2).collect();
    assert_eq!(ids_of(&r, "after leaving mb"), in_ma);
}

async fn mentions_follow_edits_and_deletions(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "me", false).await;
    join(&app, &bob, "me").await;
    join(&app, &carol, "me").await;
    let mentions = |who: TestUser| {
        let app = &app;
        async move {
            let r = get_with(app, &who, "/api/v1/me/mentions", &[]).await;
            ids_of(&r, "mentions")
        }
    };
    let m = say(&app, &alice, "me", "hello @bob").await;
    let other = say(&app, &alice, "me", "and @bob again").await;
    assert_eq!(mentions(bob.clone()).await, vec![id(&other), id(&m)]);
    assert!(mentions(carol.clone()).await.is_empty());

    edit(&app, &alice, "me", seq(&m), "hello @carol").await;
    assert_eq!(
        mentions(bob.clone()).await,
        vec![id(&other)],
        "mention removed"
    );
    assert_eq!(mentions(carol.clone()).await, vec![id(&m)], "mention added");
    let r = get_with(&app, &carol, "/api/v1/me/mentions", &[]).await;
    assert_eq!(r.body["results"][0]["body"], "hello @carol");

    edit(&app, &alice, "me", seq(&m), "hello @carol and @bob").await;
    assert_eq!(mentions(bob.clone()).await, vec![id(&other), id(&m)]);

    delete(&app, &alice, "me", seq(&m)).await;
    assert_eq!(mentions(bob.clone()).await, vec![id(&other)], "deleted");
    assert!(mentions(carol.clone()).await.is_empty(), "deleted");
}
