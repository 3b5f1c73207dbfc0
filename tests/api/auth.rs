//! Sign-up, login, tokens: the README, "REST API" (auth rows), and docs/SECURITY.md.

use parley::auth::JwtKeys;
use reqwest::Method;
use serde_json::json;

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with};

on_both_backends!(
    signup_returns_user_and_tokens,
    signup_stores_only_an_argon2id_hash,
    signup_rejects_invalid_usernames,
    signup_rejects_weak_passwords,
    signup_refuses_taken_username_in_any_case,
    login_returns_tokens,
    login_answers_unknown_user_and_wrong_password_alike,
    login_failures_per_user_are_limited,
    login_attempts_per_ip_are_limited,
    refresh_rotates_and_old_token_stops_working,
    reused_refresh_token_revokes_its_family,
    logout_revokes_the_refresh_token,
    me_requires_a_valid_access_token,
);

async fn signup_returns_user_and_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"username": "Alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["user"]["username"], "Alice");
    assert!(r.body["user"]["id"].as_i64().unwrap() > 0);
    let created = r.body["user"]["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "RFC 3339 with ms: {created}"
    );
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    let refresh = r.body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 43, "refresh token carries >= 256 bits");
    let me = app
        .get("/api/v1/me", r.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200);
    // The owner also sees what only they may (README, "Accounts").
    let mut seen_by_all = me.body.clone();
    for owner_only in ["email", "email_verified", "totp_enabled"] {
        seen_by_all.as_object_mut().unwrap().remove(owner_only);
    }
    assert_eq!(
        seen_by_all, r.body["user"],
        "/me answers the signed-up user"
    );
    assert_eq!(me.body["email"], serde_json::Value::Null);
    assert_eq!(me.body["email_verified"], false);
    assert_eq!(me.body["totp_enabled"], false);
}

async fn signup_stores_only_an_argon2id_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let (_, hash) = app
        .state
        .store
        .user_credentials("alice")
        .await
        .unwrap()
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(&s.password));
}

async fn signup_rejects_invalid_usernames(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in [
        "ab",
        "",
        "has space",
        "robert'); DROP TABLE users;--",
        "ünïcode",
        &"x".repeat(33),
    ] {
        let r = app
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"username": name, "password": "long enough"}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_username"),
            "username {name:?}"
        );
    }
    // The SQL-looking name did nothing to the table.
    app.signup("bob").await;
}

async fn signup_rejects_weak_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    for pw in ["short".to_string(), "x".repeat(129), "x".repeat(10_000)] {
        let r = app
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"username": "alice", "password": pw}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "weak_password"),
            "password of {} chars",
            pw.len()
        );
    }
}

async fn signup_refuses_taken_username_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signup("alice").await;
    let r = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"username": "ALICE", "password": "long enough"}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "username_taken"));
}

async fn login_returns_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    // Usernames match case-insensitively.
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ALICE", "password": s.password}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["username"], "alice");
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["refresh_token"].as_str().unwrap() != s.refresh_token);
    let me = app
        .get("/api/v1/me", r.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200);
}

async fn login_answers_unknown_user_and_wrong_password_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signup("alice").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "nobody", "password": "not the password"}),
        )
        .await;
    let huge = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": "x".repeat(10_000)}),
        )
        .await;
    assert_eq!(
        (wrong.status.as_u16(), wrong.code()),
        (401, "invalid_credentials")
    );
    assert_eq!(
        wrong.body, unknown.body,
        "same answer for unknown user and wrong password"
    );
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(huge.body, wrong.body, "a 10 kB password is just wrong");
}

async fn login_failures_per_user_are_limited(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.login_failures_per_user = 3).await;
    let s = app.signup("alice").await;
    app.signup("bob").await;
    for i in 0..3 {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "alice", "password": "wrong password"}),
            )
            .await;
        assert_eq!(r.status, 401, "failure {i} is still a plain 401");
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "Alice", "password": s.password}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "too_many_attempts"),
        "even the right password waits"
    );
    assert!(r.headers.get("retry-after").is_some());
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "bob", "password": "pw-bob-secret"}),
        )
        .await;
    assert_eq!(r.status, 200, "other users are not affected");
}

async fn login_attempts_per_ip_are_limited(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.login_attempts_per_ip = 4).await;
    let s = app.signup("alice").await;
    // All at once: the budget is charged as each request arrives, before its
    // (slow) password check, so exactly the first 4 get through. One after
    // the other on a loaded machine, the checks could take long enough for
    // the budget (4 a minute) to refill between them.
    let attempts = (0..8).map(|_| {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": s.password}),
        )
    });
    let mut answers: Vec<(u16, String)> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| (r.status.as_u16(), r.code().to_string()))
        .collect();
    answers.sort();
    let mut expected = vec![(200, String::new()); 4];
    expected.extend(vec![(429, "too_many_attempts".to_string()); 4]);
    assert_eq!(answers, expected);
}

async fn refresh_rotates_and_old_token_stops_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["username"], "alice");
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, s.refresh_token);
    assert_eq!(
        app.get("/api/v1/me", r.body["access_token"].as_str().unwrap())
            .await
            .status,
        200
    );
    let again = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": "not-a-token"}),
        )
        .await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (401, "invalid_refresh_token")
    );
    let r2 = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": new_refresh}),
        )
        .await;
    assert_eq!(r2.status, 200, "the rotated-in token works once");
}

async fn reused_refresh_token_revokes_its_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let other_login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": s.password}),
        )
        .await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    let child = r.body["refresh_token"].as_str().unwrap().to_string();
    let reuse = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    assert_eq!(
        (reuse.status.as_u16(), reuse.code()),
        (401, "invalid_refresh_token")
    );
    let child_after = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": child}),
        )
        .await;
    assert_eq!(
        child_after.status, 401,
        "descendant of a reused token is revoked"
    );
    let unrelated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other_login.body["refresh_token"]}),
        )
        .await;
    assert_eq!(unrelated.status, 200, "another login's family is untouched");
}

async fn logout_revokes_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    assert_eq!(r.status, 204);
    let refresh = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    assert_eq!(refresh.status, 401);
    let again = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": s.refresh_token}),
        )
        .await;
    assert_eq!(again.status, 401);
}

async fn me_requires_a_valid_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.signup("alice").await;
    let none = app.request(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!((none.status.as_u16(), none.code()), (401, "unauthorized"));
    let now = chrono::Utc::now().timestamp();
    let secret = app.state.config.jwt_secret.bytes.clone();
    let expired =
        JwtKeys::new(&secret, 60).issue(s.user_id, "alice", parley::store::LoginId(0), now - 120);
    let forged = JwtKeys::new(b"some-other-secret-some-other-secret", 60).issue(
        s.user_id,
        "alice",
        parley::store::LoginId(0),
        now,
    );
    let payload = s.access_token.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    for (what, token) in [
        ("garbage", "garbage".to_string()),
        ("expired", expired),
        ("forged", forged),
        ("alg none", alg_none),
    ] {
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "unauthorized"),
            "{what} token"
        );
    }
    let basic = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("authorization", format!("Basic {}", s.access_token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401, "only the Bearer scheme is accepted");
}
