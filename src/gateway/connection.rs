//! One WebSocket connection: a single task that selects over the socket,
//! the connection's delivery queue, timers (CONNECT deadline, heart-beats,
//! token expiry, send-rate pause) and the slow-consumer signal.
//!
//! Frames are decoded, handed to the [`Session`], and its actions executed
//! here, in order: a RECEIPT is never written before what it confirms.
//! Deliveries from the broker arrive through a bounded queue; a burst is
//! coalesced into one WebSocket message.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session as WsSession};
use bytes::BytesMut;
use bytestring::ByteString;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::Instrument;

use crate::auth::jwt::now_secs;
use crate::broker::{Delivery, Subscriber, SubscriberKey, SubscriberTag};
use crate::chat::{ChatError, PendingPost, Post, Sender};
use crate::committer::CommitResult;
use crate::domain::RoomName;
use crate::session::{Action, Identity, SendRequest, Session, SessionConfig, SubscribeRequest};
use crate::startup::AppState;
use crate::stomp::{ClientCommand, ClientFrame, Decoder, ServerFrame, SubscriptionTag};
use crate::store::{HistoryQuery, Room};

/// Deliveries written per WebSocket message at most.
const COALESCE_MAX_FRAMES: usize = 256;
/// Bytes written per WebSocket message at most (soft).
const COALESCE_MAX_BYTES: usize = 256 * 1024;
/// History page size when replaying `since-seq`.
const REPLAY_PAGE: i64 = 200;

/// A SEND (or a transaction's SENDs) submitted for commit, not answered yet.
struct InFlight {
    result: PendingPost,
    receipts: Vec<Option<String>>,
    /// A COMMIT's own receipt, written after the SENDs'.
    then_receipt: Option<String>,
}

/// How long closing writes (the final ERROR, the close frame) may wait for a
/// client that is not reading.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Stores a connection may have pending before it waits for the oldest.
const MAX_INFLIGHT_STORES: usize = 256;

struct ActiveSubscription {
    room_id: i64,
    key: SubscriberKey,
    tag: Arc<SubscriberTag>,
    /// Highest seq written; later deliveries at or below it are the replay
    /// seam's duplicates.
    last_seq: Option<i64>,
}

enum Flow {
    Continue,
    Close,
}

struct Connection {
    state: Arc<AppState>,
    ws: WsSession,
    decoder: Decoder,
    session: Session,
    identity: Option<Identity>,
    queue_tx: mpsc::Sender<Delivery>,
    overflow: Arc<Notify>,
    subscriptions: HashMap<String, ActiveSubscription>,
    /// Rooms this user may post to, looked up once per connection
    /// (membership is never revoked).
    rooms: HashMap<RoomName, Room>,
    out: BytesMut,
    last_received: Instant,
    /// A SEND held back until the user's send-rate bucket refills.
    held: Option<ClientFrame>,
    resume_at: Option<tokio::time::Instant>,
    heartbeat_send: Option<Duration>,
    heartbeat_expect: Option<Duration>,
    token_expiry: Option<tokio::time::Instant>,
    close_reason: Option<actix_ws::CloseReason>,
    /// Submitted stores, oldest first; answered in this order.
    inflight: VecDeque<InFlight>,
    /// The client stopped reading: write nothing more, just drop the socket.
    abandoned: bool,
}

pub async fn run(state: Arc<AppState>, ws: WsSession, stream: AggregatedMessageStream) {
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("ws", session = %session_id);
    serve(state, ws, stream, session_id).instrument(span).await
}

async fn serve(
    state: Arc<AppState>,
    ws: WsSession,
    mut stream: AggregatedMessageStream,
    session_id: String,
) {
    let _gauge = crate::metrics::ConnectionGauge::open("websocket");
    let limits = &state.config.limits;
    let (queue_tx, mut queue_rx) = mpsc::channel(limits.outbound_queue);
    let config = SessionConfig {
        max_subscriptions: limits.max_subscriptions,
        max_body_bytes: limits.max_body_bytes,
        heartbeat_ms: limits.heartbeat_ms,
        server: format!("parley/{}", env!("CARGO_PKG_VERSION")),
    };
    let mut conn = Connection {
        decoder: Decoder::new(crate::stomp::Limits {
            max_frame_bytes: limits.max_frame_bytes,
            max_send_body_bytes: limits.max_body_bytes,
            ..Default::default()
        }),
        session: Session::new(config, session_id),
        state: Arc::clone(&state),
        ws,
        identity: None,
        queue_tx,
        overflow: Arc::new(Notify::new()),
        subscriptions: HashMap::new(),
        rooms: HashMap::new(),
        out: BytesMut::new(),
        last_received: Instant::now(),
        held: None,
        resume_at: None,
        heartbeat_send: None,
        heartbeat_expect: None,
        token_expiry: None,
        close_reason: None,
        inflight: VecDeque::new(),
        abandoned: false,
    };
    let mut shutdown = state.shutdown_signal();
    let connect_deadline = tokio::time::Instant::now() + limits.connect_timeout;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let mut next_beat = far();
    let mut next_check = far();

    loop {
        let open = conn.session.is_open();
        let reading = conn.held.is_none();
        let flow = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => conn.shut_down().await,
            _ = conn.overflow.notified() => {
                tracing::info!("slow consumer disconnected");
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                conn.fail("slow consumer: too many undelivered messages").await
            }
            _ = sleep_until(connect_deadline), if !open && !conn.session.is_closed() => {
                let actions = conn.session.connect_deadline_passed();
                conn.execute(actions).await
            }
            _ = sleep_until(conn.token_expiry.unwrap_or_else(far)), if conn.token_expiry.is_some() => {
                let actions = conn.session.check_expiry(now_secs());
                if !actions.is_empty() {
                    crate::metrics::auth_failure("session_expired");
                }
                if actions.is_empty() {
                    // Clock granularity: check again in a moment.
                    conn.token_expiry = Some(tokio::time::Instant::now() + Duration::from_millis(200));
                    Flow::Continue
                } else {
                    conn.execute(actions).await
                }
            }
            _ = sleep_until(conn.resume_at.unwrap_or_else(far)), if conn.resume_at.is_some() => {
                conn.resume_at = None;
                conn.process_frames().await
            }
            result = async { (&mut conn.inflight.front_mut().expect("guarded").result).await },
                if !conn.inflight.is_empty() => {
                conn.answer_oldest_store(result).await
            }
            Some(delivery) = queue_rx.recv() => {
                conn.write_deliveries(delivery, &mut queue_rx).await
            }
            msg = stream.recv(), if reading => {
                conn.last_received = Instant::now();
                conn.on_ws_message(msg).await
            }
            _ = sleep_until(next_beat), if conn.heartbeat_send.is_some() => {
                next_beat = tokio::time::Instant::now() + conn.heartbeat_send.unwrap_or_default();
                conn.send_text(ByteString::from_static("\n")).await
            }
            _ = sleep_until(next_check), if conn.heartbeat_expect.is_some() => {
                let every = conn.heartbeat_expect.unwrap_or_default();
                next_check = tokio::time::Instant::now() + every;
                if conn.last_received.elapsed() > every * 2 {
                    tracing::info!("client heart-beat missed; closing");
                    Flow::Close
                } else {
                    Flow::Continue
                }
            }
        };
        if matches!(flow, Flow::Close) {
            break;
        }
        // Timers start the moment the session opens.
        if conn.session.is_open() && !open {
            let now = tokio::time::Instant::now();
            if let Some(every) = conn.heartbeat_send {
                next_beat = now + every;
            }
            if let Some(every) = conn.heartbeat_expect {
                next_check = now + every;
            }
        }
    }
    conn.close().await;
}

/// Close code 1012 (service restart): clients reconnect elsewhere.
fn restart_reason() -> actix_ws::CloseReason {
    actix_ws::CloseReason {
        code: actix_ws::CloseCode::Restart,
        description: Some("server restarting".into()),
    }
}

impl Connection {
    async fn on_ws_message(
        &mut self,
        msg: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
    ) -> Flow {
        let bytes = match msg {
            None | Some(Ok(AggregatedMessage::Close(_))) => return Flow::Close,
            Some(Err(e)) => {
                tracing::info!(error = %e, "websocket protocol error");
                return self.fail("websocket message too large or malformed").await;
            }
            Some(Ok(AggregatedMessage::Ping(p))) => {
                return match self.ws.pong(&p).await {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Close,
                };
            }
            Some(Ok(AggregatedMessage::Pong(_))) => return Flow::Continue,
            Some(Ok(AggregatedMessage::Text(t))) => t.into_bytes(),
            Some(Ok(AggregatedMessage::Binary(b))) => b,
        };
        if let Err(e) = self.decoder.push(&bytes) {
            return self.end(&e.to_string(), e.receipt()).await;
        }
        self.process_frames().await
    }

    /// Runs every complete frame buffered in the decoder, unless a SEND must
    /// wait for the send-rate bucket (then reading stops until it refills).
    async fn process_frames(&mut self) -> Flow {
        loop {
            let frame = match self.held.take() {
                Some(f) => f,
                None => match self.decoder.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => return Flow::Continue,
                    Err(e) => return self.end(&e.to_string(), e.receipt()).await,
                },
            };
            if frame.command == ClientCommand::Send
                && let Some(wait) = self.send_rate_wait()
            {
                crate::metrics::rate_limited("send");
                self.held = Some(frame);
                self.resume_at = Some(tokio::time::Instant::now() + wait);
                return Flow::Continue;
            }
            metrics::counter!(crate::metrics::FRAMES_IN, "command" => frame.command.as_str())
                .increment(1);
            let state = Arc::clone(&self.state);
            let actions = self
                .session
                .handle(frame, |token| verify_token(&state, token));
            if let Flow::Close = self.execute(actions).await {
                return Flow::Close;
            }
        }
    }

    /// How long this user must wait before one more SEND (None: go ahead).
    fn send_rate_wait(&self) -> Option<Duration> {
        let limiter = self.state.send_limiter.as_ref()?;
        let user = self.identity.as_ref()?;
        limiter.hit(&user.user_id.to_string(), Instant::now()).err()
    }

    async fn execute(&mut self, actions: Vec<Action>) -> Flow {
        for action in actions {
            if !matches!(action, Action::Store { .. })
                && let Flow::Close = self.complete_stores().await
            {
                return Flow::Close;
            }
            let flow = match action {
                Action::Frame(frame) => self.write_frame(&frame).await,
                Action::Connected {
                    version,
                    heart_beat,
                    identity,
                } => {
                    self.decoder.set_version(version);
                    let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
                    self.heartbeat_send = ms(heart_beat.send_every_ms);
                    self.heartbeat_expect = ms(heart_beat.expect_every_ms);
                    let left = (identity.expires_at - now_secs()).max(0) as u64;
                    self.token_expiry =
                        Some(tokio::time::Instant::now() + Duration::from_secs(left));
                    tracing::info!(user = %identity.username, version = version.as_str(), "stomp session open");
                    self.identity = Some(identity);
                    Flow::Continue
                }
                Action::Subscribe(req) => self.subscribe(req).await,
                Action::Unsubscribe { id, receipt } => {
                    if let Some(sub) = self.subscriptions.remove(&id) {
                        self.state.chat.broker().unsubscribe(sub.room_id, sub.key);
                    }
                    self.write_receipt(receipt).await
                }
                Action::Store {
                    sends,
                    then_receipt,
                } => self.store(sends, then_receipt).await,
                Action::Close => {
                    self.flush_before_close().await;
                    Flow::Close
                }
            };
            if let Flow::Close = flow {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    fn sender(&self) -> Sender {
        let id = self.identity.as_ref().expect("actions only after CONNECT");
        Sender {
            user_id: id.user_id,
            username: id.username.clone(),
        }
    }

    /// The room for a send or subscribe, checked once per connection.
    async fn room(&mut self, name: &RoomName) -> Result<Room, ChatError> {
        if let Some(room) = self.rooms.get(name) {
            return Ok(room.clone());
        }
        let user_id = self.sender().user_id;
        let room = self.state.chat.enter_room(user_id, name).await?;
        self.rooms.insert(name.clone(), room.clone());
        Ok(room)
    }

    async fn refuse_room(&mut self, e: ChatError, receipt: Option<&str>) -> Flow {
        let message = match e {
            ChatError::RoomNotFound => "room not found".to_string(),
            other => {
                tracing::error!(error = %other, "room lookup failed");
                "server error".to_string()
            }
        };
        self.end(&message, receipt).await
    }

    async fn subscribe(&mut self, req: SubscribeRequest) -> Flow {
        let room = match self.room(&req.room).await {
            Ok(room) => room,
            Err(e) => return self.refuse_room(e, req.receipt.as_deref()).await,
        };
        let tag = Arc::new(SubscriberTag {
            tag: SubscriptionTag::new(self.session.version(), &req.id),
            id: req.id.clone(),
            wants_ack: req.ack != crate::session::AckMode::Auto,
        });
        let subscriber = Subscriber {
            tag: Arc::clone(&tag),
            queue: self.queue_tx.clone(),
            overflow: Arc::clone(&self.overflow),
        };
        // Register first, then replay: every message is either in the
        // replay or in the live stream (or both; `last_seq` drops the copy).
        let key = self
            .state
            .chat
            .broker()
            .subscribe(room.id, subscriber)
            .await;
        let mut active = ActiveSubscription {
            room_id: room.id,
            key,
            tag,
            last_seq: None,
        };
        if let Some(since) = req.since_seq
            && let Err(flow) = self.replay(&room, &mut active, since).await
        {
            self.state.chat.broker().unsubscribe(room.id, key);
            return flow;
        }
        self.subscriptions.insert(req.id, active);
        self.write_receipt(req.receipt).await
    }

    /// Writes every stored message of the room with seq > `since`.
    async fn replay(
        &mut self,
        room: &Room,
        sub: &mut ActiveSubscription,
        since: i64,
    ) -> Result<(), Flow> {
        let mut cursor = since;
        sub.last_seq = Some(since);
        loop {
            let query = HistoryQuery {
                before: None,
                after: Some(cursor),
                limit: REPLAY_PAGE,
            };
            let page = match self.state.store.history(room.id, query).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "replay failed");
                    return Err(self.fail("server error").await);
                }
            };
            for m in &page.messages {
                let published = crate::broker::Published::new(room.id, m);
                let ack = sub
                    .tag
                    .wants_ack
                    .then_some(published.message_id_text.as_str());
                published.frame.write_for(&sub.tag.tag, ack, &mut self.out);
                cursor = m.seq;
                sub.last_seq = Some(m.seq);
            }
            if let Flow::Close = self.flush().await {
                return Err(Flow::Close);
            }
            if !page.has_more {
                return Ok(());
            }
        }
    }

    async fn store(&mut self, sends: Vec<SendRequest>, then_receipt: Option<String>) -> Flow {
        let mut posts = Vec::with_capacity(sends.len());
        let mut receipts = Vec::with_capacity(sends.len());
        for send in sends {
            let room = match self.room(&send.room).await {
                Ok(room) => room,
                Err(e) => return self.refuse_room(e, send.receipt.as_deref()).await,
            };
            receipts.push(send.receipt);
            posts.push(Post {
                room,
                body: send.body,
                client_id: send.client_id,
            });
        }
        let sender = self.sender();
        let result = self.state.chat.submit(&sender, posts).await;
        self.inflight.push_back(InFlight {
            result,
            receipts,
            then_receipt,
        });
        // Pipelined, but bounded: beyond the window, wait for the oldest.
        if self.inflight.len() > MAX_INFLIGHT_STORES {
            return self.complete_oldest_store().await;
        }
        Flow::Continue
    }

    /// Waits for the oldest pending store and answers it.
    async fn complete_oldest_store(&mut self) -> Flow {
        let Some(front) = self.inflight.front_mut() else {
            return Flow::Continue;
        };
        let result = (&mut front.result).await;
        self.answer_oldest_store(result).await
    }

    /// Writes the receipts of the oldest pending store (its result is in),
    /// or ends the session if it failed.
    async fn answer_oldest_store(
        &mut self,
        result: Result<CommitResult, oneshot::error::RecvError>,
    ) -> Flow {
        let Some(done) = self.inflight.pop_front() else {
            return Flow::Continue;
        };
        match result {
            Ok(Ok(appended)) => {
                for (receipt, a) in done.receipts.into_iter().zip(appended) {
                    if let Some(r) = receipt {
                        let m = a.message();
                        let frame = Session::send_receipt(&r, m.id, m.seq);
                        count_out(&frame);
                        frame.encode_into(self.session.version(), &mut self.out);
                    }
                }
                self.write_receipt(done.then_receipt).await
            }
            failed => {
                tracing::error!(error = ?failed.err(), "storing a message failed");
                let receipt = done.receipts.into_iter().flatten().next();
                self.end("message not stored: server error", receipt.as_deref())
                    .await
            }
        }
    }

    /// Answers every pending store, in order: anything written after this
    /// (a receipt, an ERROR, a close) follows the SENDs before it.
    async fn complete_stores(&mut self) -> Flow {
        while !self.inflight.is_empty() {
            if let Flow::Close = self.complete_oldest_store().await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn write_receipt(&mut self, receipt: Option<String>) -> Flow {
        if let Some(r) = receipt {
            let frame = ServerFrame::receipt(r);
            count_out(&frame);
            frame.encode_into(self.session.version(), &mut self.out);
        }
        self.flush().await
    }

    async fn write_frame(&mut self, frame: &ServerFrame) -> Flow {
        count_out(frame);
        frame.encode_into(self.session.version(), &mut self.out);
        self.flush().await
    }

    /// Writes a burst of deliveries as one WebSocket message.
    async fn write_deliveries(
        &mut self,
        first: Delivery,
        queue: &mut mpsc::Receiver<Delivery>,
    ) -> Flow {
        self.add_delivery(first);
        let mut n = 1;
        while n < COALESCE_MAX_FRAMES && self.out.len() < COALESCE_MAX_BYTES {
            match queue.try_recv() {
                Ok(d) => self.add_delivery(d),
                Err(_) => break,
            }
            n += 1;
        }
        self.flush().await
    }

    fn add_delivery(&mut self, d: Delivery) {
        let Some(sub) = self.subscriptions.get_mut(&d.subscriber.id) else {
            return; // unsubscribed meanwhile
        };
        if !Arc::ptr_eq(&sub.tag, &d.subscriber) || sub.last_seq.is_some_and(|s| d.message.seq <= s)
        {
            return; // an older subscription with the same id, or a replayed seq
        }
        let ack = sub
            .tag
            .wants_ack
            .then_some(d.message.message_id_text.as_str());
        d.message.frame.write_for(&sub.tag.tag, ack, &mut self.out);
        sub.last_seq = Some(d.message.seq);
        metrics::counter!(crate::metrics::FRAMES_OUT, "command" => "MESSAGE").increment(1);
    }

    /// Sends whatever is buffered as one WebSocket text message.
    async fn flush(&mut self) -> Flow {
        if self.out.is_empty() {
            return Flow::Continue;
        }
        let bytes = self.out.split().freeze();
        match ByteString::try_from(bytes) {
            Ok(text) => self.send_text(text).await,
            Err(_) => {
                // Frames are built from UTF-8 strings; this cannot happen.
                tracing::error!("outgoing frame was not UTF-8");
                Flow::Close
            }
        }
    }

    /// Flushes what is buffered (an ERROR, receipts) on the way out, giving
    /// up on a client that does not read within [`CLOSE_WRITE_TIMEOUT`].
    async fn flush_before_close(&mut self) {
        if tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.flush())
            .await
            .is_err()
        {
            self.abandoned = true;
        }
    }

    /// Writes one WebSocket message. A client that stops reading blocks
    /// this write; if its delivery queue overflows meanwhile, give up on it
    /// (it cannot even be sent an ERROR) instead of waiting for TCP to fail.
    async fn send_text(&mut self, text: ByteString) -> Flow {
        if self.abandoned {
            return Flow::Close;
        }
        tokio::select! {
            sent = self.ws.text(text) => match sent {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Close,
            },
            _ = self.overflow.notified() => {
                tracing::info!("slow consumer disconnected while its socket was full");
                self.abandoned = true;
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                Flow::Close
            }
        }
    }

    /// ERROR with `message`, flushed, then close.
    async fn fail(&mut self, message: &str) -> Flow {
        self.end(message, None).await
    }

    /// Ends the session with an ERROR (carrying `receipt-id` when the
    /// failing frame asked for a receipt), flushed before the close.
    async fn end(&mut self, message: &str, receipt: Option<&str>) -> Flow {
        // SENDs before the failing frame are committed: confirm them first.
        if let Flow::Close = Box::pin(self.complete_stores()).await {
            return Flow::Close;
        }
        for action in self.session.fail(message, receipt) {
            if let Action::Frame(frame) = action {
                count_out(&frame);
                frame.encode_into(self.session.version(), &mut self.out);
            }
        }
        self.flush_before_close().await;
        Flow::Close
    }

    /// Shutdown: what was being handled is done (select! runs a branch to
    /// completion); a SEND still held back by the rate limit is answered
    /// with ERROR rather than dropped silently; then close with 1012.
    async fn shut_down(&mut self) -> Flow {
        if let Flow::Close = self.complete_stores().await {
            return Flow::Close;
        }
        if let Some(held) = self.held.take() {
            let receipt = held.header("receipt").map(str::to_string);
            self.end(
                "server shutting down; message not stored",
                receipt.as_deref(),
            )
            .await;
        }
        self.close_reason = Some(restart_reason());
        tracing::info!("closing for shutdown");
        Flow::Close
    }

    async fn close(mut self) {
        let broker = self.state.chat.broker().clone();
        for (_, sub) in self.subscriptions.drain() {
            broker.unsubscribe(sub.room_id, sub.key);
        }
        self.flush_before_close().await;
        if !self.abandoned {
            let reason = self.close_reason.take();
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.ws.close(reason)).await;
        }
    }
}

fn count_out(frame: &ServerFrame) {
    metrics::counter!(crate::metrics::FRAMES_OUT, "command" => frame.command.as_str()).increment(1);
}

fn verify_token(state: &AppState, token: &str) -> Result<Identity, crate::auth::TokenError> {
    let claims = state.jwt.verify(token, now_secs()).inspect_err(|e| {
        crate::metrics::auth_failure(match e {
            crate::auth::TokenError::Expired => "stomp_token_expired",
            crate::auth::TokenError::Invalid => "stomp_token_invalid",
        })
    })?;
    Ok(Identity {
        user_id: claims
            .sub
            .parse()
            .map_err(|_| crate::auth::TokenError::Invalid)?,
        username: claims.name,
        expires_at: claims.exp,
    })
}
