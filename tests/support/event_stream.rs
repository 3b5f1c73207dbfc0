//! An event stream (`GET …/events`) opened on a raw TCP socket, for tests
//! that need to decide how its client goes away: dropping the socket closes
//! the connection for sure (no client pool keeps it), and the caller may
//! half-close it or reset it instead.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the stream's response head may take.
const HEAD_WITHIN: Duration = Duration::from_secs(10);

/// `GET path` with `token` on 127.0.0.1:`port`; returns once the 200 head
/// arrived (the stream's events follow on the socket).
pub async fn open(port: u16, token: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(HEAD_WITHIN, s.read(&mut buf))
            .await
            .expect("the stream's head within 10 s")
            .unwrap();
        assert!(n > 0, "the server closed the event stream before its head");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    s
}
