//! A raw-frame STOMP 1.2 client over tokio-tungstenite, for black-box tests.
//!
//! It sends exactly the bytes a test gives it (one WebSocket message per
//! call) and reads the server's WebSocket messages back as STOMP frames with
//! a tiny reader of its own: command line, headers up to the blank line, body
//! by `content-length` or up to the NUL. End-of-lines between frames are
//! heart-beats and are counted, not returned as frames. Header values are
//! kept as they came over the wire; [`Frame::header`] unescapes them.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::TestApp;

/// The longest any single expectation waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// The HTTP response of the WebSocket handshake.
pub type HandshakeResponse = tungstenite::handshake::client::Response;

/// One STOMP frame as received.
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
        Some(unescape(raw))
    }

    /// Header `name`, or a panic that shows the whole frame.
    pub fn expect_header(&self, name: &str) -> String {
        self.header(name)
            .unwrap_or_else(|| panic!("{} frame has no `{name}` header: {self}", self.command))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (MESSAGE frames carry the message object).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {self}", self.command))
    }

    /// The `seq` header as a number.
    pub fn seq(&self) -> i64 {
        let seq = self.expect_header("seq");
        seq.parse()
            .unwrap_or_else(|_| panic!("seq header {seq:?} is not an integer: {self}"))
    }

    /// The `message-id` header as a number.
    pub fn message_id(&self) -> i64 {
        let id = self.expect_header("message-id");
        id.parse()
            .unwrap_or_else(|_| panic!("message-id header {id:?} is not an integer: {self}"))
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.command)?;
        for (k, v) in &self.headers {
            write!(f, " | {k}:{v}")?;
        }
        let body = self.body_text();
        if body.len() > 300 {
            write!(f, " | body ({} bytes): {}…", self.body.len(), &body[..300])
        } else {
            write!(f, " | body: {body:?}")
        }
    }
}

/// STOMP 1.2 header unescaping for the test's own reading; an undefined
/// escape is left as it is (the assertions then show it).
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Encodes one client frame: `COMMAND\nname:value\n…\n\nbody\0`. Values are
/// written as given (escape them yourself when a test needs escapes).
pub fn frame(command: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(command.as_bytes());
    out.push(b'\n');
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body.as_ref());
    out.push(0);
    out
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

pub fn topic(room: &str) -> String {
    format!("/topic/rooms/{room}")
}

/// What the handshake request carries besides the basics.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    pub origin: Option<String>,
    /// `Sec-WebSocket-Protocol` value, e.g. `"v10.stomp, v12.stomp"`.
    pub protocols: Option<String>,
    /// Shrinks the socket's kernel receive buffer (`SO_RCVBUF`), so a client
    /// that does not read backs up onto the server quickly.
    pub recv_buffer: Option<u32>,
}

/// What the reader saw next.
#[derive(Debug)]
pub enum Event {
    Frame(Frame),
    HeartBeat,
    Closed,
}

pub struct StompClient {
    ws: WebSocketStream<TcpStream>,
    buf: Vec<u8>,
    /// Frames read while looking for something else (e.g. MESSAGEs that
    /// arrived while waiting for a RECEIPT), handed out first.
    stash: VecDeque<Frame>,
    closed: bool,
    /// Heart-beat EOLs received so far.
    pub heartbeats: usize,
}

impl StompClient {
    /// Opens `ws://127.0.0.1:{port}/ws`; the error is tungstenite's (for a
    /// refused upgrade, `Error::Http` with the response).
    pub async fn open_with(
        port: u16,
        hs: Handshake,
    ) -> Result<(StompClient, HandshakeResponse), tungstenite::Error> {
        let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
        if let Some(origin) = &hs.origin {
            request
                .headers_mut()
                .insert("Origin", HeaderValue::from_str(origin).unwrap());
        }
        if let Some(p) = &hs.protocols {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
        }
        let socket = TcpSocket::new_v4().expect("TCP socket");
        if let Some(size) = hs.recv_buffer {
            socket.set_recv_buffer_size(size).expect("set SO_RCVBUF");
        }
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let stream = timeout(WAIT, socket.connect(addr))
            .await
            .expect("TCP connect timed out")
            .expect("TCP connect to the app");
        stream.set_nodelay(true).ok();
        let (ws, response) = timeout(WAIT, tokio_tungstenite::client_async(request, stream))
            .await
            .expect("WebSocket handshake timed out")?;
        Ok((
            StompClient {
                ws,
                buf: Vec::new(),
                stash: VecDeque::new(),
                closed: false,
                heartbeats: 0,
            },
            response,
        ))
    }

    /// Opens a WebSocket (no Origin, no sub-protocol) without sending anything.
    pub async fn open(app: &TestApp) -> StompClient {
        Self::open_with(app.port, Handshake::default())
            .await
            .expect("WebSocket upgrade of /ws")
            .0
    }

    /// Opens a WebSocket, sends the given CONNECT frame and returns the
    /// client with the server's first answer, whatever it is.
    pub async fn open_and_send(app: &TestApp, connect: Vec<u8>) -> (StompClient, Frame) {
        let mut client = Self::open(app).await;
        client.send(connect).await;
        let first = client.expect_frame().await;
        (client, first)
    }

    /// Opens a WebSocket and logs in with `token`, expecting CONNECTED.
    pub async fn connect(app: &TestApp, token: &str) -> StompClient {
        Self::connect_returning(app, token).await.0
    }

    /// Like [`connect`](Self::connect), also returning the CONNECTED frame.
    pub async fn connect_returning(app: &TestApp, token: &str) -> (StompClient, Frame) {
        let (client, first) = Self::open_and_send(app, connect_frame(token)).await;
        assert_eq!(
            first.command, "CONNECTED",
            "a CONNECT with a valid token must be answered with CONNECTED, got {first}"
        );
        (client, first)
    }

    // ------------------------------------------------------------- sending

    /// Sends `bytes` as one WebSocket message: text when it is UTF-8 (as
    /// browsers' STOMP clients do), binary otherwise.
    pub async fn send(&mut self, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        let msg = match String::from_utf8(bytes) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        };
        self.send_ws(msg).await;
    }

    /// Sends `bytes` as one binary WebSocket message.
    pub async fn send_binary(&mut self, bytes: impl Into<Vec<u8>>) {
        self.send_ws(Message::binary(bytes.into())).await;
    }

    /// Sends and reports failure instead of panicking (for writes that may
    /// race with the server closing the socket).
    pub async fn try_send(&mut self, bytes: impl Into<Vec<u8>>) -> bool {
        let bytes = bytes.into();
        let msg = match String::from_utf8(bytes) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        };
        matches!(timeout(WAIT, self.ws.send(msg)).await, Ok(Ok(())))
    }

    async fn send_ws(&mut self, msg: Message) {
        timeout(WAIT, self.ws.send(msg))
            .await
            .expect("sending a WebSocket message timed out")
            .expect("sending a WebSocket message");
    }

    /// SUBSCRIBE `id` to a room and wait for the subscription's RECEIPT,
    /// so nothing sent afterwards can be missed.
    pub async fn subscribe(&mut self, id: &str, room: &str) {
        self.subscribe_with(id, room, &[]).await;
    }

    /// SUBSCRIBE with extra headers, waiting for its RECEIPT.
    pub async fn subscribe_with(&mut self, id: &str, room: &str, extra: &[(&str, &str)]) {
        let receipt = format!("subscribed-{id}");
        let dest = topic(room);
        let mut headers = vec![
            ("id", id),
            ("destination", dest.as_str()),
            ("receipt", receipt.as_str()),
        ];
        headers.extend_from_slice(extra);
        self.send(frame("SUBSCRIBE", &headers, "")).await;
        self.expect_receipt(&receipt).await;
    }

    /// SEND `body` to a room with a receipt; returns the RECEIPT.
    pub async fn send_chat(&mut self, room: &str, body: &str, receipt: &str) -> Frame {
        let dest = topic(room);
        self.send(frame(
            "SEND",
            &[("destination", &dest), ("receipt", receipt)],
            body,
        ))
        .await;
        self.expect_receipt(receipt).await
    }

    // ------------------------------------------------------------- reading

    /// The next frame, heart-beat or close, or `None` if nothing came
    /// within `wait`. Stashed frames come first.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        if let Some(f) = self.stash.pop_front() {
            return Some(Event::Frame(f));
        }
        self.read_event(wait).await
    }

    /// Like `next_event`, from the wire only.
    async fn read_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(ev) = self.parse_one() {
                if matches!(ev, Event::HeartBeat) {
                    self.heartbeats += 1;
                }
                return Some(ev);
            }
            if self.closed {
                return Some(Event::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => self.closed = true,
                Ok(Some(Ok(msg))) => match msg {
                    Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
                    Message::Binary(b) => self.buf.extend_from_slice(&b),
                    Message::Close(_) => self.closed = true,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                },
            }
        }
    }

    /// One complete frame or heart-beat from the buffer, if there is one.
    fn parse_one(&mut self) -> Option<Event> {
        if self.buf.starts_with(b"\n") {
            self.buf.drain(..1);
            return Some(Event::HeartBeat);
        }
        if self.buf.starts_with(b"\r\n") {
            self.buf.drain(..2);
            return Some(Event::HeartBeat);
        }
        let buf = &self.buf;
        // The head ends at the first empty line ("\n" or "\r\n").
        let mut head_end = None;
        let mut line_start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b != b'\n' {
                continue;
            }
            let line = &buf[line_start..i];
            if line_start > 0 && (line.is_empty() || line == b"\r") {
                head_end = Some(i + 1);
                break;
            }
            line_start = i + 1;
        }
        let head_end = head_end?;
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let command = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| match l.split_once(':') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect();
        let content_length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| {
                v.parse::<usize>()
                    .unwrap_or_else(|_| panic!("server sent content-length {v:?}"))
            });
        let (body, frame_end) = match content_length {
            Some(n) => {
                if buf.len() < head_end + n + 1 {
                    return None;
                }
                assert_eq!(
                    buf[head_end + n],
                    0,
                    "a {command} frame's body must be followed by NUL after content-length {n} bytes"
                );
                (buf[head_end..head_end + n].to_vec(), head_end + n + 1)
            }
            None => {
                let nul = buf[head_end..].iter().position(|&b| b == 0)?;
                (buf[head_end..head_end + nul].to_vec(), head_end + nul + 1)
            }
        };
        self.buf.drain(..frame_end);
        Some(Event::Frame(Frame {
            command,
            headers,
            body,
        }))
    }

    /// The next frame (heart-beats skipped); panics on close or timeout.
    pub async fn expect_frame(&mut self) -> Frame {
        self.expect_frame_within(WAIT).await
    }

    pub async fn expect_frame_within(&mut self, wait: Duration) -> Frame {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Some(Event::Frame(f)) => return f,
                Some(Event::HeartBeat) => continue,
                Some(Event::Closed) => panic!("expected a frame, but the server closed the socket"),
                None => panic!("expected a frame, none came within {wait:?}"),
            }
        }
    }

    /// The next frame, which must be `command`.
    pub async fn expect_command(&mut self, command: &str) -> Frame {
        let f = self.expect_frame().await;
        assert_eq!(f.command, command, "expected {command}, got {f}");
        f
    }

    /// The RECEIPT for `receipt_id`; MESSAGE frames arriving first are kept
    /// for later reads, anything else fails the test.
    pub async fn expect_receipt(&mut self, receipt_id: &str) -> Frame {
        let mut skipped = Vec::new();
        let deadline = Instant::now() + WAIT;
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = match self.read_event(left).await {
                Some(Event::Frame(f)) => f,
                Some(Event::HeartBeat) => continue,
                Some(Event::Closed) => panic!(
                    "expected RECEIPT {receipt_id}, but the server closed the socket (after {} MESSAGEs)",
                    skipped.len()
                ),
                None => panic!("expected RECEIPT {receipt_id}, none came within {WAIT:?}"),
            };
            match f.command.as_str() {
                "RECEIPT" => break f,
                "MESSAGE" => skipped.push(f),
                _ => panic!("expected RECEIPT {receipt_id}, got {f}"),
            }
        };
        self.stash.extend(skipped);
        assert_eq!(
            found.header("receipt-id").as_deref(),
            Some(receipt_id),
            "receipts must answer frames in order: expected receipt-id {receipt_id}, got {found}"
        );
        found
    }

    /// The next frame, which must be a MESSAGE.
    pub async fn expect_message(&mut self) -> Frame {
        self.expect_command("MESSAGE").await
    }

    /// `n` MESSAGE frames, each within [`WAIT`] of the previous one.
    pub async fn expect_messages(&mut self, n: usize) -> Vec<Frame> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let f = self.expect_frame().await;
            assert_eq!(
                f.command,
                "MESSAGE",
                "expected MESSAGE {} of {n}, got {f}",
                i + 1
            );
            out.push(f);
        }
        out
    }

    /// Reads until the server closes, returning every frame it sent first;
    /// panics if the socket is still open after `wait`.
    pub async fn expect_closed_within(&mut self, wait: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Some(Event::Frame(f)) => frames.push(f),
                Some(Event::HeartBeat) => {}
                Some(Event::Closed) => return frames,
                None => panic!(
                    "the server should have closed the socket within {wait:?}; frames so far: {}",
                    frames
                        .iter()
                        .map(|f| f.command.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }

    pub async fn expect_closed(&mut self) -> Vec<Frame> {
        self.expect_closed_within(WAIT).await
    }

    /// The session-breaking error of the contract: the next frame is an
    /// ERROR with a `message` header and then the socket closes.
    pub async fn expect_error_then_close(&mut self) -> Frame {
        let frames = self.expect_closed().await;
        let error = frames.last().unwrap_or_else(|| {
            panic!("expected an ERROR frame before the close, the server closed without one")
        });
        assert_eq!(
            frames.len(),
            1,
            "expected exactly one frame, the ERROR, before the close; got {}",
            frames
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(" // ")
        );
        assert_eq!(
            error.command, "ERROR",
            "expected ERROR then close, got {error}"
        );
        assert!(
            error.header("message").is_some_and(|m| !m.is_empty()),
            "an ERROR must carry a `message` header: {error}"
        );
        error.clone()
    }

    /// Asserts that for `wait` the server sends no frame and stays open.
    pub async fn expect_no_frame_for(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_event(left).await {
                None => return,
                Some(Event::HeartBeat) => {}
                Some(Event::Frame(f)) => panic!("expected no frame for {wait:?}, got {f}"),
                Some(Event::Closed) => {
                    panic!("expected the socket to stay open for {wait:?}, the server closed it")
                }
            }
        }
    }
}
