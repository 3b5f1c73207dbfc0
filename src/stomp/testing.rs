//! Helpers for the codec's own tests: feeding a decoder, a sample stream, and
//! proptest strategies.

use proptest::prelude::*;

use super::headers::Escaping;
use super::{ClientCommand, ClientFrame, Decoder, FrameError, FrameLimits, Version};

/// What a connection gets out of `chunks`: the frames, then the error if any.
pub(crate) fn decode_chunked(
    limits: FrameLimits,
    version: Version,
    chunks: &[&[u8]],
) -> (Vec<ClientFrame>, Option<FrameError>) {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut frames = Vec::new();
    for chunk in chunks {
        if let Err(error) = decoder.push(chunk) {
            return (frames, Some(error));
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

pub(crate) fn decode_all(
    limits: FrameLimits,
    version: Version,
    bytes: &[u8],
) -> (Vec<ClientFrame>, Option<FrameError>) {
    decode_chunked(limits, version, &[bytes])
}

/// `bytes` cut at `cuts` (any order, any value: they are clamped).
pub(crate) fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        chunks.push(bytes[from..point].to_vec());
        from = point;
    }
    chunks
}

/// A 1.2 session's worth of frames, with CRLF, heart-beats, escapes, a NUL in
/// a content-length body.
pub(crate) mod frames {
    use super::*;

    pub(crate) fn stream() -> Vec<u8> {
        [
            &b"\r\nCONNECT\r\naccept-version:1.2\r\nhost:a\\c\r\n\r\n\0\n"[..],
            b"SUBSCRIBE\nid:0\ndestination:/topic/rooms/general\nack:client\n\n\0\r\n",
            b"SEND\ndestination:/topic/rooms/general\ncontent-length:5\nx:a\\nb\\cc\\\\d\\re\n\nh\0i\n\n\0\n\n",
            b"SEND\ndestination:/topic/rooms/general\n\nplain body\0",
            b"DISCONNECT\nreceipt:bye\n\n\0\n",
        ]
        .concat()
    }

    pub(crate) fn expected() -> Vec<ClientFrame> {
        let room = "/topic/rooms/general";
        vec![
            ClientFrame::new(ClientCommand::Connect)
                .with_header("accept-version", "1.2")
                .with_header("host", "a\\c"),
            ClientFrame::new(ClientCommand::Subscribe)
                .with_header("id", "0")
                .with_header("destination", room)
                .with_header("ack", "client"),
            ClientFrame::new(ClientCommand::Send)
                .with_header("destination", room)
                .with_header("content-length", "5")
                .with_header("x", "a\nb:c\\d\re")
                .with_body(&b"h\0i\n\n"[..]),
            ClientFrame::new(ClientCommand::Send)
                .with_header("destination", room)
                .with_body(&b"plain body"[..]),
            ClientFrame::new(ClientCommand::Disconnect).with_header("receipt", "bye"),
        ]
    }
}

pub(crate) fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(vec![Version::V1_0, Version::V1_1, Version::V1_2])
}

/// Text rich in the octets escaping is about.
pub(crate) fn header_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![':', '\n', '\r', '\\', '\0', 'c', 'n', 'r', ' ']);
    let ch = prop_oneof![3 => special, 2 => any::<char>(), 3 => prop::char::range('a', 'z')];
    prop::collection::vec(ch, len).prop_map(String::from_iter)
}

pub(crate) fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((header_text(1..10), header_text(0..20)), 0..8)
}

pub(crate) fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let body = prop::collection::vec(any::<u8>(), 0..300);
    (
        prop::sample::select(ClientCommand::ALL.to_vec()),
        headers(),
        body,
    )
        .prop_map(|(command, headers, body)| ClientFrame {
            command,
            headers,
            body: body.into(),
        })
}

/// Small limits, so that streams of generated frames hit them.
pub(crate) fn limits() -> impl Strategy<Value = FrameLimits> {
    let small = (1usize..400, 0usize..8, 0usize..48, 0usize..200).prop_map(
        |(max_frame_bytes, max_headers, max_header_line_bytes, max_send_body_bytes)| FrameLimits {
            max_frame_bytes,
            max_headers,
            max_header_line_bytes,
            max_send_body_bytes,
        },
    );
    prop_oneof![Just(FrameLimits::default()), small]
}

/// `headers` changed where `escaping` cannot carry them, so that they come
/// back unchanged from a round trip: raw frames have no way to write line
/// breaks (nor a colon in a name); in 1.1 a value ending in CR loses it to
/// the lenient CRLF rule. `content-length` is the encoder's own header.
pub(crate) fn representable(
    headers: Vec<(String, String)>,
    escaping: Escaping,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(mut name, mut value)| {
            if escaping == Escaping::Raw {
                name = name.replace([':', '\n', '\r'], "_");
                value = value.replace(['\n', '\r'], " ");
            }
            if escaping == Escaping::V11 && value.ends_with('\r') {
                value.push('.');
            }
            if name == "content-length" {
                name.push('-');
            }
            (name, value)
        })
        .collect()
}

/// The headers a decoder reads back from an encoding of `headers` with `body`.
pub(crate) fn as_decoded(headers: &[(String, String)], body: &[u8]) -> Vec<(String, String)> {
    let mut decoded: Vec<_> = headers
        .iter()
        .filter(|(name, _)| name != "content-length")
        .cloned()
        .collect();
    if !body.is_empty() {
        decoded.push(("content-length".into(), body.len().to_string()));
    }
    decoded
}
