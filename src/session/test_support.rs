//! What the session's example tests (`tests.rs`) and property tests
//! (`props.rs`) share: one configuration with small limits, so that tests
//! reach them in a few frames, and the user every accepted token stands for.

use super::SessionConfig;
use crate::auth::AuthUser;

pub(super) const MAX_SUBSCRIPTIONS: usize = 3;
pub(super) const MAX_TRANSACTIONS: usize = 2;
pub(super) const MAX_TRANSACTION_SENDS: usize = 3;
pub(super) const MAX_BODY_BYTES: usize = 16;
/// When alice's token expires (seconds since the epoch).
pub(super) const EXPIRES_AT: i64 = 1_000;

pub(super) fn config() -> SessionConfig {
    SessionConfig {
        max_subscriptions: MAX_SUBSCRIPTIONS,
        max_transactions: MAX_TRANSACTIONS,
        max_transaction_sends: MAX_TRANSACTION_SENDS,
        max_body_bytes: MAX_BODY_BYTES,
        heartbeat_ms: 10_000,
        server: "parley/test".into(),
    }
}

/// The user of every token a test verifier accepts.
pub(super) fn alice() -> AuthUser {
    AuthUser {
        id: 7,
        username: "alice".into(),
        expires_at: EXPIRES_AT,
        login: crate::store::LoginId(1),
    }
}
