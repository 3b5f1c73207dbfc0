//! A raw-frame STOMP client over tokio-tungstenite, for black-box tests.
//!
//! It sends exactly the bytes a test gives it (one WebSocket message per
//! call) and reads the server's WebSocket messages back through the
//! [`Decoder`]. Heart-beats are counted, not returned. Every wait is bounded;
//! the `expect_*` methods panic with the frames they saw, the `try_*`
//! methods report failure instead (for sockets that may be closing).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::codec::{Decoder, Frame, connect_frame, frame, topic};

/// The longest any single expectation waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// The HTTP response of the WebSocket handshake.
pub type HandshakeResponse = tungstenite::handshake::client::Response;

/// A server on 127.0.0.1 with Parley's `/ws`: a port, or a test's app.
pub trait Endpoint {
    fn port(&self) -> u16;
}

impl Endpoint for u16 {
    fn port(&self) -> u16 {
        *self
    }
}

impl<T: Endpoint + ?Sized> Endpoint for &T {
    fn port(&self) -> u16 {
        (**self).port()
    }
}

impl<T: Endpoint + ?Sized> Endpoint for std::sync::Arc<T> {
    fn port(&self) -> u16 {
        (**self).port()
    }
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
    /// The socket ended: with the code of the server's Close frame, or None
    /// when it ended without one (a killed process).
    Closed(Option<u16>),
}

pub struct StompClient {
    ws: WebSocketStream<TcpStream>,
    decoder: Decoder,
    /// Frames read while looking for something else (MESSAGEs that arrived
    /// while waiting for a RECEIPT), handed out first.
    stash: VecDeque<Frame>,
    /// Set once the socket ended, with the close code if there was one.
    closed: Option<Option<u16>>,
    /// Heart-beat EOLs received so far.
    pub heartbeats: u64,
}

impl StompClient {
    // --------------------------------------------------------- connecting

    /// Opens `ws://127.0.0.1:{port}/ws`; the error is tungstenite's (for a
    /// refused upgrade, `Error::Http` with the response).
    pub async fn open_with(
        to: impl Endpoint,
        hs: Handshake,
    ) -> Result<(StompClient, HandshakeResponse), tungstenite::Error> {
        let port = to.port();
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
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = hs.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let addr = ([127, 0, 0, 1], port).into();
        let stream = timeout(WAIT, socket.connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        stream.set_nodelay(true).ok();
        let (ws, response) = timeout(WAIT, tokio_tungstenite::client_async(request, stream))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let client = StompClient {
            ws,
            decoder: Decoder::default(),
            stash: VecDeque::new(),
            closed: None,
            heartbeats: 0,
        };
        Ok((client, response))
    }

    /// Opens a WebSocket (no Origin, no sub-protocol) without sending anything.
    pub async fn open(to: impl Endpoint) -> StompClient {
        Self::open_with(to, Handshake::default())
            .await
            .expect("WebSocket upgrade of /ws")
            .0
    }

    /// Opens a WebSocket, sends the given CONNECT frame and returns the
    /// client with the server's first answer, whatever it is.
    pub async fn open_and_send(to: impl Endpoint, connect: Vec<u8>) -> (StompClient, Frame) {
        let mut client = Self::open(to).await;
        client.send(connect).await;
        let first = client.expect_frame().await;
        (client, first)
    }

    /// Opens a WebSocket and logs in with `token`, expecting CONNECTED.
    pub async fn connect(to: impl Endpoint, token: &str) -> StompClient {
        Self::connect_returning(to, token).await.0
    }

    /// Like [`connect`](Self::connect), also returning the CONNECTED frame.
    pub async fn connect_returning(to: impl Endpoint, token: &str) -> (StompClient, Frame) {
        let (client, first) = Self::open_and_send(to, connect_frame(token)).await;
        assert_eq!(
            first.command, "CONNECTED",
            "a CONNECT with a valid token must be answered with CONNECTED, got {first}"
        );
        (client, first)
    }

    /// Like [`connect`](Self::connect), but Err describes what went wrong
    /// (refused, upgrade failed, no CONNECTED) instead of panicking.
    pub async fn try_connect(to: impl Endpoint, token: &str) -> Result<StompClient, String> {
        let port = to.port();
        let (mut client, _) = Self::open_with(port, Handshake::default())
            .await
            .map_err(|e| format!("WebSocket to {port}: {e}"))?;
        if !client.try_send(connect_frame(token)).await {
            return Err(format!("sending CONNECT to {port} failed"));
        }
        match client.next_event(WAIT).await {
            Some(Event::Frame(f)) if f.command == "CONNECTED" => Ok(client),
            other => Err(format!("CONNECT to {port} answered with {other:?}")),
        }
    }

    /// Connects, retrying until `within` passes (an instance or the
    /// balancer may refuse for a moment during a failover).
    pub async fn connect_retrying(port: u16, token: &str, within: Duration) -> StompClient {
        let deadline = Instant::now() + within;
        loop {
            match Self::try_connect(port, token).await {
                Ok(c) => return c,
                Err(e) if Instant::now() >= deadline => {
                    panic!("could not connect to port {port} within {within:?}: {e}")
                }
                Err(_) => sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Closes the WebSocket politely (best effort, bounded).
    pub async fn close(mut self) {
        let _ = timeout(Duration::from_secs(2), self.ws.close(None)).await;
        let _ = timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    // ------------------------------------------------------------ sending

    /// Sends `bytes` as one WebSocket message: text when it is UTF-8 (as
    /// browsers' STOMP clients do), binary otherwise.
    pub async fn send(&mut self, bytes: impl Into<Vec<u8>>) {
        self.send_ws(as_message(bytes.into())).await;
    }

    /// Sends `bytes` as one binary WebSocket message.
    pub async fn send_binary(&mut self, bytes: impl Into<Vec<u8>>) {
        self.send_ws(Message::binary(bytes.into())).await;
    }

    /// Sends like [`send`](Self::send) and reports failure instead of
    /// panicking (for writes that may race with the server closing).
    pub async fn try_send(&mut self, bytes: impl Into<Vec<u8>>) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let msg = as_message(bytes.into());
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
        self.send(subscribe_frame(id, room, extra)).await;
        self.expect_receipt(&subscribe_receipt(id)).await;
    }

    /// Sends SUBSCRIBE (with `since-seq` when given) asking for a receipt,
    /// without waiting for it; false if the socket is gone.
    pub async fn try_subscribe(&mut self, id: &str, room: &str, since_seq: Option<i64>) -> bool {
        let since = since_seq.map(|s| s.to_string());
        let extra: Vec<(&str, &str)> = since.iter().map(|s| ("since-seq", s.as_str())).collect();
        self.try_send(subscribe_frame(id, room, &extra)).await
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

    // ------------------------------------------------------------ reading

    /// The next frame or the end of the socket, or `None` if nothing came
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
            let next = self
                .decoder
                .next_frame()
                .unwrap_or_else(|e| panic!("the server sent a malformed frame: {e}"))
                .map(|f| f.to_frame());
            self.heartbeats = self.decoder.heartbeats();
            if let Some(f) = next {
                return Some(Event::Frame(f));
            }
            if let Some(code) = self.closed {
                return Some(Event::Closed(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    // Keep a close code already seen; otherwise it dropped.
                    self.closed.get_or_insert(None);
                }
                Ok(Some(Ok(msg))) => match msg {
                    Message::Text(t) => self.push(t.as_bytes()),
                    Message::Binary(b) => self.push(&b),
                    Message::Close(close) => {
                        self.closed = Some(close.map(|c| u16::from(c.code)));
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                },
            }
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.decoder
            .push(data)
            .unwrap_or_else(|e| panic!("the server sent too much: {e}"));
    }

    /// The next frame; panics on close or timeout.
    pub async fn expect_frame(&mut self) -> Frame {
        self.expect_frame_within(WAIT).await
    }

    pub async fn expect_frame_within(&mut self, wait: Duration) -> Frame {
        match self.next_event(wait).await {
            Some(Event::Frame(f)) => f,
            Some(Event::Closed(_)) => panic!("expected a frame, but the server closed the socket"),
            None => panic!("expected a frame, none came within {wait:?}"),
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
                Some(Event::Closed(_)) => panic!(
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
                Some(Event::Closed(_)) => return frames,
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

    /// The session-breaking error: the next frame is an ERROR with a
    /// `message` header and then the socket closes.
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
        match self.next_event(wait).await {
            None => {}
            Some(Event::Frame(f)) => panic!("expected no frame for {wait:?}, got {f}"),
            Some(Event::Closed(_)) => {
                panic!("expected the socket to stay open for {wait:?}, the server closed it")
            }
        }
    }
}

/// Text when `bytes` are UTF-8, binary otherwise.
fn as_message(bytes: Vec<u8>) -> Message {
    match String::from_utf8(bytes) {
        Ok(text) => Message::text(text),
        Err(e) => Message::binary(e.into_bytes()),
    }
}

fn subscribe_receipt(id: &str) -> String {
    format!("subscribed-{id}")
}

fn subscribe_frame(id: &str, room: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let receipt = subscribe_receipt(id);
    let dest = topic(room);
    let mut headers = vec![
        ("id", id),
        ("destination", dest.as_str()),
        ("receipt", receipt.as_str()),
    ];
    headers.extend_from_slice(extra);
    frame("SUBSCRIBE", &headers, "")
}
