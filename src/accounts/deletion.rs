//! Closing an account (README, "Accounts"): [`delete_account`] is the one
//! way, for `DELETE /me` and for an administrator's deletion alike.
//!
//! First, in one transaction, the account is closed: it can no longer
//! sign in, its refresh tokens and profile are gone, its name stays
//! reserved. Then what it wrote is erased in bounded steps, each its own
//! transaction: every message it sent is deleted through the room log
//! like any deletion (`chat`: the events stay as deleted ones, subscribers
//! see the `delete` events live, the files go with them), [`ERASE_PAGE`]
//! at a time; every file it uploaded is queued for erasure (the files'
//! sweeper removes it from storage); then it leaves every room through `membership` (an owned
//! room passes on, or is deleted when nobody else is in it). The account
//! is marked erased last, so an erasure that a restart interrupts is
//! resumed at start ([`resume_erasures`]); each step can be taken twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::chat::ChatError;
use crate::membership::MembershipError;
use crate::state::AppState;
use crate::store::{Profile, StoreError, User};

use super::profile::announce_profile;

/// Why an account's erasure stopped (it is resumed at the next start).
#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("deleting the account's messages failed: {0}")]
    Chat(ChatError),
    #[error("the erasure task ended early")]
    Interrupted,
}

/// Messages deleted per transaction while erasing an account.
pub const ERASE_PAGE: i64 = 100;

/// Closes account `user_id` and erases what it wrote (see the module
/// documentation). False when there is no such live account.
/// The erasure runs in a task of its own, so it goes on if the caller
/// (an HTTP request) goes away.
pub async fn delete_account(state: &Arc<AppState>, user_id: i64) -> Result<bool, DeletionError> {
    close_and_erase(state, user_id, None).await
}

/// As [`delete_account`], by administrator `admin_id`: the closing and its
/// audit entry are one transaction (README, "Administration").
pub async fn delete_account_as_admin(
    state: &Arc<AppState>,
    user_id: i64,
    admin_id: i64,
) -> Result<bool, DeletionError> {
    close_and_erase(state, user_id, Some(admin_id)).await
}

async fn close_and_erase(
    state: &Arc<AppState>,
    user_id: i64,
    closed_by: Option<i64>,
) -> Result<bool, DeletionError> {
    let Some(user) = state.store.user_by_id(user_id).await? else {
        return Ok(false);
    };
    let Some(closed) = state.store.close_account(user_id, closed_by).await? else {
        return Ok(false);
    };
    tracing::info!(user_id, "account closed");
    // Its logins and those of its bots end everywhere: refresh tokens
    // revoked, access tokens refused, live STOMP sessions and event
    // streams closed within 2 s.
    super::end_sessions(state, &user).await?;
    // Those who share a room with them see the profile go (before they
    // stop sharing any).
    let cleared = User {
        profile: Profile::default(),
        ..user
    };
    announce_profile(state, &cleared).await;
    let state = Arc::clone(state);
    tokio::spawn(async move { erase(&state, user_id, &closed.username).await })
        .await
        .map_err(|_| DeletionError::Interrupted)??;
    Ok(true)
}

/// Resumes, in the background, the erasure of every account closed but
/// not fully erased (a restart interrupted it). Several instances may run
/// it at once: every step can be taken twice.
pub fn resume_erasures(state: Arc<AppState>) {
    tokio::spawn(async move {
        let pending = match state.store.erasures_pending().await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "reading unfinished account erasures failed");
                return;
            }
        };
        for (user_id, username) in pending {
            tracing::info!(user_id, "resuming an account's erasure");
            if let Err(e) = erase(&state, user_id, &username).await {
                tracing::warn!(error = %e, user_id, "resuming an account's erasure failed");
            }
        }
    });
}

/// Erases what closed account `user_id` (`username`) wrote, then marks it
/// erased.
async fn erase(state: &AppState, user_id: i64, username: &str) -> Result<(), DeletionError> {
    erase_messages(state, (user_id, username)).await?;
    // Whatever it uploaded, attached or not: out of storage within a minute
    // (the files' erasure queue, README "Files").
    state.store.erase_user_files(user_id).await?;
    for room in state.store.memberships_of(user_id).await? {
        match state.membership.depart(&room, (user_id, username)).await {
            Ok(()) | Err(MembershipError::RoomNotFound | MembershipError::Refused(_)) => {}
            Err(MembershipError::Store(e)) => return Err(e.into()),
        }
    }
    state.store.mark_erased(user_id).await?;
    tracing::info!(user_id, "account erased");
    Ok(())
}

/// Deletes every message `user` sent that is not deleted yet, a page at a
/// time, each page's messages of one room in one transaction.
async fn erase_messages(state: &AppState, user: (i64, &str)) -> Result<(), DeletionError> {
    let mut after = 0;
    loop {
        let page = state
            .store
            .messages_to_erase(user.0, after, ERASE_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.id;
        let mut by_room: BTreeMap<(i64, &str), Vec<i64>> = BTreeMap::new();
        for message in &page {
            by_room
                .entry((message.room_id, message.room.as_str()))
                .or_default()
                .push(message.seq);
        }
        for (room, seqs) in by_room {
            match state.chat.delete_many(user, room, &seqs).await {
                // A refusal is a message deleted (or pruned) meanwhile.
                Ok(_) | Err(ChatError::Store(StoreError::RoomNotFound)) => {}
                Err(e) => return Err(DeletionError::Chat(e)),
            }
        }
    }
}
