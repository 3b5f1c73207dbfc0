//! The write path shared by STOMP and HTTP: authorise the writer for the
//! room, store the event (assigning seq, grouped with concurrent writes by
//! the [`Committer`]), then publish. Messages, edits, deletions and
//! reactions all take it, so their seq order is their commit order.
//! Storing and publishing run in the committer's tasks, so a client that
//! goes away mid-write cannot leave a committed event unpublished.
//!
//! The checks before a send have one owner each, and every edge (the
//! gateway's SEND, HTTP POST and the room-log routes, SSE) asks the same
//! ones: a well-formed body ([`MessageBody::parse`], at the edge), the
//! room seen or joined ([`Chat::enter_room`]: `access` decides, joining goes
//! through [`Membership::act`]), the writer not blocked
//! ([`Chat::may_write`]). What depends on the log or on a role (a reply's
//! target, who may edit or delete which message) is decided under the
//! room's lock, in the store's batch plan (`store/plan.rs`), and nowhere
//! else: a refusal comes back as [`Appended::Refused`].

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::access::{VisibleRoom, visible_room};
use crate::auth::AuthUser;
use crate::broker::DynBroker;
use crate::committer::{CommitResult, Committer};
use crate::config::CommitSettings;
use crate::domain::{Attachments, ClientId, MessageBody, ReactionKey, RoomName};
use crate::membership::{Membership, MembershipError};
use crate::store::moderation::MembershipRequest;
use crate::store::{Appended, DynStore, LogWrite, NewEvent, Room, StoreError};

/// One message to post.
#[derive(Debug, Clone)]
pub struct Post {
    pub room: Room,
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
    /// The seq of the message it replies to (checked under the room's
    /// lock: `invalid_reply` otherwise).
    pub reply_to: Option<i64>,
    /// Files to attach (checked under the room's lock:
    /// `invalid_attachment` otherwise).
    pub attachments: Attachments,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Unknown room, or private and the user is not a member, or banned:
    /// the same.
    #[error("room not found")]
    RoomNotFound,
    /// The other user of a direct conversation blocks the writer.
    #[error("blocked")]
    Blocked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the send task failed")]
    Task,
}

#[derive(Clone)]
pub struct Chat {
    store: DynStore,
    broker: DynBroker,
    membership: Membership,
    committer: Committer,
}

/// Where the result of a submitted send arrives.
pub type PendingPost = oneshot::Receiver<CommitResult>;

impl Chat {
    /// `membership` is the instance's one owner of membership changes (a
    /// public room joined on entering it goes through it).
    pub fn new(
        store: DynStore,
        broker: DynBroker,
        membership: Membership,
        commit: CommitSettings,
    ) -> Self {
        let committer = Committer::start(Arc::clone(&store), Arc::clone(&broker), commit);
        Chat {
            store,
            broker,
            membership,
            committer,
        }
    }

    pub fn broker(&self) -> &DynBroker {
        &self.broker
    }

    /// The committer worker of `room_id`: stores to the same worker are
    /// committed in the order they were submitted, stores to different
    /// workers in parallel.
    pub fn commit_worker(&self, room_id: i64) -> usize {
        self.committer.worker_of(room_id)
    }

    /// The room if `user_id` may see it, without joining it (and their
    /// role in it).
    pub async fn see_room(&self, user_id: i64, room: &RoomName) -> Result<VisibleRoom, ChatError> {
        visible_room(self.store.as_ref(), room.as_str(), user_id)
            .await?
            .ok_or(ChatError::RoomNotFound)
    }

    /// The room if `user` may post to / read it; joins public rooms the user
    /// is not in yet (through [`Membership::act`], the one owner of
    /// membership changes).
    pub async fn enter_room(&self, user: &AuthUser, room: &RoomName) -> Result<Room, ChatError> {
        let found = self.see_room(user.id, room).await?;
        if !found.is_member() {
            let me = (user.id, user.username.as_str());
            match self
                .membership
                .act(&found.room, me, me, MembershipRequest::Join)
                .await
            {
                Ok(_) => {}
                // Banned, or the room deleted, since it was looked up.
                Err(MembershipError::Refused(_) | MembershipError::RoomNotFound) => {
                    return Err(ChatError::RoomNotFound);
                }
                Err(MembershipError::Store(e)) => return Err(e.into()),
            }
        }
        Ok(found.room)
    }

    /// Whether `writer` may write to `room` now: in a direct conversation,
    /// not while the other user blocks them. Asked at each write (a block
    /// takes effect at once).
    pub async fn may_write(&self, writer: &AuthUser, room: &Room) -> Result<(), ChatError> {
        let Some(pair) = &room.direct else {
            return Ok(());
        };
        let peer = pair
            .users
            .iter()
            .map(|(id, _)| *id)
            .find(|id| *id != writer.id);
        match peer {
            Some(peer) if self.store.is_blocked(peer, writer.id).await? => Err(ChatError::Blocked),
            _ => Ok(()),
        }
    }

    /// The room `user` writes to, every check before a write passed:
    /// [`enter_room`](Self::enter_room), then [`may_write`](Self::may_write).
    /// (The gateway, which keeps the rooms a connection entered, asks the
    /// two apart.)
    pub async fn room_to_write(&self, user: &AuthUser, room: &RoomName) -> Result<Room, ChatError> {
        let room = self.enter_room(user, room).await?;
        self.may_write(user, &room).await?;
        Ok(room)
    }

    /// Stores `posts` in one transaction (grouped with other senders'),
    /// then publishes the newly stored ones. Results are in input order; a
    /// repeated client id yields the original message
    /// (`Appended::Duplicate`), which is not published again.
    pub async fn post(
        &self,
        sender: &AuthUser,
        posts: Vec<Post>,
    ) -> Result<Vec<Appended>, ChatError> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let pending = self.submit(sender, posts).await;
        Ok(pending.await.map_err(|_| ChatError::Task)??)
    }

    /// Queues `posts` for commit without waiting for it: a connection can
    /// pipeline its SENDs and still answer them in order. Committing and
    /// publishing go on even if the caller goes away. Several posts (a
    /// STOMP transaction) are stored all or none: one the log refuses (a
    /// bad reply) refuses them all.
    pub async fn submit(&self, sender: &AuthUser, posts: Vec<Post>) -> PendingPost {
        let last = posts.len().saturating_sub(1);
        let batch: Vec<NewEvent> = posts
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let change = LogWrite::Message {
                    body: p.body.into_string(),
                    client_id: p.client_id.map(ClientId::into_string),
                    reply_to: p.reply_to,
                    attachments: p.attachments.into_vec(),
                };
                NewEvent {
                    tied_to_next: i < last,
                    ..event(sender, &p.room, change)
                }
            })
            .collect();
        self.committer.submit(batch).await
    }

    /// Replaces the text of message `seq` (its sender only).
    pub async fn edit(
        &self,
        sender: &AuthUser,
        room: &Room,
        seq: i64,
        body: MessageBody,
    ) -> Result<Appended, ChatError> {
        let change = LogWrite::Edit {
            target: seq,
            body: body.into_string(),
        };
        self.change(sender, room, change).await
    }

    /// Deletes message `seq`: its sender may, and so may the room's owner
    /// and moderators (their role read under the room's lock).
    pub async fn delete(
        &self,
        sender: &AuthUser,
        room: &Room,
        seq: i64,
    ) -> Result<Appended, ChatError> {
        self.change(sender, room, LogWrite::Delete { target: seq })
            .await
    }

    /// Deletes the message at `seq` to resolve a report of it (README,
    /// "Administration"): as any deletion, decided by the room log's plan;
    /// `administrator` (checked by the caller) may delete whatever their
    /// role in the room.
    pub async fn delete_reported(
        &self,
        resolver: &AuthUser,
        room: &Room,
        seq: i64,
        administrator: bool,
    ) -> Result<Appended, ChatError> {
        let deletion = NewEvent {
            moderates: administrator,
            ..event(resolver, room, LogWrite::Delete { target: seq })
        };
        let pending = self.committer.submit(vec![deletion]).await;
        let mut appended = pending.await.map_err(|_| ChatError::Task)??;
        appended.pop().ok_or(ChatError::Task)
    }

    /// Deletes the messages `seqs` of `room` (id, name) as `sender` (id,
    /// username) in one transaction, each as [`delete`](Self::delete)
    /// would: closing an account erases what it wrote this way, page by
    /// page (README, "Accounts"). Results are in input order.
    pub async fn delete_many(
        &self,
        sender: (i64, &str),
        room: (i64, &str),
        seqs: &[i64],
    ) -> Result<Vec<Appended>, ChatError> {
        let batch = seqs
            .iter()
            .map(|&target| NewEvent {
                room_id: room.0,
                room: room.1.to_string(),
                sender_id: sender.0,
                sender: sender.1.to_string(),
                change: LogWrite::Delete { target },
                tied_to_next: false,
                moderates: false,
            })
            .collect();
        let pending = self.committer.submit(batch).await;
        Ok(pending.await.map_err(|_| ChatError::Task)??)
    }

    /// Adds (`added`) or removes the sender's reaction `key` on message `seq`.
    pub async fn react(
        &self,
        sender: &AuthUser,
        room: &Room,
        seq: i64,
        key: ReactionKey,
        added: bool,
    ) -> Result<Appended, ChatError> {
        let change = LogWrite::React {
            target: seq,
            key: key.into_string(),
            added,
        };
        self.change(sender, room, change).await
    }

    async fn change(
        &self,
        sender: &AuthUser,
        room: &Room,
        change: LogWrite,
    ) -> Result<Appended, ChatError> {
        let pending = self
            .committer
            .submit(vec![event(sender, room, change)])
            .await;
        let mut appended = pending.await.map_err(|_| ChatError::Task)??;
        appended.pop().ok_or(ChatError::Task)
    }
}

fn event(sender: &AuthUser, room: &Room, change: LogWrite) -> NewEvent {
    NewEvent {
        room_id: room.id,
        room: room.name.clone(),
        sender_id: sender.id,
        sender: sender.username.clone(),
        change,
        tied_to_next: false,
        moderates: false,
    }
}
