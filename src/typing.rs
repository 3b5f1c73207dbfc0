//! "alice is typing…": an ephemeral signal on the room's activity (README,
//! "Read markers, unread counts, typing and presence"), from a STOMP SEND to
//! `/topic/rooms/{name}/activity` or `POST …/typing`. Never stored, no seq;
//! limited per user and room by `TYPING_RATE` (extra ones are dropped
//! silently: the last one still shows).

use std::time::Instant;

use crate::auth::AuthUser;
use crate::auth::rate_limit::RateLimiter;
use crate::broker::DynBroker;
use crate::store::Room;
use crate::views::Activity;

/// How long a client shows "is typing" after a signal.
pub const EXPIRES_IN_MS: u64 = 6000;

/// Announces that `user` (a member) is typing in `room`, unless they did
/// within the rate; whether it was announced.
pub fn announce(
    limiter: Option<&RateLimiter>,
    broker: &DynBroker,
    user: &AuthUser,
    room: &Room,
) -> bool {
    if let Some(limiter) = limiter {
        let key = format!("{}:{}", user.id, room.id);
        if limiter.hit(&key, Instant::now()).is_err() {
            return false;
        }
    }
    let activity = Activity::Typing {
        user: user.username.clone(),
        expires_in_ms: EXPIRES_IN_MS,
    };
    broker.publish_activity(room.id, &activity);
    true
}
