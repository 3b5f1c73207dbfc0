//! Administration (README, "Administration"): administrators and
//! deactivation (`accounts.rs`), deleting accounts (`deletion.rs`),
//! reports (`reports.rs`) and the audit log (`audit.rs`), on both stores.

mod accounts;
mod audit;
mod deletion;
mod reports;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::helpers::{Reply, TestApp, TestUser, spawn_app_with};

/// The administrator every test app knows.
pub const ADMIN: &str = "root";

/// An app whose `ADMIN_USERS` is `root` (and no send rate).
pub async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.admins = parley::config::Administrators::parse(ADMIN);
        c.limits.send_rate = 0;
    })
    .await
}

pub async fn call(
    app: &TestApp,
    who: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    app.request(method, path, Some(&who.access_token), body)
        .await
}

pub async fn report(app: &TestApp, who: &TestUser, room: &str, seq: i64, reason: &str) -> Reply {
    let path = format!("/api/v1/rooms/{room}/messages/{seq}/report");
    call(
        app,
        who,
        Method::POST,
        &path,
        Some(json!({"reason": reason})),
    )
    .await
}

/// The entries of the whole audit log, newest first (as `who`).
pub async fn audit(app: &TestApp, who: &TestUser) -> Reply {
    app.get("/api/v1/admin/audit?limit=200", &who.access_token)
        .await
}

/// `(action, actor, room, target, detail)` of each entry, newest first.
pub fn entries(page: &Value) -> Vec<(String, Value, Value, Value, Value)> {
    page["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("entries: {page}"))
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].clone(),
                e["room"].clone(),
                e["target"].clone(),
                e["detail"].clone(),
            )
        })
        .collect()
}
