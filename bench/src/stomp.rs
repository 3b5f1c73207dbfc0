//! Just enough STOMP 1.2 for a load generator: frame encoding for the few
//! client frames we send, and a streaming decoder for server frames that
//! copes with several frames in one WebSocket message (Parley coalesces
//! deliveries), a frame spread over several messages, heart-beat EOLs, and
//! bodies delimited by `content-length` or by NUL.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Largest amount of undecoded data we are willing to buffer.
const MAX_BUFFERED: usize = 16 << 20;
/// A drained buffer larger than this is given back to the allocator.
const SHRINK_ABOVE: usize = 256 << 10;

/// One decoded server frame, borrowing the decoder's buffer.
pub struct Frame<'a> {
    pub command: &'a [u8],
    /// The raw header block (lines without the command line).
    headers: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The first header called `name`, unescaped (STOMP 1.2 rules).
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        for line in self.headers.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if &line[..colon] == name.as_bytes() {
                return Some(unescape(&line[colon + 1..]));
            }
        }
        None
    }

    pub fn is(&self, command: &str) -> bool {
        self.command == command.as_bytes()
    }

    pub fn command_str(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.command)
    }

    /// A one-line description for error reports.
    pub fn describe(&self) -> String {
        let mut s = self.command_str().into_owned();
        if let Some(m) = self.header("message") {
            let _ = write!(s, ": {m}");
        }
        if !self.body.is_empty() && self.is("ERROR") {
            let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
            let body = body.trim();
            if !body.is_empty() {
                let _ = write!(s, " ({body})");
            }
        }
        s
    }
}

fn unescape(v: &[u8]) -> Cow<'_, str> {
    if !v.contains(&b'\\') {
        return String::from_utf8_lossy(v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut it = v.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
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

/// Streaming decoder. Idle connections keep an empty (unallocated) buffer.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) -> Result<(), String> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.len() + data.len() > MAX_BUFFERED {
            return Err("server frame larger than 16 MiB".into());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, String> {
        // Heart-beats (and the optional EOLs after a frame's NUL).
        while self.pos < self.buf.len() && matches!(self.buf[self.pos], b'\n' | b'\r') {
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
        let command = strip_cr(&data[..cmd_end]);
        let headers_start = cmd_end + 1;
        let mut line_start = headers_start;
        let body_start;
        loop {
            let Some(nl) = data[line_start..].iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line = strip_cr(&data[line_start..line_start + nl]);
            if line.is_empty() {
                body_start = line_start + nl + 1;
                break;
            }
            line_start += nl + 1;
        }
        let headers = &data[headers_start..line_start];
        let probe = Frame {
            command,
            headers,
            body: &[],
        };
        let content_length = match probe.header("content-length") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| format!("bad content-length {v:?}"))?,
            ),
            None => None,
        };
        let body_end = match content_length {
            Some(len) => {
                if data.len() < body_start + len + 1 {
                    return Ok(None);
                }
                if data[body_start + len] != 0 {
                    return Err("frame body not followed by NUL".into());
                }
                body_start + len
            }
            None => match data[body_start..].iter().position(|&b| b == 0) {
                Some(n) => body_start + n,
                None => return Ok(None),
            },
        };
        self.pos = start + body_end + 1;
        let data = &self.buf[start..];
        Ok(Some(Frame {
            command: strip_cr(&data[..cmd_end]),
            headers: &data[headers_start..line_start],
            body: &data[body_start..body_end],
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

/// Escapes a header value for STOMP 1.2 (not used in CONNECT).
fn escape(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '\n', '\r', ':']) {
        return Cow::Borrowed(v);
    }
    let mut s = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            ':' => s.push_str("\\c"),
            c => s.push(c),
        }
    }
    Cow::Owned(s)
}

/// CONNECT credentials.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A bearer token (Parley access token), sent as `passcode`.
    Token(String),
    /// Plain `login` / `passcode` (RabbitMQ and friends).
    LoginPasscode(String, String),
    /// No credentials at all.
    None,
}

pub fn connect_frame(creds: &Credentials, host: Option<&str>) -> String {
    let mut f = String::from("CONNECT\naccept-version:1.2,1.1\nheart-beat:0,0\n");
    if let Some(h) = host {
        let _ = writeln!(f, "host:{h}");
    }
    match creds {
        Credentials::Token(t) => {
            let _ = writeln!(f, "passcode:{t}");
        }
        Credentials::LoginPasscode(l, p) => {
            let _ = writeln!(f, "login:{l}\npasscode:{p}");
        }
        Credentials::None => {}
    }
    f.push_str("\n\0");
    f
}

pub fn subscribe_frame(destination: &str, id: &str, receipt: &str) -> String {
    format!(
        "SUBSCRIBE\nid:{}\ndestination:{}\nack:auto\nreceipt:{}\n\n\0",
        escape(id),
        escape(destination),
        escape(receipt)
    )
}

/// A SEND frame with a text body; `receipt` asks for a RECEIPT.
pub fn send_frame(out: &mut String, destination: &str, body: &str, receipt: Option<&str>) {
    out.clear();
    let _ = write!(
        out,
        "SEND\ndestination:{}\ncontent-type:text/plain\ncontent-length:{}\n",
        escape(destination),
        body.len()
    );
    if let Some(r) = receipt {
        let _ = writeln!(out, "receipt:{}", escape(r));
    }
    out.push('\n');
    out.push_str(body);
    out.push('\0');
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
        assert!(f.body.is_empty());
        assert!(d.next_frame().unwrap().is_none());
    }

    #[test]
    fn crlf_and_heartbeats() {
        let mut d = Decoder::default();
        d.push(b"\n\r\nCONNECTED\r\nversion:1.2\r\n\r\n\0").unwrap();
        let f = d.next_frame().unwrap().unwrap();
        assert!(f.is("CONNECTED"));
        assert_eq!(f.header("version").as_deref(), Some("1.2"));
        assert_eq!(f.header("missing"), None);
    }

    #[test]
    fn first_header_wins_and_errors_describe() {
        let mut d = Decoder::default();
        d.push(b"ERROR\nmessage:a\nmessage:b\n\nbad thing\0")
            .unwrap();
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(f.header("message").as_deref(), Some("a"));
        assert_eq!(f.describe(), "ERROR: a (bad thing)");
    }

    #[test]
    fn send_frame_is_well_formed() {
        let mut s = String::new();
        send_frame(&mut s, "/topic/rooms/r0", "hi", Some("7:9"));
        assert_eq!(
            s,
            "SEND\ndestination:/topic/rooms/r0\ncontent-type:text/plain\ncontent-length:2\nreceipt:7\\c9\n\nhi\0"
        );
    }
}
