//! Who may open a STOMP session on this connection: the CONNECT frame's
//! access token is verified (its login not ended; or its bot token looked
//! up, before the session sees the frame: [`look_up_bot`]), and the user
//! takes one of their `MAX_CONNECTIONS_PER_USER` places (held until the
//! connection ends).
//!
//! It answers the session's credential question only; the session decides
//! what the client is told (`authentication failed`, `too many connections`).

use crate::auth::bot_token::is_bot_token;
use crate::auth::jwt::now_secs;
use crate::auth::{AuthUser, TokenError};
use crate::config::Limits;
use crate::connections::ConnectionSlot;
use crate::session::{ConnectRefusal, SessionConfig, credential};
use crate::state::AppState;
use crate::stomp::ClientFrame;

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

/// What a CONNECT's bot token was found to be (the session's credential
/// check is synchronous; the lookup is done before it).
pub type BotLookup = Option<Result<AuthUser, ConnectRefusal>>;

/// For a frame opening the session with a bot token, the bot it names (if
/// it may act); None for any other frame or token.
pub async fn look_up_bot(state: &AppState, frame: &ClientFrame) -> BotLookup {
    if !frame.command.opens_session() {
        return None;
    }
    let token = credential(frame).filter(|t| is_bot_token(t))?;
    Some(match state.bots.authenticate(token).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            crate::metrics::auth_failure("stomp_bot_token_invalid");
            Err(ConnectRefusal::Auth)
        }
        Err(e) => {
            tracing::error!(error = %e, "looking up a bot token failed");
            Err(ConnectRefusal::Auth)
        }
    })
}

/// Verifies `token` (a bot token: as `bot` found it) and takes the user's
/// connection place into `slot`.
pub fn admit(
    state: &AppState,
    slot: &mut Option<ConnectionSlot>,
    token: &str,
    bot: BotLookup,
) -> Result<AuthUser, ConnectRefusal> {
    let user = match bot {
        Some(found) if is_bot_token(token) => found?,
        _ => verify_token(state, token)?,
    };
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
