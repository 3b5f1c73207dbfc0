//! Staying signed in: the refresh token as the `parley_refresh` cookie
//! (README, "Staying signed in"), and the access-token key a SQLite server
//! without `JWT_SECRET` keeps in its database.

use parley::config::{Config, JwtSecret};
use parley::startup::Application;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{TestApp, on_both_backends, on_sqlite, spawn_app, spawn_app_with};

on_both_backends!(
    auth_signup_login_and_refresh_set_the_refresh_cookie,
    auth_refresh_with_an_empty_body_uses_the_cookie_and_rotates_it,
    auth_a_refresh_token_in_the_body_wins_over_the_cookie,
    auth_a_rotated_cookie_presented_again_revokes_its_login,
    auth_logout_by_cookie_revokes_and_clears_it,
    auth_a_cookie_from_a_foreign_origin_is_refused,
);
on_sqlite!(
    auth_refresh_without_body_token_or_cookie_is_401,
    auth_the_cookie_is_secure_behind_a_trusted_https_proxy,
    auth_a_generated_secret_survives_a_restart,
);

const ALLOWED: &str = "http://localhost:8080";

/// POST `path` with a JSON body and extra headers; the raw response.
async fn post(app: &TestApp, path: &str, body: Value, headers: &[(&str, &str)]) -> Response {
    let mut req = app.client.post(format!("{}{path}", app.base)).json(&body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request sent")
}

/// The one `Set-Cookie` of `resp`, parsed: (value, attributes lower-cased
/// as written).
fn set_cookie(resp: &Response) -> (String, Vec<String>) {
    let all: Vec<&str> = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(all.len(), 1, "exactly one Set-Cookie: {all:?}");
    let mut parts = all[0].split(';').map(str::trim);
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    assert_eq!(name, "parley_refresh", "{all:?}");
    (value.to_string(), parts.map(str::to_string).collect())
}

fn cookie_header(token: &str) -> String {
    format!("other=1; parley_refresh={token}")
}

async fn signup(app: &TestApp, name: &str) -> Response {
    post(
        app,
        "/api/v1/auth/signup",
        json!({"username": name, "password": "correct horse"}),
        &[],
    )
    .await
}

async fn auth_signup_login_and_refresh_set_the_refresh_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let signed_up = signup(&app, "alice").await;
    assert_eq!(signed_up.status(), StatusCode::CREATED);
    let (value, attributes) = set_cookie(&signed_up);
    let body: Value = signed_up.json().await.unwrap();
    assert_eq!(
        value, body["refresh_token"],
        "the cookie is the refresh token of the body"
    );
    assert_eq!(
        attributes,
        [
            "Path=/api/v1/auth",
            "Max-Age=2592000",
            "HttpOnly",
            "SameSite=Strict"
        ],
        "no Secure over plain HTTP"
    );
    let access = body["access_token"].as_str().unwrap();
    assert!(
        !value.contains(access),
        "the access token is never a cookie"
    );

    let login = post(
        &app,
        "/api/v1/auth/login",
        json!({"username": "alice", "password": "correct horse"}),
        &[],
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let (value, _) = set_cookie(&login);
    let body: Value = login.json().await.unwrap();
    assert_eq!(value, body["refresh_token"], "login sets the cookie");

    let refreshed = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": body["refresh_token"]}),
        &[],
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (value, _) = set_cookie(&refreshed);
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(value, body["refresh_token"], "refresh sets the new cookie");
    assert_eq!(
        body.as_object().unwrap().len(),
        5,
        "the JSON answer is unchanged: {body}"
    );
}

async fn auth_refresh_with_an_empty_body_uses_the_cookie_and_rotates_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = set_cookie(&signup(&app, "alice").await).0;
    let cookie = cookie_header(&first);
    let headers = [
        (COOKIE.as_str(), cookie.as_str()),
        (ORIGIN.as_str(), ALLOWED),
    ];
    let r = post(&app, "/api/v1/auth/refresh", json!({}), &headers).await;
    assert_eq!(r.status(), StatusCode::OK, "refresh by cookie");
    let (second, attributes) = set_cookie(&r);
    assert!(attributes.contains(&"Max-Age=2592000".to_string()));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        second, body["refresh_token"],
        "the new token, as cookie and in the body"
    );
    assert_ne!(second, first, "rotated");
    let me = app
        .get("/api/v1/me", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200, "the new access token works");
    // No Origin (not a browser) is fine too; the new cookie works.
    let cookie = cookie_header(&second);
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({}),
        &[(COOKIE.as_str(), &cookie)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the rotated cookie refreshes");
}

async fn auth_a_refresh_token_in_the_body_wins_over_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = set_cookie(&signup(&app, "alice").await).0;
    let bob: Value = signup(&app, "bob").await.json().await.unwrap();
    let cookie = cookie_header(&alice);
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": bob["refresh_token"]}),
        &[(COOKIE.as_str(), &cookie)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "bob", "the body's token was used");
    // Alice's cookie was not spent.
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({}),
        &[(COOKIE.as_str(), &cookie)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the cookie is still live");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "alice");
}

async fn auth_a_rotated_cookie_presented_again_revokes_its_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = set_cookie(&signup(&app, "alice").await).0;
    let old = cookie_header(&first);
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({}),
        &[(COOKIE.as_str(), &old)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = set_cookie(&r).0;
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({}),
        &[(COOKIE.as_str(), &old)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "reuse is refused");
    let (cleared, attributes) = set_cookie(&r);
    assert!(
        cleared.is_empty() && attributes.contains(&"Max-Age=0".to_string()),
        "the dead cookie is cleared: {attributes:?}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_refresh_token");
    let new = cookie_header(&second);
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({}),
        &[(COOKIE.as_str(), &new)],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the reuse revoked the whole login, the newer cookie too"
    );
}

async fn auth_logout_by_cookie_revokes_and_clears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = set_cookie(&signup(&app, "alice").await).0;
    let cookie = cookie_header(&token);
    let headers = [
        (COOKIE.as_str(), cookie.as_str()),
        (ORIGIN.as_str(), ALLOWED),
    ];
    let r = post(&app, "/api/v1/auth/logout", json!({}), &headers).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "logout by cookie");
    let (cleared, attributes) = set_cookie(&r);
    assert!(cleared.is_empty(), "cleared: {cleared:?}");
    assert!(
        attributes.contains(&"Max-Age=0".to_string())
            && attributes.contains(&"Path=/api/v1/auth".to_string()),
        "{attributes:?}"
    );
    let r = post(&app, "/api/v1/auth/refresh", json!({}), &headers).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the cookie is revoked"
    );

    // Logout with the body's token clears the cookie too.
    let login: Value = post(
        &app,
        "/api/v1/auth/login",
        json!({"username": "alice", "password": "correct horse"}),
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    let r = post(
        &app,
        "/api/v1/auth/logout",
        json!({"refresh_token": login["refresh_token"]}),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&r).1.contains(&"Max-Age=0".to_string()));
}

async fn auth_a_cookie_from_a_foreign_origin_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = set_cookie(&signup(&app, "alice").await).0;
    let cookie = cookie_header(&token);
    for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
        let headers = [
            (COOKIE.as_str(), cookie.as_str()),
            (ORIGIN.as_str(), "https://evil.example"),
        ];
        let r = post(&app, path, json!({}), &headers).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden_origin", "{path}: {body}");
    }
    // Neither spent nor revoked the token.
    let headers = [
        (COOKIE.as_str(), cookie.as_str()),
        (ORIGIN.as_str(), ALLOWED),
    ];
    let r = post(&app, "/api/v1/auth/refresh", json!({}), &headers).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the cookie still works from an allowed origin"
    );
}

async fn auth_refresh_without_body_token_or_cookie_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
        let r = post(&app, path, json!({}), &[]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_refresh_token", "{path}");
    }
}

async fn auth_the_cookie_is_secure_behind_a_trusted_https_proxy(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.trusted_proxies = parley::config::TrustedProxies::parse("127.0.0.1/32").unwrap()
    })
    .await;
    let body = json!({"username": "alice", "password": "correct horse"});
    let https = [("X-Forwarded-Proto", "https")];
    let r = post(&app, "/api/v1/auth/signup", body.clone(), &https).await;
    assert!(
        set_cookie(&r).1.contains(&"Secure".to_string()),
        "HTTPS per the trusted proxy: Secure"
    );
    let r = post(&app, "/api/v1/auth/login", body.clone(), &[]).await;
    assert!(
        !set_cookie(&r).1.contains(&"Secure".to_string()),
        "plain HTTP: not Secure"
    );
    // The same header from a peer that is not a trusted proxy counts for nothing.
    let untrusted = spawn_app(backend).await;
    let r = post(&untrusted, "/api/v1/auth/signup", body, &https).await;
    assert!(!set_cookie(&r).1.contains(&"Secure".to_string()));
}

fn generated_secret() -> JwtSecret {
    let mut bytes = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    JwtSecret {
        bytes,
        generated: true,
    }
}

async fn auth_a_generated_secret_survives_a_restart(backend: Backend) {
    let first = spawn_app_with(backend, |c| c.jwt_secret = generated_secret()).await;
    let alice = first.signup("alice").await;
    // A second start on the same database, proposing another key.
    let mut config = Config::for_tests(&first.state.config.database_url);
    config.jwt_secret = generated_secret();
    let proposed = config.jwt_secret.bytes.clone();
    let second = Application::build(config).await.expect("second start");
    let (port, state) = (second.port(), second.state());
    tokio::spawn(second.run());
    assert_eq!(
        state.config.jwt_secret.bytes, first.state.config.jwt_secret.bytes,
        "both starts use the key kept in the database"
    );
    assert_ne!(state.config.jwt_secret.bytes, proposed);
    let me = first
        .client
        .get(format!("http://127.0.0.1:{port}/api/v1/me"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token from the first start works on the second"
    );
    let kept = first
        .count("SELECT COUNT(*) FROM server_settings WHERE name = 'jwt_secret'")
        .await;
    assert_eq!(kept, 1, "one key kept");
}
