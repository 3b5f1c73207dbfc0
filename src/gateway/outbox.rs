//! What a connection has to write to its client, and the one write in
//! progress.
//!
//! Frames are encoded into the outbox and coalesced into WebSocket messages;
//! the connection's select loop starts a write when none is in progress and
//! polls it as one of its branches, so the connection never waits for a
//! client outside that loop. The outbox counts the frames waiting: live
//! deliveries and `since-seq` replays are added only while it has room, so a
//! client that stops reading holds at most `OUTBOUND_QUEUE` frames here (and
//! the deliveries behind them overflow the connection's queue: a slow
//! consumer). A write that makes no progress for [`WRITE_STALL_TIMEOUT`]
//! marks the client as not reading even when nothing new arrives for it.
//!
//! One connection in several ([`crate::metrics::sample_connection`]) times
//! its deliveries: from commit to being taken from the queue, and from
//! there to the socket accepting the write that holds them (README,
//! "Metrics"). The others test a flag per burst and an `Option` per frame:
//! no clock read, lock or allocation is added to their delivery path.
//!
//! It is the only writer to the socket. It must not decide what is written
//! or in which order beyond first in, first out: ordering rules belong to
//! the store pipeline, the subscriptions and the session.

use std::collections::VecDeque;
use std::time::Duration;

use actix_http::ws::CloseReason;
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::socket::{Closed, Writer as Socket};
use crate::stomp::{ServerFrame, Version};

/// Frames written per WebSocket message at most.
const COALESCE_MAX_FRAMES: usize = 256;
/// Bytes written per WebSocket message at most (soft).
const COALESCE_MAX_BYTES: usize = 256 * 1024;
/// A write the client has not accepted for this long: it stopped reading.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

enum Chunk {
    /// Complete STOMP frames (and heart-beat EOLs), one WebSocket message.
    Text {
        bytes: BytesMut,
        frames: usize,
        /// When the oldest delivery in it was taken from the queue (timed
        /// connections only).
        dequeued: Option<std::time::Instant>,
    },
    Pong(Bytes),
}

pub struct Outbox {
    socket: Socket,
    chunks: VecDeque<Chunk>,
    /// Frames in `chunks` (not yet handed to the socket).
    frames: usize,
    bound: usize,
    /// When the message being written was started.
    writing: Option<Instant>,
    /// Whether this connection times its deliveries.
    timed: bool,
    /// While a burst of deliveries is added: when it was taken.
    dequeued: Option<std::time::Instant>,
    /// When the deliveries in the write in progress were taken.
    writing_dequeued: Option<std::time::Instant>,
}

impl Outbox {
    /// `bound`: frames waiting beyond which nothing more is added
    /// (`OUTBOUND_QUEUE`).
    pub fn new(socket: Socket, bound: usize) -> Self {
        Outbox {
            socket,
            chunks: VecDeque::new(),
            frames: 0,
            bound: bound.max(1),
            writing: None,
            timed: crate::metrics::sample_connection(),
            dequeued: None,
            writing_dequeued: None,
        }
    }

    /// Frames that may still be added before the outbox is full.
    pub fn room(&self) -> usize {
        self.bound.saturating_sub(self.frames)
    }

    pub fn has_room(&self) -> bool {
        self.room() > 0
    }

    pub fn bound(&self) -> usize {
        self.bound
    }

    pub fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// When the write in progress started.
    pub fn writing_since(&self) -> Option<Instant> {
        self.writing
    }

    /// Adds one frame the caller encodes into the buffer.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        let buf = self.tail();
        encode(buf);
        if let Some(Chunk::Text {
            frames, dequeued, ..
        }) = self.chunks.back_mut()
        {
            *frames += 1;
            if let Some(at) = self.dequeued
                && dequeued.is_none()
            {
                *dequeued = Some(at);
            }
        }
        self.frames += 1;
    }

    /// Adds a burst of deliveries taken from the connection's queue, the
    /// oldest committed at `born`; on a timed connection, records how long
    /// it took to get here and marks what `add` writes.
    pub fn add_deliveries(&mut self, born: std::time::Instant, add: impl FnOnce(&mut Outbox)) {
        if !self.timed {
            return add(self);
        }
        let now = std::time::Instant::now();
        metrics::histogram!(crate::metrics::COMMIT_TO_DEQUEUE)
            .record(now.saturating_duration_since(born).as_secs_f64());
        self.dequeued = Some(now);
        add(self);
        self.dequeued = None;
    }

    pub fn push_frame(&mut self, frame: &ServerFrame, version: Version) {
        crate::metrics::frames_out(frame.command).increment(1);
        self.push_with(|out| frame.encode_into(version, out));
    }

    /// A heart-beat EOL (between frames; not counted as a frame).
    pub fn push_heart_beat(&mut self) {
        self.tail().extend_from_slice(b"\n");
    }

    pub fn push_pong(&mut self, payload: Bytes) {
        self.chunks.push_back(Chunk::Pong(payload));
    }

    /// The text chunk frames are appended to (a new one when the last is
    /// full or is not text).
    fn tail(&mut self) -> &mut BytesMut {
        let full = match self.chunks.back() {
            Some(Chunk::Text { bytes, frames, .. }) => {
                bytes.len() >= COALESCE_MAX_BYTES || *frames >= COALESCE_MAX_FRAMES
            }
            _ => true,
        };
        if full {
            self.chunks.push_back(Chunk::Text {
                bytes: BytesMut::new(),
                frames: 0,
                dequeued: None,
            });
        }
        match self.chunks.back_mut() {
            Some(Chunk::Text { bytes, .. }) => bytes,
            _ => unreachable!("a text chunk was just ensured"),
        }
    }

    /// Starts writing the oldest chunk unless a write is in progress.
    pub fn start_write(&mut self) {
        if self.writing.is_some() {
            return;
        }
        let Some(chunk) = self.chunks.pop_front() else {
            return;
        };
        match chunk {
            Chunk::Text {
                bytes,
                frames,
                dequeued,
            } => {
                self.frames -= frames;
                self.writing_dequeued = dequeued;
                // UTF-8: frames are encoded from strings.
                self.socket.start_text(bytes.freeze());
            }
            Chunk::Pong(payload) => self.socket.start_pong(payload),
        }
        self.writing = Some(Instant::now());
    }

    /// Resolves when the write in progress is done (never, if none is).
    /// Cancel-safe: dropped early, the write stays in progress.
    pub async fn written(&mut self) -> Result<(), Closed> {
        if self.writing.is_none() {
            return std::future::pending().await;
        }
        let result = self.socket.written().await;
        self.writing = None;
        if let (Some(dequeued), Ok(())) = (self.writing_dequeued.take(), &result) {
            metrics::histogram!(crate::metrics::DEQUEUE_TO_WRITTEN)
                .record(dequeued.elapsed().as_secs_f64());
        }
        result
    }

    /// Writes everything waiting, within `limit`. False if the client did
    /// not take it in time or is gone.
    pub async fn drain(&mut self, limit: Duration) -> bool {
        let all = async {
            loop {
                self.start_write();
                if !self.is_writing() {
                    return true;
                }
                if self.written().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(limit, all).await.unwrap_or(false)
    }

    /// The close frame, within `limit` (after [`Outbox::drain`]). True if
    /// it was written. The socket's sending side closes when the outbox is
    /// dropped.
    pub async fn close(mut self, reason: Option<CloseReason>, limit: Duration) -> bool {
        self.socket.start_close(reason);
        let sent = tokio::time::timeout(limit, self.socket.written()).await;
        matches!(sent, Ok(Ok(())))
    }
}
