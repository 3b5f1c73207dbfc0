//! `GET /ws`: the WebSocket edge. Checks `Origin` before upgrading, picks the
//! STOMP sub-protocol, and accepts the upgrade; the [`upgrade`] service
//! then hands the socket ([`socket`]) to a [`connection`] that moves bytes
//! between the socket, the session state machine, the send path and the
//! broker.
//!
//! The parts of a connection, each owning one rule: [`connection`] (the one
//! select loop and flow control), [`actions`] (client frames through the
//! session, and its actions executed in order), [`rooms`] (the rooms the
//! connection entered, until access is revoked), [`outbox`] (the only writer, bounded),
//! [`pipeline`] (in-flight stores and their receipts, in the client's
//! order), [`subscriptions`] (broker registration and the replay seam),
//! [`replay`] (`since-seq` paging), [`timers`] (CONNECT deadline,
//! heart-beats, token expiry), [`send_rate`] (the send-rate hold) and
//! [`ending`] (the one way a connection ends). Protocol state stays in
//! [`crate::session`].

mod actions;
mod admission;
mod commands;
mod connection;
mod ending;
mod outbox;
mod pipeline;
mod replay;
mod rooms;
mod send_rate;
mod socket;
mod subscriptions;
mod timers;
pub mod upgrade;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, http::header, web};

use upgrade::{Accepted, CanUpgrade};

use crate::error::ApiError;
use crate::state::AppState;

/// Sub-protocols we speak, best first.
const PROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// The best STOMP sub-protocol among those the client offers.
pub fn pick_protocol(offered: &str) -> Option<&'static str> {
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    PROTOCOLS.into_iter().find(|p| offered.contains(p))
}

#[get("/ws")]
pub async fn websocket(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.config.allowed_origins.allows(o));
        if !allowed {
            tracing::info!(origin = ?origin, "websocket refused: origin not allowed");
            return Ok(HttpResponse::Forbidden().json(serde_json::json!({
                "error": {"code": "origin_not_allowed", "message": "this Origin may not open a WebSocket"}
            })));
        }
    }
    if state.is_shutting_down() {
        return Err(ApiError::Unavailable.into());
    }
    let protocol = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .find_map(pick_protocol);
    let mut response = actix_http::ws::handshake(req.head())?;
    // Only a request the upgrade service serves can have its socket (one
    // with `Upgrade: websocket` and a chunked body reaches here without).
    if req.extensions().get::<CanUpgrade>().is_none() {
        return Err(actix_http::ws::HandshakeError::NoWebsocketUpgrade.into());
    }
    if let Some(p) = protocol {
        response.insert_header((
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static(p),
        ));
    }
    let mut response = HttpResponse::from(response.finish().map_into_boxed_body());
    let max_message = state.config.limits.max_frame_bytes.saturating_mul(2) + 1024;
    response.extensions_mut().insert(Accepted {
        state: state.into_inner(),
        max_message,
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn picks_highest_offered_protocol() {
        assert_eq!(
            super::pick_protocol("v10.stomp, v12.stomp"),
            Some("v12.stomp")
        );
        assert_eq!(super::pick_protocol("v11.stomp"), Some("v11.stomp"));
        assert_eq!(super::pick_protocol("mqtt"), None);
    }
}
