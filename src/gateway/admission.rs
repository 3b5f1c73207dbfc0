//! Who may open a STOMP session on this connection: the CONNECT frame's
//! access token is verified (its login not ended), and the user takes one of their
//! `MAX_CONNECTIONS_PER_USER` places (held until the connection ends).
//!
//! It answers the session's credential question only; the session decides
//! what the client is told (`authentication failed`, `too many connections`).

use crate::auth::jwt::now_secs;
use crate::auth::{AuthUser, TokenError};
use crate::config::Limits;
use crate::connections::ConnectionSlot;
use crate::session::{ConnectRefusal, SessionConfig};
use crate::state::AppState;

/// The bounds the session enforces, from the server's limits.
pub fn session_config(limits: &Limits) -> SessionConfig {
    SessionConfig {
        max_subscriptions: limits.max_subscriptions,
        max_transactions: limits.max_transactions,
        max_transaction_sends: limits.max_transaction_sends,
        max_body_bytes: limits.max_body_bytes,
        heartbeat_ms: limits.heartbeat_ms,
        server: format!("parley/{}", env!("CARGO_PKG_VERSION")),
    }
}

/// Verifies `token` and takes the user's connection place into `slot`.
pub fn admit(
    state: &AppState,
    slot: &mut Option<ConnectionSlot>,
    token: &str,
) -> Result<AuthUser, ConnectRefusal> {
    let user = verify_token(state, token)?;
    // Counted from CONNECTED on: the user is known only now.
    let place = state.connections.try_open(user.id);
    *slot = Some(place.ok_or(ConnectRefusal::TooManyConnections)?);
    Ok(user)
}

fn verify_token(state: &AppState, token: &str) -> Result<AuthUser, TokenError> {
    let claims = state.jwt.verify(token, now_secs()).inspect_err(|e| {
        crate::metrics::auth_failure(match e {
            TokenError::Expired => "stomp_token_expired",
            TokenError::Invalid => "stomp_token_invalid",
        })
    })?;
    let user = AuthUser::from_claims(claims)?;
    if state.logins.refuses(user.login) {
        crate::metrics::auth_failure("stomp_login_ended");
        return Err(TokenError::Invalid);
    }
    Ok(user)
}
