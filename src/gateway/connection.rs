//! One WebSocket connection: a single task that selects over the socket,
//! the write in progress, the connection's delivery queue, a `since-seq`
//! replay, its pending stores, timers (CONNECT deadline, heart-beats, token
//! expiry, send-rate pause) and the slow-consumer signal.
//!
//! Frames are decoded, handed to the [`Session`], and its actions executed
//! here, in order: a RECEIPT is never written before what it confirms.
//! Everything written goes through the [`Outbox`], whose one write in
//! progress is a branch of the select loop: no handler ever waits for the
//! client, so shutdown, token expiry and heart-beats are always observed.
//! Live deliveries and replays fill the outbox only while it has room
//! (`OUTBOUND_QUEUE` frames); a client that stops reading is a slow
//! consumer. Stores keep the client's order ([`StorePipeline`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session as WsSession};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::Instrument;

use super::outbox::{Outbox, WRITE_STALL_TIMEOUT};
use super::pipeline::{InFlight, StorePipeline, Workers};
use super::subscriptions::Subscriptions;
use crate::auth::jwt::now_secs;
use crate::broker::{Delivery, Subscriber, SubscriberTag};
use crate::chat::{ChatError, Post, Sender};
use crate::committer::CommitResult;
use crate::connections::ConnectionSlot;
use crate::domain::{MAX_ID_CHARS, RoomName, check_id};
use crate::session::{
    Action, ConnectRefusal, Identity, SendRequest, Session, SessionConfig, SubscribeRequest,
};
use crate::state::AppState;
use crate::stomp::{ClientCommand, ClientFrame, Decoder, ServerFrame, SubscriptionTag};
use crate::store::{HistoryQuery, Room};

/// History page size when replaying `since-seq` (at most; also bounded by
/// the room left in the outbox).
const REPLAY_PAGE: usize = crate::replay::PAGE;

/// How long closing writes (the final ERROR, the close frame) may wait for a
/// client that is not reading.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Stores a connection may have pending before it waits for the oldest.
const MAX_INFLIGHT_STORES: usize = 256;

/// A `since-seq` replay in progress: pages are read from the store into the
/// outbox as it has room, between the loop's other work.
struct Replay {
    subscription: String,
    room: Room,
    cursor: i64,
    /// The SUBSCRIBE's receipt, written once the replay is done.
    receipt: Option<String>,
}

enum Flow {
    Continue,
    Close,
}

struct Connection {
    state: Arc<AppState>,
    decoder: Decoder,
    session: Session,
    identity: Option<Identity>,
    /// This connection's place among its user's connections (from CONNECTED).
    slot: Option<ConnectionSlot>,
    queue_tx: mpsc::Sender<Delivery>,
    overflow: Arc<Notify>,
    subscriptions: Subscriptions,
    /// Rooms this user may post to, looked up once per connection
    /// (membership is never revoked).
    rooms: HashMap<RoomName, Room>,
    outbox: Outbox,
    replay: Option<Replay>,
    /// The decoder may hold complete frames not handled yet (handling paused
    /// for a replay, a full outbox or the send rate).
    frames_waiting: bool,
    last_received: Instant,
    /// A SEND held back until the user's send-rate bucket refills.
    held: Option<ClientFrame>,
    resume_at: Option<tokio::time::Instant>,
    heartbeat_send: Option<Duration>,
    heartbeat_expect: Option<Duration>,
    token_expiry: Option<tokio::time::Instant>,
    close_reason: Option<actix_ws::CloseReason>,
    stores: StorePipeline,
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
        max_transactions: limits.max_transactions,
        max_transaction_sends: limits.max_transaction_sends,
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
        outbox: Outbox::new(ws, limits.outbound_queue),
        identity: None,
        slot: None,
        queue_tx,
        overflow: Arc::new(Notify::new()),
        subscriptions: Subscriptions::default(),
        rooms: HashMap::new(),
        replay: None,
        frames_waiting: false,
        last_received: Instant::now(),
        held: None,
        resume_at: None,
        heartbeat_send: None,
        heartbeat_expect: None,
        token_expiry: None,
        close_reason: None,
        stores: StorePipeline::default(),
        abandoned: false,
    };
    let mut shutdown = state.shutdown_signal();
    let connect_deadline = tokio::time::Instant::now() + limits.connect_timeout;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let mut next_beat = far();
    let mut next_check = far();

    loop {
        conn.outbox.start_write();
        let open = conn.session.is_open();
        let paused = conn.replay.is_some() || !conn.outbox.has_room();
        let handling = conn.frames_waiting && conn.resume_at.is_none() && !paused;
        let reading = !conn.frames_waiting && !paused;
        let replay_ready = conn.replay.is_some() && conn.outbox.room() >= replay_threshold(&conn);
        let stall = conn.outbox.writing_since().map(|t| t + WRITE_STALL_TIMEOUT);
        let flow = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => conn.shut_down().await,
            _ = conn.overflow.notified() => conn.slow_consumer().await,
            written = conn.outbox.written() => match written {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Close,
            },
            _ = sleep_until(stall.unwrap_or_else(far)), if stall.is_some() => {
                tracing::info!("client stopped reading; disconnected");
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                conn.abandoned = true;
                Flow::Close
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
                Flow::Continue
            }
            result = async { (&mut conn.stores.oldest().expect("guarded").result).await },
                if !conn.stores.is_empty() => {
                conn.answer_oldest_store(result).await
            }
            _ = std::future::ready(()), if handling => conn.process_frames().await,
            _ = std::future::ready(()), if replay_ready => conn.replay_page().await,
            Some(delivery) = queue_rx.recv(), if conn.outbox.has_room() => {
                conn.add_deliveries(delivery, &mut queue_rx);
                Flow::Continue
            }
            msg = stream.recv(), if reading => {
                conn.last_received = Instant::now();
                conn.on_ws_message(msg).await
            }
            _ = sleep_until(next_beat), if conn.heartbeat_send.is_some() => {
                next_beat = tokio::time::Instant::now() + conn.heartbeat_send.unwrap_or_default();
                conn.outbox.push_heart_beat();
                Flow::Continue
            }
            _ = sleep_until(next_check), if conn.heartbeat_expect.is_some() => {
                let every = conn.heartbeat_expect.unwrap_or_default();
                next_check = tokio::time::Instant::now() + every;
                if !reading {
                    // Not reading the socket by choice: the client's
                    // heart-beats wait there, unseen.
                    conn.last_received = Instant::now();
                    Flow::Continue
                } else if conn.last_received.elapsed() > every * 2 {
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

/// The outbox room a replay waits for before reading its next page, so that
/// pages are neither tiny nor over the bound.
fn replay_threshold(conn: &Connection) -> usize {
    REPLAY_PAGE.min(conn.outbox.bound() / 2).max(1)
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
                self.outbox.push_pong(p);
                return Flow::Continue;
            }
            Some(Ok(AggregatedMessage::Pong(_))) => return Flow::Continue,
            Some(Ok(AggregatedMessage::Text(t))) => t.into_bytes(),
            Some(Ok(AggregatedMessage::Binary(b))) => b,
        };
        if let Err(e) = self.decoder.push(&bytes) {
            let receipt = valid_receipt(e.receipt());
            return self.end(&e.to_string(), receipt).await;
        }
        self.frames_waiting = true;
        self.process_frames().await
    }

    /// Runs the complete frames buffered in the decoder, until one must
    /// wait: for the send-rate bucket, a replay, or room in the outbox.
    async fn process_frames(&mut self) -> Flow {
        loop {
            if self.replay.is_some() || !self.outbox.has_room() {
                return Flow::Continue; // `frames_waiting` stays set
            }
            let frame = match self.held.take() {
                Some(f) => f,
                None => match self.decoder.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        self.frames_waiting = false;
                        return Flow::Continue;
                    }
                    Err(e) => {
                        let receipt = valid_receipt(e.receipt());
                        return self.end(&e.to_string(), receipt).await;
                    }
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
            let slot = &mut self.slot;
            let actions = self.session.handle_admitting(frame, |token| {
                let identity = verify_token(&state, token)?;
                // Counted from CONNECTED on: the user is known only now.
                let place = state.connections.try_open(identity.user_id);
                *slot = Some(place.ok_or(ConnectRefusal::TooManyConnections)?);
                Ok(identity)
            });
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
                Action::Frame(frame) => {
                    self.write_frame(&frame);
                    Flow::Continue
                }
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
                    self.write_receipt(receipt);
                    Flow::Continue
                }
                Action::Store {
                    sends,
                    then_receipt,
                } => self.store(sends, then_receipt).await,
                Action::Close => Flow::Close,
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
        self.subscriptions
            .insert(req.id.clone(), room.id, key, tag, req.since_seq);
        match req.since_seq {
            Some(since) => {
                // Client frames wait until the replay is done.
                self.replay = Some(Replay {
                    subscription: req.id,
                    room,
                    cursor: since,
                    receipt: req.receipt,
                });
            }
            None => self.write_receipt(req.receipt),
        }
        Flow::Continue
    }

    /// Reads the replay's next page into the outbox (as much as it has room
    /// for); when the replay has reached the room's end, live delivery takes
    /// over and the SUBSCRIBE's receipt is written.
    async fn replay_page(&mut self) -> Flow {
        let Some(replay) = &self.replay else {
            return Flow::Continue;
        };
        let (room_id, cursor) = (replay.room.id, replay.cursor);
        let query = HistoryQuery {
            before: None,
            after: Some(cursor),
            limit: REPLAY_PAGE.min(self.outbox.room()).max(1) as i64,
        };
        let page = match self.state.store.history(room_id, query).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "replay failed");
                return self.fail("server error").await;
            }
        };
        let Some(replay) = self.replay.as_mut() else {
            return Flow::Continue;
        };
        let done = !page.has_more;
        self.subscriptions.replayed(
            &replay.subscription,
            room_id,
            &page.messages,
            done,
            &mut self.outbox,
        );
        if let Some(last) = page.messages.last() {
            replay.cursor = last.seq;
        }
        if done {
            let receipt = self.replay.take().and_then(|r| r.receipt);
            self.write_receipt(receipt);
            self.frames_waiting = true;
        }
        Flow::Continue
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
        let chat = &self.state.chat;
        let workers = Workers::of(posts.iter().map(|p| chat.commit_worker(p.room.id)));
        // The client's order is the commit order: never let this store
        // overtake one still in flight on another committer worker.
        if self.stores.must_settle_before(workers)
            && let Flow::Close = self.complete_stores().await
        {
            return Flow::Close;
        }
        let sender = self.sender();
        let result = self.state.chat.submit(&sender, posts).await;
        self.stores.push(InFlight {
            result,
            receipts,
            then_receipt,
            workers,
        });
        // Pipelined, but bounded: beyond the window, wait for the oldest.
        if self.stores.len() > MAX_INFLIGHT_STORES {
            return self.complete_oldest_store().await;
        }
        Flow::Continue
    }

    /// Waits for the oldest pending store and answers it.
    async fn complete_oldest_store(&mut self) -> Flow {
        let Some(front) = self.stores.oldest() else {
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
        let Some(done) = self.stores.pop_oldest() else {
            return Flow::Continue;
        };
        match result {
            Ok(Ok(appended)) => {
                for (receipt, a) in done.receipts.into_iter().zip(appended) {
                    if let Some(r) = receipt {
                        let m = a.message();
                        self.write_frame(&Session::send_receipt(&r, m.id, m.seq));
                    }
                }
                self.write_receipt(done.then_receipt);
                Flow::Continue
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
        while !self.stores.is_empty() {
            if let Flow::Close = Box::pin(self.complete_oldest_store()).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    fn write_receipt(&mut self, receipt: Option<String>) {
        if let Some(r) = receipt {
            self.write_frame(&ServerFrame::receipt(r));
        }
    }

    fn write_frame(&mut self, frame: &ServerFrame) {
        count_out(frame);
        self.outbox.push_frame(frame, self.session.version());
    }

    /// Moves a burst of deliveries into the outbox, as far as it has room
    /// (the rest waits in the queue, which overflows if the client does not
    /// read: a slow consumer).
    fn add_deliveries(&mut self, first: Delivery, queue: &mut mpsc::Receiver<Delivery>) {
        self.add_delivery(first);
        while self.outbox.has_room() {
            match queue.try_recv() {
                Ok(d) => self.add_delivery(d),
                Err(_) => break,
            }
        }
    }

    fn add_delivery(&mut self, d: Delivery) {
        self.subscriptions.deliver(&d, &mut self.outbox);
    }

    /// The connection's delivery queue overflowed. If the socket is not
    /// even taking the write in progress, the client cannot be sent an ERROR:
    /// give up on it instead of waiting for TCP to fail.
    async fn slow_consumer(&mut self) -> Flow {
        metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
        if self.outbox.is_writing() {
            tracing::info!("slow consumer disconnected while its socket was full");
            self.abandoned = true;
            return Flow::Close;
        }
        tracing::info!("slow consumer disconnected");
        self.fail("slow consumer: too many undelivered messages")
            .await
    }

    /// ERROR with `message`, then close.
    async fn fail(&mut self, message: &str) -> Flow {
        self.end(message, None).await
    }

    /// Ends the session with an ERROR (carrying `receipt-id` when the
    /// failing frame asked for a receipt), flushed before the close.
    async fn end(&mut self, message: &str, receipt: Option<&str>) -> Flow {
        // SENDs before the failing frame are committed: confirm them first.
        if let Flow::Close = self.complete_stores().await {
            return Flow::Close;
        }
        for action in self.session.fail(message, receipt) {
            if let Action::Frame(frame) = action {
                self.write_frame(&frame);
            }
        }
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
                valid_receipt(receipt.as_deref()),
            )
            .await;
        }
        self.close_reason = Some(restart_reason());
        tracing::info!("closing for shutdown");
        Flow::Close
    }

    /// Unsubscribes, writes what is waiting (an ERROR, receipts) within
    /// [`CLOSE_WRITE_TIMEOUT`], then the close frame.
    async fn close(mut self) {
        let broker = self.state.chat.broker().clone();
        for sub in self.subscriptions.drain() {
            broker.unsubscribe(sub.room_id, sub.key);
        }
        drop(self.slot.take());
        if self.abandoned || !self.outbox.drain(CLOSE_WRITE_TIMEOUT).await {
            return;
        }
        let reason = self.close_reason.take();
        self.outbox.close(reason, CLOSE_WRITE_TIMEOUT).await;
    }
}

/// A receipt from the decoder may be echoed only if it is a valid id.
fn valid_receipt(receipt: Option<&str>) -> Option<&str> {
    receipt.filter(|r| check_id(r, MAX_ID_CHARS).is_ok())
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
