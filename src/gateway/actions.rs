//! Client frames in, the session's actions out, executed in order: this
//! part decodes what the socket brings, asks the send-rate hold whether a
//! SEND may go now, hands each frame to the [`Session`], and carries out its
//! actions (subscribe, store, write its frames). Anything but a store is
//! done after the stores before it are answered ([`StorePipeline::settle`]).
//!
//! It must not build frames other than through the session, or keep
//! protocol state of its own.
//!
//! [`StorePipeline::settle`]: super::pipeline::StorePipeline::settle

use std::sync::Arc;
use std::time::Instant;

use actix_http::ws::ProtocolError;

use super::admission::{admit, look_up_bot};
use super::connection::Connection;
use super::ending::{End, Flow};
use super::pipeline::Answers;
use super::replay::{Step, SubscriptionReplay};
use super::rooms::Purpose;
use super::socket::Incoming;
use crate::auth::AuthUser;
use crate::auth::jwt::now_secs;
use crate::chat::{ChatError, Post};
use crate::domain::RoomName;
use crate::session::{Action, SendRequest, Session, SubscribeRequest};
use crate::stomp::ServerFrame;
use crate::store::Room;

/// Rooms, stores and subscriptions come only after CONNECT opened the session.
const AFTER_CONNECT: &str = "actions only after CONNECT";

impl Connection {
    pub(super) async fn on_ws_message(
        &mut self,
        msg: Option<Result<Incoming, ProtocolError>>,
    ) -> Flow {
        let bytes = match msg {
            None | Some(Ok(Incoming::Close)) => return Err(End::Close),
            Some(Err(e)) => {
                tracing::info!(error = %e, "websocket protocol error");
                return Err(End::error("websocket message too large or malformed", None));
            }
            Some(Ok(Incoming::Ping(p))) => {
                self.outbox.push_pong(p);
                return Ok(());
            }
            Some(Ok(Incoming::Pong)) => return Ok(()),
            Some(Ok(Incoming::Data(bytes))) => bytes,
        };
        self.received = Instant::now();
        self.decoder
            .push(&bytes)
            .map_err(|e| End::undecodable(e.to_string(), e.receipt()))?;
        self.frames_waiting = true;
        self.process_frames().await
    }

    /// Runs the complete frames buffered in the decoder, until one must
    /// wait: for the send-rate bucket, a replay, or room in the outbox.
    pub(super) async fn process_frames(&mut self) -> Flow {
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
            let user = self.session.user().map(|u| u.id);
            let Some(frame) = self
                .hold
                .admit(frame, self.state.send_limiter.as_ref(), user)
            else {
                return Ok(()); // held until the bucket refills
            };
            crate::metrics::frames_in(frame.command).increment(1);
            let state = Arc::clone(&self.state);
            let bot = look_up_bot(&state, &frame).await;
            let slot = &mut self.slot;
            let actions = self
                .session
                .handle_admitting(frame, |token| admit(&state, slot, token, bot));
            self.execute(actions).await?;
        }
    }

    pub(super) async fn execute(&mut self, actions: Vec<Action>) -> Flow {
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
                    user,
                } => {
                    let viewer = self.state.viewers.of(user.id).await;
                    let viewer = viewer.map_err(|e| {
                        tracing::error!(error = %e, "reading blocked users failed");
                        End::error("server error", None)
                    })?;
                    self.subscriptions.set_viewer(viewer);
                    self.presence = Some(self.state.presence.arrive(user.id, &user.username));
                    self.login = Some(self.state.logins.watch(user.login));
                    self.decoder.set_version(version);
                    self.timers.opened(heart_beat, user.expires_at);
                    tracing::info!(user = %user.username, version = version.as_str(), "stomp session open");
                }
                Action::Subscribe(req) => self.subscribe(req).await?,
                Action::SubscribeUserUpdates { id, ack, receipt } => {
                    let (user_id, version) = (self.user().id, self.session.version());
                    let updates = &self.state.user_updates;
                    (self.subscriptions).register_user_updates(updates, user_id, &id, ack, version);
                    self.write_receipt(receipt);
                }
                Action::Acked { id } => self.acked(&id),
                Action::Typing { room, receipt } => {
                    self.typing(&room, receipt.as_deref()).await?;
                    self.write_receipt(receipt);
                }
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
    pub(super) async fn check_expiry(&mut self) -> Flow {
        let actions = self.session.check_expiry(now_secs());
        if actions.is_empty() {
            self.timers.recheck_expiry();
            return Ok(());
        }
        crate::metrics::auth_failure("session_expired");
        self.execute(actions).await
    }

    /// The room for a send or subscribe (see [`Rooms`](super::rooms::Rooms)),
    /// and the revocation mark its access was checked at.
    async fn room(
        &mut self,
        name: &RoomName,
        purpose: Purpose,
        receipt: Option<&str>,
    ) -> Result<(Room, u64), End> {
        let user = self.session.user().expect(AFTER_CONNECT);
        self.rooms
            .enter(&self.state, user, name, purpose, receipt)
            .await
    }

    async fn subscribe(&mut self, req: SubscribeRequest) -> Flow {
        let receipt = req.receipt.as_deref();
        let purpose = if req.activity {
            Purpose::Watch
        } else {
            Purpose::Subscribe
        };
        let (room, mark) = self.room(&req.room, purpose, receipt).await?;
        // Register first, then replay: every message is either in the
        // replay or in the live stream (or both; the subscription drops the
        // copy).
        let version = self.session.version();
        self.subscriptions.register(&req, &room, version).await;
        // Access lost while registering: the revocation may have missed it.
        let user_id = self.user().id;
        if !self
            .rooms
            .still_open(&self.state.revocations, &room, user_id, mark)
        {
            self.subscriptions.unregister(&req.id);
            return Err(End::error("room not found", receipt));
        }
        match req.since_seq {
            // Client frames wait until the replay is done.
            Some(since) => {
                let store = self.state.store.clone();
                self.replay = Some(SubscriptionReplay::new(
                    store,
                    req.id,
                    room,
                    since,
                    req.receipt,
                ));
            }
            None => self.write_receipt(req.receipt),
        }
        Ok(())
    }

    pub(super) async fn replay_page(&mut self) -> Flow {
        let Some(replay) = self.replay.as_mut() else {
            return Ok(());
        };
        let page = replay
            .next_page(&mut self.subscriptions, &mut self.outbox)
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
        // A lone SEND (not a transaction's) may invoke a slash command (the
        // room's checks run first: a refused SEND invokes nothing).
        if let ([send], None) = (sends.as_slice(), &then_receipt)
            && crate::webhooks::commands::split(send.body.as_str()).is_some()
        {
            let (room, _) = self
                .room(&send.room, Purpose::Send, send.receipt.as_deref())
                .await?;
            self.check_writer(&room, send.receipt.as_deref()).await?;
            if let Some(call) = self.invoked_command(&room, send).await? {
                return self.run_command(&room, &call, send.receipt.clone()).await;
            }
        }
        let mut posts = Vec::with_capacity(sends.len());
        let mut receipts = Vec::with_capacity(sends.len());
        // Whether a SEND names `in-reply-to` or attachments: the log decides
        // them at commit.
        let mut replies = false;
        for send in sends {
            let receipt = send.receipt.as_deref();
            let (room, _) = self.room(&send.room, Purpose::Send, receipt).await?;
            self.check_writer(&room, receipt).await?;
            replies |= send.reply_to.is_some() || !send.attachments.is_empty();
            receipts.push(send.receipt);
            posts.push(Post {
                room,
                body: send.body,
                client_id: send.client_id,
                reply_to: send.reply_to,
                attachments: send.attachments,
            });
        }
        let sender = self.session.user().expect(AFTER_CONNECT);
        metrics::histogram!(crate::metrics::RECEIVE_TO_SUBMIT)
            .record(self.received.elapsed().as_secs_f64());
        let out = Answers {
            outbox: &mut self.outbox,
            version: self.session.version(),
        };
        self.stores
            .submit(&self.state.chat, sender, posts, receipts, then_receipt, out)
            .await?;
        // A bad `in-reply-to` or attachment ends the session (its ERROR when the log
        // refuses it): nothing after this SEND may be stored before that
        // is known, so the next frame waits for the answer.
        if replies {
            self.settle().await?;
        }
        Ok(())
    }

    /// An ACK: on an `ack:client` subscription of a room's log, the user's
    /// read marker moves to the acknowledged seq (coalesced, not waited for).
    fn acked(&mut self, id: &str) {
        if let Some((room_id, seq)) = self.subscriptions.acked(id) {
            let user = self.session.user().expect(AFTER_CONNECT);
            self.state
                .read_markers
                .mark_later(room_id, user.id, &user.username, seq);
        }
    }

    /// `{"type":"typing"}` sent to a room's activity: announced to its
    /// watchers unless the user is not a member or typed too recently
    /// (`TYPING_RATE`; then dropped silently).
    async fn typing(&mut self, name: &RoomName, receipt: Option<&str>) -> Flow {
        let (room, _) = self.room(name, Purpose::Watch, receipt).await?;
        let user = self.session.user().expect(AFTER_CONNECT);
        if self.rooms.is_member(&room) {
            let limiter = self.state.typing_limiter.as_ref();
            crate::typing::announce(limiter, self.state.chat.broker(), user, &room);
        }
        Ok(())
    }

    /// A SEND to a direct conversation whose other user blocks the sender
    /// ends the session with ERROR `blocked`.
    async fn check_writer(&mut self, room: &Room, receipt: Option<&str>) -> Flow {
        let user = self.session.user().expect(AFTER_CONNECT);
        match self.state.chat.may_write(user, room).await {
            Ok(()) => Ok(()),
            Err(ChatError::Blocked) => Err(End::error("blocked", receipt)),
            Err(e) => {
                tracing::error!(error = %e, "checking blocks failed");
                Err(End::error("server error", receipt))
            }
        }
    }

    /// The session's user.
    pub(super) fn user(&self) -> &AuthUser {
        self.session.user().expect(AFTER_CONNECT)
    }

    /// Answers every pending store (see [`StorePipeline::settle`]).
    pub(super) async fn settle(&mut self) -> Flow {
        let out = Answers {
            outbox: &mut self.outbox,
            version: self.session.version(),
        };
        self.stores.settle(out).await
    }

    pub(super) fn write_receipt(&mut self, receipt: Option<String>) {
        if let Some(r) = receipt {
            self.write(&Session::receipt(&r));
        }
    }

    pub(super) fn write(&mut self, frame: &ServerFrame) {
        self.outbox.push_frame(frame, self.session.version());
    }
}
