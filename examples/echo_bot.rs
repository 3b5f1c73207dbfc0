//! A bot for Parley (README, "Bots and webhooks"), in two commands:
//!
//!     cargo run --release                # the server, in one terminal
//!     cargo run --example echo_bot       # this bot, in another
//!
//! Against a fresh server it sets itself up through the REST API: it signs
//! up an owner account (printed, so you can sign in to the web client as
//! it), creates the bot `echo-<n>` and its API token, the room (`PARLEY_ROOM`,
//! default `bots`) and an incoming webhook. Then it opens a STOMP session
//! with the bot's token, announces itself through the incoming webhook, and
//! answers every message `!echo text` with `text` until stopped (Ctrl-C).
//! With `PARLEY_BOT_TOKEN` set it skips the set-up and uses that bot.
//!
//! `PARLEY_PORT` (default 8080): the server on 127.0.0.1.

use std::time::Duration;

use serde_json::{Value, json};
use stomp_client::{Endpoint, Event, StompClient, frame};

struct Server(u16);

impl Endpoint for Server {
    fn port(&self) -> u16 {
        self.0
    }
}

type Failure = Box<dyn std::error::Error>;

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Result<Value, Failure> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(body)
}

/// Signs up an owner, creates the bot, the room and an incoming webhook:
/// (bot token, webhook URL).
async fn set_up(
    http: &reqwest::Client,
    base: &str,
    room: &str,
) -> Result<(String, Option<String>), Failure> {
    let n = std::process::id();
    let (owner, password) = (format!("owner-{n}"), format!("owner-{n}-password"));
    let signed = post(
        http,
        format!("{base}/auth/signup"),
        None,
        json!({"username": owner, "password": password}),
    )
    .await?;
    let token = signed["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_string();
    println!(
        "owner account: {owner} / {password} (sign in at http://127.0.0.1:{})",
        base_port(base)
    );
    let bot = post(
        http,
        format!("{base}/bots"),
        Some(&token),
        json!({"username": format!("echo-{n}")}),
    )
    .await?;
    let bot_token = bot["token"].as_str().ok_or("no bot token")?.to_string();
    println!(
        "bot: {} (its token is shown once: {bot_token})",
        bot["user"]["username"]
    );
    // The room may exist already; then the owner just joins it.
    if post(
        http,
        format!("{base}/rooms"),
        Some(&token),
        json!({"name": room}),
    )
    .await
    .is_err()
    {
        post(
            http,
            format!("{base}/rooms/{room}/join"),
            Some(&token),
            json!({}),
        )
        .await?;
    }
    let hook = post(
        http,
        format!("{base}/rooms/{room}/webhooks"),
        Some(&token),
        json!({"kind": "incoming", "name": "echo-announcer"}),
    )
    .await
    .ok();
    let url = hook.and_then(|h| h["url"].as_str().map(str::to_string));
    Ok((bot_token, url))
}

fn base_port(base: &str) -> &str {
    base.rsplit(':')
        .next()
        .unwrap_or("8080")
        .split('/')
        .next()
        .unwrap_or("8080")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let port: u16 = std::env::var("PARLEY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let room = std::env::var("PARLEY_ROOM").unwrap_or_else(|_| "bots".into());
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let http = reqwest::Client::new();
    let (token, webhook) = match std::env::var("PARLEY_BOT_TOKEN") {
        Ok(token) => (token, None),
        Err(_) => set_up(&http, &base, &room).await?,
    };

    let mut stomp = StompClient::try_connect(Server(port), &token).await?;
    stomp.subscribe("room", &room).await;
    println!("connected over STOMP; answering `!echo text` in {room}");
    if let Some(url) = webhook {
        post(
            &http,
            url,
            None,
            json!({"text": "the echo bot is here: say `!echo hello`"}),
        )
        .await?;
    }
    let mut sent = 0u64;
    loop {
        match stomp.next_event(Duration::from_secs(3600)).await {
            Some(Event::Frame(f)) if f.command == "MESSAGE" => {
                let event: Value = serde_json::from_str(&f.body_text()).unwrap_or(Value::Null);
                let body = event["body"].as_str().unwrap_or("");
                if event["type"] == "message"
                    && let Some(text) = body.strip_prefix("!echo ")
                {
                    sent += 1;
                    let send = frame(
                        "SEND",
                        &[
                            ("destination", &format!("/topic/rooms/{room}")),
                            ("receipt", &sent.to_string()),
                        ],
                        text,
                    );
                    stomp.send(send).await;
                }
            }
            Some(Event::Frame(f)) if f.command == "ERROR" => {
                return Err(format!("the server ended the session: {}", f.body_text()).into());
            }
            Some(Event::Closed(_)) => return Err("the connection closed".into()),
            _ => {}
        }
    }
}
