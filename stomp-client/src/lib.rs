//! The one STOMP 1.2 over WebSocket client of Parley's tests (`tests/api`,
//! `tests/cluster`) and of the load generator (`bench/`).
//!
//! - [`codec`]: frames without I/O. Client frames are encoded exactly as
//!   given (tests send malformed ones on purpose); server frames are decoded
//!   by a streaming, zero-copy [`Decoder`], owned as a [`Frame`] when kept.
//! - [`client`]: a [`StompClient`] over tokio-tungstenite with bounded waits
//!   and test expectations. The load generator opens its own tuned sockets
//!   and uses only the codec.
//!
//! It knows Parley only by its `/ws` path and `/topic/rooms/{room}`
//! destinations; it must not depend on the server crate.

pub mod client;
pub mod codec;

pub use client::{Endpoint, Event, Handshake, HandshakeResponse, StompClient, WAIT};
pub use codec::{
    DecodeError, Decoder, Frame, FrameRef, connect_frame, escape, frame, text_frame, topic,
    unescape,
};
pub use tokio_tungstenite::tungstenite;
