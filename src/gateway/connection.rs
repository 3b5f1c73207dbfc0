//! One WebSocket connection: a single task running one `select!` loop over
//! shutdown, the slow-consumer signal, the write in progress, the timers,
//! pending stores, buffered client frames, a `since-seq` replay, the
//! delivery queue and the socket. Each branch hands its event to the part
//! that owns the rule, and every way out of the loop is an [`End`], finished
//! in one place ([`Connection::finish`]).
//!
//! This loop owns only flow control: when client frames are handled (not
//! during a replay, a send-rate hold or with the outbox full) and when the
//! socket is read. Protocol state and every frame but MESSAGEs are the
//! [`Session`]'s; writing is the [`Outbox`]'s; store order and receipts the
//! [`StorePipeline`]'s; the replay seam the [`Subscriptions`]'; clocks the
//! [`Timers`]'. It must not keep its own copy of any of them.

use std::collections::HashMap;
use std::future::ready;
use std::sync::Arc;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session as WsSession};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::ending::{End, Flow, close_socket, echoable, restart_reason};
use super::outbox::{Outbox, WRITE_STALL_TIMEOUT};
use super::pipeline::{Answers, StorePipeline};
use super::replay::{Replay, Step};
use super::send_rate::SendRateHold;
use super::subscriptions::Subscriptions;
use super::timers::{Timers, until};
use crate::auth::jwt::now_secs;
use crate::chat::{ChatError, Post, Sender};
use crate::connections::ConnectionSlot;
use crate::domain::RoomName;
use crate::session::{
    Action, ConnectRefusal, Identity, SendRequest, Session, SessionConfig, SubscribeRequest,
};
use crate::startup::AppState;
use crate::stomp::{Decoder, ServerFrame};
use crate::store::Room;

pub struct Connection {
    state: Arc<AppState>,
    decoder: Decoder,
    session: Session,
    /// This connection's place among its user's connections (from CONNECTED).
    slot: Option<ConnectionSlot>,
    subscriptions: Subscriptions,
    /// Rooms this user may post to, looked up once per connection
    /// (membership is never revoked).
    rooms: HashMap<RoomName, Room>,
    outbox: Outbox,
    stores: StorePipeline,
    replay: Option<Replay>,
    /// The decoder may hold complete frames not handled yet (handling paused
    /// for a replay, a full outbox or the send rate).
    frames_waiting: bool,
    hold: SendRateHold,
    timers: Timers,
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
        slot: None,
        subscriptions: Subscriptions::new(state.chat.broker().clone(), queue_tx),
        rooms: HashMap::new(),
        outbox: Outbox::new(ws, limits.outbound_queue),
        stores: StorePipeline::default(),
        replay: None,
        frames_waiting: false,
        hold: SendRateHold::default(),
        timers: Timers::new(limits.connect_timeout),
        state: Arc::clone(&state),
    };
    let mut shutdown = state.shutdown_signal();
    let end = loop {
        conn.outbox.start_write();
        let paused = conn.replay.is_some() || !conn.outbox.has_room();
        let handling = conn.frames_waiting && conn.hold.resume_at().is_none() && !paused;
        let reading = !conn.frames_waiting && !paused;
        let replay_ready = conn.replay.is_some() && Replay::ready(&conn.outbox);
        let stall = conn.outbox.writing_since().map(|t| t + WRITE_STALL_TIMEOUT);
        let version = conn.session.version();
        let flow = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => Err(End::Restart),
            _ = conn.subscriptions.overflowed() => Err(conn.slow_consumer()),
            written = conn.outbox.written() => written.map_err(|_| End::Close),
            _ = until(stall) => {
                tracing::info!("client stopped reading; disconnected");
                metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
                Err(End::Abandon)
            }
            _ = until(conn.timers.connect_deadline()) => {
                conn.timers.connect_deadline_passed();
                let actions = conn.session.connect_deadline_passed();
                conn.execute(actions).await
            }
            _ = until(conn.timers.expiry()) => conn.check_expiry().await,
            _ = until(conn.hold.resume_at()) => {
                conn.hold.resume();
                Ok(())
            }
            result = conn.stores.oldest_result() => {
                let out = Answers { outbox: &mut conn.outbox, version };
                conn.stores.answer_oldest(result, out)
            }
            _ = ready(()), if handling => conn.process_frames().await,
            _ = ready(()), if replay_ready => conn.replay_page().await,
            Some(delivery) = queue_rx.recv(), if conn.outbox.has_room() => {
                conn.subscriptions.deliver_burst(delivery, &mut queue_rx, &mut conn.outbox);
                Ok(())
            }
            msg = stream.recv(), if reading => {
                conn.timers.heard_from_client();
                conn.on_ws_message(msg).await
            }
            _ = until(conn.timers.next_beat()) => {
                conn.timers.beat_sent();
                conn.outbox.push_heart_beat();
                Ok(())
            }
            _ = until(conn.timers.next_check()) => {
                if conn.timers.client_silent(reading) {
                    tracing::info!("client heart-beat missed; closing");
                    Err(End::Close)
                } else {
                    Ok(())
                }
            }
        };
        if let Err(end) = flow {
            break end;
        }
    };
    conn.finish(end).await;
}

impl Connection {
    async fn on_ws_message(
        &mut self,
        msg: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
    ) -> Flow {
        let bytes = match msg {
            None | Some(Ok(AggregatedMessage::Close(_))) => return Err(End::Close),
            Some(Err(e)) => {
                tracing::info!(error = %e, "websocket protocol error");
                return Err(End::error("websocket message too large or malformed", None));
            }
            Some(Ok(AggregatedMessage::Ping(p))) => {
                self.outbox.push_pong(p);
                return Ok(());
            }
            Some(Ok(AggregatedMessage::Pong(_))) => return Ok(()),
            Some(Ok(AggregatedMessage::Text(t))) => t.into_bytes(),
            Some(Ok(AggregatedMessage::Binary(b))) => b,
        };
        self.decoder
            .push(&bytes)
            .map_err(|e| End::undecodable(e.to_string(), e.receipt()))?;
        self.frames_waiting = true;
        self.process_frames().await
    }

    /// Runs the complete frames buffered in the decoder, until one must
    /// wait: for the send-rate bucket, a replay, or room in the outbox.
    async fn process_frames(&mut self) -> Flow {
        loop {
            if self.replay.is_some() || !self.outbox.has_room() {
                return Ok(()); // `frames_waiting` stays set
            }
            let frame = match self.hold.take() {
                Some(f) => f,
                None => match self.decoder.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        self.frames_waiting = false;
                        return Ok(());
                    }
                    Err(e) => return Err(End::undecodable(e.to_string(), e.receipt())),
                },
            };
            let user = self.session.identity().map(|i| i.user_id);
            let Some(frame) = self
                .hold
                .admit(frame, self.state.send_limiter.as_ref(), user)
            else {
                return Ok(()); // held until the bucket refills
            };
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
            self.execute(actions).await?;
        }
    }

    async fn execute(&mut self, actions: Vec<Action>) -> Flow {
        for action in actions {
            // Whatever is not a store itself is written after the stores
            // before it are answered.
            if !matches!(action, Action::Store { .. }) {
                self.settle().await?;
            }
            match action {
                Action::Frame(frame) => self.write(&frame),
                Action::Connected {
                    version,
                    heart_beat,
                    identity,
                } => {
                    self.decoder.set_version(version);
                    self.timers.opened(heart_beat, identity.expires_at);
                    tracing::info!(user = %identity.username, version = version.as_str(), "stomp session open");
                }
                Action::Subscribe(req) => self.subscribe(req).await?,
                Action::Unsubscribe { id, receipt } => {
                    self.subscriptions.unregister(&id);
                    self.write_receipt(receipt);
                }
                Action::Store {
                    sends,
                    then_receipt,
                } => self.store(sends, then_receipt).await?,
                Action::Close => return Err(End::Close),
            }
        }
        Ok(())
    }

    /// The token's expiry may have come.
    async fn check_expiry(&mut self) -> Flow {
        let actions = self.session.check_expiry(now_secs());
        if actions.is_empty() {
            self.timers.recheck_expiry();
            return Ok(());
        }
        crate::metrics::auth_failure("session_expired");
        self.execute(actions).await
    }

    /// The room for a send or subscribe, checked once per connection; an
    /// unknown room ends the session (with the frame's `receipt`).
    async fn room(&mut self, name: &RoomName, receipt: Option<&str>) -> Result<Room, End> {
        if let Some(room) = self.rooms.get(name) {
            return Ok(room.clone());
        }
        let user_id = self.sender().user_id;
        match self.state.chat.enter_room(user_id, name).await {
            Ok(room) => {
                self.rooms.insert(name.clone(), room.clone());
                Ok(room)
            }
            Err(ChatError::RoomNotFound) => Err(End::error("room not found", receipt)),
            Err(other) => {
                tracing::error!(error = %other, "room lookup failed");
                Err(End::error("server error", receipt))
            }
        }
    }

    async fn subscribe(&mut self, req: SubscribeRequest) -> Flow {
        let room = self.room(&req.room, req.receipt.as_deref()).await?;
        // Register first, then replay: every message is either in the
        // replay or in the live stream (or both; the subscription drops the
        // copy).
        let version = self.session.version();
        self.subscriptions
            .register(&req.id, room.id, req.ack, version, req.since_seq)
            .await;
        match req.since_seq {
            // Client frames wait until the replay is done.
            Some(since) => self.replay = Some(Replay::new(req.id, room, since, req.receipt)),
            None => self.write_receipt(req.receipt),
        }
        Ok(())
    }

    async fn replay_page(&mut self) -> Flow {
        let Some(replay) = self.replay.as_mut() else {
            return Ok(());
        };
        let page = replay
            .next_page(&self.state.store, &mut self.subscriptions, &mut self.outbox)
            .await;
        match page {
            Ok(Step::More) => Ok(()),
            Ok(Step::Done { receipt }) => {
                self.replay = None;
                self.write_receipt(receipt);
                self.frames_waiting = true;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "replay failed");
                Err(End::error("server error", None))
            }
        }
    }

    async fn store(&mut self, sends: Vec<SendRequest>, then_receipt: Option<String>) -> Flow {
        let mut posts = Vec::with_capacity(sends.len());
        let mut receipts = Vec::with_capacity(sends.len());
        for send in sends {
            let room = self.room(&send.room, send.receipt.as_deref()).await?;
            receipts.push(send.receipt);
            posts.push(Post {
                room,
                body: send.body,
                client_id: send.client_id,
            });
        }
        let sender = self.sender();
        let out = Answers {
            outbox: &mut self.outbox,
            version: self.session.version(),
        };
        self.stores
            .submit(
                &self.state.chat,
                &sender,
                posts,
                receipts,
                then_receipt,
                out,
            )
            .await
    }

    /// The session's user (stores and rooms come only after CONNECT).
    fn sender(&self) -> Sender {
        let id = self.session.identity().expect("actions only after CONNECT");
        Sender {
            user_id: id.user_id,
            username: id.username.clone(),
        }
    }

    /// Answers every pending store (see [`StorePipeline::settle`]).
    async fn settle(&mut self) -> Flow {
        let out = Answers {
            outbox: &mut self.outbox,
            version: self.session.version(),
        };
        self.stores.settle(out).await
    }

    fn write_receipt(&mut self, receipt: Option<String>) {
        if let Some(r) = receipt {
            self.write(&Session::receipt(&r));
        }
    }

    fn write(&mut self, frame: &ServerFrame) {
        self.outbox.push_frame(frame, self.session.version());
    }

    /// The delivery queue overflowed. If the socket is not even taking the
    /// write in progress, the client cannot be sent an ERROR: give up on it
    /// instead of waiting for TCP to fail.
    fn slow_consumer(&self) -> End {
        metrics::counter!(crate::metrics::SLOW_CONSUMERS).increment(1);
        if self.outbox.is_writing() {
            tracing::info!("slow consumer disconnected while its socket was full");
            return End::Abandon;
        }
        tracing::info!("slow consumer disconnected");
        End::error("slow consumer: too many undelivered messages", None)
    }

    /// The one way a connection ends: the stores before the end are
    /// answered (SENDs before a failing frame are committed: confirmed
    /// first), an ERROR is written through the session, then subscriptions
    /// and the user's connection slot are released and the socket closed.
    async fn finish(mut self, mut end: End) {
        let mut reason = None;
        let abandoned = loop {
            end = match end {
                End::Close => break false,
                End::Abandon => break true,
                End::Error { message, receipt } => match self.settle().await {
                    Err(first) => first, // a failed store's ERROR comes first
                    Ok(()) => {
                        let actions = self.session.fail(&message, receipt.as_deref());
                        self.execute(actions).await.err().unwrap_or(End::Close)
                    }
                },
                // What was being handled is done (select! runs a branch to
                // completion); a SEND held by the send rate is answered with
                // ERROR rather than dropped silently.
                End::Restart => match self.settle().await {
                    Err(failed) => failed,
                    Ok(()) => {
                        if let Some(receipt) = self.hold.abandon() {
                            let message = "server shutting down; message not stored";
                            let actions = self.session.fail(message, echoable(receipt.as_deref()));
                            let _ = self.execute(actions).await;
                        }
                        tracing::info!("closing for shutdown");
                        reason = Some(restart_reason());
                        End::Close
                    }
                },
            };
        };
        self.subscriptions.unregister_all();
        drop(self.slot.take());
        close_socket(self.outbox, reason, abandoned).await;
    }
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
