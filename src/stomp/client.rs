//! Frames a client sends: the only frames the server decodes.

use bytes::{Bytes, BytesMut};

use super::Version;
use super::headers::{Escaping, write_frame};

/// The commands a client may send (STOMP 1.2, "Client Frames").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientCommand {
    Connect,
    Stomp,
    Send,
    Subscribe,
    Unsubscribe,
    Ack,
    Nack,
    Begin,
    Commit,
    Abort,
    Disconnect,
}

impl ClientCommand {
    pub const ALL: [ClientCommand; 11] = [
        ClientCommand::Connect,
        ClientCommand::Stomp,
        ClientCommand::Send,
        ClientCommand::Subscribe,
        ClientCommand::Unsubscribe,
        ClientCommand::Ack,
        ClientCommand::Nack,
        ClientCommand::Begin,
        ClientCommand::Commit,
        ClientCommand::Abort,
        ClientCommand::Disconnect,
    ];

    /// The command as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientCommand::Connect => "CONNECT",
            ClientCommand::Stomp => "STOMP",
            ClientCommand::Send => "SEND",
            ClientCommand::Subscribe => "SUBSCRIBE",
            ClientCommand::Unsubscribe => "UNSUBSCRIBE",
            ClientCommand::Ack => "ACK",
            ClientCommand::Nack => "NACK",
            ClientCommand::Begin => "BEGIN",
            ClientCommand::Commit => "COMMIT",
            ClientCommand::Abort => "ABORT",
            ClientCommand::Disconnect => "DISCONNECT",
        }
    }

    /// Commands are case-sensitive.
    pub(crate) fn from_wire(line: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == line)
    }

    /// CONNECT and STOMP: the frames whose headers are never escaped.
    pub fn opens_session(self) -> bool {
        matches!(self, ClientCommand::Connect | ClientCommand::Stomp)
    }
}

/// A decoded client frame. Header names and values are unescaped, in wire
/// order, repeats kept; `body` is exactly the frame's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub command: ClientCommand,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl ClientFrame {
    pub fn new(command: ClientCommand) -> Self {
        ClientFrame {
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

    /// Encodes the frame as a client would send it, for test clients and
    /// tools. `content-length` is written from the body (any given one is
    /// dropped); CONNECT and STOMP are never escaped.
    pub fn encode(&self, version: Version) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(version, &mut out);
        out.freeze()
    }

    pub fn encode_into(&self, version: Version, out: &mut BytesMut) {
        let escaping = Escaping::new(version, self.command.opens_session());
        let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        write_frame(out, self.command.as_str(), headers, &self.body, escaping);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_first_wins() {
        let frame = ClientFrame::new(ClientCommand::Send)
            .with_header("destination", "/topic/rooms/a")
            .with_header("destination", "/topic/rooms/b");
        assert_eq!(frame.header("destination"), Some("/topic/rooms/a"));
        assert_eq!(frame.header("receipt"), None);
    }

    #[test]
    fn commands_round_trip_through_their_wire_names() {
        for command in ClientCommand::ALL {
            assert_eq!(
                ClientCommand::from_wire(command.as_str().as_bytes()),
                Some(command)
            );
        }
        assert_eq!(ClientCommand::from_wire(b"send"), None, "case-sensitive");
        assert_eq!(ClientCommand::from_wire(b"MESSAGE"), None, "server command");
    }

    #[test]
    fn encoder_writes_content_length_from_the_body() {
        let frame = ClientFrame::new(ClientCommand::Send)
            .with_header("content-length", "999")
            .with_header("destination", "/topic/rooms/a:b")
            .with_body(&b"hi\0"[..]);
        assert_eq!(
            &frame.encode(Version::V1_2)[..],
            b"SEND\ndestination:/topic/rooms/a\\cb\ncontent-length:3\n\nhi\0\0"
        );
    }

    #[test]
    fn encoder_leaves_connect_unescaped() {
        let frame = ClientFrame::new(ClientCommand::Connect).with_header("passcode", "a:b\\c");
        assert_eq!(
            &frame.encode(Version::V1_2)[..],
            b"CONNECT\npasscode:a:b\\c\n\n\0"
        );
    }
}
