//! What every HTTP route that writes to a room's log shares with the
//! others: the checks before a write (asked of `chat`, which owns them for
//! every edge), the send rate, the body rules and how the write path's
//! errors answer.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::auth::AuthUser;
use crate::chat::ChatError;
use crate::domain::{MessageBody, RoomName};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Room;

/// Longest a write waits for the sender's rate bucket before answering 429.
const MAX_RATE_WAIT: Duration = Duration::from_secs(5);

/// The room for an HTTP chat route: visible to the user (joined if public).
pub(crate) async fn enter(state: &AppState, user: &AuthUser, name: &str) -> Result<Room, ApiError> {
    let name = RoomName::parse(name).map_err(|_| ApiError::RoomNotFound)?;
    state.chat.enter_room(user, &name).await.map_err(chat_error)
}

/// The room for an HTTP route that writes to its log: [`enter`], and the
/// writer not blocked there (403 `blocked`).
pub(crate) async fn enter_to_write(
    state: &AppState,
    user: &AuthUser,
    name: &str,
) -> Result<Room, ApiError> {
    let name = RoomName::parse(name).map_err(|_| ApiError::RoomNotFound)?;
    state
        .chat
        .room_to_write(user, &name)
        .await
        .map_err(chat_error)
}

pub(crate) fn chat_error(e: ChatError) -> ApiError {
    match e {
        ChatError::RoomNotFound => ApiError::RoomNotFound,
        ChatError::Blocked => ApiError::Blocked,
        ChatError::Store(s) => s.into(),
        ChatError::Task => ApiError::Unavailable,
    }
}

/// A message or edit body: the same rules as a STOMP SEND's.
pub(crate) fn parse_body(state: &AppState, text: &str) -> Result<MessageBody, ApiError> {
    MessageBody::parse(text.as_bytes(), state.config.limits.max_body_bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

/// Counts one write against the user's send rate, as on STOMP: the write
/// takes its slot in the bucket now (so concurrent requests are all
/// counted); the returned future holds it until that slot comes. 429 if
/// that would take longer than [`MAX_RATE_WAIT`].
pub(crate) fn charge_send(
    state: &AppState,
    user: &AuthUser,
) -> Result<impl Future<Output = ()> + use<>, ApiError> {
    let mut wait = Duration::ZERO;
    if let Some(limiter) = &state.send_limiter {
        match limiter.reserve(&user.id.to_string(), Instant::now(), MAX_RATE_WAIT) {
            Ok(held) => {
                if !held.is_zero() {
                    crate::metrics::rate_limited("send");
                }
                wait = held;
            }
            Err(retry) => {
                crate::metrics::rate_limited("send");
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: retry.as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        }
    }
    Ok(async move {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    })
}
