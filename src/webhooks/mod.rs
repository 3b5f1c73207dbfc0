//! A room's webhooks (README, "Bots and webhooks"): what they are called,
//! their secrets (`secrets.rs`), the Standard Webhooks signature of what
//! the server sends (`sign.rs`), outgoing delivery (`deliver.rs`, with
//! `outgoing.rs`'s event filter) and slash commands (`commands.rs`).
//! Incoming webhooks are an HTTP route (`http/webhooks.rs`) that posts
//! through `chat` like any writer. Every request goes through `egress`.

pub mod commands;
pub mod deliver;
pub mod outgoing;
pub mod secrets;
pub mod sign;

use std::time::Duration;

use crate::auth::AuthUser;
use crate::auth::jwt::now_secs;
use crate::egress::{AllowedHosts, Egress, EgressSettings};
use crate::store::webhooks::sender_name;

/// The longest a webhook's or command's request may take, all told.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is read (a command's `{"text"}` fits).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The client of every webhook and command request, under
/// `WEBHOOK_ALLOWED_HOSTS` (the list's error when it does not parse).
pub fn egress(allowed_hosts: &str) -> Result<Egress, String> {
    Ok(Egress::new(EgressSettings {
        allowed: AllowedHosts::parse(allowed_hosts)?,
        connect_timeout: Duration::from_secs(5),
        timeout: REQUEST_TIMEOUT,
        max_response_bytes: MAX_ANSWER_BYTES,
    }))
}

/// The writer of an incoming webhook's or a command's messages: its
/// `webhook:NAME` account.
pub fn sender(user_id: i64, name: &str) -> AuthUser {
    AuthUser {
        id: user_id,
        username: sender_name(name),
        // Not a session: nothing waits for it to expire, and no login.
        expires_at: now_secs() + 60,
        login: crate::store::LoginId(0),
    }
}

/// A webhook's or command's name: 1–32 characters of `a-z A-Z 0-9 _ . -`
/// (its messages' sender is `webhook:NAME`).
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A slash command's name: 1–32 characters of `a-z 0-9 _ -` (a message
/// `/NAME …` invokes it).
pub fn valid_command(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_commands() {
        assert!(super::valid_name("CI-bot.1"));
        assert!(!super::valid_name(""));
        assert!(!super::valid_name("has space"));
        assert!(!super::valid_name(&"a".repeat(33)));
        assert!(super::valid_command("deploy_2"));
        assert!(!super::valid_command("Deploy"));
        assert!(!super::valid_command("a/b"));
    }
}
