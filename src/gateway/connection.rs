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
//! [`StorePipeline`]'s; the replay seam the [`LiveSubscriptions`]'; clocks the
//! [`Timers`]'. It must not keep its own copy of any of them.

use std::future::ready;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::admission::session_config;
use super::ending::{End, close_socket, echoable, restart_reason};
use super::outbox::{Outbox, WRITE_STALL_TIMEOUT};
use super::pipeline::{Answers, StorePipeline};
use super::replay::SubscriptionReplay;
use super::rooms::Rooms;
use super::send_rate::SendRateHold;
use super::socket::{Reader, Writer};
use super::subscriptions::LiveSubscriptions;
use super::timers::{Timers, until};
use super::upgrade::CLOSE_LINGER;
use crate::connections::ConnectionSlot;
use crate::logins::LoginWatch;
use crate::presence::PresenceGuard;
use crate::session::{Session, max_send_body_bytes};
use crate::state::AppState;
use crate::stomp::Decoder;

pub struct Connection {
    pub(super) state: Arc<AppState>,
    pub(super) decoder: Decoder,
    pub(super) session: Session,
    /// This connection's place among its user's connections (from CONNECTED).
    pub(super) slot: Option<ConnectionSlot>,
    /// Keeps the user online while the session is open (from CONNECTED).
    pub(super) presence: Option<PresenceGuard>,
    /// Resolves when the session's login is ended (from CONNECTED).
    pub(super) login: Option<LoginWatch>,
    pub(super) subscriptions: LiveSubscriptions,
    pub(super) rooms: Rooms,
    pub(super) outbox: Outbox,
    pub(super) stores: StorePipeline,
    pub(super) replay: Option<SubscriptionReplay>,
    /// The decoder may hold complete frames not handled yet (handling paused
    /// for a replay, a full outbox or the send rate).
    pub(super) frames_waiting: bool,
    pub(super) hold: SendRateHold,
    pub(super) timers: Timers,
    /// When the last WebSocket message with frames was read (the start of
    /// its SENDs' latency, `parley_receive_to_submit_seconds`).
    pub(super) received: Instant,
}

pub async fn run(state: Arc<AppState>, stream: Reader, socket: Writer) {
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("ws", session = %session_id);
    serve(state, stream, socket, session_id)
        .instrument(span)
        .await
}

async fn serve(state: Arc<AppState>, mut stream: Reader, socket: Writer, session_id: String) {
    let _gauge = crate::metrics::ConnectionGauge::open("websocket");
    let limits = &state.config.limits;
    let (queue_tx, mut queue_rx) = mpsc::channel(limits.outbound_queue);
    let config = session_config(limits);
    let mut conn = Connection {
        decoder: Decoder::new(crate::stomp::FrameLimits {
            max_frame_bytes: limits.max_frame_bytes,
            // A chat body over MAX_BODY_BYTES is still refused: by the
            // session, when it is no longer than the typing signal.
            max_send_body_bytes: max_send_body_bytes(limits.max_body_bytes),
            ..Default::default()
        }),
        session: Session::new(config, session_id),
        slot: None,
        presence: None,
        login: None,
        subscriptions: LiveSubscriptions::new(state.chat.broker().clone(), queue_tx),
        rooms: Rooms::default(),
        outbox: Outbox::new(socket, limits.outbound_queue),
        stores: StorePipeline::default(),
        replay: None,
        frames_waiting: false,
        hold: SendRateHold::default(),
        timers: Timers::new(limits.connect_timeout),
        received: Instant::now(),
        state: Arc::clone(&state),
    };
    let mut shutdown = state.shutdown_signal();
    let end = loop {
        conn.outbox.start_write();
        let paused = conn.replay.is_some() || !conn.outbox.has_room();
        let handling = conn.frames_waiting && conn.hold.resume_at().is_none() && !paused;
        let reading = !conn.frames_waiting && !paused;
        let replay_ready = conn.replay.is_some() && SubscriptionReplay::ready(&conn.outbox);
        let stall = conn.outbox.writing_since().map(|t| t + WRITE_STALL_TIMEOUT);
        let version = conn.session.version();
        // The handlers' futures are boxed: an idle connection's state is
        // then only this select's (the deepest handler, a SUBSCRIBE or a
        // SEND down to the store, would otherwise size every connection;
        // BENCHMARKS.md, scenario 4).
        let flow = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => Err(End::Restart),
            // Signed out elsewhere, password changed, … (README, "Accounts").
            _ = crate::logins::ended(&mut conn.login) => {
                tracing::info!("login ended; closing the session");
                Err(End::error("session revoked", None))
            }
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
                Box::pin(conn.execute(actions)).await
            }
            _ = until(conn.timers.expiry()) => Box::pin(conn.check_expiry()).await,
            _ = until(conn.hold.resume_at()) => {
                conn.hold.resume();
                Ok(())
            }
            result = conn.stores.oldest_result() => {
                let out = Answers { outbox: &mut conn.outbox, version };
                conn.stores.answer_oldest(result, out)
            }
            _ = ready(()), if handling => Box::pin(conn.process_frames()).await,
            _ = ready(()), if replay_ready => Box::pin(conn.replay_page()).await,
            Some(delivery) = queue_rx.recv(), if conn.outbox.has_room() => {
                let subscriptions = &mut conn.subscriptions;
                conn.outbox.add_deliveries(delivery.message.born, |outbox| {
                    subscriptions.deliver_burst(delivery, &mut queue_rx, outbox);
                });
                Ok(())
            }
            msg = stream.recv(), if reading => {
                conn.timers.heard_from_client();
                Box::pin(conn.on_ws_message(msg)).await
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
    if Box::pin(conn.finish(end)).await {
        stream.linger(CLOSE_LINGER).await;
    }
}

impl Connection {
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
    /// True if the close frame was written (the socket then lingers).
    async fn finish(mut self, mut end: End) -> bool {
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
        close_socket(self.outbox, reason, abandoned).await
    }
}
