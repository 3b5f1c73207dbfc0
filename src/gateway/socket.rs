//! WebSocket messages (RFC 6455) on the TCP stream a `GET /ws` upgrade took
//! over from the HTTP/1 dispatcher (see [`super::upgrade`]).
//!
//! An idle connection holds no buffer here: bytes are read into a scratch
//! buffer of the worker thread and only an incomplete frame is kept, in a
//! buffer sized to it; a message is written straight from the outbox's
//! bytes with its frame header, one at a time. The [`Reader`] yields whole
//! messages (continuations aggregated, text checked to be UTF-8) up to a
//! size limit; the [`Writer`] is the outbox's.
//!
//! It knows nothing of STOMP: what is read and written, and when, is the
//! connection's.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_codec::Decoder as _;
use actix_http::ws::{CloseReason, Codec, Frame, Item, OpCode, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read from the socket at a time (into the thread's scratch buffer).
const READ_CHUNK: usize = 16 * 1024;
/// The longest frame header: 2 octets, a 64-bit length (no mask: the
/// server's frames are unmasked, RFC 6455 §5.1).
const MAX_HEAD: usize = 10;
/// The longest header of a client's (masked) frame.
const MAX_CLIENT_HEAD: usize = 14;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// The socket is closed (or failed): nothing more can be written.
#[derive(Debug)]
pub struct Closed;

/// A whole message from the client.
#[derive(Debug)]
pub enum Incoming {
    /// A text (checked to be UTF-8) or binary message's payload.
    Data(Bytes),
    Ping(Bytes),
    Pong,
    Close,
}

/// The upgraded stream, split into the connection's two halves. `early` are
/// the bytes the client sent after its upgrade request (already read).
pub fn split(io: TcpStream, early: &[u8], max_message: usize) -> (Reader, Writer) {
    let (read, write) = io.into_split();
    let reader = Reader {
        io: read,
        buf: BytesMut::from(early),
        codec: Codec::new().max_size(max_message),
        max_message,
        parts: Vec::new(),
        parts_len: 0,
        text: false,
        eof: false,
    };
    let writer = Writer {
        io: write,
        head: [0; MAX_HEAD],
        head_len: 0,
        head_pos: 0,
        body: Bytes::new(),
        failed: false,
    };
    (reader, writer)
}

pub struct Reader {
    io: OwnedReadHalf,
    /// The bytes of a frame not complete yet (empty, unallocated, between
    /// messages).
    buf: BytesMut,
    codec: Codec,
    max_message: usize,
    /// The fragments of a message sent in continuation frames.
    parts: Vec<Bytes>,
    parts_len: usize,
    text: bool,
    eof: bool,
}

impl Reader {
    /// The next message; `None` once the client closed the stream.
    /// Cancel-safe: what was read stays for the next call.
    pub async fn recv(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, ProtocolError>>> {
        loop {
            match self.next_buffered() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if self.eof {
                return Poll::Ready(None);
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if is_disconnect(&e) => self.eof = true,
                Err(e) => return Poll::Ready(Some(Err(ProtocolError::Io(e)))),
            }
        }
    }

    /// Reads what the socket has (into the thread's scratch buffer, then
    /// appended to `buf`, which so grows only by what arrived).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut read = ReadBuf::new(scratch);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
            self.buf.extend_from_slice(read.filled());
            Poll::Ready(Ok(read.filled().len()))
        })
    }

    /// A whole message from the bytes read, if they hold one.
    fn next_buffered(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        loop {
            // actix-http's frame codec (the one actix-web's WebSockets use).
            let frame = self.codec.decode(&mut self.buf)?;
            if self.buf.is_empty() {
                // Let go of the allocation the frames were split from.
                self.buf = BytesMut::new();
            }
            let Some(frame) = frame else {
                // A frame longer than the limit is refused before it is
                // all read (the codec would wait for all of it).
                if self.buf.len() > self.max_message + MAX_CLIENT_HEAD {
                    return Err(ProtocolError::Overflow);
                }
                return Ok(None);
            };
            let data = match frame {
                Frame::Text(bytes) => text(bytes)?,
                Frame::Binary(bytes) => bytes,
                Frame::Ping(bytes) => return Ok(Some(Incoming::Ping(bytes))),
                Frame::Pong(_) => return Ok(Some(Incoming::Pong)),
                Frame::Close(_) => return Ok(Some(Incoming::Close)),
                Frame::Continuation(item) => match self.aggregate(item)? {
                    Some(data) => data,
                    None => continue,
                },
            };
            return Ok(Some(Incoming::Data(data)));
        }
    }

    /// Adds a continuation fragment; the whole message once it is complete.
    fn aggregate(&mut self, item: Item) -> Result<Option<Bytes>, ProtocolError> {
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.text = true;
                (b, false)
            }
            Item::FirstBinary(b) => {
                self.text = false;
                (b, false)
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        self.parts_len += bytes.len();
        if self.parts_len > self.max_message {
            self.parts = Vec::new();
            self.parts_len = 0;
            return Err(ProtocolError::Overflow);
        }
        self.parts.push(bytes);
        if !last {
            return Ok(None);
        }
        let parts = std::mem::take(&mut self.parts);
        self.parts_len = 0;
        let mut whole = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
        for part in parts {
            whole.extend_from_slice(&part);
        }
        let whole = whole.freeze();
        if self.text {
            text(whole).map(Some)
        } else {
            Ok(Some(whole))
        }
    }

    /// After the close frame: see [`linger`].
    pub async fn linger(mut self, limit: Duration) {
        self.buf = BytesMut::new();
        linger(&mut self.io, limit).await;
    }
}

/// Reads (and drops) what the client still sends until it closes too, for
/// at most `limit`: a socket closed with unread bytes is reset, and the
/// client may lose what was written last.
pub async fn linger(io: &mut (impl AsyncRead + Unpin), limit: Duration) {
    let drained = async {
        loop {
            let read = poll_fn(|cx| {
                SCRATCH.with_borrow_mut(|scratch| {
                    let mut read = ReadBuf::new(scratch);
                    ready!(Pin::new(&mut *io).poll_read(cx, &mut read))?;
                    Poll::Ready(Ok::<_, io::Error>(read.filled().len()))
                })
            });
            match read.await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(limit, drained).await;
}

/// A text message must be UTF-8 (RFC 6455 §8.1).
fn text(bytes: Bytes) -> Result<Bytes, ProtocolError> {
    match std::str::from_utf8(&bytes) {
        Ok(_) => Ok(bytes),
        Err(e) => Err(ProtocolError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            e,
        ))),
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Writes one message at a time: its frame header and its payload, from
/// the caller's bytes (not copied).
pub struct Writer {
    io: OwnedWriteHalf,
    head: [u8; MAX_HEAD],
    head_len: usize,
    head_pos: usize,
    body: Bytes,
    failed: bool,
}

impl Writer {
    /// Starts writing a text message (`payload` is UTF-8: STOMP frames are
    /// encoded from strings). The message before must be written.
    pub fn start_text(&mut self, payload: Bytes) {
        self.start(OpCode::Text, payload);
    }

    pub fn start_pong(&mut self, payload: Bytes) {
        self.start(OpCode::Pong, payload);
    }

    /// Starts writing the close frame.
    pub fn start_close(&mut self, reason: Option<CloseReason>) {
        let mut payload = Vec::new();
        if let Some(reason) = reason {
            payload.extend_from_slice(&u16::from(reason.code).to_be_bytes());
            if let Some(description) = reason.description {
                payload.extend_from_slice(description.as_bytes());
            }
        }
        self.start(OpCode::Close, Bytes::from(payload));
    }

    fn start(&mut self, opcode: OpCode, payload: Bytes) {
        debug_assert!(!self.is_writing(), "one message at a time");
        let len = payload.len();
        self.head[0] = 0x80 | u8::from(opcode); // FIN: never fragmented
        self.head_len = if len < 126 {
            self.head[1] = len as u8;
            2
        } else if let Ok(len) = u16::try_from(len) {
            self.head[1] = 126;
            self.head[2..4].copy_from_slice(&len.to_be_bytes());
            4
        } else {
            self.head[1] = 127;
            self.head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        self.head_pos = 0;
        self.body = payload;
    }

    fn is_writing(&self) -> bool {
        self.head_pos < self.head_len || !self.body.is_empty()
    }

    /// Resolves when the message started is written (at once if none is).
    /// Cancel-safe: what is left stays for the next call.
    pub async fn written(&mut self) -> Result<(), Closed> {
        poll_fn(|cx| self.poll_written(cx)).await
    }

    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        if self.failed {
            return Poll::Ready(Err(Closed));
        }
        while self.is_writing() {
            let head = &self.head[self.head_pos..self.head_len];
            let slices = [IoSlice::new(head), IoSlice::new(&self.body)];
            let n = match ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices)) {
                Ok(0) | Err(_) => {
                    self.failed = true;
                    self.body = Bytes::new();
                    return Poll::Ready(Err(Closed));
                }
                Ok(n) => n,
            };
            let from_head = n.min(head.len());
            self.head_pos += from_head;
            self.body.advance(n - from_head);
        }
        // Written: let go of the outbox's buffer.
        self.body = Bytes::new();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use actix_codec::Encoder as _;
    use actix_http::ws::{Codec, Item, Message};
    use bytes::{Bytes, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{Incoming, split};

    /// A connected pair on 127.0.0.1: (server side, client side).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.unwrap().0, client.unwrap())
    }

    /// Frames as a client sends them (masked).
    fn client_frames(messages: Vec<Message>) -> BytesMut {
        let mut codec = Codec::new().client_mode();
        let mut out = BytesMut::new();
        for m in messages {
            codec.encode(m, &mut out).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn writes_unmasked_frames_with_each_length_encoding() {
        let (server, mut client) = pair().await;
        let (_reader, mut writer) = split(server, &[], 1 << 20);
        for len in [5usize, 300, 70_000] {
            let payload = Bytes::from("x".repeat(len));
            writer.start_text(payload);
            let (written, read) = tokio::join!(writer.written(), async {
                let mut head = [0u8; 2];
                client.read_exact(&mut head).await.unwrap();
                assert_eq!(head[0], 0x81, "FIN and text");
                let len_field = match head[1] {
                    126 => client.read_u16().await.unwrap() as usize,
                    127 => client.read_u64().await.unwrap() as usize,
                    n => usize::from(n),
                };
                let mut body = vec![0u8; len_field];
                client.read_exact(&mut body).await.unwrap();
                body
            });
            written.unwrap();
            assert_eq!(read.len(), len);
            assert!(read.iter().all(|&b| b == b'x'));
        }
    }

    #[tokio::test]
    async fn aggregates_continuations_and_reads_early_bytes_first() {
        let (server, mut client) = pair().await;
        let early = client_frames(vec![Message::Text("early".into())]);
        let (mut reader, _writer) = split(server, &early, 1024);
        let frames = client_frames(vec![
            Message::Continuation(Item::FirstText(Bytes::from_static(b"he"))),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Continuation(Item::Continue(Bytes::from_static(b"ll"))),
            Message::Continuation(Item::Last(Bytes::from_static(b"o"))),
            Message::Binary(Bytes::from_static(b"\x00\x01")),
            Message::Close(None),
        ]);
        client.write_all(&frames).await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = reader.recv().await {
            let m = m.unwrap();
            let close = matches!(m, Incoming::Close);
            got.push(format!("{m:?}"));
            if close {
                break;
            }
        }
        assert_eq!(
            got,
            [
                r#"Data(b"early")"#,
                r#"Ping(b"p")"#,
                r#"Data(b"hello")"#,
                r#"Data(b"\0\x01")"#,
                "Close",
            ]
        );
        assert_eq!(reader.buf.capacity(), 0, "no buffer kept between messages");
    }

    #[tokio::test]
    async fn refuses_a_frame_over_the_limit_before_it_is_all_sent() {
        let (server, mut client) = pair().await;
        let (mut reader, _writer) = split(server, &[], 1024);
        // The head of a 1 MiB masked binary frame, and 8 KiB of it.
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&(1u64 << 20).to_be_bytes());
        head.extend_from_slice(&[1, 2, 3, 4]);
        client.write_all(&head).await.unwrap();
        client.write_all(&[0u8; 8192]).await.unwrap();
        let got = reader
            .recv()
            .await
            .expect("an answer before the frame ends");
        assert!(got.is_err(), "{got:?}");
    }

    #[tokio::test]
    async fn refuses_text_that_is_not_utf8_and_ends_at_eof() {
        let (server, mut client) = pair().await;
        let (mut reader, _writer) = split(server, &[], 1024);
        let mut codec = Codec::new().client_mode();
        let mut bad = BytesMut::new();
        // A text frame whose payload is not UTF-8, built as binary then
        // relabelled (opcode 1).
        codec
            .encode(Message::Binary(Bytes::from_static(b"\xff\xfe")), &mut bad)
            .unwrap();
        bad[0] = 0x81;
        client.write_all(&bad).await.unwrap();
        assert!(reader.recv().await.unwrap().is_err());
        drop(client);
        assert!(reader.recv().await.is_none(), "the client closed");
    }
}
