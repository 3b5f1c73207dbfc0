//! `--signup`: creates users and rooms on a Parley server through its REST
//! API, and returns the users' access tokens.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

const PASSWORD: &str = "parley-bench-password";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

pub struct SignedUp {
    pub tokens: Vec<String>,
    /// The shortest token lifetime the server granted, in seconds.
    pub expires_in: Option<u64>,
}

/// Signs up `users` fresh users (unique names per run), `concurrency` at a
/// time (each costs the server an Argon2 hash).
pub async fn signup_users(
    http_base: &str,
    users: usize,
    concurrency: usize,
) -> Result<SignedUp, String> {
    let client = client()?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let run = format!("{:x}{:x}", secs & 0xffff_ffff, std::process::id() & 0xfffff);
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::with_capacity(users);
    for i in 0..users {
        let client = client.clone();
        let sem = Arc::clone(&sem);
        let url = format!("{http_base}/api/v1/auth/signup");
        let username = format!("bench{run}_{i}");
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            let resp = client
                .post(&url)
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = resp.status();
            if status.as_u16() != 201 {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!("signup of {username}: HTTP {status}: {text}"));
            }
            resp.json::<TokenResponse>()
                .await
                .map_err(|e| format!("signup of {username}: bad answer: {e}"))
        }));
    }
    let mut tokens = Vec::with_capacity(users);
    let mut expires_in: Option<u64> = None;
    for h in handles {
        let t = h.await.map_err(|e| e.to_string())??;
        if let Some(e) = t.expires_in {
            expires_in = Some(expires_in.map_or(e, |m| m.min(e)));
        }
        tokens.push(t.access_token);
    }
    Ok(SignedUp { tokens, expires_in })
}

/// Creates public rooms (an existing room is fine: subscribing joins it).
pub async fn create_rooms(http_base: &str, token: &str, names: &[String]) -> Result<(), String> {
    let client = client()?;
    let url = format!("{http_base}/api/v1/rooms");
    for name in names {
        let resp = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"name": name}))
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status().as_u16();
        if status != 201 && status != 409 {
            let text = resp.text().await.unwrap_or_default();
            return Err(format!("creating room {name}: HTTP {status}: {text}"));
        }
    }
    Ok(())
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("http client: {e}"))
}
