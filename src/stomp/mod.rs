//! STOMP 1.1/1.2 wire codec: bytes in, frames out, and frames in, bytes out.
//!
//! This module owns the STOMP grammar (command line, header lines, blank line,
//! body, NUL), header escaping per version, heart-beat EOLs between frames, and
//! the size limits a frame must respect. It is pure: no I/O, no async, no
//! clock, no knowledge of rooms, users or sessions. The session decides what a
//! frame means; the gateway moves the bytes.
//!
//! Frames are typed by direction, as the server sees them:
//! - [`Decoder`] turns client bytes into [`ClientFrame`]s (it never yields a
//!   server command);
//! - [`ServerFrame`] and [`EncodedMessage`] turn server frames into bytes.
//!   `EncodedMessage` is the fan-out path: a MESSAGE is encoded once per room
//!   message, and each subscriber only adds its `subscription` (and `ack`)
//!   header to the shared bytes.
//!
//! [`ClientFrame::encode`] exists for test clients and tools; the server never
//! sends client frames.
//!
//! Spec rules applied here (STOMP 1.2, "Augmented BNF" and "Value Encoding"):
//! - EOL is LF or CRLF; CRLF is accepted in 1.1 and before negotiation too;
//! - header values (and names) are escaped except in CONNECT, STOMP and
//!   CONNECTED; an undefined escape is a fatal error;
//! - headers are never trimmed; when a header repeats, the first one wins;
//! - with `content-length` the body is exactly that many octets (NUL allowed),
//!   followed by NUL; without it the body ends at the first NUL.

mod client;
mod decode;
mod frame;
mod headers;
mod limits;
mod server;
#[cfg(test)]
mod testing;

pub use client::{ClientCommand, ClientFrame};
pub use decode::{Decoder, FrameError};
pub use frame::{Command, Frame};
pub use limits::FrameLimits;
pub use server::{EncodedMessage, ServerCommand, ServerFrame, SubscriptionHeader};

/// A STOMP protocol version. It decides how header values are escaped.
///
/// 1.0 has no escaping at all; it is what the decoder assumes until the
/// session has negotiated a version (the server itself only negotiates 1.1
/// and 1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    /// The version as written in `accept-version` and `version` headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// The highest version the server speaks (1.1 or 1.2) among those listed
    /// in a CONNECT `accept-version` value, e.g. `"1.0,1.1,1.2"`.
    /// `None` when the client offers neither.
    pub fn negotiate(accept_version: &str) -> Option<Version> {
        // Lenient about spaces after commas, which some clients write.
        let offered = |v: Version| accept_version.split(',').any(|s| s.trim() == v.as_str());
        [Version::V1_2, Version::V1_1]
            .into_iter()
            .find(|&v| offered(v))
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn negotiation_picks_the_highest_version_the_server_speaks() {
        assert_eq!(Version::negotiate("1.0,1.1,1.2"), Some(Version::V1_2));
        assert_eq!(Version::negotiate("1.1"), Some(Version::V1_1));
        assert_eq!(Version::negotiate("1.2,1.1"), Some(Version::V1_2));
        assert_eq!(Version::negotiate("1.0, 1.1"), Some(Version::V1_1));
        assert_eq!(Version::negotiate("1.0"), None, "1.0 alone is refused");
        assert_eq!(Version::negotiate(""), None);
        assert_eq!(Version::negotiate("1.3"), None);
    }
}
