//! A small raw-frame STOMP 1.2 client over tokio-tungstenite: just what
//! clients of a cluster do (CONNECT, SUBSCRIBE, SEND with receipts) plus the
//! one thing these tests watch closely, the WebSocket close code.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The longest a single expectation waits.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Frame {
    pub command: String,
    /// Header lines in wire order, unescaped (first occurrence wins on read).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric header (`seq`, `message-id`), or a panic showing the frame.
    pub fn number(&self, name: &str) -> i64 {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} frame without a numeric `{name}`: {self}", self.command))
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.command)?;
        for (k, v) in &self.headers {
            write!(f, " | {k}:{v}")?;
        }
        let body = String::from_utf8_lossy(&self.body);
        write!(f, " | body: {:?}", &body[..body.len().min(300)])
    }
}

/// What the reader saw next.
#[derive(Debug)]
pub enum Event {
    Frame(Frame),
    /// The socket ended: with the close code of the server's Close frame,
    /// or None when it dropped without one (a killed process).
    Closed(Option<u16>),
}

pub struct Stomp {
    ws: WebSocketStream<TcpStream>,
    buf: Vec<u8>,
    closed: Option<Option<u16>>,
    /// Frames read while waiting for a RECEIPT, handed out first.
    stash: VecDeque<Frame>,
}

/// Encodes a client frame; header values must need no escaping.
pub fn frame(command: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!("{command}\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}:{v}\n"));
    }
    out.push('\n');
    out.push_str(body);
    out.push('\0');
    out
}

pub fn topic(room: &str) -> String {
    format!("/topic/rooms/{room}")
}

impl Stomp {
    /// Opens `ws://127.0.0.1:{port}/ws` and logs in; Err describes what
    /// went wrong (refused, upgrade failed, no CONNECTED).
    pub async fn connect(port: u16, token: &str) -> Result<Stomp, String> {
        let url = format!("ws://127.0.0.1:{port}/ws");
        let stream = timeout(WAIT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .map_err(|_| format!("TCP connect to {port} timed out"))?
            .map_err(|e| format!("TCP connect to {port}: {e}"))?;
        stream.set_nodelay(true).ok();
        let (ws, _) = timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .map_err(|_| format!("WebSocket handshake with {port} timed out"))?
            .map_err(|e| format!("WebSocket handshake with {port}: {e}"))?;
        let mut client = Stomp {
            ws,
            buf: Vec::new(),
            closed: None,
            stash: VecDeque::new(),
        };
        let auth = format!("Bearer {token}");
        let connect = frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", "localhost"),
                ("Authorization", &auth),
            ],
            "",
        );
        if !client.send(connect).await {
            return Err(format!("sending CONNECT to {port} failed"));
        }
        match client.next(WAIT).await {
            Some(Event::Frame(f)) if f.command == "CONNECTED" => Ok(client),
            other => Err(format!("CONNECT to {port} answered with {other:?}")),
        }
    }

    /// Connects, retrying until `within` passes (an instance or the
    /// balancer may refuse for a moment during a failover).
    pub async fn connect_retrying(port: u16, token: &str, within: Duration) -> Stomp {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match Self::connect(port, token).await {
                Ok(c) => return c,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("could not connect to port {port} within {within:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Sends one frame as a text message; false if the socket is gone.
    pub async fn send(&mut self, frame: String) -> bool {
        if self.closed.is_some() {
            return false;
        }
        matches!(
            timeout(WAIT, self.ws.send(Message::text(frame))).await,
            Ok(Ok(()))
        )
    }

    /// Sends SUBSCRIBE (with `since-seq` when given) asking for a receipt
    /// `sub-{id}`; does not wait for it.
    pub async fn subscribe(&mut self, id: &str, room: &str, since_seq: Option<i64>) -> bool {
        let dest = topic(room);
        let receipt = format!("sub-{id}");
        let since = since_seq.map(|s| s.to_string());
        let mut headers = vec![
            ("id", id),
            ("destination", dest.as_str()),
            ("receipt", receipt.as_str()),
        ];
        if let Some(s) = &since {
            headers.push(("since-seq", s));
        }
        self.send(frame("SUBSCRIBE", &headers, "")).await
    }

    /// SUBSCRIBE and wait for its RECEIPT (MESSAGEs before it are kept).
    pub async fn subscribe_and_wait(&mut self, id: &str, room: &str) {
        assert!(self.subscribe(id, room, None).await, "sending SUBSCRIBE");
        let want = format!("sub-{id}");
        for _ in 0..10_000 {
            match self.read(WAIT).await {
                Some(Event::Frame(f)) if f.command == "RECEIPT" => {
                    assert_eq!(f.header("receipt-id"), Some(want.as_str()), "{f}");
                    return;
                }
                Some(Event::Frame(f)) if f.command == "MESSAGE" => self.stash.push_back(f),
                other => panic!("expected the RECEIPT of SUBSCRIBE {id}, got {other:?}"),
            }
        }
        panic!("no RECEIPT for SUBSCRIBE {id}");
    }

    /// The next frame or the end of the socket; None if nothing came
    /// within `wait`. Heart-beats are skipped.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        if let Some(f) = self.stash.pop_front() {
            return Some(Event::Frame(f));
        }
        self.read(wait).await
    }

    async fn read(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(f) = self.parse_one() {
                return Some(Event::Frame(f));
            }
            if let Some(code) = self.closed {
                return Some(Event::Closed(code));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    // Keep a close code already seen; otherwise it dropped.
                    self.closed.get_or_insert(None);
                }
                Ok(Some(Ok(msg))) => match msg {
                    Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
                    Message::Binary(b) => self.buf.extend_from_slice(&b),
                    Message::Close(close) => {
                        self.closed = Some(close.map(|c| u16::from(c.code)));
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                },
            }
        }
    }

    /// One complete frame from the buffer (heart-beat EOLs dropped).
    fn parse_one(&mut self) -> Option<Frame> {
        while self.buf.first().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            self.buf.remove(0);
        }
        let head_end = self.buf.windows(2).position(|w| w == b"\n\n")? + 2;
        let head = String::from_utf8_lossy(&self.buf[..head_end - 2]).into_owned();
        let mut lines = head.split('\n');
        let command = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| match l.split_once(':') {
                Some((k, v)) => (k.to_string(), unescape(v)),
                None => (l.to_string(), String::new()),
            })
            .collect();
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body_end = match length {
            Some(n) => {
                if self.buf.len() < head_end + n + 1 {
                    return None;
                }
                head_end + n
            }
            None => head_end + self.buf[head_end..].iter().position(|b| *b == 0)?,
        };
        let body = self.buf[head_end..body_end].to_vec();
        self.buf.drain(..=body_end);
        Some(Frame {
            command,
            headers,
            body,
        })
    }

    /// Closes the WebSocket politely (best effort, bounded).
    pub async fn close(mut self) {
        let _ = timeout(Duration::from_secs(2), self.ws.close(None)).await;
        let _ = timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// STOMP 1.2 header unescaping (the server sends no CRLF line endings).
fn unescape(raw: &str) -> String {
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
