//! Password change and two-factor authentication (README, "Accounts"), as
//! a client sees them: a password change signs every session out and
//! starts a new one; two-factor is set up with a code, then a login needs a
//! code (each accepted once) or a recovery code (each usable once), and
//! wrong codes count like wrong passwords.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, refused, spawn_app, status};
use stomp_client::StompClient;

on_both_backends!(
    changing_the_password_signs_every_session_out_and_starts_a_new_one,
    a_wrong_current_password_or_a_weak_new_one_changes_nothing,
    two_factor_setup_needs_a_right_code_and_then_logins_need_one,
    a_code_is_accepted_once_even_when_sent_twice_at_once,
    a_recovery_code_works_once,
    wrong_codes_count_like_wrong_passwords,
    two_factor_is_turned_off_with_a_code,
    the_secret_is_never_shown_again_nor_stored_in_the_clear,
);

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> crate::helpers::Reply {
    let mut body = json!({"username": username, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    app.post("/api/v1/auth/login", None, body).await
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> crate::helpers::Reply {
    app.post(
        "/api/v1/me/password",
        Some(token),
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

async fn changing_the_password_signs_every_session_out_and_starts_a_new_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let other = status(
        &login(&app, "alice", &alice.password, None).await,
        200,
        "login",
    );
    let other_token = other["access_token"].as_str().unwrap();
    let mut stomp = StompClient::connect(&app, other_token).await;
    stomp.subscribe("s", "general").await;

    let r = change_password(
        &app,
        &alice.access_token,
        &alice.password,
        "a-new-long-password",
    )
    .await;
    let body = status(&r, 200, "password changed");
    assert!(
        body["access_token"].is_string() && body["refresh_token"].is_string(),
        "{body}"
    );
    assert_eq!(body["user"]["username"], "alice");
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("parley_refresh=")),
        "the new session's cookie is set"
    );
    let error = stomp.expect_error_then_close().await;
    assert_eq!(error.header("message").as_deref(), Some("session revoked"));
    for (token, what) in [
        (other_token, "the other session"),
        (alice.access_token.as_str(), "the session that changed it"),
    ] {
        refused(
            &app.get("/api/v1/me", token).await,
            401,
            "unauthorized",
            what,
        );
    }
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh_token}),
        )
        .await;
    refused(&r, 401, "invalid_refresh_token", "the old refresh token");
    let new = body["access_token"].as_str().unwrap();
    status(
        &app.get("/api/v1/me", new).await,
        200,
        "the new session works",
    );
    let sessions = status(&app.get("/api/v1/me/sessions", new).await, 200, "sessions");
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        1,
        "{sessions}"
    );

    refused(
        &login(&app, "alice", &alice.password, None).await,
        401,
        "invalid_credentials",
        "the old password",
    );
    status(
        &login(&app, "alice", "a-new-long-password", None).await,
        200,
        "the new one",
    );
}

async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let r = change_password(
        &app,
        &alice.access_token,
        "not-the-password",
        "a-new-long-password",
    )
    .await;
    refused(&r, 401, "invalid_credentials", "wrong current password");
    let r = change_password(&app, &alice.access_token, &alice.password, "short").await;
    refused(&r, 400, "weak_password", "too short");
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&alice.access_token),
            json!({"current_password": alice.password, "new_password": "a-new-long-password", "x": 1}),
        )
        .await;
    refused(&r, 400, "invalid_request", "unknown field");
    let r = app
        .post(
            "/api/v1/me/password",
            None,
            json!({"current_password": "a", "new_password": "b"}),
        )
        .await;
    refused(&r, 401, "unauthorized", "no token");
    status(
        &app.get("/api/v1/me", &alice.access_token).await,
        200,
        "still signed in",
    );
    status(
        &login(&app, "alice", &alice.password, None).await,
        200,
        "the password is unchanged",
    );
}

/// The app's code for `secret` (base32) at unix second `at`.
fn code_at(secret: &str, at: u64) -> String {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes)
        .unwrap()
        .generate(at)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sets two-factor up for `user`; (secret, recovery codes). The code used
/// to confirm is of the previous step, so the current one is still fresh.
async fn enable_totp(app: &TestApp, user: &TestUser) -> (String, Vec<String>) {
    let setup = status(
        &app.post("/api/v1/me/totp", Some(&user.access_token), json!({}))
            .await,
        200,
        "setup",
    );
    let secret = setup["secret"].as_str().unwrap().to_string();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!(
            "otpauth://totp/Parley:{}?secret={secret}",
            user.username
        )),
        "{uri}"
    );
    let code = code_at(&secret, now() - 30);
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&user.access_token),
            json!({"code": code}),
        )
        .await;
    let body = status(&r, 200, "confirm");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

async fn two_factor_setup_needs_a_right_code_and_then_logins_need_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&alice.access_token),
            json!({"code": "123456"}),
        )
        .await;
    refused(&r, 400, "invalid_code", "no setup started");
    let setup = status(
        &app.post("/api/v1/me/totp", Some(&alice.access_token), json!({}))
            .await,
        200,
        "setup",
    );
    let secret = setup["secret"].as_str().unwrap();
    let wrong = code_at(secret, now() + 600);
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&alice.access_token),
            json!({"code": wrong}),
        )
        .await;
    refused(&r, 400, "invalid_code", "a code of another time");
    status(
        &login(&app, "alice", &alice.password, None).await,
        200,
        "not on until confirmed",
    );

    let (secret, codes) = enable_totp(&app, &alice).await;
    assert_eq!(codes.len(), 10);
    let r = app
        .post("/api/v1/me/totp", Some(&alice.access_token), json!({}))
        .await;
    refused(&r, 409, "totp_enabled", "a second setup");

    refused(
        &login(&app, "alice", &alice.password, None).await,
        401,
        "totp_required",
        "no code",
    );
    refused(
        &login(&app, "alice", "wrong-password", None).await,
        401,
        "invalid_credentials",
        "a wrong password is still just that",
    );
    refused(
        &login(&app, "alice", &alice.password, Some("000000")).await,
        401,
        "invalid_credentials",
        "a wrong code",
    );
    let code = code_at(&secret, now());
    let r = login(&app, "alice", &alice.password, Some(&code)).await;
    let body = status(&r, 200, "password and code");
    assert!(body["access_token"].is_string());
}

async fn a_code_is_accepted_once_even_when_sent_twice_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (secret, _) = enable_totp(&app, &alice).await;
    let code = code_at(&secret, now());
    let logins = (0..4).map(|_| login(&app, "alice", &alice.password, Some(&code)));
    let mut statuses: Vec<u16> = join_all(logins)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 401, 401, 401], "one login per code");
    refused(
        &login(&app, "alice", &alice.password, Some(&code)).await,
        401,
        "invalid_credentials",
        "the code again (replay)",
    );
    let previous = code_at(&secret, now() - 30);
    refused(
        &login(&app, "alice", &alice.password, Some(&previous)).await,
        401,
        "invalid_credentials",
        "an older code after a newer one was used",
    );
}

async fn a_recovery_code_works_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_, codes) = enable_totp(&app, &alice).await;
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10, "{codes:?}");
    let typed = codes[3].to_uppercase();
    status(
        &login(&app, "alice", &alice.password, Some(&typed)).await,
        200,
        "a recovery code",
    );
    refused(
        &login(&app, "alice", &alice.password, Some(&codes[3])).await,
        401,
        "invalid_credentials",
        "the same recovery code twice",
    );
    status(
        &login(&app, "alice", &alice.password, Some(&codes[4])).await,
        200,
        "another one",
    );
    let stored = app
        .count("SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL")
        .await;
    assert_eq!(stored, 2);
}

async fn wrong_codes_count_like_wrong_passwords(backend: Backend) {
    let app =
        crate::helpers::spawn_app_with(backend, |c| c.limits.login_failures_per_user = 3).await;
    let alice = app.signup("alice").await;
    let (secret, _) = enable_totp(&app, &alice).await;
    for _ in 0..3 {
        refused(
            &login(&app, "alice", &alice.password, Some("000000")).await,
            401,
            "invalid_credentials",
            "a wrong code",
        );
    }
    let code = code_at(&secret, now());
    refused(
        &login(&app, "alice", &alice.password, Some(&code)).await,
        429,
        "too_many_attempts",
        "locked out like after wrong passwords",
    );
}

async fn two_factor_is_turned_off_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_, codes) = enable_totp(&app, &alice).await;
    let off = |code: &str| {
        app.request(
            Method::DELETE,
            "/api/v1/me/totp",
            Some(&alice.access_token),
            Some(json!({"code": code})),
        )
    };
    refused(&off("123456").await, 400, "invalid_code", "a wrong code");
    assert_eq!(
        off(&codes[0]).await.status,
        204,
        "a recovery code turns it off"
    );
    status(
        &login(&app, "alice", &alice.password, None).await,
        200,
        "no code needed any more",
    );
    assert_eq!(app.count("SELECT count(*) FROM recovery_codes").await, 0);
    refused(&off(&codes[1]).await, 400, "invalid_code", "already off");
}

async fn the_secret_is_never_shown_again_nor_stored_in_the_clear(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (secret, codes) = enable_totp(&app, &alice).await;
    let me: Value = status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    assert!(!me.to_string().contains(&secret), "{me}");
    let hex_of = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let raw = Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let sql = if app.state.config.database_url.starts_with("postgres") {
        format!(
            "SELECT count(*) FROM users WHERE position(decode('{}', 'hex') IN totp_secret) > 0",
            hex_of(&raw)
        )
    } else {
        format!(
            "SELECT count(*) FROM users WHERE instr(totp_secret, x'{}') > 0",
            hex_of(&raw)
        )
    };
    assert_eq!(app.count(&sql).await, 0, "the secret is stored encrypted");
    let plain = app
        .count(&format!(
            "SELECT count(*) FROM recovery_codes WHERE code_hash = {}",
            if app.state.config.database_url.starts_with("postgres") {
                format!("convert_to('{}', 'UTF8')", codes[0])
            } else {
                format!("CAST('{}' AS BLOB)", codes[0])
            }
        ))
        .await;
    assert_eq!(plain, 0, "recovery codes are stored hashed");
}
