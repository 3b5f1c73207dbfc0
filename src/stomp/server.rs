//! Frames the server sends, and their encoding: the only frames the server
//! encodes.
//!
//! [`ServerFrame`] is the general encoder (CONNECTED, RECEIPT, ERROR, and a
//! MESSAGE for one subscriber). [`EncodedMessage`] is the fan-out path: the
//! MESSAGE of a room message is encoded once, and each subscriber only adds
//! its own `subscription` (and `ack`) header in front of the shared bytes.

use bytes::{BufMut, Bytes, BytesMut};

use super::Version;
use super::frame::{Command, Frame};
use super::headers::{Escaping, write_content_length, write_header};

/// The commands a server sends (STOMP 1.2, "Server Frames").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerCommand {
    Connected,
    Message,
    Receipt,
    Error,
}

impl ServerCommand {
    pub const ALL: [ServerCommand; 4] = [
        ServerCommand::Connected,
        ServerCommand::Message,
        ServerCommand::Receipt,
        ServerCommand::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerCommand::Connected => "CONNECTED",
            ServerCommand::Message => "MESSAGE",
            ServerCommand::Receipt => "RECEIPT",
            ServerCommand::Error => "ERROR",
        }
    }
}

/// A server frame, headers in the order they will be written.
///
/// Do not add `content-length`: [`encode`](Frame::encode) writes it from the
/// body (when there is one) and drops any given.
pub type ServerFrame = Frame<ServerCommand>;

impl Command for ServerCommand {
    fn as_str(self) -> &'static str {
        ServerCommand::as_str(self)
    }

    fn never_escaped(self) -> bool {
        self == ServerCommand::Connected
    }
}

impl ServerFrame {
    /// `RECEIPT` with `receipt-id`.
    pub fn receipt(receipt_id: impl Into<String>) -> Self {
        ServerFrame::new(ServerCommand::Receipt).with_header("receipt-id", receipt_id)
    }

    /// `ERROR` with `message`.
    pub fn error(message: impl Into<String>) -> Self {
        ServerFrame::new(ServerCommand::Error).with_header("message", message)
    }
}

/// The `subscription` header of one subscription, escaped once for the
/// subscriber's version when it subscribes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionHeader {
    escaping: Escaping,
    /// `subscription:<escaped id>` and LF.
    line: Bytes,
}

impl SubscriptionHeader {
    pub fn new(version: Version, subscription_id: &str) -> Self {
        let escaping = Escaping::new(version, false);
        let mut line = BytesMut::new();
        write_header(&mut line, "subscription", subscription_id, escaping);
        SubscriptionHeader {
            escaping,
            line: line.freeze(),
        }
    }
}

/// A MESSAGE encoded once, for all the subscribers of a destination.
///
/// Cheap to clone (reference-counted bytes). Per subscriber,
/// [`write_for`](EncodedMessage::write_for) concatenates
/// `MESSAGE`, that subscriber's [`SubscriptionHeader`], its optional `ack`
/// header, and the shared headers, `content-length` and body: the same bytes
/// as a [`ServerFrame`] whose headers are `subscription`, `ack`, then the
/// shared ones.
///
/// The shared headers are escaped once per version only when one of them
/// needs escaping at all (destinations, ids and numbers never do); otherwise
/// every version shares one buffer.
#[derive(Clone, Debug)]
pub struct EncodedMessage {
    /// Shared headers and `content-length`, by [`Escaping`] (`Raw`, `V11`, `V12`).
    heads: [Bytes; 3],
    /// Blank line, body, NUL.
    tail: Bytes,
}

impl EncodedMessage {
    /// `headers`: what every subscriber gets, in order, e.g. `destination`,
    /// `message-id`, `seq`, `content-type`. Not `subscription` or `ack`, which
    /// are per subscriber, nor `content-length`, which is written from
    /// `body` (when not empty) and dropped if given.
    pub fn new(headers: &[(&str, &str)], body: &[u8]) -> Self {
        let head = |escaping| {
            let mut out = BytesMut::new();
            for &(name, value) in headers {
                if name != "content-length" {
                    write_header(&mut out, name, value, escaping);
                }
            }
            if !body.is_empty() {
                write_content_length(&mut out, body.len());
            }
            out.freeze()
        };
        let special = |b: u8| matches!(b, b'\\' | b'\n' | b'\r' | b':');
        let needs_escaping = headers
            .iter()
            .any(|(name, value)| name.bytes().chain(value.bytes()).any(special));
        let heads = if needs_escaping {
            [Escaping::Raw, Escaping::V11, Escaping::V12].map(head)
        } else {
            let shared = head(Escaping::V12);
            [shared.clone(), shared.clone(), shared]
        };
        let mut tail = BytesMut::with_capacity(body.len() + 2);
        tail.put_u8(b'\n');
        tail.put_slice(body);
        tail.put_u8(0);
        EncodedMessage {
            heads,
            tail: tail.freeze(),
        }
    }

    /// Appends this MESSAGE as sent to one subscriber. `ack` is the value of
    /// the `ack` header for `client` and `client-individual` subscriptions.
    pub fn write_for(
        &self,
        subscription: &SubscriptionHeader,
        ack: Option<&str>,
        out: &mut BytesMut,
    ) {
        let head = &self.heads[subscription.escaping as usize];
        let ack_len = ack.map_or(0, |ack| "ack:\n".len() + 2 * ack.len());
        out.reserve(
            b"MESSAGE\n".len() + subscription.line.len() + ack_len + head.len() + self.tail.len(),
        );
        out.put_slice(b"MESSAGE\n");
        out.put_slice(&subscription.line);
        if let Some(ack) = ack {
            write_header(out, "ack", ack, subscription.escaping);
        }
        out.put_slice(head);
        out.put_slice(&self.tail);
    }

    /// This MESSAGE as sent to one subscriber, in a buffer of its own.
    pub fn for_subscriber(&self, subscription: &SubscriptionHeader, ack: Option<&str>) -> Bytes {
        let mut out = BytesMut::new();
        self.write_for(subscription, ack, &mut out);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn connected_is_never_escaped() {
        let frame = ServerFrame::new(ServerCommand::Connected)
            .with_header("version", "1.2")
            .with_header("server", "parley/0.1.0")
            .with_header("user-name", "a:b\\c");
        assert_eq!(
            text(&frame.encode(Version::V1_2)),
            "CONNECTED\nversion:1.2\nserver:parley/0.1.0\nuser-name:a:b\\c\n\n\0"
        );
    }

    #[test]
    fn headers_are_escaped_per_version() {
        let frame = ServerFrame::error("bad\r\n:\\frame");
        assert_eq!(
            text(&frame.encode(Version::V1_2)),
            "ERROR\nmessage:bad\\r\\n\\c\\\\frame\n\n\0"
        );
        assert_eq!(
            text(&frame.encode(Version::V1_1)),
            "ERROR\nmessage:bad\r\\n\\c\\\\frame\n\n\0"
        );
        assert_eq!(
            text(&frame.encode(Version::V1_0)),
            "ERROR\nmessage:bad  :\\frame\n\n\0",
            "1.0 has no escapes: line breaks cannot be sent"
        );
    }

    #[test]
    fn receipt_has_its_id_and_headers_in_order() {
        let frame = ServerFrame::receipt("r-1")
            .with_header("message-id", "42")
            .with_header("seq", "7");
        assert_eq!(
            text(&frame.encode(Version::V1_2)),
            "RECEIPT\nreceipt-id:r-1\nmessage-id:42\nseq:7\n\n\0"
        );
    }

    #[test]
    fn a_body_gets_its_content_length() {
        let frame = ServerFrame::error("bad frame")
            .with_header("content-length", "1")
            .with_header("content-type", "text/plain")
            .with_body("a\0b");
        assert_eq!(
            &frame.encode(Version::V1_2)[..],
            b"ERROR\nmessage:bad frame\ncontent-type:text/plain\ncontent-length:3\n\na\0b\0",
            "the given content-length is replaced by the body's"
        );
    }

    fn shared_headers() -> [(&'static str, &'static str); 4] {
        [
            ("destination", "/topic/rooms/general"),
            ("message-id", "42"),
            ("seq", "7"),
            ("content-type", "application/json"),
        ]
    }

    #[test]
    fn a_message_is_encoded_once_and_tagged_per_subscriber() {
        let message = EncodedMessage::new(&shared_headers(), br#"{"id":42}"#);
        let alice = SubscriptionHeader::new(Version::V1_2, "sub-0");
        let bob = SubscriptionHeader::new(Version::V1_1, "a:b");
        let mut out = BytesMut::new();
        message.write_for(&alice, None, &mut out);
        message.write_for(&bob, Some("ack-1"), &mut out);
        assert_eq!(
            text(&out),
            "MESSAGE\nsubscription:sub-0\ndestination:/topic/rooms/general\nmessage-id:42\nseq:7\n\
             content-type:application/json\ncontent-length:9\n\n{\"id\":42}\0\
             MESSAGE\nsubscription:a\\cb\nack:ack-1\ndestination:/topic/rooms/general\n\
             message-id:42\nseq:7\ncontent-type:application/json\ncontent-length:9\n\n{\"id\":42}\0"
        );
    }

    #[test]
    fn versions_share_one_encoding_when_nothing_needs_escaping() {
        let message = EncodedMessage::new(&shared_headers(), b"{}");
        assert!(
            message
                .heads
                .iter()
                .all(|h| h.as_ptr() == message.heads[0].as_ptr())
        );
        let odd = EncodedMessage::new(&[("destination", "/a\rb")], b"{}");
        assert_ne!(odd.heads[1], odd.heads[2], "1.1 and 1.2 differ on CR");
    }

    #[test]
    fn a_subscriber_gets_the_same_bytes_as_a_single_server_frame() {
        for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let message = EncodedMessage::new(&[("destination", "/x:\r\n\\")], b"body");
            let header = SubscriptionHeader::new(version, "s\\1");
            let frame = ServerFrame::new(ServerCommand::Message)
                .with_header("subscription", "s\\1")
                .with_header("ack", "a:1")
                .with_header("destination", "/x:\r\n\\")
                .with_body("body");
            assert_eq!(
                message.for_subscriber(&header, Some("a:1")),
                frame.encode(version),
                "{version:?}"
            );
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::stomp::FrameLimits;
        use crate::stomp::testing::{as_decoded, decode_all, headers, representable, version};

        proptest! {
            #[test]
            fn server_frames_decode_back(
                version in version(),
                command in prop::sample::select(vec![
                    ServerCommand::Connected,
                    ServerCommand::Message,
                    ServerCommand::Receipt,
                    ServerCommand::Error,
                ]),
                headers in headers(),
                body in prop::collection::vec(any::<u8>(), 0..300),
            ) {
                let connected = command == ServerCommand::Connected;
                let headers = representable(headers, Escaping::new(version, connected));
                let frame = ServerFrame { command, headers, body: body.into() };
                let bytes = frame.encode(version);
                // Both directions share one grammar: read the frame with the
                // client decoder, under a client command escaped the same way.
                let stand_in: &[u8] = if connected { b"CONNECT" } else { b"BEGIN" };
                let wire = [stand_in, &bytes[command.as_str().len()..]].concat();
                let (frames, error) = decode_all(FrameLimits::default(), version, &wire);
                prop_assert_eq!(error, None);
                prop_assert_eq!(frames.len(), 1);
                prop_assert_eq!(&frames[0].headers, &as_decoded(&frame.headers, &frame.body));
                prop_assert_eq!(&frames[0].body, &frame.body);
            }

            #[test]
            fn every_subscriber_gets_a_complete_message(
                version in version(),
                shared in headers(),
                subscription in crate::stomp::testing::header_text(0..12),
                ack in prop::option::of(crate::stomp::testing::header_text(0..12)),
                body in prop::collection::vec(any::<u8>(), 0..300),
            ) {
                let shared: Vec<(&str, &str)> =
                    shared.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let message = EncodedMessage::new(&shared, &body);
                let header = SubscriptionHeader::new(version, &subscription);
                let mut frame = ServerFrame::new(ServerCommand::Message)
                    .with_header("subscription", subscription.clone());
                if let Some(ack) = &ack {
                    frame = frame.with_header("ack", ack.clone());
                }
                for (name, value) in &shared {
                    frame = frame.with_header(*name, *value);
                }
                let frame = frame.with_body(body);
                prop_assert_eq!(message.for_subscriber(&header, ack.as_deref()), frame.encode(version));
            }
        }
    }
}
