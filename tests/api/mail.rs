//! Email verification and password reset (README, "Accounts"), against a
//! real SMTP server on loopback (`smtp.rs`): a code is mailed and verifies
//! the address, wrong codes are bounded; a reset request is 202 whatever
//! the address and mails only a verified one a single-use link (at most 3
//! an hour); confirming it sets the password and ends every session.
//! Without `SMTP_URL` every one of these routes is 503 `mail_unavailable`.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, refused, spawn_app, spawn_app_with};
use crate::smtp::{SmtpCapture, code_in, reset_token_in};
use parley::config::MailSettings;

on_both_backends!(
    a_mailed_code_verifies_the_address,
    wrong_codes_are_refused_and_the_fifth_voids_the_code,
    a_verified_address_gets_a_reset_link_that_works_once_and_ends_every_session,
    an_unknown_or_unverified_address_is_accepted_and_mailed_nothing,
    an_expired_reset_token_is_refused,
    at_most_three_reset_mails_an_hour_per_account,
    the_per_ip_limit_holds_under_fifty_concurrent_requests,
    two_concurrent_confirms_of_one_token_one_wins,
    without_smtp_every_mail_route_is_unavailable,
);

async fn mail_app(backend: Backend, smtp: &SmtpCapture) -> TestApp {
    let url = smtp.url();
    spawn_app_with(backend, move |c| {
        c.mail = MailSettings::parse(
            Some(&url),
            "Parley <parley@example.com>",
            "http://parley.test/",
        )
        .unwrap();
    })
    .await
}

async fn put_email(app: &TestApp, user: &TestUser, email: &str) -> crate::helpers::Reply {
    app.request(
        Method::PUT,
        "/api/v1/me/email",
        Some(&user.access_token),
        Some(json!({"email": email})),
    )
    .await
}

async fn verify(app: &TestApp, user: &TestUser, code: &str) -> crate::helpers::Reply {
    app.post(
        "/api/v1/me/email/verify",
        Some(&user.access_token),
        json!({"code": code}),
    )
    .await
}

/// Signs `name` up and verifies `email` for them through the mailed code.
async fn verified_user(app: &TestApp, smtp: &SmtpCapture, name: &str, email: &str) -> TestUser {
    let user = app.signup(name).await;
    let before = smtp.mails_to(email).len();
    assert_eq!(put_email(app, &user, email).await.status, 202);
    let mail = smtp.wait_for(email, before + 1).await.pop().unwrap();
    assert_eq!(verify(app, &user, &code_in(&mail)).await.status, 200);
    user
}

async fn ask_reset(app: &TestApp, email: &str) -> crate::helpers::Reply {
    app.post("/api/v1/auth/password-reset", None, json!({"email": email}))
        .await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> crate::helpers::Reply {
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": password}),
    )
    .await
}

async fn login(app: &TestApp, name: &str, password: &str) -> crate::helpers::Reply {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

async fn a_mailed_code_verifies_the_address(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    let alice = app.signup("alice").await;
    let set = put_email(&app, &alice, "alice@example.com").await;
    assert_eq!(set.status, 202, "{:?}", set.body);
    assert_eq!(set.body["email"], "alice@example.com");
    assert_eq!(set.body["email_verified"], false);
    let mail = smtp.wait_for("alice@example.com", 1).await.pop().unwrap();
    assert_eq!(mail["from"], "parley@example.com");
    let code = code_in(&mail);
    let verified = verify(&app, &alice, &code).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["email_verified"], true);
    let me = app.get("/api/v1/me", &alice.access_token).await;
    assert_eq!(me.body["email"], "alice@example.com");
    assert_eq!(me.body["email_verified"], true);
    // Good once.
    refused(
        &verify(&app, &alice, &code).await,
        400,
        "invalid_code",
        "used code",
    );
    // Stored only as a hash.
    let clear = app
        .count(&format!(
            "SELECT count(*) FROM account_tokens WHERE token_hash = '{code}'"
        ))
        .await;
    assert_eq!(clear, 0);
    // Not an address.
    refused(
        &put_email(&app, &alice, "not an address").await,
        400,
        "invalid_email",
        "bad address",
    );
    // Another account cannot verify the same address.
    let bob = app.signup("bob").await;
    assert_eq!(put_email(&app, &bob, "Alice@example.com").await.status, 202);
    let mail = smtp.wait_for("Alice@example.com", 1).await.pop().unwrap();
    refused(
        &verify(&app, &bob, &code_in(&mail)).await,
        409,
        "email_taken",
        "address verified by alice",
    );
}

async fn wrong_codes_are_refused_and_the_fifth_voids_the_code(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    let alice = app.signup("alice").await;
    assert_eq!(
        put_email(&app, &alice, "alice@example.com").await.status,
        202
    );
    let code = code_in(&smtp.wait_for("alice@example.com", 1).await[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Five wrong tries at once: each counted, none slips past.
    let tries = join_all((0..5).map(|_| verify(&app, &alice, wrong))).await;
    for r in &tries {
        refused(r, 400, "invalid_code", "wrong code");
    }
    refused(
        &verify(&app, &alice, &code).await,
        400,
        "invalid_code",
        "the right code after five wrong ones",
    );
    let me = app.get("/api/v1/me", &alice.access_token).await;
    assert_eq!(me.body["email_verified"], false);
    // A new code works.
    assert_eq!(
        put_email(&app, &alice, "alice@example.com").await.status,
        202
    );
    let code = code_in(&smtp.wait_for("alice@example.com", 2).await[1]);
    assert_eq!(verify(&app, &alice, &code).await.status, 200);
}

async fn a_verified_address_gets_a_reset_link_that_works_once_and_ends_every_session(
    backend: Backend,
) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    let alice = verified_user(&app, &smtp, "alice", "alice@example.com").await;
    let other = login(&app, "alice", &alice.password).await;
    assert_eq!(other.status, 200);
    let reset = ask_reset(&app, "ALICE@example.com").await;
    assert_eq!(reset.status, 202, "{:?}", reset.body);
    let mail = smtp.wait_for("alice@example.com", 2).await.pop().unwrap();
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains("http://parley.test/#reset="),
        "{mail}"
    );
    let token = reset_token_in(&mail);
    assert_eq!(token.len(), 43);
    refused(
        &confirm(&app, &token, "short").await,
        400,
        "weak_password",
        "weak",
    );
    assert_eq!(confirm(&app, &token, "a-new-password").await.status, 204);
    // Every session ended: access and refresh tokens refused.
    refused(
        &app.get("/api/v1/me", &alice.access_token).await,
        401,
        "unauthorized",
        "old access token",
    );
    for refresh in [
        alice.refresh_token.as_str(),
        other.body["refresh_token"].as_str().unwrap(),
    ] {
        refused(
            &app.post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh}),
            )
            .await,
            401,
            "invalid_refresh_token",
            "old refresh token",
        );
    }
    refused(
        &login(&app, "alice", &alice.password).await,
        401,
        "invalid_credentials",
        "old password",
    );
    assert_eq!(login(&app, "alice", "a-new-password").await.status, 200);
    // Good once; unknown tokens too.
    refused(
        &confirm(&app, &token, "another-password").await,
        400,
        "invalid_token",
        "reused token",
    );
    refused(
        &confirm(&app, "no-such-token", "another-password").await,
        400,
        "invalid_token",
        "unknown token",
    );
    assert_eq!(login(&app, "alice", "a-new-password").await.status, 200);
}

async fn an_unknown_or_unverified_address_is_accepted_and_mailed_nothing(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    let bob = app.signup("bob").await;
    assert_eq!(put_email(&app, &bob, "bob@example.com").await.status, 202);
    smtp.wait_for("bob@example.com", 1).await; // the code, not verified
    let _carol = verified_user(&app, &smtp, "carol", "carol@example.com").await;
    for email in ["nobody@example.com", "bob@example.com"] {
        let r = ask_reset(&app, email).await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (202, &serde_json::Value::Null)
        );
    }
    // A verified address's mail arrives after theirs would have.
    assert_eq!(ask_reset(&app, "carol@example.com").await.status, 202);
    smtp.wait_for("carol@example.com", 2).await;
    assert!(smtp.mails_to("nobody@example.com").is_empty());
    assert_eq!(smtp.mails_to("bob@example.com").len(), 1);
    let resets = app
        .count("SELECT count(*) FROM account_tokens WHERE kind = 'reset'")
        .await;
    assert_eq!(resets, 1);
}

async fn an_expired_reset_token_is_refused(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    let alice = verified_user(&app, &smtp, "alice", "alice@example.com").await;
    assert_eq!(ask_reset(&app, "alice@example.com").await.status, 202);
    let token = reset_token_in(&smtp.wait_for("alice@example.com", 2).await[1]);
    let past = match backend {
        Backend::Postgres => "now() - interval '1 second'",
        Backend::Sqlite => "0",
    };
    app.exec(&format!(
        "UPDATE account_tokens SET expires_at = {past} WHERE kind = 'reset'"
    ))
    .await;
    refused(
        &confirm(&app, &token, "a-new-password").await,
        400,
        "invalid_token",
        "expired token",
    );
    assert_eq!(login(&app, "alice", &alice.password).await.status, 200);
}

async fn at_most_three_reset_mails_an_hour_per_account(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    verified_user(&app, &smtp, "alice", "alice@example.com").await;
    let asked = join_all((0..6).map(|_| ask_reset(&app, "alice@example.com"))).await;
    assert!(asked.iter().all(|r| r.status == 202));
    // The code mail and three reset mails, and no more once all six ran.
    smtp.wait_for("alice@example.com", 4).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.mailer.as_ref().unwrap().jobs_running() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "reset jobs never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.mails_to("alice@example.com").len(), 4);
    let resets = app
        .count("SELECT count(*) FROM account_tokens WHERE kind = 'reset'")
        .await;
    assert_eq!(resets, 3);
}

async fn the_per_ip_limit_holds_under_fifty_concurrent_requests(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let url = smtp.url();
    let app = spawn_app_with(backend, move |c| {
        c.mail =
            MailSettings::parse(Some(&url), "parley@example.com", "http://parley.test").unwrap();
        c.limits.password_resets_per_ip = 10;
    })
    .await;
    let state = app.state.clone();
    // The limiter is built from the config at start.
    assert_eq!(state.config.limits.password_resets_per_ip, 10);
    let replies = join_all((0..50).map(|i| {
        let app = &app;
        async move { ask_reset(app, &format!("n{i}@example.com")).await }
    }))
    .await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let limited = replies
        .iter()
        .filter(|r| r.status == 429 && r.code() == "too_many_attempts")
        .count();
    assert_eq!((accepted, limited), (10, 40));
    assert!(
        replies
            .iter()
            .any(|r| r.headers.contains_key("retry-after"))
    );
}

async fn two_concurrent_confirms_of_one_token_one_wins(backend: Backend) {
    let smtp = SmtpCapture::start().await;
    let app = mail_app(backend, &smtp).await;
    verified_user(&app, &smtp, "alice", "alice@example.com").await;
    assert_eq!(ask_reset(&app, "alice@example.com").await.status, 202);
    let token = reset_token_in(&smtp.wait_for("alice@example.com", 2).await[1]);
    let (a, b) = tokio::join!(
        confirm(&app, &token, "password-one"),
        confirm(&app, &token, "password-two")
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 400], "{:?} {:?}", a.body, b.body);
    let winner = if a.status == 204 {
        "password-one"
    } else {
        "password-two"
    };
    assert_eq!(login(&app, "alice", winner).await.status, 200);
}

async fn without_smtp_every_mail_route_is_unavailable(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let config = app
        .client
        .get(format!("{}/api/v1/config", app.base))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(config["mail"], false);
    for r in [
        put_email(&app, &alice, "alice@example.com").await,
        verify(&app, &alice, "123456").await,
        ask_reset(&app, "alice@example.com").await,
        confirm(&app, "token", "a-new-password").await,
    ] {
        refused(&r, 503, "mail_unavailable", "no SMTP_URL");
    }
}
