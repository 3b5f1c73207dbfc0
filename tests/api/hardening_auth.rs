//! Authentication limits and rate limiters that hold under concurrency:
//! the README, "Configuration", and docs/SECURITY.md (failed-login lockout, send rate over HTTP,
//! bounded password hashing, signups per IP, limiter keys, trusted proxies,
//! logout of a rotated token, secrets in --help).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parley::config::TrustedProxies;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{Reply, TestApp, on_both_backends, spawn_app, spawn_app_with};

on_both_backends!(logout_with_a_rotated_token_revokes_its_login);

/// `n` copies of a POST sent at once; the replies in order.
async fn concurrently(
    app: &TestApp,
    n: usize,
    path: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> Value,
    forwarded_for: impl Fn(usize) -> Option<String>,
) -> Vec<Reply> {
    let requests = (0..n).map(|i| {
        let mut req = app
            .client
            .post(format!("{}{}", app.base, path))
            .json(&body(i));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(xff) = forwarded_for(i) {
            req = req.header("x-forwarded-for", xff);
        }
        tokio::spawn(async move { TestApp::reply(req.send().await.expect("request sent")).await })
    });
    join_all(requests)
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect()
}

/// (status, code) → how many replies had it.
fn tally(replies: &[Reply]) -> BTreeMap<(u16, String), usize> {
    let mut out = BTreeMap::new();
    for r in replies {
        *out.entry((r.status.as_u16(), r.code().to_string()))
            .or_default() += 1;
    }
    out
}

fn count(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

fn no_forwarding(_: usize) -> Option<String> {
    None
}

#[tokio::test]
async fn parallel_wrong_logins_are_locked_out_after_ten() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.login_failures_per_user = 10;
    })
    .await;
    let alice = app.signup("alice").await;
    let replies = concurrently(
        &app,
        60,
        "/api/v1/auth/login",
        None,
        |i| json!({"username": if i % 2 == 0 { "alice" } else { "ALICE" }, "password": "wrong password"}),
        no_forwarding,
    )
    .await;
    let t = tally(&replies);
    let wrong = count(&replies, 401);
    let locked = count(&replies, 429);
    assert!(wrong <= 10, "at most 10 of 60 are checked: {t:?}");
    assert_eq!(wrong + locked, 60, "only 401 or 429: {t:?}");
    for r in replies.iter().filter(|r| r.status == 429) {
        assert_eq!(r.code(), "too_many_attempts");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry), "Retry-After {retry}");
    }
    let right = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": alice.password}),
        )
        .await;
    assert_eq!(right.status, 429, "the budget is spent, even for the owner");
}

#[tokio::test]
async fn correct_logins_do_not_spend_the_failure_budget() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.limits.login_failures_per_user = 3).await;
    let alice = app.signup("alice").await;
    // Each success gives back the failure slot it reserved while its hash
    // was checked (concurrent attempts in flight do occupy slots).
    for i in 0..6 {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "alice", "password": alice.password}),
            )
            .await;
        assert_eq!(r.status, 200, "correct login {i}: {:?}", r.body);
    }
    for i in 0..3 {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "alice", "password": "wrong password"}),
            )
            .await;
        assert_eq!(
            r.status, 401,
            "failure {i}: the whole budget is still there"
        );
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": alice.password}),
        )
        .await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn concurrent_posts_are_held_to_the_send_rate() {
    let (rate, burst) = (20.0, 50.0);
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.send_rate = 20;
        c.limits.send_burst = 50;
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let room = app.stored_room("general").await;
    let start = Instant::now();
    let token = alice.access_token.clone();
    let posts = tokio::spawn({
        let base = app.base.clone();
        let client = app.client.clone();
        async move {
            let tasks = (0..200).map(|i| {
                let req = client
                    .post(format!("{base}/api/v1/rooms/general/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("m{i}")}));
                tokio::spawn(async move { TestApp::reply(req.send().await.unwrap()).await })
            });
            join_all(tasks)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>()
        }
    });
    // Sample what is committed while requests are being held.
    let mut samples = Vec::new();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let committed = app.state.store.last_seq(room.id).await.unwrap() as f64;
        samples.push((start.elapsed().as_secs_f64(), committed));
    }
    let replies = tokio::time::timeout(Duration::from_secs(30), posts)
        .await
        .expect("every post is answered within 30 s")
        .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    for (t, committed) in &samples {
        assert!(
            *committed <= burst + rate * t + 3.0,
            "{committed} committed after {t:.2} s: more than SEND_BURST + SEND_RATE × t ({samples:?})"
        );
    }
    let t = tally(&replies);
    let stored = count(&replies, 201);
    let refused = count(&replies, 429);
    assert_eq!(stored + refused, 200, "only 201 or 429: {t:?}");
    assert!(stored >= 50, "the burst goes through: {t:?}");
    assert!(
        stored as f64 <= burst + rate * elapsed + 3.0,
        "{stored} stored in {elapsed:.2} s: {t:?}"
    );
    assert!(
        refused >= 30,
        "posts that would wait over 5 s are refused: {t:?}"
    );
    for r in replies.iter().filter(|r| r.status == 429) {
        assert_eq!(r.code(), "rate_limited");
        assert!(r.headers.get("retry-after").is_some());
    }
    let last = app.state.store.last_seq(room.id).await.unwrap();
    assert_eq!(
        last as usize, stored,
        "every 201 is committed, nothing else"
    );
}

#[tokio::test]
async fn password_hashing_beyond_its_queue_is_busy() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.password_hash_concurrency = 1;
        c.limits.password_hash_queue = 2;
        // Logins in flight hold failure slots; keep that limit out of the way.
        c.limits.login_failures_per_user = 1000;
    })
    .await;
    let alice = app.signup("alice").await;
    let replies = concurrently(
        &app,
        40,
        "/api/v1/auth/login",
        None,
        // Known and unknown users: the dummy hash takes the same queue.
        |i| {
            if i % 2 == 0 {
                json!({"username": "alice", "password": alice.password})
            } else {
                json!({"username": format!("ghost{i}"), "password": "wrong password"})
            }
        },
        no_forwarding,
    )
    .await;
    let t = tally(&replies);
    let busy = count(&replies, 503);
    assert!(
        busy >= 1,
        "one hashing and two waiting: the rest are busy: {t:?}"
    );
    assert_eq!(
        busy + count(&replies, 200) + count(&replies, 401),
        40,
        "only 200, 401 or 503, never 500: {t:?}"
    );
    for r in replies.iter().filter(|r| r.status == 503) {
        assert_eq!(r.code(), "busy");
        assert!(
            r.headers.get("retry-after").is_some(),
            "503 carries Retry-After"
        );
    }
    assert_eq!(
        app.state.hashing.started() as usize,
        1 + 40 - busy,
        "a busy answer costs no hash"
    );
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": alice.password}),
        )
        .await;
    assert_eq!(r.status, 200, "busy answers do not lock the account out");
}

#[tokio::test]
async fn signups_of_a_taken_username_are_refused_without_hashing() {
    let app = spawn_app(Backend::Sqlite).await;
    app.signup("alice").await;
    let hashed = app.state.hashing.started();
    let started = Instant::now();
    let replies = concurrently(
        &app,
        150,
        "/api/v1/auth/signup",
        None,
        |i| {
            let name = if i % 2 == 0 { "alice" } else { "Alice" };
            json!({"username": name, "password": "a long enough password"})
        },
        no_forwarding,
    )
    .await;
    let t = tally(&replies);
    assert_eq!(
        t.get(&(409, "username_taken".to_string())),
        Some(&150),
        "{t:?}"
    );
    assert_eq!(
        app.state.hashing.started(),
        hashed,
        "no password was hashed for a taken name"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "150 refusals took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn signups_per_ip_are_limited_under_concurrency() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.limits.signups_per_ip = 5).await;
    let replies = concurrently(
        &app,
        12,
        "/api/v1/auth/signup",
        None,
        |i| json!({"username": format!("user{i}"), "password": "a long enough password"}),
        no_forwarding,
    )
    .await;
    let t = tally(&replies);
    assert_eq!(count(&replies, 201), 5, "{t:?}");
    assert_eq!(
        t.get(&(429, "too_many_attempts".to_string())),
        Some(&7),
        "{t:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status == 429)
            .all(|r| r.headers.get("retry-after").is_some())
    );
    assert!(
        app.state.hashing.started() <= 5,
        "refused signups hash nothing"
    );
}

#[tokio::test]
async fn implausible_usernames_grow_no_failure_keys() {
    let app = spawn_app(Backend::Sqlite).await;
    let replies = concurrently(
        &app,
        50,
        "/api/v1/auth/login",
        None,
        |i| json!({"username": format!("{i}-{}", "x".repeat(10_000)), "password": "wrong password"}),
        no_forwarding,
    )
    .await;
    assert_eq!(count(&replies, 401), 50, "{:?}", tally(&replies));
    assert!(
        app.state.login_failures_per_user.is_empty(),
        "only plausible usernames are keyed ({} keys)",
        app.state.login_failures_per_user.len()
    );
    assert_eq!(app.state.hashing.started(), 0, "and nothing was hashed");
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.limits.login_attempts_per_ip = 3).await;
    let replies = concurrently(
        &app,
        10,
        "/api/v1/auth/login",
        None,
        // Implausible names: answered 401 without hashing.
        |_| json!({"username": "x", "password": "wrong password"}),
        |i| Some(format!("203.0.113.{i}")),
    )
    .await;
    let t = tally(&replies);
    assert_eq!(count(&replies, 401), 3, "one budget for the peer: {t:?}");
    assert_eq!(count(&replies, 429), 7, "{t:?}");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_budget() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.login_attempts_per_ip = 2;
        c.limits.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    // Three attempts per client, all at once; the spoofed left part of a
    // header is not the client, the right-most untrusted address is. Two
    // IPv6 addresses of one /64 are one client.
    let clients = [
        "203.0.113.1",
        "6.6.6.6, 203.0.113.2",
        "203.0.113.3, 127.0.0.1",
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff::2",
        "2001:db8:1:2::3",
    ];
    let replies = concurrently(
        &app,
        18,
        "/api/v1/auth/login",
        None,
        |_| json!({"username": "x", "password": "wrong password"}),
        |i| Some(clients[i % clients.len()].to_string()),
    )
    .await;
    let mut admitted: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in replies.iter().enumerate() {
        assert!(matches!(r.status.as_u16(), 401 | 429), "{}", r.status);
        let client = match i % clients.len() {
            0 => "203.0.113.1",
            1 => "203.0.113.2",
            2 => "203.0.113.3",
            _ => "2001:db8:1:2::/64",
        };
        *admitted.entry(client).or_default() += usize::from(r.status == 401);
    }
    assert_eq!(
        admitted,
        BTreeMap::from([
            ("203.0.113.1", 2),
            ("203.0.113.2", 2),
            ("203.0.113.3", 2),
            ("2001:db8:1:2::/64", 2),
        ]),
        "two attempts per client address (IPv6 per /64)"
    );
}

async fn logout_with_a_rotated_token_revokes_its_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let a = s.refresh_token.clone();
    let r = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": a}))
        .await;
    assert_eq!(r.status, 200);
    let b = r.body["refresh_token"].as_str().unwrap().to_string();
    let other = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": s.password}),
        )
        .await;
    assert_eq!(other.status, 200);
    let logout = app
        .post("/api/v1/auth/logout", None, json!({"refresh_token": a}))
        .await;
    assert_eq!(
        (logout.status.as_u16(), logout.code()),
        (401, "invalid_refresh_token"),
        "a rotated token is not a valid logout"
    );
    let descendant = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": b}))
        .await;
    assert_eq!(
        descendant.status, 401,
        "but it revoked its whole login: the descendant is dead"
    );
    let unrelated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other.body["refresh_token"]}),
        )
        .await;
    assert_eq!(unrelated.status, 200, "another login is untouched");
}

#[test]
fn help_masks_url_passwords() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--help")
        .env("DATABASE_URL", "postgres://u:secretpw@h/db")
        .env("REDIS_URL", "redis://:redispw@h:6379")
        .env("JWT_SECRET", "jwtsecret-jwtsecret-jwtsecret-jwtsecret")
        .output()
        .expect("run parley --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for secret in ["secretpw", "redispw", "jwtsecret"] {
        assert!(!help.contains(secret), "--help prints {secret}:\n{help}");
    }
    assert!(help.contains("postgres://u:***@h/db"), "{help}");
    assert!(help.contains("redis://:***@h:6379"), "{help}");
}
