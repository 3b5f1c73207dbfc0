//! The sender: claims due rows of the push outbox, sends each to its
//! subscription's push service, and records the answer (README,
//! "Notifications").
//!
//! At least once: a row is deleted only after the push service answered,
//! so an instance killed between the answer and the delete sends that push
//! again once the lease ends (`LEASE`); nothing claimed is lost.

use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::retry::{asked_wait, next_wait};
use super::{Push, encrypt};
use crate::egress::Failure;
use crate::store::ClaimedPush;

/// How often an idle sender looks for due rows (pushes go out within 5 s).
const POLL: Duration = Duration::from_millis(500);
/// Rows claimed at once.
const CLAIM: i64 = 64;
/// How long a claim keeps other senders off a row: longer than a batch of
/// requests can take (`REQUEST_TIMEOUT` each, sent together).
const LEASE: Duration = Duration::from_secs(60);
/// Retries stop this long after the event was stored.
const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long a push service keeps a push for an offline browser.
const TTL_SECS: u32 = 24 * 3600;
/// Characters of the message in the payload (`PUSH_PREVIEW`).
const PREVIEW_CHARS: usize = 200;

/// What the service worker receives (decrypted).
#[derive(Serialize)]
struct Payload<'a> {
    r#type: &'static str,
    room: &'a str,
    seq: i64,
    sender: &'a str,
    reason: &'a str,
    body: Option<String>,
    url: String,
}

/// What became of one row.
enum Outcome {
    Sent,
    /// Not to be sent (deleted message, online user, refused endpoint…).
    Dropped(&'static str),
    /// The subscription is gone (404 or 410).
    Gone,
    /// Tried again later: why, and how long the push service asked to
    /// wait (`Retry-After`), if it did.
    Retry(String, Option<Duration>),
}

pub(super) async fn run(push: Weak<Push>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Some(me) = push.upgrade() else { return };
        let busy = match me.store.claim_pushes(CLAIM, LEASE.as_millis() as i64).await {
            Ok(rows) => {
                let full = rows.len() as i64 == CLAIM;
                join_all(rows.into_iter().map(|row| me.handle(row))).await;
                full
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming pushes failed");
                false
            }
        };
        drop(me);
        if busy {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.wait_for(|down| *down) => return,
        }
    }
}

impl Push {
    async fn handle(self: &Arc<Self>, row: ClaimedPush) {
        let outcome = self.deliver(&row).await;
        let recorded = match &outcome {
            Outcome::Sent => {
                metrics::counter!(crate::metrics::PUSHES_SENT).increment(1);
                self.store.push_done(row.id).await
            }
            Outcome::Dropped(why) => {
                tracing::debug!(room = %row.room, seq = row.seq, why, "push not sent");
                self.store.push_done(row.id).await
            }
            Outcome::Gone => {
                tracing::info!(subscription = row.subscription_id, "push subscription gone");
                self.store
                    .delete_push_subscription(row.subscription_id, None)
                    .await
                    .map(|_| ())
            }
            Outcome::Retry(why, asked) => {
                let now = chrono::Utc::now();
                if now - row.created_at() > GIVE_UP_AFTER {
                    tracing::warn!(
                        subscription = row.subscription_id,
                        why,
                        "push given up after an hour"
                    );
                    self.store.push_done(row.id).await
                } else {
                    let delay = next_wait(row.attempts, *asked);
                    tracing::info!(
                        subscription = row.subscription_id,
                        why,
                        ?delay,
                        "push retried"
                    );
                    let at = now + chrono::TimeDelta::from_std(delay).unwrap_or(GIVE_UP_AFTER);
                    self.store.push_retry(row.id, at).await
                }
            }
        };
        if let Err(e) = recorded {
            // The lease ends and the row is claimed again: at least once.
            tracing::warn!(error = %e, "recording a push failed");
        }
    }

    async fn deliver(&self, row: &ClaimedPush) -> Outcome {
        let (Some(sender), Some(false)) = (row.sender.as_deref(), row.deleted) else {
            return Outcome::Dropped("the message is deleted or gone");
        };
        if self.presence.is_online(row.user_id) {
            return Outcome::Dropped("the user is online");
        }
        let payload = Payload {
            r#type: "message",
            room: &row.room,
            seq: row.seq,
            sender,
            reason: &row.reason,
            body: self.preview.then(|| {
                row.body
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(PREVIEW_CHARS)
                    .collect()
            }),
            url: format!("/?room={}&seq={}", row.room, row.seq),
        };
        let plaintext = serde_json::to_vec(&payload).expect("payload serialises");
        let (Ok(ua_public), Ok(auth)) = (
            URL_SAFE_NO_PAD.decode(row.p256dh.trim_end_matches('=')),
            URL_SAFE_NO_PAD.decode(row.auth.trim_end_matches('=')),
        ) else {
            return Outcome::Dropped("the subscription's keys are not base64url");
        };
        let body = match encrypt(&plaintext, &ua_public, &auth) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, subscription = row.subscription_id, "push not encrypted");
                return Outcome::Dropped("the payload could not be encrypted");
            }
        };
        let url = match self.egress.check_url(&row.endpoint) {
            Ok(url) => url,
            Err(_) => return Outcome::Dropped("the endpoint is refused"),
        };
        let Ok(authorization) = self.vapid.authorization(&url) else {
            return Outcome::Dropped("the VAPID token could not be signed");
        };
        let mut headers = HeaderMap::new();
        let urgent = matches!(row.reason.as_str(), "dm" | "mention");
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert("ttl", HeaderValue::from(TTL_SECS));
        headers.insert(
            "urgency",
            HeaderValue::from_static(if urgent { "high" } else { "normal" }),
        );
        if let Ok(topic) = HeaderValue::from_str(&topic(&row.room)) {
            headers.insert("topic", topic);
        }
        if let Ok(value) = HeaderValue::from_str(&authorization) {
            headers.insert(AUTHORIZATION, value);
        }
        match self
            .egress
            .post(url.as_str(), headers, Bytes::from(body))
            .await
        {
            Ok(answer) if answer.status.is_success() => Outcome::Sent,
            Ok(answer) if matches!(answer.status, StatusCode::NOT_FOUND | StatusCode::GONE) => {
                Outcome::Gone
            }
            Ok(answer)
                if answer.status == StatusCode::TOO_MANY_REQUESTS
                    || answer.status.is_server_error() =>
            {
                let asked =
                    asked_wait(answer.status, &answer.headers, std::time::SystemTime::now());
                Outcome::Retry(
                    format!("the push service answered {}", answer.status),
                    asked,
                )
            }
            Ok(answer) => {
                tracing::warn!(status = %answer.status, subscription = row.subscription_id, "push refused");
                Outcome::Dropped("the push service refused it")
            }
            Err(Failure::Refused(refusal)) => {
                tracing::warn!(%refusal, subscription = row.subscription_id, "push endpoint refused");
                Outcome::Dropped("the endpoint is refused")
            }
            Err(e) => Outcome::Retry(e.to_string(), None),
        }
    }
}

/// The `Topic` of a room's pushes (RFC 8030, section 5.4: at most 32
/// characters of the base64url alphabet), so a push service keeps only the
/// latest of a burst: the room name's SHA-256, base64url, cut to 32.
fn topic(room: &str) -> String {
    let mut t = URL_SAFE_NO_PAD.encode(Sha256::digest(room.as_bytes()));
    t.truncate(32);
    t
}

#[cfg(test)]
mod tests {
    use super::topic;

    #[test]
    fn a_topic_is_32_base64url_characters_and_one_per_room() {
        let t = topic("general");
        assert_eq!(t.len(), 32);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(t, topic("general"));
        assert_ne!(t, topic("random"));
    }
}
