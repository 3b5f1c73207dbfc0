//! Accounts (README, "Accounts"): password change and two-factor
//! (`credentials`), profiles and how others see them change,
//! the export, and deleting one's account.

mod avatars;
mod credentials;
mod deletion;
mod export;
mod profiles;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Reply, TestApp, TestUser};

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
