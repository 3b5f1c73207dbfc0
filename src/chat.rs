//! The write path shared by STOMP and HTTP: authorise the writer for the
//! room, store the event (assigning seq, grouped with concurrent writes by
//! the [`Committer`]), then publish. Messages, edits, deletions and
//! reactions all take it, so their seq order is their commit order.
//! Storing and publishing run in the committer's tasks, so a client that
//! goes away mid-write cannot leave a committed event unpublished.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::access::{VisibleRoom, visible_room};
use crate::auth::AuthUser;
use crate::broker::DynBroker;
use crate::committer::{CommitResult, Committer};
use crate::config::CommitSettings;
use crate::domain::{ClientId, MessageBody, ReactionKey, Role, RoomName};
use crate::store::moderation::{Action, Effect};
use crate::store::{Appended, Change, DynStore, EventKind, NewEvent, Room, StoreError};

/// One message to post.
#[derive(Debug, Clone)]
pub struct Post {
    pub room: Room,
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
    /// The seq of the message it replies to (see [`Chat::is_message`]).
    pub reply_to: Option<i64>,
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
    committer: Committer,
}

/// Where the result of a submitted send arrives.
pub type PendingPost = oneshot::Receiver<CommitResult>;

impl Chat {
    pub fn new(store: DynStore, broker: DynBroker, commit: CommitSettings) -> Self {
        let committer = Committer::start(Arc::clone(&store), Arc::clone(&broker), commit);
        Chat {
            store,
            broker,
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
    /// is not in yet.
    pub async fn enter_room(&self, user: &AuthUser, room: &RoomName) -> Result<Room, ChatError> {
        let user_id = user.id;
        let found = visible_room(self.store.as_ref(), room.as_str(), user_id)
            .await?
            .ok_or(ChatError::RoomNotFound)?;
        if !found.is_member() {
            match self
                .store
                .moderate(found.room.id, user_id, user_id, Action::Join)
                .await
            {
                Ok(Ok(effect)) => {
                    let name = &user.username;
                    let room_id = found.room.id;
                    crate::membership::announce(
                        &self.broker,
                        room_id,
                        Action::Join,
                        effect,
                        name,
                        name,
                    );
                    if effect == Effect::Join {
                        let (store, broker) = (&self.store, &self.broker);
                        crate::user_updates::room_added(
                            store,
                            broker,
                            (user_id, name),
                            &found.room,
                        )
                        .await;
                    }
                }
                // Banned, or the room deleted, since it was looked up.
                Ok(Err(_)) | Err(StoreError::RoomNotFound) => return Err(ChatError::RoomNotFound),
                Err(e) => return Err(e.into()),
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

    /// Whether `seq` is a `message` event of `room` (what a reply needs; a
    /// message event, once stored, stays one).
    pub async fn is_message(&self, room: &Room, seq: i64) -> Result<bool, ChatError> {
        let event = self.store.event(room.id, seq).await?;
        Ok(event.is_some_and(|e| e.kind == EventKind::Message))
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
    /// publishing go on even if the caller goes away.
    pub async fn submit(&self, sender: &AuthUser, posts: Vec<Post>) -> PendingPost {
        let batch: Vec<NewEvent> = posts
            .into_iter()
            .map(|p| {
                let change = Change::Message {
                    body: p.body.into_string(),
                    client_id: p.client_id.map(ClientId::into_string),
                    reply_to: p.reply_to,
                };
                event(sender, &p.room, change)
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
        let change = Change::Edit {
            target: seq,
            body: body.into_string(),
        };
        self.change(sender, room, change).await
    }

    /// Deletes message `seq`: its sender may, and so may the room's owner
    /// and moderators.
    pub async fn delete(
        &self,
        sender: &AuthUser,
        room: &Room,
        seq: i64,
    ) -> Result<Appended, ChatError> {
        let standing = self.store.standing(room.id, sender.id).await?;
        let any = standing.role.is_some_and(Role::moderates);
        self.change(sender, room, Change::Delete { target: seq, any })
            .await
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
        let change = Change::React {
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
        change: Change,
    ) -> Result<Appended, ChatError> {
        let pending = self
            .committer
            .submit(vec![event(sender, room, change)])
            .await;
        let mut appended = pending.await.map_err(|_| ChatError::Task)??;
        appended.pop().ok_or(ChatError::Task)
    }
}

fn event(sender: &AuthUser, room: &Room, change: Change) -> NewEvent {
    NewEvent {
        room_id: room.id,
        room: room.name.clone(),
        sender_id: sender.id,
        sender: sender.username.clone(),
        change,
    }
}
