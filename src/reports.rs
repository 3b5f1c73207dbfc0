//! Resolving a report (README, "Administration"), for the room's owner and
//! moderators and for administrators alike: `deleted` deletes the message
//! through the room log's one delete path (`chat` → committer →
//! `store/plan.rs`, which writes the deletion's own audit entry), then the
//! store marks the report resolved with its audit entry, in one
//! transaction. A deletion that finds the message gone already still
//! resolves the report, so a retry after a failure finishes the job.

use crate::auth::AuthUser;
use crate::chat::{Chat, ChatError};
use crate::store::{Appended, DynStore, Refusal, Report, ReportAction, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The resolver may not delete the message (no longer a moderator).
    #[error("not allowed to delete this message")]
    Forbidden,
    #[error("report not found")]
    NotFound,
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves `report` by `resolver` (an administrator when `administrator`,
/// else a moderator of its room, as the caller checked); the report as it
/// is after. A resolved report is answered as it is.
pub async fn resolve(
    store: &DynStore,
    chat: &Chat,
    resolver: &AuthUser,
    report: Report,
    action: ReportAction,
    administrator: bool,
) -> Result<Report, ResolveError> {
    if report.action.is_some() {
        return Ok(report);
    }
    if action == ReportAction::Deleted {
        let room = store
            .room_by_id(report.room_id)
            .await?
            .ok_or(ResolveError::NotFound)?;
        match chat
            .delete_reported(resolver, &room, report.seq, administrator)
            .await?
        {
            Appended::Stored(_)
            | Appended::Duplicate(_)
            | Appended::Refused(Refusal::MessageDeleted | Refusal::MessageNotFound) => {}
            Appended::Refused(_) => return Err(ResolveError::Forbidden),
        }
    }
    store
        .resolve_report(report.id, resolver.id, action)
        .await?
        .ok_or(ResolveError::NotFound)
}
