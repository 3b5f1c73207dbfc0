//! The send path shared by STOMP and HTTP: authorise the sender for the
//! room, store (assigning seq, grouped with concurrent sends by the
//! [`Committer`]), then publish. Storing and publishing run in the
//! committer's tasks, so a client that goes away mid-send cannot leave a
//! committed message unpublished.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::access::visible_room;
use crate::auth::AuthUser;
use crate::broker::DynBroker;
use crate::committer::{CommitResult, Committer};
use crate::config::CommitSettings;
use crate::domain::{ClientId, MessageBody, RoomName};
use crate::store::{Appended, DynStore, NewMessage, Room, StoreError};

/// One message to post.
#[derive(Debug, Clone)]
pub struct Post {
    pub room: Room,
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Unknown room, or private and the user is not a member: the same.
    #[error("room not found")]
    RoomNotFound,
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

    /// The room if `user` may post to / read it; joins public rooms the user
    /// is not in yet.
    pub async fn enter_room(&self, user_id: i64, room: &RoomName) -> Result<Room, ChatError> {
        let found = visible_room(self.store.as_ref(), room.as_str(), user_id)
            .await?
            .ok_or(ChatError::RoomNotFound)?;
        if !found.is_member {
            self.store.add_member(found.room.id, user_id).await?;
        }
        Ok(found.room)
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
        let batch: Vec<NewMessage> = posts
            .into_iter()
            .map(|p| NewMessage {
                room_id: p.room.id,
                room: p.room.name,
                sender_id: sender.id,
                sender: sender.username.clone(),
                body: p.body.into_string(),
                client_id: p.client_id.map(ClientId::into_string),
            })
            .collect();
        self.committer.submit(batch).await
    }
}
