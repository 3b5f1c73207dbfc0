//! Opening the session: CONNECT (or STOMP) negotiation of the version and
//! heart-beats, and the credentials, answered by CONNECTED.

use crate::auth::{AuthUser, TokenError};
use crate::stomp::{ClientFrame, ServerCommand, ServerFrame, Version};

use super::headers::{Fatal, Outcome};
use super::{Action, Phase, Session};

/// Sent as `message` of the ERROR for any credential problem.
pub const AUTH_FAILED: &str = "authentication failed";
pub const TOKEN_EXPIRED: &str = "token expired";
/// Sent as `message` of the ERROR when the user already has
/// `MAX_CONNECTIONS_PER_USER` connections.
pub const TOO_MANY_CONNECTIONS: &str = "too many connections";

/// Why CONNECT's credentials were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// Missing, invalid or expired token: `authentication failed`.
    Auth,
    /// The user has too many connections open: `too many connections`.
    TooManyConnections,
}

impl From<TokenError> for ConnectRefusal {
    fn from(_: TokenError) -> Self {
        ConnectRefusal::Auth
    }
}

/// Heart-beat intervals agreed at CONNECT, in milliseconds (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartBeat {
    /// How often the server sends.
    pub send_every_ms: u64,
    /// How often the client promised to send.
    pub expect_every_ms: u64,
}

impl Session {
    pub(super) fn connect(
        &mut self,
        frame: &ClientFrame,
        verify: impl FnOnce(&str) -> Result<AuthUser, ConnectRefusal>,
    ) -> Outcome {
        let version = frame
            .header("accept-version")
            .and_then(Version::negotiate)
            .ok_or_else(|| Fatal {
                message: "supported STOMP versions are 1.1 and 1.2".into(),
                detail: None,
                extra_header: Some(("version", "1.1,1.2")),
            })?;
        let heart_beat = negotiate_heart_beat(frame.header("heart-beat"), self.config.heartbeat_ms)
            .ok_or_else(|| Fatal::new("invalid heart-beat header"))?;
        let token = credential(frame).ok_or_else(|| Fatal::new(AUTH_FAILED))?;
        let user = verify(token).map_err(|e| {
            Fatal::new(match e {
                ConnectRefusal::Auth => AUTH_FAILED,
                ConnectRefusal::TooManyConnections => TOO_MANY_CONNECTIONS,
            })
        })?;
        self.version = version;
        self.phase = Phase::Open;
        self.user = Some(user.clone());
        let connected = ServerFrame::new(ServerCommand::Connected)
            .with_header("version", version.as_str())
            .with_header(
                "heart-beat",
                format!(
                    "{},{}",
                    heart_beat.send_every_ms, heart_beat.expect_every_ms
                ),
            )
            .with_header("session", self.session_id.clone())
            .with_header("server", self.config.server.clone())
            .with_header("user-name", user.username.clone());
        Ok(vec![
            Action::Frame(connected),
            Action::Connected {
                version,
                heart_beat,
                user,
            },
        ])
    }
}

/// The token a CONNECT (or STOMP) frame presents: `Authorization: Bearer
/// <token>`, else `passcode` (an access token or a bot's API token).
pub fn credential(frame: &ClientFrame) -> Option<&str> {
    frame
        .header("Authorization")
        .or_else(|| frame.header("authorization"))
        .and_then(crate::auth::jwt::bearer_token)
        .or_else(|| frame.header("passcode"))
}

/// The README, "Real-time chat": for a client `heart-beat:cx,cy`, the server sends
/// every `sx` = 0 if cy is 0 else max(server, cy), and expects the client
/// every `sy` = 0 if cx is 0 else max(server, cx). No header means 0,0.
/// None when the header is malformed.
pub fn negotiate_heart_beat(header: Option<&str>, server_ms: u64) -> Option<HeartBeat> {
    let (cx, cy) = match header {
        None => (0, 0),
        Some(v) => {
            let (a, b) = v.split_once(',')?;
            (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)
        }
    };
    let pick = |c: u64| if c == 0 { 0 } else { c.max(server_ms) };
    Some(HeartBeat {
        send_every_ms: pick(cy),
        expect_every_ms: pick(cx),
    })
}
