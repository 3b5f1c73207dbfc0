//! The REST calls the cluster tests need: sign up, create a room, read the
//! whole history, probe `/readyz`.

use std::time::Duration;

use serde_json::{Value, json};

/// A client that opens a fresh connection per request: a probe of a
/// draining instance must not ride on an old keep-alive connection.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

pub fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// The status of a GET, or None if nothing answered (refused, reset, timed
/// out within 2 s).
pub async fn status(url: &str) -> Option<u16> {
    let request = client().get(url).timeout(Duration::from_secs(2)).send();
    request.await.ok().map(|r| r.status().as_u16())
}

pub async fn readyz(port: u16) -> Option<u16> {
    status(&format!("{}/readyz", base(port))).await
}

/// Polls `/readyz` until `want(status)` holds; the statuses seen on the way
/// are returned either way. Bounded by `within`.
pub async fn readyz_until(
    port: u16,
    within: Duration,
    want: impl Fn(Option<u16>) -> bool,
) -> Result<Vec<Option<u16>>, Vec<Option<u16>>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let s = readyz(port).await;
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        if want(s) {
            return Ok(seen);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs `username` up; returns the access token.
pub async fn signup(port: u16, username: &str) -> String {
    let r = client()
        .post(format!("{}/api/v1/auth/signup", base(port)))
        .json(&json!({"username": username, "password": format!("pw-{username}-secret")}))
        // Hashing the password (argon2, a debug build) on a loaded machine
        // can take longer than the client's usual 10 s.
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("signup request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "signup of {username}: {body}");
    body["access_token"]
        .as_str()
        .expect("access_token in the signup answer")
        .to_string()
}

pub async fn create_room(port: u16, token: &str, name: &str) {
    let r = client()
        .post(format!("{}/api/v1/rooms", base(port)))
        .bearer_auth(token)
        .json(&json!({"name": name}))
        .send()
        .await
        .expect("create room request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "create room {name}: {body}");
}

/// Every stored message of `room`, oldest first, through `?after=` paging.
pub async fn history(port: u16, token: &str, room: &str) -> Vec<Value> {
    let http = client();
    let mut out: Vec<Value> = Vec::new();
    let mut after = 0;
    // Bounded: 100 pages of 200 is far more than any test stores.
    for _ in 0..100 {
        let r = http
            .get(format!(
                "{}/api/v1/rooms/{room}/messages?after={after}&limit=200",
                base(port)
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("history request");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "history of {room}: {body}");
        let page = body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(last) = page.last() {
            after = last["seq"].as_i64().expect("seq");
        }
        out.extend(page);
        if body["has_more"] != true {
            return out;
        }
    }
    panic!("history of {room} did not end after 100 pages");
}

/// One authenticated REST call to `port`: (status, JSON body or Null).
pub async fn call(
    port: u16,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}{path}", base(port)))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Signs `username` up; returns the access token and the user's id.
pub async fn signup_with_id(port: u16, username: &str) -> (String, i64) {
    let token = signup(port, username).await;
    let (status, me) = call(port, reqwest::Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(status, 200, "GET /me of {username}: {me}");
    (token, me["id"].as_i64().expect("id in GET /me"))
}
