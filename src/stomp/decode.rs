//! Incremental decoder of client frames.
//!
//! Owns the read buffer of one connection and the progress made on the frame
//! at its front. Bytes arrive in arbitrary chunks ([`Decoder::push`]) and
//! frames come out whole ([`Decoder::next_frame`]); running out of bytes is
//! `Ok(None)`, not an error. It never blocks, never panics, and never holds
//! more than the frame in progress plus the last chunk pushed.
//!
//! The scan is resumable: every head line and every body octet is looked at
//! once, however small the chunks, so a client dribbling bytes cannot make the
//! server rescan its buffer.
//!
//! Errors do not depend on chunking either: when several limits are exceeded
//! at once, the one reported is the one a byte-at-a-time reader would have hit
//! first. A chunked stream and the same bytes in one piece give the same
//! frames and the same error.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use super::Version;
use super::client::{ClientCommand, ClientFrame};
use super::headers::{Escaping, unescape};
use super::limits::FrameLimits;

/// Longest valid command line, CR included (`UNSUBSCRIBE\r`). A longer first
/// line is an unknown command without waiting for its LF.
const MAX_COMMAND_LINE: usize = 12;

/// Why a client's bytes are not a valid frame. Every variant is fatal: the
/// session answers ERROR with the `Display` text as `message`, then closes.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame too large")]
    FrameTooLarge,
    /// With the frame's `receipt` header (the head is complete when the body
    /// turns out too large), so the ERROR can name it.
    #[error("body too large")]
    BodyTooLarge(Option<String>),
    #[error("too many headers")]
    TooManyHeaders,
    #[error("header line too long")]
    HeaderTooLong,
    #[error("undefined escape sequence in header")]
    UndefinedEscape,
    /// The command as received, cut short and limited to printable ASCII so
    /// it can be echoed in a header; and the frame's `receipt` header, read
    /// (unescaped) from its head so the ERROR can name it.
    #[error("unknown command {0}")]
    UnknownCommand(String, Option<String>),
    #[error("malformed header line")]
    MalformedHeader,
    #[error("invalid content-length")]
    InvalidContentLength,
    #[error("frame body not followed by NUL")]
    MissingNul,
    #[error("invalid UTF-8 in header")]
    InvalidUtf8,
}

impl FrameError {
    /// The `receipt` the failing frame asked for, when it could be read.
    pub fn receipt(&self) -> Option<&str> {
        match self {
            FrameError::UnknownCommand(_, receipt) | FrameError::BodyTooLarge(receipt) => {
                receipt.as_deref()
            }
            _ => None,
        }
    }
}

/// Decodes the byte stream of one client connection into [`ClientFrame`]s.
///
/// Use: after each [`push`](Decoder::push), call
/// [`next_frame`](Decoder::next_frame) until it returns `Ok(None)`. After an
/// error the decoder is poisoned: it drops its buffer and returns the same
/// error forever, since the session closes anyway.
#[derive(Debug)]
pub struct Decoder {
    limits: FrameLimits,
    version: Version,
    buf: BytesMut,
    partial: Partial,
    poisoned: Option<FrameError>,
}

/// What is known of the frame at the front of `buf`. Offsets are relative to
/// the start of `buf`, which is always the frame's first octet (heart-beat
/// EOLs are dropped as they are skipped).
#[derive(Debug, Default)]
struct Partial {
    command: Option<ClientCommand>,
    /// An unknown command line (as shown in the error): its head is still
    /// read, for the `receipt` header, before the error is reported.
    unknown: Option<String>,
    headers: Vec<(String, String)>,
    /// Start of the head line being read.
    line_start: usize,
    /// `buf[..scanned]` has been searched already: it holds no LF after
    /// `line_start` (head), or no NUL in the body.
    scanned: usize,
    /// Set once the blank line ending the head has been read.
    body: Option<Body>,
}

#[derive(Clone, Copy, Debug)]
struct Body {
    command: ClientCommand,
    start: usize,
    content_length: Option<usize>,
}

/// A complete frame at the front of `buf`.
struct Ready {
    command: ClientCommand,
    body_start: usize,
    /// Offset of the terminating NUL.
    nul: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(FrameLimits::default())
    }
}

impl Decoder {
    /// A decoder for a new connection: no escaping until
    /// [`set_version`](Decoder::set_version).
    pub fn new(limits: FrameLimits) -> Self {
        Decoder {
            limits,
            version: Version::V1_0,
            buf: BytesMut::new(),
            partial: Partial::default(),
            poisoned: None,
        }
    }

    /// Sets the escaping rules for the frames after CONNECTED. A frame
    /// already partly read is read again from its start under the new rules,
    /// so it does not matter whether its bytes came before the call.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
        self.partial = Partial::default();
    }

    /// Appends bytes received from the client. Fails as soon as the frame in
    /// progress breaks a rule or a limit, without waiting for the rest of it.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(error) = &self.poisoned {
            return Err(error.clone());
        }
        self.buf.extend_from_slice(bytes);
        self.scan_or_poison().map(|_| ())
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<ClientFrame>, FrameError> {
        if let Some(error) = &self.poisoned {
            return Err(error.clone());
        }
        Ok(self.scan_or_poison()?.map(|ready| self.take(ready)))
    }

    fn scan_or_poison(&mut self) -> Result<Option<Ready>, FrameError> {
        self.scan().inspect_err(|error| {
            self.poisoned = Some(error.clone());
            self.buf = BytesMut::new();
            self.partial = Partial::default();
        })
    }

    fn take(&mut self, ready: Ready) -> ClientFrame {
        let partial = std::mem::take(&mut self.partial);
        // A copy, not a split of the read buffer: bodies are small, and a
        // long-lived body must not pin (or force reallocation of) the buffer.
        let body = Bytes::copy_from_slice(&self.buf[ready.body_start..ready.nul]);
        self.buf.advance(ready.nul + 1);
        ClientFrame {
            command: ready.command,
            headers: partial.headers,
            body,
        }
    }

    /// Advances over the frame at the front of the buffer as far as the bytes
    /// allow.
    fn scan(&mut self) -> Result<Option<Ready>, FrameError> {
        loop {
            if let Some(body) = self.partial.body {
                return self.scan_body(body);
            }
            if self.partial.command.is_none()
                && self.partial.scanned == 0
                && !self.skip_heart_beats()
            {
                return Ok(None);
            }
            let from = self.partial.scanned;
            let line_start = self.partial.line_start;
            match self.buf[from..].iter().position(|&b| b == b'\n') {
                None => {
                    self.partial.scanned = self.buf.len();
                    self.check_head_limits(self.buf.len(), self.buf.len() - line_start)?;
                    return Ok(None);
                }
                Some(i) => {
                    let lf = from + i;
                    self.check_head_limits(lf + 1, lf - line_start)?;
                    self.read_head_line(lf)?;
                    self.partial.line_start = lf + 1;
                    self.partial.scanned = lf + 1;
                }
            }
        }
    }

    /// Drops the EOLs a client sends between frames as heart-beats. Returns
    /// whether a frame starts at the front of the buffer.
    fn skip_heart_beats(&mut self) -> bool {
        loop {
            match self.buf[..] {
                [b'\n', ..] => self.buf.advance(1),
                [b'\r', b'\n', ..] => self.buf.advance(2),
                // A lone CR may be the start of a CRLF heart-beat.
                [] | [b'\r'] => return false,
                _ => return true,
            }
        }
    }

    /// `frame_len`: octets of the frame seen so far; `line_len`: octets of the
    /// current head line seen so far, LF excluded.
    fn check_head_limits(&self, frame_len: usize, line_len: usize) -> Result<(), FrameError> {
        let command_line = self.partial.command.is_none() && self.partial.unknown.is_none();
        let line_max = if command_line {
            MAX_COMMAND_LINE
        } else {
            self.limits.max_header_line_bytes
        };
        let line_error = || {
            if command_line {
                unknown_command(&self.buf[..line_len.min(MAX_COMMAND_LINE)])
            } else {
                FrameError::HeaderTooLong
            }
        };
        let frame_trips_at = self.limits.max_frame_bytes.saturating_add(1);
        let line_trips_at = self
            .partial
            .line_start
            .saturating_add(line_max)
            .saturating_add(1);
        match (frame_len > self.limits.max_frame_bytes, line_len > line_max) {
            (true, true) if line_trips_at < frame_trips_at => Err(line_error()),
            (true, _) => Err(FrameError::FrameTooLarge),
            (false, true) => Err(line_error()),
            (false, false) => Ok(()),
        }
    }

    /// Reads the complete head line ending with the LF at `lf`.
    fn read_head_line(&mut self, lf: usize) -> Result<(), FrameError> {
        let Self {
            buf,
            partial,
            limits,
            version,
            ..
        } = self;
        let mut line = &buf[partial.line_start..lf];
        // CRLF is the 1.2 EOL; accepted in 1.1 and before negotiation too,
        // since real clients send it whatever they announce.
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if let Some(shown) = &partial.unknown {
            if line.is_empty() {
                let receipt = receipt_of(&partial.headers);
                return Err(FrameError::UnknownCommand(shown.clone(), receipt));
            }
            if partial.headers.len() >= limits.max_headers {
                return Err(FrameError::TooManyHeaders);
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                partial
                    .headers
                    .push((text(&line[..colon]), text(&line[colon + 1..])));
            }
            return Ok(());
        }
        let Some(command) = partial.command else {
            match ClientCommand::from_wire(line) {
                Some(command) => partial.command = Some(command),
                None => match unknown_command(line) {
                    FrameError::UnknownCommand(shown, _) => partial.unknown = Some(shown),
                    other => return Err(other),
                },
            }
            return Ok(());
        };
        if line.is_empty() {
            let start = lf + 1;
            partial.body = Some(body_of(command, start, &partial.headers, limits)?);
            partial.scanned = start;
            return Ok(());
        }
        if partial.headers.len() >= limits.max_headers {
            return Err(FrameError::TooManyHeaders);
        }
        // Split at the first colon: values may hold more (STOMP 1.0 style).
        let colon = line.iter().position(|&b| b == b':');
        let (name, value) = match colon {
            Some(0) | None => return Err(FrameError::MalformedHeader),
            Some(colon) => (&line[..colon], &line[colon + 1..]),
        };
        let escaping = Escaping::new(*version, command.opens_session());
        partial
            .headers
            .push((unescape(name, escaping)?, unescape(value, escaping)?));
        Ok(())
    }

    fn scan_body(&mut self, body: Body) -> Result<Option<Ready>, FrameError> {
        let ready = |nul| Ready {
            command: body.command,
            body_start: body.start,
            nul,
        };
        if let Some(len) = body.content_length {
            // `body_of` made sure the whole frame fits in the limits.
            let nul = body.start + len;
            return match self.buf.get(nul) {
                None => Ok(None),
                Some(0) => Ok(Some(ready(nul))),
                Some(_) => Err(FrameError::MissingNul),
            };
        }
        let from = self.partial.scanned;
        match self.buf[from..].iter().position(|&b| b == 0) {
            None => {
                self.partial.scanned = self.buf.len();
                self.check_body_limits(body, self.buf.len(), self.buf.len() - body.start)?;
                Ok(None)
            }
            Some(i) => {
                let nul = from + i;
                self.check_body_limits(body, nul + 1, nul - body.start)?;
                self.partial.scanned = nul;
                Ok(Some(ready(nul)))
            }
        }
    }

    /// Limits on a NUL-terminated body: `frame_len` octets of the frame seen,
    /// `body_len` of them in the body.
    fn check_body_limits(
        &self,
        body: Body,
        frame_len: usize,
        body_len: usize,
    ) -> Result<(), FrameError> {
        let body_max = match body.command {
            ClientCommand::Send => self.limits.max_send_body_bytes,
            _ => usize::MAX,
        };
        let frame_trips_at = self.limits.max_frame_bytes.saturating_add(1);
        let body_trips_at = body.start.saturating_add(body_max).saturating_add(1);
        let too_large = || FrameError::BodyTooLarge(receipt_of(&self.partial.headers));
        match (frame_len > self.limits.max_frame_bytes, body_len > body_max) {
            (true, true) if body_trips_at <= frame_trips_at => Err(too_large()),
            (true, _) => Err(FrameError::FrameTooLarge),
            (false, true) => Err(too_large()),
            (false, false) => Ok(()),
        }
    }
}

/// The `receipt` header among those read so far (the first one wins).
fn receipt_of(headers: &[(String, String)]) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == "receipt")
        .map(|(_, v)| v.clone())
}

/// The body to expect once the head is read; rejects, before any body octet
/// arrives, a `content-length` over the limits.
fn body_of(
    command: ClientCommand,
    start: usize,
    headers: &[(String, String)],
    limits: &FrameLimits,
) -> Result<Body, FrameError> {
    let content_length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| parse_content_length(value))
        .transpose()?;
    if let Some(len) = content_length {
        if command == ClientCommand::Send && len > limits.max_send_body_bytes {
            return Err(FrameError::BodyTooLarge(receipt_of(headers)));
        }
        // Body plus its NUL.
        let frame_len = start.checked_add(len).and_then(|n| n.checked_add(1));
        if frame_len.is_none_or(|n| n > limits.max_frame_bytes) {
            return Err(FrameError::FrameTooLarge);
        }
    }
    Ok(Body {
        command,
        start,
        content_length,
    })
}

/// Decimal digits only: no sign, no spaces (headers are never trimmed).
/// Absurdly large values saturate; the limits then reject them.
fn parse_content_length(value: &str) -> Result<usize, FrameError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameError::InvalidContentLength);
    }
    Ok(value.bytes().fold(0usize, |n, digit| {
        n.saturating_mul(10)
            .saturating_add(usize::from(digit - b'0'))
    }))
}

fn unknown_command(line: &[u8]) -> FrameError {
    let shown = line
        .iter()
        .take(MAX_COMMAND_LINE)
        .map(|&b| match b {
            b' '..=b'~' => char::from(b),
            _ => '?',
        })
        .collect();
    FrameError::UnknownCommand(shown, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stomp::testing::{decode_all, decode_chunked, frames};

    fn limits() -> FrameLimits {
        FrameLimits::default()
    }

    fn one(version: Version, bytes: &[u8]) -> Result<ClientFrame, FrameError> {
        let mut decoder = Decoder::new(limits());
        decoder.set_version(version);
        decoder.push(bytes)?;
        let frame = decoder.next_frame()?.expect("a complete frame");
        assert_eq!(decoder.next_frame(), Ok(None), "exactly one frame");
        Ok(frame)
    }

    fn error_of(decoder_limits: FrameLimits, bytes: &[u8]) -> FrameError {
        let (_, error) = decode_all(decoder_limits, Version::V1_2, bytes);
        error.expect("an error")
    }

    #[test]
    fn decodes_a_frame_with_headers_and_body() {
        let frame = one(
            Version::V1_2,
            b"SEND\ndestination:/topic/rooms/general\nreceipt:r1\n\nhello\0",
        )
        .unwrap();
        assert_eq!(frame.command, ClientCommand::Send);
        assert_eq!(frame.header("destination"), Some("/topic/rooms/general"));
        assert_eq!(frame.header("receipt"), Some("r1"));
        assert_eq!(&frame.body[..], b"hello");
    }

    #[test]
    fn crlf_line_endings_are_accepted_in_every_version() {
        for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let frame = one(version, b"SEND\r\ndestination:/a\r\nx:y\r\n\r\nhi\0").unwrap();
            assert_eq!(frame.command, ClientCommand::Send);
            assert_eq!(frame.header("destination"), Some("/a"), "{version:?}");
            assert_eq!(frame.header("x"), Some("y"), "CR is not part of the value");
            assert_eq!(&frame.body[..], b"hi");
        }
    }

    #[test]
    fn only_one_cr_is_taken_as_part_of_the_eol() {
        let frame = one(Version::V1_1, b"SEND\nx:y\r\r\n\n\0").unwrap();
        assert_eq!(frame.header("x"), Some("y\r"));
    }

    #[test]
    fn heart_beats_between_frames_are_skipped() {
        let stream = b"\n\r\n\nDISCONNECT\n\n\0\n\r\n\r\nBEGIN\ntransaction:t\n\n\0\n\n";
        let (frames, error) = decode_all(limits(), Version::V1_2, stream);
        assert_eq!(error, None);
        let commands: Vec<_> = frames.iter().map(|f| f.command).collect();
        assert_eq!(commands, [ClientCommand::Disconnect, ClientCommand::Begin]);
    }

    #[test]
    fn a_lone_cr_waits_for_its_lf() {
        let mut decoder = Decoder::default();
        decoder.push(b"\r").unwrap();
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(b"\nACK\nid:1\n\n\0").unwrap();
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().header("id"),
            Some("1")
        );
        assert!(decoder.buf.is_empty());
    }

    #[test]
    fn heart_beats_alone_use_no_memory() {
        let mut decoder = Decoder::default();
        for _ in 0..100_000 {
            decoder.push(b"\r\n").unwrap();
            assert_eq!(decoder.next_frame(), Ok(None));
        }
        assert!(decoder.buf.is_empty());
    }

    #[test]
    fn one_push_can_hold_several_frames() {
        let (frames, error) = decode_all(limits(), Version::V1_2, &frames::stream());
        assert_eq!(error, None);
        assert_eq!(frames, frames::expected());
    }

    #[test]
    fn a_frame_may_be_split_at_every_byte_position() {
        let stream = frames::stream();
        for at in 0..=stream.len() {
            let chunks = [&stream[..at], &stream[at..]];
            let (frames, error) = decode_chunked(limits(), Version::V1_2, &chunks);
            assert_eq!(error, None, "split at {at}");
            assert_eq!(frames, frames::expected(), "split at {at}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (frames, _) = decode_chunked(limits(), Version::V1_2, &bytes);
        assert_eq!(frames, frames::expected(), "one byte at a time");
    }

    #[test]
    fn repeated_headers_first_wins_and_all_are_kept() {
        let frame = one(Version::V1_2, b"SEND\ndestination:/a\ndestination:/b\n\n\0").unwrap();
        assert_eq!(frame.header("destination"), Some("/a"));
        assert_eq!(frame.headers.len(), 2);
    }

    #[test]
    fn the_first_content_length_wins() {
        let frame = one(
            Version::V1_2,
            b"SEND\ncontent-length:2\ncontent-length:5\n\nab\0",
        )
        .unwrap();
        assert_eq!(&frame.body[..], b"ab");
    }

    #[test]
    fn headers_are_never_trimmed() {
        let frame = one(Version::V1_2, b"SEND\n name : value \n\n\0").unwrap();
        assert_eq!(frame.headers, [(" name ".into(), " value ".into())]);
    }

    #[test]
    fn header_split_is_at_the_first_colon() {
        let frame = one(Version::V1_0, b"SEND\nurl:http://x:80\nempty:\n\n\0").unwrap();
        assert_eq!(frame.header("url"), Some("http://x:80"));
        assert_eq!(frame.header("empty"), Some(""));
    }

    #[test]
    fn content_length_body_may_contain_nul() {
        let frame = one(Version::V1_2, b"SEND\ncontent-length:5\n\na\0b\0c\0").unwrap();
        assert_eq!(&frame.body[..], b"a\0b\0c");
    }

    #[test]
    fn content_length_zero_is_an_empty_body() {
        let frame = one(Version::V1_2, b"SEND\ncontent-length:0\n\n\0").unwrap();
        assert!(frame.body.is_empty());
    }

    #[test]
    fn body_without_content_length_runs_to_the_first_nul() {
        let (frames, error) = decode_all(limits(), Version::V1_2, b"SEND\n\nab\0COMMIT\n\n\0");
        assert_eq!(error, None);
        assert_eq!(&frames[0].body[..], b"ab");
        assert_eq!(frames[1].command, ClientCommand::Commit);
    }

    #[test]
    fn content_length_body_must_be_followed_by_nul() {
        assert_eq!(
            error_of(limits(), b"SEND\ncontent-length:2\n\nabc\0"),
            FrameError::MissingNul
        );
    }

    #[test]
    fn escapes_are_decoded_per_version() {
        let wire = b"SEND\nk\\cey:a\\nb\\cc\\\\d\n\n\0";
        for version in [Version::V1_1, Version::V1_2] {
            let frame = one(version, wire).unwrap();
            assert_eq!(
                frame.headers,
                [("k:ey".into(), "a\nb:c\\d".into())],
                "{version:?}"
            );
        }
        let frame = one(Version::V1_2, b"SEND\nx:a\\rb\n\n\0").unwrap();
        assert_eq!(frame.header("x"), Some("a\rb"));
        assert_eq!(
            one(Version::V1_1, b"SEND\nx:a\\rb\n\n\0"),
            Err(FrameError::UndefinedEscape),
            "\\r is not defined in 1.1"
        );
    }

    #[test]
    fn an_undefined_escape_is_fatal() {
        for wire in [
            &b"SEND\nx:\\t\n\n\0"[..],
            b"SEND\nx:a\\\n\n\0",
            b"SEND\n\\x:1\n\n\0",
        ] {
            assert_eq!(one(Version::V1_2, wire), Err(FrameError::UndefinedEscape));
        }
    }

    #[test]
    fn connect_and_stomp_headers_are_never_unescaped() {
        for command in ["CONNECT", "STOMP"] {
            let wire = format!("{command}\npasscode:a\\cb\\t\n\n\0");
            let frame = one(Version::V1_2, wire.as_bytes()).unwrap();
            assert_eq!(frame.header("passcode"), Some("a\\cb\\t"), "{command}");
        }
    }

    #[test]
    fn frames_before_negotiation_are_not_unescaped() {
        let mut decoder = Decoder::default();
        decoder.push(b"SEND\nx:a\\tb\n\n\0").unwrap();
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().header("x"),
            Some("a\\tb")
        );
    }

    #[test]
    fn set_version_rereads_a_frame_already_partly_read() {
        let mut decoder = Decoder::default();
        decoder
            .push(b"CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:a\\cb\n")
            .unwrap();
        let connect = decoder.next_frame().unwrap().unwrap();
        assert_eq!(connect.command, ClientCommand::Connect);
        decoder.push(b"\n").unwrap(); // scans SUBSCRIBE's head before negotiation
        decoder.set_version(Version::V1_2);
        decoder.push(b"\0").unwrap();
        let subscribe = decoder.next_frame().unwrap().unwrap();
        assert_eq!(subscribe.header("id"), Some("a:b"), "unescaped as 1.2");
    }

    #[test]
    fn a_header_line_without_colon_is_malformed() {
        assert_eq!(
            error_of(limits(), b"SEND\nnocolon\n\n\0"),
            FrameError::MalformedHeader
        );
    }

    #[test]
    fn an_empty_header_name_is_malformed() {
        assert_eq!(
            error_of(limits(), b"SEND\n:value\n\n\0"),
            FrameError::MalformedHeader
        );
    }

    #[test]
    fn unknown_commands_are_rejected() {
        assert_eq!(
            error_of(limits(), b"MESSAGE\n\n\0"),
            FrameError::UnknownCommand("MESSAGE".into(), None)
        );
        assert_eq!(
            error_of(limits(), b"send\n\n\0"),
            FrameError::UnknownCommand("send".into(), None),
            "commands are case-sensitive"
        );
    }

    #[test]
    fn a_long_first_line_is_rejected_without_waiting_for_its_end() {
        let mut decoder = Decoder::default();
        assert_eq!(
            decoder.push(b"GET / HTTP/1.1"),
            Err(FrameError::UnknownCommand("GET / HTTP/1".into(), None))
        );
    }

    #[test]
    fn unknown_command_text_is_safe_to_echo() {
        assert_eq!(
            error_of(limits(), b"\xff\x01:\r\n\n\0"),
            FrameError::UnknownCommand("??:".into(), None)
        );
    }

    #[test]
    fn invalid_utf8_in_headers_is_rejected() {
        assert_eq!(
            error_of(limits(), b"SEND\nx:\xff\n\n\0"),
            FrameError::InvalidUtf8
        );
        assert_eq!(
            error_of(limits(), b"SEND\n\xc3:x\n\n\0"),
            FrameError::InvalidUtf8
        );
    }

    #[test]
    fn content_length_must_be_a_non_negative_integer() {
        for value in ["", "-1", "+1", " 1", "1 ", "abc", "1.0", "0x10"] {
            let wire = format!("SEND\ncontent-length:{value}\n\n\0");
            assert_eq!(
                error_of(limits(), wire.as_bytes()),
                FrameError::InvalidContentLength,
                "{value:?}"
            );
        }
    }

    #[test]
    fn an_oversize_send_body_is_refused_from_its_content_length() {
        let mut decoder = Decoder::default();
        assert_eq!(
            decoder.push(b"SEND\ncontent-length:4097\n\n"),
            Err(FrameError::BodyTooLarge(None)),
            "no need to wait for the body"
        );
        assert_eq!(
            error_of(
                limits(),
                b"SEND\ncontent-length:99999999999999999999999\n\n"
            ),
            FrameError::BodyTooLarge(None)
        );
    }

    #[test]
    fn an_oversize_send_body_error_names_the_frames_receipt() {
        let error = error_of(limits(), b"SEND\nreceipt:r\\c1\ncontent-length:4097\n\n");
        assert_eq!(error, FrameError::BodyTooLarge(Some("r:1".into())));
        assert_eq!(error.receipt(), Some("r:1"), "unescaped");
        let mut wire = b"SEND\nreceipt:r2\n\n".to_vec();
        wire.extend_from_slice(&[b'a'; 4097]);
        let error = error_of(limits(), &wire);
        assert_eq!(error.receipt(), Some("r2"), "without content-length too");
    }

    #[test]
    fn a_send_body_of_exactly_the_limit_is_accepted() {
        let body = vec![b'a'; 4096];
        let frame = ClientFrame::new(ClientCommand::Send).with_body(body.clone());
        assert_eq!(
            one(Version::V1_2, &frame.encode(Version::V1_2))
                .unwrap()
                .body,
            body
        );
        let mut wire = b"SEND\n\n".to_vec();
        wire.extend_from_slice(&body);
        wire.push(0);
        assert_eq!(one(Version::V1_2, &wire).unwrap().body, body);
    }

    #[test]
    fn an_oversize_send_body_without_content_length_is_refused_once_buffered() {
        let mut decoder = Decoder::default();
        decoder.push(b"SEND\n\n").unwrap();
        decoder.push(&[b'a'; 4096]).unwrap();
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.push(b"a"), Err(FrameError::BodyTooLarge(None)));
    }

    #[test]
    fn the_send_body_limit_applies_to_send_only() {
        let mut wire = b"BEGIN\ntransaction:t\n\n".to_vec();
        wire.extend_from_slice(&[b'a'; 5000]);
        wire.push(0);
        assert_eq!(one(Version::V1_2, &wire).unwrap().body.len(), 5000);
    }

    #[test]
    fn an_oversize_frame_is_refused_before_it_completes() {
        let mut decoder = Decoder::default();
        decoder.push(b"BEGIN\n\n").unwrap();
        decoder.push(&[b'a'; 65_536 - 7]).unwrap();
        assert_eq!(decoder.push(b"a"), Err(FrameError::FrameTooLarge));
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_accepted() {
        let mut wire = b"BEGIN\n\n".to_vec();
        wire.resize(65_535, b'a');
        wire.push(0);
        assert_eq!(one(Version::V1_2, &wire).unwrap().body.len(), 65_535 - 7);
    }

    #[test]
    fn an_oversize_frame_is_refused_from_its_content_length() {
        assert_eq!(
            error_of(limits(), b"BEGIN\ncontent-length:70000\n\n"),
            FrameError::FrameTooLarge
        );
    }

    #[test]
    fn an_oversize_head_is_refused() {
        let small = FrameLimits {
            max_frame_bytes: 100,
            ..limits()
        };
        let mut wire = b"SEND\n".to_vec();
        for i in 0..20 {
            wire.extend_from_slice(format!("h{i}:v\n").as_bytes());
        }
        assert_eq!(error_of(small, &wire), FrameError::FrameTooLarge);
    }

    #[test]
    fn too_many_headers_are_refused() {
        let mut wire = b"SEND\n".to_vec();
        for i in 0..64 {
            wire.extend_from_slice(format!("h{i}:v\n").as_bytes());
        }
        let mut ok = wire.clone();
        ok.extend_from_slice(b"\n\0");
        assert_eq!(one(Version::V1_2, &ok).unwrap().headers.len(), 64);
        wire.extend_from_slice(b"one-more:v\n");
        assert_eq!(error_of(limits(), &wire), FrameError::TooManyHeaders);
    }

    #[test]
    fn a_too_long_header_line_is_refused() {
        let mut line = b"x:".to_vec();
        line.resize(8192, b'v');
        let mut ok = b"SEND\n".to_vec();
        ok.extend_from_slice(&line);
        ok.extend_from_slice(b"\n\n\0");
        assert!(one(Version::V1_2, &ok).is_ok(), "exactly the limit is fine");

        let mut decoder = Decoder::default();
        decoder.push(b"SEND\n").unwrap();
        decoder.push(&line).unwrap();
        assert_eq!(
            decoder.push(b"v"),
            Err(FrameError::HeaderTooLong),
            "refused before its LF arrives"
        );
    }

    #[test]
    fn unknown_command_error_names_the_frames_receipt() {
        let error = error_of(limits(), b"PUBLISH\nreceipt:r\\1\nx:y\n\nbody\0");
        assert_eq!(
            error,
            FrameError::UnknownCommand("PUBLISH".into(), Some("r\\1".into()))
        );
        assert_eq!(
            error.receipt(),
            Some("r\\1"),
            "read as sent, never unescaped"
        );
    }

    #[test]
    fn the_decoder_is_poisoned_after_an_error() {
        let mut decoder = Decoder::default();
        assert!(decoder.push(b"NOPE\n\n").is_err());
        let error = FrameError::UnknownCommand("NOPE".into(), None);
        assert_eq!(decoder.push(b"SEND\n\n\0"), Err(error.clone()));
        assert_eq!(decoder.next_frame(), Err(error));
        assert!(decoder.buf.is_empty(), "the buffer is dropped");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let inputs: [&[u8]; 8] = [
            b"\0",
            b"\0\0\0\n\n",
            b"SEND",
            b"SEND\n\0\0\0",
            b"\r\r\r\n",
            b"SEND\ncontent-length:18446744073709551616\n\n",
            b"SEND\n\xff\xfe:\x00\n\n",
            b"CONNECT\n:\n\n",
        ];
        for input in inputs {
            let _ = decode_all(limits(), Version::V1_2, input);
            let chunks: Vec<&[u8]> = input.chunks(1).collect();
            let _ = decode_chunked(limits(), Version::V1_1, &chunks);
        }
    }

    #[test]
    fn error_messages_are_short_header_values() {
        let errors = [
            FrameError::FrameTooLarge,
            FrameError::BodyTooLarge(Some("r".into())),
            FrameError::TooManyHeaders,
            FrameError::HeaderTooLong,
            FrameError::UndefinedEscape,
            FrameError::UnknownCommand("XXXXXXXXXXXX".into(), None),
            FrameError::MalformedHeader,
            FrameError::InvalidContentLength,
            FrameError::MissingNul,
            FrameError::InvalidUtf8,
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.len() < 48, "{message}");
            assert!(!message.contains(['\n', '\r', ':']), "{message}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::stomp::testing::{
            as_decoded, client_frame, cut, limits as any_limits, representable, version,
        };

        fn checked(
            limits: FrameLimits,
            result: (Vec<ClientFrame>, Option<FrameError>),
        ) -> Result<(), TestCaseError> {
            for frame in &result.0 {
                prop_assert!(frame.headers.len() <= limits.max_headers);
                prop_assert!(frame.body.len() < limits.max_frame_bytes);
                if frame.command == ClientCommand::Send {
                    prop_assert!(frame.body.len() <= limits.max_send_body_bytes);
                }
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn encoding_then_decoding_gives_the_frame_back(
                version in version(),
                frame in client_frame(),
            ) {
                let escaping = Escaping::new(version, frame.command.opens_session());
                let frame = ClientFrame {
                    headers: representable(frame.headers, escaping),
                    ..frame
                };
                let (frames, error) = decode_all(FrameLimits::default(), version, &frame.encode(version));
                prop_assert_eq!(error, None);
                let expected = ClientFrame {
                    headers: as_decoded(&frame.headers, &frame.body),
                    ..frame
                };
                prop_assert_eq!(frames, vec![expected]);
            }

            #[test]
            fn chunking_does_not_change_what_is_decoded(
                version in version(),
                limits in any_limits(),
                frames in prop::collection::vec(
                    (client_frame(), prop::sample::select(vec!["", "\n", "\r\n", "\n\r\n"])),
                    0..6,
                ),
                damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
                tail in prop::collection::vec(any::<u8>(), 0..20),
                cuts in prop::collection::vec(0usize..4000, 0..10),
            ) {
                let mut stream = Vec::new();
                for (frame, heart_beat) in &frames {
                    stream.extend_from_slice(&frame.encode(version));
                    stream.extend_from_slice(heart_beat.as_bytes());
                }
                for (at, byte) in damage {
                    if !stream.is_empty() {
                        let at = at.index(stream.len());
                        stream[at] = byte;
                    }
                }
                stream.extend_from_slice(&tail);
                let whole = decode_all(limits, version, &stream);
                let chunks = cut(&stream, &cuts);
                let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
                prop_assert_eq!(decode_chunked(limits, version, &chunks), whole.clone());
                checked(limits, whole)?;
            }

            #[test]
            fn arbitrary_bytes_never_panic(
                version in version(),
                limits in any_limits(),
                bytes in prop::collection::vec(any::<u8>(), 0..600),
            ) {
                let whole = decode_all(limits, version, &bytes);
                let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
                prop_assert_eq!(decode_chunked(limits, version, &one_by_one), whole.clone());
                checked(limits, whole)?;
            }
        }
    }
}
