//! The per-connection STOMP state machine, pure: a client frame in, a list of
//! [`Action`]s out. It owns the protocol rules (CONNECT negotiation,
//! credentials, heart-beats, subscription ids and ack modes, transactions
//! and their bounds, receipts, ERROR-then-close) and validates what clients
//! send into domain types (ids: [`check_id`](crate::domain::check_id)). It
//! never touches sockets, the database or the clock: the gateway executes
//! the actions and reports back.
//!
//! [`Session`] is the one owner of the protocol state; its parts are
//! `connect` (CONNECT, heart-beats, credentials), `subscriptions`,
//! `transactions` and `headers` (reading headers, refusals). This file
//! dispatches frames and owns the phase, SEND, receipts and ending.

mod connect;
mod headers;
mod subscriptions;
mod transactions;

use crate::auth::{AuthUser, TokenError};
use crate::domain::{Attachments, ClientId, MessageBody, RoomName};
use crate::stomp::{ClientCommand, ClientFrame, ServerFrame, Version};

pub use connect::{
    AUTH_FAILED, ConnectRefusal, HeartBeat, TOKEN_EXPIRED, TOO_MANY_CONNECTIONS, credential,
    negotiate_heart_beat,
};
pub use subscriptions::{AckMode, SubscribeRequest, Subscription};

use crate::destination::Destination;
use headers::{Fatal, Outcome, destination, id_header, optional_id, required_id};
use subscriptions::Subscriptions;
use transactions::Transactions;

/// The settings the session enforces.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub max_subscriptions: usize,
    /// Open transactions per connection.
    pub max_transactions: usize,
    /// SENDs buffered in one transaction.
    pub max_transaction_sends: usize,
    pub max_body_bytes: usize,
    /// The server's own heart-beat interval (the floor of both directions).
    pub heartbeat_ms: u64,
    /// `server` header of CONNECTED.
    pub server: String,
}

/// A validated SEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub room: RoomName,
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
    /// `in-reply-to` header: the seq of the message this one replies to
    /// (whether it is one is the log's question).
    pub reply_to: Option<i64>,
    /// `receipt` header: answer with a RECEIPT once committed.
    pub receipt: Option<String>,
    /// `attachments` header (`id1,id2`): files to attach (whether the
    /// sender may is the log's question).
    pub attachments: Attachments,
}

/// What the gateway must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this frame.
    Frame(ServerFrame),
    /// The session is open: switch the decoder to `version`, start the
    /// heart-beat timers, end the session at `user.expires_at`.
    Connected {
        version: Version,
        heart_beat: HeartBeat,
        user: AuthUser,
    },
    /// Authorise and register a subscription (already recorded here); send
    /// the receipt when done, or fail the session.
    Subscribe(SubscribeRequest),
    /// Register subscription `id` of the user destination (the user's own
    /// room list; already recorded here), then send the receipt if any.
    SubscribeUserUpdates {
        id: String,
        ack: AckMode,
        receipt: Option<String>,
    },
    /// The client acknowledged the MESSAGE whose `ack` (1.2) or `message-id`
    /// (1.1) is `id`: with `ack:client`, everything up to it on that
    /// subscription (a read marker moves).
    Acked { id: String },
    /// Announce that the user is typing in `room` (ephemeral: nothing is
    /// stored), then send the receipt if any.
    Typing {
        room: RoomName,
        receipt: Option<String>,
    },
    /// Stop delivering to subscription `id`, then send the receipt if any.
    Unsubscribe { id: String, receipt: Option<String> },
    /// Store these messages in one transaction, publish them, then send a
    /// RECEIPT (with `message-id` and `seq`) for each that asked, then
    /// `then_receipt` (a COMMIT's own receipt).
    Store {
        sends: Vec<SendRequest>,
        then_receipt: Option<String>,
    },
    /// Close the connection (after writing any frames before this action).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingConnect,
    Open,
    Closed,
}

pub struct Session {
    config: SessionConfig,
    session_id: String,
    phase: Phase,
    version: Version,
    user: Option<AuthUser>,
    subscriptions: Subscriptions,
    transactions: Transactions,
}

impl Session {
    pub fn new(config: SessionConfig, session_id: impl Into<String>) -> Self {
        Session {
            subscriptions: Subscriptions::new(config.max_subscriptions),
            transactions: Transactions::new(config.max_transactions, config.max_transaction_sends),
            config,
            session_id: session_id.into(),
            phase: Phase::AwaitingConnect,
            version: Version::V1_2,
            user: None,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The user CONNECT's token named, once the session is open.
    pub fn user(&self) -> Option<&AuthUser> {
        self.user.as_ref()
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.get(id)
    }

    /// Handles one client frame. `verify` checks an access token.
    pub fn handle(
        &mut self,
        frame: ClientFrame,
        verify: impl FnOnce(&str) -> Result<AuthUser, TokenError>,
    ) -> Vec<Action> {
        self.handle_admitting(frame, |token| verify(token).map_err(ConnectRefusal::from))
    }

    /// [`handle`](Session::handle), where `verify` may also refuse a valid
    /// token (a user over the per-user connection limit).
    pub fn handle_admitting(
        &mut self,
        frame: ClientFrame,
        verify: impl FnOnce(&str) -> Result<AuthUser, ConnectRefusal>,
    ) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        // A receipt that is not a valid id cannot be echoed back.
        let receipt = match frame.header("receipt").map(|r| id_header("receipt", r)) {
            Some(Err(refusal)) => return self.refuse(refusal, None),
            Some(Ok(r)) => Some(r.to_string()),
            None => None,
        };
        let outcome = match (self.phase, frame.command) {
            (Phase::AwaitingConnect, c) if c.opens_session() => self.connect(&frame, verify),
            (Phase::AwaitingConnect, _) => Err(Fatal::new("expected CONNECT or STOMP frame")),
            (_, c) if c.opens_session() => Err(Fatal::new("already connected")),
            (_, ClientCommand::Send) => self.send(&frame),
            (_, ClientCommand::Subscribe) => self.subscriptions.subscribe(&frame),
            (_, ClientCommand::Unsubscribe) => self.subscriptions.unsubscribe(&frame),
            (_, ClientCommand::Ack | ClientCommand::Nack) => self.ack(&frame),
            (_, ClientCommand::Begin) => self.transactions.begin(&frame),
            (_, ClientCommand::Commit) => self.transactions.commit(&frame),
            (_, ClientCommand::Abort) => self.transactions.abort(&frame),
            (_, ClientCommand::Disconnect) => Ok(self.disconnect(receipt.as_deref())),
            (_, _) => Err(Fatal::new("unexpected frame")),
        };
        match outcome {
            Ok(actions) => actions,
            Err(r) => self.refuse(r, receipt.as_deref()),
        }
    }

    /// Ends the session with ERROR `message` (and `receipt-id` when the
    /// failing frame asked for a receipt): for refusals decided outside the
    /// session, such as an unknown room or a slow consumer.
    pub fn fail(&mut self, message: &str, receipt: Option<&str>) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        self.refuse(Fatal::new(message), receipt)
    }

    /// The CONNECT deadline passed: close unless the session is open.
    pub fn connect_deadline_passed(&mut self) -> Vec<Action> {
        if self.phase == Phase::AwaitingConnect {
            self.fail("no CONNECT frame in time", None)
        } else {
            Vec::new()
        }
    }

    /// Called when the token's expiry time may have come: ERROR
    /// `token expired` and close once `now` (unix seconds) reaches it.
    pub fn check_expiry(&mut self, now: i64) -> Vec<Action> {
        match &self.user {
            Some(user) if self.phase == Phase::Open && now >= user.expires_at => {
                self.fail(TOKEN_EXPIRED, None)
            }
            _ => Vec::new(),
        }
    }

    /// RECEIPT confirming a frame (SUBSCRIBE, UNSUBSCRIBE, COMMIT, ...).
    pub fn receipt(receipt: &str) -> ServerFrame {
        ServerFrame::receipt(receipt)
    }

    /// RECEIPT for a committed SEND.
    pub fn send_receipt(receipt: &str, message_id: i64, seq: i64) -> ServerFrame {
        Session::receipt(receipt)
            .with_header("message-id", message_id.to_string())
            .with_header("seq", seq.to_string())
    }

    fn refuse(&mut self, r: Fatal, receipt: Option<&str>) -> Vec<Action> {
        self.phase = Phase::Closed;
        let mut frame = ServerFrame::error(r.message);
        if let Some((k, v)) = r.extra_header {
            frame = frame.with_header(k, v);
        }
        if let Some(receipt) = receipt {
            frame = frame.with_header("receipt-id", receipt);
        }
        if let Some(detail) = r.detail {
            frame = frame
                .with_header("content-type", "text/plain")
                .with_body(detail.into_bytes());
        }
        vec![Action::Frame(frame), Action::Close]
    }

    fn send(&mut self, frame: &ClientFrame) -> Outcome {
        let room = match destination(frame)? {
            Destination::Room(room) => room,
            Destination::Activity(room) => return typing(frame, room),
            Destination::UserUpdates => {
                return Err(Fatal::new("the user destination takes no SEND"));
            }
        };
        let attachments = frame
            .header("attachments")
            .map(Attachments::parse_header)
            .transpose()
            .map_err(Fatal::new)?
            .unwrap_or_default();
        let body = MessageBody::parse_with(&frame.body, self.config.max_body_bytes, &attachments)
            .map_err(|e| Fatal::new(e.to_string()))?;
        let client_id = frame
            .header("client-id")
            .map(ClientId::parse)
            .transpose()
            .map_err(Fatal::new)?;
        let reply_to = frame
            .header("in-reply-to")
            .map(|seq| match crate::domain::parse_seq(seq, 1) {
                Some(seq) => Ok(seq),
                None => Err(Fatal::new(
                    "in-reply-to must be the seq of a message in this room",
                )),
            })
            .transpose()?;
        let request = SendRequest {
            room,
            body,
            client_id,
            reply_to,
            receipt: frame.header("receipt").map(str::to_string),
            attachments,
        };
        match optional_id(frame, "transaction")? {
            Some(tx) => {
                self.transactions.add(tx, request)?;
                Ok(Vec::new())
            }
            None => Ok(vec![Action::Store {
                sends: vec![request],
                then_receipt: None,
            }]),
        }
    }
}

/// The body a SEND to a room's activity takes (README, "Activity").
pub const TYPING_SIGNAL: &str = r#"{"type":"typing"}"#;

/// The decoder's bound on any SEND body: a chat message's `max_body_bytes`,
/// but never below the typing signal, which is no chat message: with
/// `MAX_BODY_BYTES` under its 17 bytes, a typing SEND would otherwise be
/// refused (`body too large`) and end the session of whoever types.
pub fn max_send_body_bytes(max_body_bytes: usize) -> usize {
    max_body_bytes.max(TYPING_SIGNAL.len())
}

/// A SEND to a room's activity: the only body it takes is
/// [`TYPING_SIGNAL`] (anything else breaks the session).
fn typing(frame: &ClientFrame, room: RoomName) -> Outcome {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Signal {
        #[serde(rename = "type")]
        kind: String,
    }
    match serde_json::from_slice::<Signal>(&frame.body) {
        Ok(signal) if signal.kind == "typing" => Ok(vec![Action::Typing {
            room,
            receipt: frame.header("receipt").map(str::to_string),
        }]),
        _ => Err(Fatal::new(
            r#"a room's activity takes only {"type":"typing"}"#,
        )),
    }
}

impl Session {
    fn ack(&mut self, frame: &ClientFrame) -> Outcome {
        // 1.2 acknowledges by `id` (the MESSAGE's `ack` header); 1.1 by
        // `message-id` and `subscription`. Messages are durable in history,
        // so nothing is redelivered: a NACK is accepted and has no effect.
        match self.version {
            Version::V1_2 => {
                required_id(frame, "id")?;
            }
            _ => {
                required_id(frame, "message-id")?;
                required_id(frame, "subscription")?;
            }
        }
        if let Some(tx) = optional_id(frame, "transaction")?
            && !self.transactions.is_open(tx)
        {
            return Err(Fatal::new(format!("unknown transaction {tx}")));
        }
        let mut actions = Vec::new();
        if frame.command == ClientCommand::Ack {
            // The id names the MESSAGE (its `ack` value is its
            // `message-id`); what it acknowledges is the gateway's to know.
            let id = frame.header("id").or_else(|| frame.header("message-id"));
            actions.push(Action::Acked {
                id: id.unwrap_or_default().to_string(),
            });
        }
        actions.extend(headers::receipt_action(frame));
        Ok(actions)
    }

    fn disconnect(&mut self, receipt: Option<&str>) -> Vec<Action> {
        self.phase = Phase::Closed;
        let mut actions: Vec<Action> = receipt
            .map(|r| Action::Frame(Session::receipt(r)))
            .into_iter()
            .collect();
        actions.push(Action::Close);
        actions
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;

#[cfg(test)]
mod test_support;
