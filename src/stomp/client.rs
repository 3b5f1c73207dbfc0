//! Frames a client sends: the only frames the server decodes.

use super::frame::{Command, Frame};

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
/// order, repeats kept; `body` is exactly the frame's body. `encode` writes
/// it as a client would send it, for test clients and tools.
pub type ClientFrame = Frame<ClientCommand>;

impl Command for ClientCommand {
    fn as_str(self) -> &'static str {
        ClientCommand::as_str(self)
    }

    fn never_escaped(self) -> bool {
        self.opens_session()
    }
}
