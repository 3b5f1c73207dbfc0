//! Accounts (README, "Accounts"): password change and two-factor
//! (`credentials`), profiles and how others see them change,
//! the export, and deleting one's account.

mod avatars;
mod credentials;
mod deletion;
mod export;
mod profiles;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestUser, refused};

pub async fn patch_me(app: &TestApp, who: &TestUser, body: Value) -> Reply {
    app.request(
        Method::PATCH,
        "/api/v1/me",
        Some(&who.access_token),
        Some(body),
    )
    .await
}

pub async fn get_user(app: &TestApp, who: &TestUser, name: &str) -> Reply {
    app.get(&format!("/api/v1/users/{name}"), &who.access_token)
        .await
}

pub async fn delete_me(app: &TestApp, who: &TestUser, password: &str) -> Reply {
    app.request(
        Method::DELETE,
        "/api/v1/me",
        Some(&who.access_token),
        Some(serde_json::json!({ "password": password })),
    )
    .await
}

/// A deleted account can no longer be used, and its name stays taken: its
/// access and refresh tokens and its password are refused, and signing up
/// with its name (in any letter case) answers 409.
pub async fn assert_account_closed(app: &TestApp, user: &TestUser) {
    refused(
        &app.get("/api/v1/me", &user.access_token).await,
        401,
        "unauthorized",
        "its access token no longer names a user",
    );
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": user.refresh_token}),
        )
        .await;
    refused(&r, 401, "invalid_refresh_token", "refresh after deletion");
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": user.username, "password": user.password}),
        )
        .await;
    refused(&r, 401, "invalid_credentials", "login after deletion");
    for name in [user.username.clone(), user.username.to_uppercase()] {
        let r = app
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"username": name, "password": "another password"}),
            )
            .await;
        refused(&r, 409, "username_taken", "the name stays reserved");
    }
}
