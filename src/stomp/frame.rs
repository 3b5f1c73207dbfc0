//! A frame of either direction, as the server builds, reads and writes it:
//! its command, its headers in wire order (repeats kept) and its body.
//! [`ClientFrame`](super::ClientFrame) and [`ServerFrame`](super::ServerFrame)
//! are this type for each side's commands.

use bytes::{Bytes, BytesMut};

use super::Version;
use super::headers::{Escaping, write_frame};

/// The commands of one direction.
pub trait Command: Copy {
    /// The command as written on the wire.
    fn as_str(self) -> &'static str;
    /// CONNECT, STOMP and CONNECTED: the frames whose headers are never
    /// escaped.
    fn never_escaped(self) -> bool;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<C> {
    pub command: C,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl<C: Command> Frame<C> {
    pub fn new(command: C) -> Self {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`: when a header repeats,
    /// the first occurrence wins (STOMP 1.2, "Repeated Header Entries").
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The frame's bytes for a peer speaking `version`: headers escaped for
    /// that version (unless the command's never are), LF line endings,
    /// `content-length` written from the body when there is one (any given
    /// one is dropped), NUL.
    pub fn encode(&self, version: Version) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(version, &mut out);
        out.freeze()
    }

    pub fn encode_into(&self, version: Version, out: &mut BytesMut) {
        let escaping = Escaping::new(version, self.command.never_escaped());
        let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        write_frame(out, self.command.as_str(), headers, &self.body, escaping);
    }
}
