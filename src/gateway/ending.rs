//! How a connection ends. Every exit from the select loop is an [`End`]
//! (the error side of [`Flow`]), and [`Connection::finish`] is the one
//! place that turns it into what the client sees: confirming the stores
//! before it, the ERROR (with `receipt-id` when the failing frame asked for
//! a receipt), writes flushed within [`CLOSE_WRITE_TIMEOUT`], and the close
//! frame (code 1012 at shutdown).
//!
//! [`Connection::finish`]: super::connection::Connection

use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason};

use super::outbox::Outbox;
use crate::domain::{MAX_ID_CHARS, check_id};

/// How long closing writes (the final ERROR, the close frame) may wait for a
/// client that is not reading.
pub const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection ends.
#[derive(Debug)]
pub enum End {
    /// Write what is waiting, then the close frame: the client closed or
    /// went silent, or the session closed itself (its ERROR or DISCONNECT
    /// receipt is already written).
    Close,
    /// The client stopped reading: write nothing more, drop the socket.
    Abandon,
    /// A refusal decided outside the session (an unknown room, a decoding
    /// error, a slow consumer, a failed store): ERROR `message`, after the
    /// stores before it are answered.
    Error {
        message: String,
        receipt: Option<String>,
    },
    /// Server shutdown: answer pending stores, refuse a SEND held by the
    /// send rate, close with 1012 so clients reconnect elsewhere.
    Restart,
}

impl End {
    pub fn error(message: impl Into<String>, receipt: Option<&str>) -> Self {
        End::Error {
            message: message.into(),
            receipt: receipt.map(str::to_string),
        }
    }

    /// An error for a frame the decoder could not read: its receipt may be
    /// echoed only if it is a valid id.
    pub fn undecodable(message: impl Into<String>, receipt: Option<&str>) -> Self {
        End::error(message, echoable(receipt))
    }
}

/// A receipt from a frame the session has not validated (one the decoder
/// failed on, or one held back) may be echoed only if it is a valid id.
pub fn echoable(receipt: Option<&str>) -> Option<&str> {
    receipt.filter(|r| check_id(r, MAX_ID_CHARS).is_ok())
}

/// `Ok` while the connection goes on.
pub type Flow = Result<(), End>;

/// Close code 1012 (service restart): clients reconnect elsewhere.
pub fn restart_reason() -> CloseReason {
    CloseReason {
        code: CloseCode::Restart,
        description: Some("server restarting".into()),
    }
}

/// Writes what is waiting within [`CLOSE_WRITE_TIMEOUT`], then the close
/// frame; nothing when the client was abandoned. True if the close frame
/// was written (the client may still be sending: the socket lingers).
pub async fn close_socket(
    mut outbox: Outbox,
    reason: Option<CloseReason>,
    abandoned: bool,
) -> bool {
    if abandoned || !outbox.drain(CLOSE_WRITE_TIMEOUT).await {
        return false;
    }
    outbox.close(reason, CLOSE_WRITE_TIMEOUT).await
}
