//! STOMP 1.2 frames without I/O: client frames encoded exactly as given, and
//! a streaming decoder of server frames that copes with several frames in one
//! WebSocket message (Parley coalesces deliveries), a frame spread over
//! several messages, heart-beat EOLs, CRLF line ends, and bodies delimited by
//! `content-length` or by NUL.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// Default bound on undecoded data held by a [`Decoder`].
pub const MAX_BUFFERED: usize = 16 << 20;
/// A drained buffer larger than this is given back to the allocator, so idle
/// connections stay small.
const SHRINK_ABOVE: usize = 256 << 10;

// ------------------------------------------------------------- encoding ---

/// Encodes one client frame: `COMMAND\nname:value\n…\n\nbody\0`. Names and
/// values are written as given, unescaped and unchecked, so a test can send
/// any bytes it likes ([`escape`] a value that needs it).
pub fn frame(command: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut head = String::new();
    write_head(&mut head, command, headers);
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_ref());
    out.push(0);
    out
}

/// Like [`frame`], for a text body, into `out` (cleared first): a load
/// generator reuses one buffer and sends it as a text message.
pub fn text_frame(out: &mut String, command: &str, headers: &[(&str, &str)], body: &str) {
    out.clear();
    write_head(out, command, headers);
    out.push_str(body);
    out.push('\0');
}

fn write_head(out: &mut String, command: &str, headers: &[(&str, &str)]) {
    out.push_str(command);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
}

/// A CONNECT frame for STOMP 1.2 with a bearer token.
pub fn connect_frame(token: &str) -> Vec<u8> {
    let auth = format!("Bearer {token}");
    frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("Authorization", &auth),
        ],
        "",
    )
}

/// Parley's destination for a room.
pub fn topic(room: &str) -> String {
    format!("/topic/rooms/{room}")
}

/// Escapes a header value for STOMP 1.2 (not for CONNECT and CONNECTED,
/// whose headers are never escaped).
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '\n', '\r', ':']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' => out.push_str("\\c"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// STOMP 1.2 header unescaping; an undefined escape is left as it is (an
/// assertion then shows it).
pub fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'c') => out.push(b':'),
            Some(b'\\') => out.push(b'\\'),
            Some(&other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

// ------------------------------------------------------------- decoding ---

/// What the server sent that is not STOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More undecoded data than the decoder's bound.
    TooLarge(usize),
    BadContentLength(String),
    /// The byte after `content-length` bytes of body is not NUL.
    NoNulAfterBody {
        command: String,
        length: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge(limit) => write!(f, "server frame larger than {limit} bytes"),
            DecodeError::BadContentLength(v) => write!(f, "server sent content-length {v:?}"),
            DecodeError::NoNulAfterBody { command, length } => write!(
                f,
                "a {command} frame's body must be followed by NUL after content-length {length} bytes"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One decoded server frame, borrowing the decoder's buffer (no copy: a
/// load generator reads many per second).
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub command: &'a [u8],
    /// The header lines (without the command line), values still escaped.
    head: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// Header lines as (name, raw value), in wire order; a line without a
    /// colon is a name with an empty value.
    pub fn raw_headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        self.head
            .split(|&b| b == b'\n')
            .map(strip_cr)
            .filter(|line| !line.is_empty())
            .map(|line| match line.iter().position(|&b| b == b':') {
                Some(colon) => (&line[..colon], &line[colon + 1..]),
                None => (line, &line[line.len()..]),
            })
    }

    /// The first value of header `name` exactly as sent.
    pub fn raw_header(&self, name: &str) -> Option<&'a [u8]> {
        self.raw_headers()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The first value of header `name`, unescaped per STOMP 1.2 except in
    /// CONNECTED, whose headers the spec leaves unescaped.
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        let raw = self.raw_header(name)?;
        Some(self.value(raw))
    }

    fn value(&self, raw: &'a [u8]) -> Cow<'a, str> {
        if self.is("CONNECTED") {
            String::from_utf8_lossy(raw)
        } else {
            unescape(raw)
        }
    }

    pub fn is(&self, command: &str) -> bool {
        self.command == command.as_bytes()
    }

    pub fn command_str(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.command)
    }

    /// A one-line description for error reports: the command, an ERROR's
    /// `message` and the start of its body.
    pub fn describe(&self) -> String {
        let mut s = self.command_str().into_owned();
        if let Some(m) = self.header("message") {
            s.push_str(": ");
            s.push_str(&m);
        }
        if self.is("ERROR") {
            let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
            let body = body.trim();
            if !body.is_empty() {
                s.push_str(&format!(" ({body})"));
            }
        }
        s
    }

    /// An owned copy.
    pub fn to_frame(&self) -> Frame {
        let headers = self
            .raw_headers()
            .map(|(name, raw)| {
                let text = |b| String::from_utf8_lossy(b).into_owned();
                (text(name), text(raw))
            })
            .collect();
        Frame {
            command: self.command_str().into_owned(),
            headers,
            body: self.body.to_vec(),
        }
    }
}

/// Streaming decoder of server frames. Idle connections keep an empty
/// (unallocated) buffer.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
    limit: usize,
    heartbeats: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::with_limit(MAX_BUFFERED)
    }
}

impl Decoder {
    /// A decoder holding at most `limit` undecoded bytes.
    pub fn with_limit(limit: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            limit,
            heartbeats: 0,
        }
    }

    /// Appends the payload of one WebSocket message.
    pub fn push(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.len() + data.len() > self.limit {
            return Err(DecodeError::TooLarge(self.limit));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Heart-beats (EOLs outside frames) decoded so far.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats
    }

    /// The next complete frame, if any; heart-beats before it are counted.
    pub fn next_frame(&mut self) -> Result<Option<FrameRef<'_>>, DecodeError> {
        // Heart-beats, and the optional EOLs after a frame's NUL: a "\n" is
        // one, the "\r" of a "\r\n" is dropped.
        while let Some(&b) = self.buf.get(self.pos) {
            match b {
                b'\n' => self.heartbeats += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if self.pos >= self.buf.len() {
            self.reset();
            return Ok(None);
        }
        let start = self.pos;
        let data = &self.buf[start..];
        // Command line, then header lines up to an empty line.
        let Some(cmd_end) = data.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let head_start = cmd_end + 1;
        let mut line_start = head_start;
        let body_start = loop {
            let Some(nl) = data[line_start..].iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            if strip_cr(&data[line_start..line_start + nl]).is_empty() {
                break line_start + nl + 1;
            }
            line_start += nl + 1;
        };
        let frame = FrameRef {
            command: strip_cr(&data[..cmd_end]),
            head: &data[head_start..line_start],
            body: &[],
        };
        let length = match frame.raw_header("content-length") {
            Some(v) => {
                let v = String::from_utf8_lossy(v);
                Some(
                    v.parse::<usize>()
                        .map_err(|_| DecodeError::BadContentLength(v.into_owned()))?,
                )
            }
            None => None,
        };
        let body_end = match length {
            Some(length) => {
                if data.len() < body_start + length + 1 {
                    return Ok(None);
                }
                if data[body_start + length] != 0 {
                    return Err(DecodeError::NoNulAfterBody {
                        command: frame.command_str().into_owned(),
                        length,
                    });
                }
                body_start + length
            }
            None => match data[body_start..].iter().position(|&b| b == 0) {
                Some(n) => body_start + n,
                None => return Ok(None),
            },
        };
        self.pos = start + body_end + 1;
        Ok(Some(FrameRef {
            body: &data[body_start..body_end],
            ..frame
        }))
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > SHRINK_ABOVE {
            self.buf = Vec::new();
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

// ---------------------------------------------------------- owned frames ---

/// One server frame, owned: what a test keeps and asserts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    /// Header lines in wire order, values still escaped.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    /// The first value of header `name` exactly as sent (repeated headers:
    /// the first wins).
    pub fn raw_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name`, unescaped per STOMP 1.2 except in
    /// CONNECTED, whose headers the spec leaves unescaped.
    pub fn header(&self, name: &str) -> Option<String> {
        let raw = self.raw_header(name)?;
        if self.command == "CONNECTED" {
            return Some(raw.to_string());
        }
        Some(unescape(raw.as_bytes()).into_owned())
    }

    /// Header `name`, or a panic that shows the whole frame.
    pub fn expect_header(&self, name: &str) -> String {
        self.header(name)
            .unwrap_or_else(|| panic!("{} frame has no `{name}` header: {self}", self.command))
    }

    /// A numeric header (`seq`, `message-id`), or a panic showing the frame.
    pub fn number(&self, name: &str) -> i64 {
        let value = self.expect_header(name);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} header {value:?} is not an integer: {self}"))
    }

    /// The `seq` header as a number.
    pub fn seq(&self) -> i64 {
        self.number("seq")
    }

    /// The `message-id` header as a number.
    pub fn message_id(&self) -> i64 {
        self.number("message-id")
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (MESSAGE frames carry the message object).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {self}", self.command))
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.command)?;
        for (k, v) in &self.headers {
            write!(f, " | {k}:{v}")?;
        }
        let body = self.body_text();
        match body.char_indices().nth(300) {
            Some((cut, _)) => write!(f, " | body ({} bytes): {}…", self.body.len(), &body[..cut]),
            None => write!(f, " | body: {body:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_coalesced_and_split_frames() {
        let mut d = Decoder::default();
        let two = b"MESSAGE\nseq:1\ncontent-length:3\n\nab\0\0\nRECEIPT\nreceipt-id:x\\cy\n\n\0\n";
        d.push(&two[..10]).unwrap();
        assert!(d.next_frame().unwrap().is_none());
        d.push(&two[10..]).unwrap();
        let f = d.next_frame().unwrap().unwrap();
        assert!(f.is("MESSAGE"));
        assert_eq!(f.header("seq").as_deref(), Some("1"));
        assert_eq!(f.body, b"ab\0");
        let f = d.next_frame().unwrap().unwrap();
        assert!(f.is("RECEIPT"));
        assert_eq!(f.header("receipt-id").as_deref(), Some("x:y"));
        assert_eq!(f.raw_header("receipt-id"), Some(&b"x\\cy"[..]));
        assert!(f.body.is_empty());
        assert!(d.next_frame().unwrap().is_none());
        assert_eq!(d.heartbeats(), 2, "the EOLs after each NUL");
    }

    #[test]
    fn crlf_and_heartbeats() {
        let mut d = Decoder::default();
        d.push(b"\n\r\nCONNECTED\r\nversion:1.2\r\nserver:a\\cb\r\n\r\n\0")
            .unwrap();
        let f = d.next_frame().unwrap().unwrap();
        assert!(f.is("CONNECTED"));
        assert_eq!(f.header("version").as_deref(), Some("1.2"));
        assert_eq!(
            f.header("server").as_deref(),
            Some("a\\cb"),
            "CONNECTED headers are not unescaped"
        );
        assert_eq!(f.header("missing"), None);
        assert_eq!(d.heartbeats(), 2);
    }

    #[test]
    fn first_header_wins_and_errors_describe() {
        let mut d = Decoder::default();
        d.push(b"ERROR\nmessage:a\nmessage:b\n\nbad thing\0")
            .unwrap();
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(f.header("message").as_deref(), Some("a"));
        assert_eq!(f.describe(), "ERROR: a (bad thing)");
        let owned = f.to_frame();
        assert_eq!(owned.header("message").as_deref(), Some("a"));
        assert_eq!(owned.body_text(), "bad thing");
    }

    #[test]
    fn malformed_server_frames_are_errors() {
        let mut d = Decoder::default();
        d.push(b"MESSAGE\ncontent-length:x\n\n\0").unwrap();
        assert_eq!(
            d.next_frame().unwrap_err(),
            DecodeError::BadContentLength("x".into())
        );
        let mut d = Decoder::default();
        d.push(b"MESSAGE\ncontent-length:1\n\nab\0").unwrap();
        assert!(matches!(
            d.next_frame(),
            Err(DecodeError::NoNulAfterBody { length: 1, .. })
        ));
        let mut d = Decoder::with_limit(4);
        assert_eq!(d.push(b"12345"), Err(DecodeError::TooLarge(4)));
    }

    #[test]
    fn owned_frames_keep_raw_and_unescaped_values() {
        let mut d = Decoder::default();
        d.push(b"MESSAGE\nsubscription:a\\nb\nflag\n\n{\"seq\":3}\0")
            .unwrap();
        let f = d.next_frame().unwrap().unwrap().to_frame();
        assert_eq!(f.raw_header("subscription"), Some("a\\nb"));
        assert_eq!(f.header("subscription").as_deref(), Some("a\nb"));
        assert_eq!(
            f.header("flag").as_deref(),
            Some(""),
            "a line without a colon"
        );
        assert_eq!(f.json()["seq"], 3);
        assert_eq!(
            f.to_string(),
            "MESSAGE | subscription:a\\nb | flag: | body: \"{\\\"seq\\\":3}\""
        );
    }

    #[test]
    fn frames_are_encoded_as_given() {
        assert_eq!(
            frame("SEND", &[("destination", "/x"), ("a", "b:c")], [0xff, 0]),
            b"SEND\ndestination:/x\na:b:c\n\n\xff\0\0".to_vec()
        );
        let mut s = String::from("old");
        let receipt = escape("7:9");
        text_frame(
            &mut s,
            "SEND",
            &[("destination", "/topic/rooms/r0"), ("receipt", &receipt)],
            "hi",
        );
        assert_eq!(
            s,
            "SEND\ndestination:/topic/rooms/r0\nreceipt:7\\c9\n\nhi\0"
        );
        assert_eq!(unescape(escape("a\\b\nc\rd:e").as_bytes()), "a\\b\nc\rd:e");
    }
}
