//! `GET /ws`: the WebSocket edge. Checks `Origin` before upgrading, picks the
//! STOMP sub-protocol, and hands the socket to a [`connection`] task that
//! moves bytes between the socket, the session state machine, the send path
//! and the broker.
//!
//! The parts of a connection, each owning one rule: [`connection`] (the one
//! select loop and flow control), [`outbox`] (the only writer, bounded),
//! [`pipeline`] (in-flight stores and their receipts, in the client's
//! order), [`subscriptions`] (broker registration and the replay seam),
//! [`replay`] (`since-seq` paging), [`timers`] (CONNECT deadline,
//! heart-beats, token expiry), [`send_rate`] (the send-rate hold) and
//! [`ending`] (the one way a connection ends). Protocol state stays in
//! [`crate::session`].

mod admission;
mod connection;
mod ending;
mod frames;
mod outbox;
mod pipeline;
mod replay;
mod rooms;
mod send_rate;
mod subscriptions;
mod timers;

use actix_web::{HttpRequest, HttpResponse, get, http::header, web};

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
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
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
    let (mut response, socket, stream) = actix_ws::handle(&req, body)?;
    if let Some(p) = protocol {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static(p),
        );
    }
    let max_ws_message = state.config.limits.max_frame_bytes.saturating_mul(2) + 1024;
    let stream = stream
        .max_frame_size(max_ws_message)
        .aggregate_continuations()
        .max_continuation_size(max_ws_message);
    actix_web::rt::spawn(connection::run(state.into_inner(), socket, stream));
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
