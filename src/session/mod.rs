//! The per-connection STOMP state machine, pure: a client frame in, a list of
//! [`Action`]s out. It owns the protocol rules (CONNECT negotiation,
//! credentials, heart-beats, subscription ids and ack modes, transactions
//! and their bounds, receipts, ERROR-then-close) and validates what clients
//! send into domain types (ids: [`check_id`]). It never touches sockets, the database or the clock: the gateway
//! executes the actions and reports back.

use std::collections::HashMap;

use crate::auth::{AuthUser, TokenError};
use crate::destination::DESTINATION_PREFIX;
use crate::domain::{ClientId, IdError, MAX_ID_CHARS, MessageBody, RoomName, check_id};
use crate::stomp::{ClientCommand, ClientFrame, ServerCommand, ServerFrame, Version};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    Auto,
    Client,
    ClientIndividual,
}

impl AckMode {
    fn parse(s: Option<&str>) -> Option<AckMode> {
        match s {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A validated SEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub room: RoomName,
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
    /// `receipt` header: answer with a RECEIPT once committed.
    pub receipt: Option<String>,
}

/// A validated SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub id: String,
    pub room: RoomName,
    pub ack: AckMode,
    /// Replay stored messages with seq above this before live ones.
    pub since_seq: Option<i64>,
    pub receipt: Option<String>,
}

/// Heart-beat intervals agreed at CONNECT, in milliseconds (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartBeat {
    /// How often the server sends.
    pub send_every_ms: u64,
    /// How often the client promised to send.
    pub expect_every_ms: u64,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub room: RoomName,
    pub ack: AckMode,
}

pub struct Session {
    config: SessionConfig,
    session_id: String,
    phase: Phase,
    version: Version,
    user: Option<AuthUser>,
    subscriptions: HashMap<String, Subscription>,
    transactions: HashMap<String, Vec<SendRequest>>,
}

/// A frame-level refusal: ERROR with this message, then close.
struct Refusal {
    message: String,
    detail: Option<String>,
    extra_header: Option<(&'static str, &'static str)>,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
            detail: None,
            extra_header: None,
        }
    }
    fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

type Outcome = Result<Vec<Action>, Refusal>;

impl Session {
    pub fn new(config: SessionConfig, session_id: impl Into<String>) -> Self {
        Session {
            config,
            session_id: session_id.into(),
            phase: Phase::AwaitingConnect,
            version: Version::V1_2,
            user: None,
            subscriptions: HashMap::new(),
            transactions: HashMap::new(),
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
            (Phase::AwaitingConnect, _) => Err(Refusal::new("expected CONNECT or STOMP frame")),
            (_, c) if c.opens_session() => Err(Refusal::new("already connected")),
            (_, ClientCommand::Send) => self.send(&frame),
            (_, ClientCommand::Subscribe) => self.subscribe(&frame),
            (_, ClientCommand::Unsubscribe) => self.unsubscribe(&frame),
            (_, ClientCommand::Ack | ClientCommand::Nack) => self.ack(&frame),
            (_, ClientCommand::Begin) => self.begin(&frame),
            (_, ClientCommand::Commit) => self.commit(&frame),
            (_, ClientCommand::Abort) => self.abort(&frame),
            (_, ClientCommand::Disconnect) => Ok(self.disconnect(receipt.as_deref())),
            (_, _) => Err(Refusal::new("unexpected frame")),
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
        self.refuse(Refusal::new(message), receipt)
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

    fn refuse(&mut self, r: Refusal, receipt: Option<&str>) -> Vec<Action> {
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

    fn connect(
        &mut self,
        frame: &ClientFrame,
        verify: impl FnOnce(&str) -> Result<AuthUser, ConnectRefusal>,
    ) -> Outcome {
        let version = frame
            .header("accept-version")
            .and_then(Version::negotiate)
            .ok_or_else(|| Refusal {
                message: "supported STOMP versions are 1.1 and 1.2".into(),
                detail: None,
                extra_header: Some(("version", "1.1,1.2")),
            })?;
        let heart_beat = negotiate_heart_beat(frame.header("heart-beat"), self.config.heartbeat_ms)
            .ok_or_else(|| Refusal::new("invalid heart-beat header"))?;
        let token = frame
            .header("Authorization")
            .or_else(|| frame.header("authorization"))
            .and_then(crate::auth::jwt::bearer_token)
            .or_else(|| frame.header("passcode"))
            .ok_or_else(|| Refusal::new(AUTH_FAILED))?;
        let user = verify(token).map_err(|e| {
            Refusal::new(match e {
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

    fn send(&mut self, frame: &ClientFrame) -> Outcome {
        let room = destination_room(frame)?;
        let body = MessageBody::parse(&frame.body, self.config.max_body_bytes)
            .map_err(|e| Refusal::new(e.to_string()))?;
        let client_id = frame
            .header("client-id")
            .map(ClientId::parse)
            .transpose()
            .map_err(Refusal::new)?;
        let request = SendRequest {
            room,
            body,
            client_id,
            receipt: frame.header("receipt").map(str::to_string),
        };
        match optional_id(frame, "transaction")? {
            Some(tx) => {
                let max = self.config.max_transaction_sends;
                let pending = self
                    .transactions
                    .get_mut(tx)
                    .ok_or_else(|| Refusal::new(format!("unknown transaction {tx}")))?;
                if pending.len() >= max {
                    // The session closes: the transaction is dropped whole.
                    return Err(Refusal::new(format!(
                        "too many SENDs in transaction {tx} (at most {max})"
                    )));
                }
                pending.push(request);
                Ok(Vec::new())
            }
            None => Ok(vec![Action::Store {
                sends: vec![request],
                then_receipt: None,
            }]),
        }
    }

    fn subscribe(&mut self, frame: &ClientFrame) -> Outcome {
        let id = required_id(frame, "id")?.to_string();
        let room = destination_room(frame)?;
        let ack = AckMode::parse(frame.header("ack"))
            .ok_or_else(|| Refusal::new("ack must be auto, client or client-individual"))?;
        let since_seq = frame
            .header("since-seq")
            .map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0))
            .map(|v| v.ok_or_else(|| Refusal::new("since-seq must be a non-negative integer")))
            .transpose()?;
        if self.subscriptions.contains_key(&id) {
            return Err(Refusal::new(format!(
                "subscription id {id} is already in use"
            )));
        }
        if self.subscriptions.len() >= self.config.max_subscriptions {
            return Err(Refusal::new(format!(
                "too many subscriptions (at most {})",
                self.config.max_subscriptions
            )));
        }
        self.subscriptions.insert(
            id.clone(),
            Subscription {
                room: room.clone(),
                ack,
            },
        );
        Ok(vec![Action::Subscribe(SubscribeRequest {
            id,
            room,
            ack,
            since_seq,
            receipt: frame.header("receipt").map(str::to_string),
        })])
    }

    fn unsubscribe(&mut self, frame: &ClientFrame) -> Outcome {
        let id = required_id(frame, "id")?.to_string();
        if self.subscriptions.remove(&id).is_none() {
            return Err(Refusal::new(format!("no subscription with id {id}")));
        }
        Ok(vec![Action::Unsubscribe {
            id,
            receipt: frame.header("receipt").map(str::to_string),
        }])
    }

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
            && !self.transactions.contains_key(tx)
        {
            return Err(Refusal::new(format!("unknown transaction {tx}")));
        }
        Ok(receipt_action(frame))
    }

    fn begin(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?.to_string();
        if self.transactions.contains_key(&tx) {
            return Err(Refusal::new(format!("transaction {tx} already started")));
        }
        if self.transactions.len() >= self.config.max_transactions {
            return Err(Refusal::new(format!(
                "too many open transactions (at most {})",
                self.config.max_transactions
            )));
        }
        self.transactions.insert(tx, Vec::new());
        Ok(receipt_action(frame))
    }

    fn commit(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?;
        let sends = self
            .transactions
            .remove(tx)
            .ok_or_else(|| Refusal::new(format!("unknown transaction {tx}")))?;
        Ok(vec![Action::Store {
            sends,
            then_receipt: frame.header("receipt").map(str::to_string),
        }])
    }

    fn abort(&mut self, frame: &ClientFrame) -> Outcome {
        let tx = required_id(frame, "transaction")?;
        self.transactions
            .remove(tx)
            .ok_or_else(|| Refusal::new(format!("unknown transaction {tx}")))?;
        Ok(receipt_action(frame))
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

fn receipt_action(frame: &ClientFrame) -> Vec<Action> {
    frame
        .header("receipt")
        .map(|r| Action::Frame(Session::receipt(r)))
        .into_iter()
        .collect()
}

fn required<'a>(frame: &'a ClientFrame, name: &str) -> Result<&'a str, Refusal> {
    frame.header(name).ok_or_else(|| {
        Refusal::new(format!(
            "{} frame needs a {name} header",
            frame.command.as_str()
        ))
    })
}

/// `value` of header `name` if it is a valid client-chosen id.
fn id_header<'a>(name: &str, value: &'a str) -> Result<&'a str, Refusal> {
    check_id(value, MAX_ID_CHARS).map(|()| value).map_err(|e| {
        Refusal::new(match e {
            IdError::Length(max) => format!("{name} header must be 1-{max} characters"),
            IdError::Control => format!("{name} header must not contain control characters"),
        })
    })
}

/// A required id-like header, validated.
fn required_id<'a>(frame: &'a ClientFrame, name: &str) -> Result<&'a str, Refusal> {
    id_header(name, required(frame, name)?)
}

/// An optional id-like header, validated.
fn optional_id<'a>(frame: &'a ClientFrame, name: &str) -> Result<Option<&'a str>, Refusal> {
    frame.header(name).map(|v| id_header(name, v)).transpose()
}

/// The room of a `/topic/rooms/{name}` destination.
fn destination_room(frame: &ClientFrame) -> Result<RoomName, Refusal> {
    let destination = required(frame, "destination")?;
    crate::destination::room_of(destination).ok_or_else(|| {
        Refusal::new("unknown destination").detail(format!(
            "destinations are {DESTINATION_PREFIX}{{room}}, got {destination}"
        ))
    })
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
