//! The audit log (README, "Administration"): one entry per moderation or
//! administration action, written by the store **in the transaction of the
//! action itself** (`membership.rs`'s `moderate`, `batch.rs` for a message
//! deleted by someone other than its sender, `administration.rs` for report
//! resolutions and administrator actions), so an action without its entry
//! or an entry without its action cannot be committed. The table refuses
//! updates and deletes (a trigger of the migration): append-only.

use super::Timestamp;
use super::moderation::{Effect, MembershipRequest};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    RoleChanged,
    MemberRemoved,
    MemberBanned,
    MemberUnbanned,
    RoomDeleted,
    /// A message deleted by someone other than its sender.
    MessageDeleted,
    ReportResolved,
    UserDeactivated,
    UserReactivated,
    /// An administrator deleted the account.
    UserDeleted,
}

impl AuditAction {
    /// The name clients see (`action`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RoleChanged => "role_changed",
            AuditAction::MemberRemoved => "member_removed",
            AuditAction::MemberBanned => "member_banned",
            AuditAction::MemberUnbanned => "member_unbanned",
            AuditAction::RoomDeleted => "room_deleted",
            AuditAction::MessageDeleted => "message_deleted",
            AuditAction::ReportResolved => "report_resolved",
            AuditAction::UserDeactivated => "user_deactivated",
            AuditAction::UserReactivated => "user_reactivated",
            AuditAction::UserDeleted => "user_deleted",
        }
    }
}

/// An entry as read back: users and room by name (`None` when there is
/// none, or the user is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: Option<String>,
    pub action: String,
    /// The room's name when the entry was written (kept after deletion).
    pub room: Option<String>,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// An entry to write. The room's name is read by the insert itself, before
/// the action's statements (a room deletion) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub actor_id: i64,
    pub action: AuditAction,
    pub room_id: Option<i64>,
    pub target_id: Option<i64>,
    pub detail: Option<String>,
}

impl NewAuditEntry {
    /// The entry a membership change needs, if any: joins, adds, leaves
    /// and changes to nothing are not moderation.
    pub fn of_membership(
        request: MembershipRequest,
        effect: Effect,
        room_id: i64,
        actor_id: i64,
        target_id: i64,
    ) -> Option<Self> {
        let (action, detail) = match (request, effect) {
            (_, Effect::Nothing | Effect::Join) => return None,
            (MembershipRequest::Remove, Effect::Drop) => (AuditAction::MemberRemoved, None),
            (_, Effect::Drop) => return None,
            (_, Effect::Ban { .. }) => (AuditAction::MemberBanned, None),
            (_, Effect::Unban) => (AuditAction::MemberUnbanned, None),
            (_, Effect::SetRole(role)) => (AuditAction::RoleChanged, Some(role.as_str().into())),
            (_, Effect::DeleteRoom) => (AuditAction::RoomDeleted, None),
        };
        let room_wide = action == AuditAction::RoomDeleted;
        Some(NewAuditEntry {
            actor_id,
            action,
            room_id: Some(room_id),
            target_id: (!room_wide).then_some(target_id),
            detail,
        })
    }

    /// `deleter_id` deleted the message at `seq`, sent by `sender_id`.
    pub fn message_deleted(deleter_id: i64, room_id: i64, sender_id: i64, seq: i64) -> Self {
        NewAuditEntry {
            actor_id: deleter_id,
            action: AuditAction::MessageDeleted,
            room_id: Some(room_id),
            target_id: Some(sender_id),
            detail: Some(format!("message {seq}")),
        }
    }
}

/// Runs a backend's insert of `$entry` (binds: actor_id, action, room_id,
/// target_id, detail) on `$conn`.
macro_rules! record_audit {
    ($conn:expr, $sql:expr, $entry:expr) => {{
        let entry: &$crate::store::audit::NewAuditEntry = $entry;
        sqlx::query($sql)
            .bind(entry.actor_id)
            .bind(entry.action.as_str())
            .bind(entry.room_id)
            .bind(entry.target_id)
            .bind(entry.detail.as_deref())
            .execute($conn)
            .await
    }};
}
pub(super) use record_audit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn moderation_is_audited_and_joining_or_leaving_is_not() {
        let entry = |request, effect| NewAuditEntry::of_membership(request, effect, 1, 2, 3);
        assert_eq!(entry(MembershipRequest::Join, Effect::Join), None);
        assert_eq!(entry(MembershipRequest::Leave, Effect::Drop), None);
        assert_eq!(entry(MembershipRequest::Ban, Effect::Nothing), None);
        let removed = entry(MembershipRequest::Remove, Effect::Drop).unwrap();
        assert_eq!(removed.action, AuditAction::MemberRemoved);
        assert_eq!(removed.target_id, Some(3));
        let role = entry(
            MembershipRequest::SetRole(Role::Moderator),
            Effect::SetRole(Role::Moderator),
        )
        .unwrap();
        assert_eq!(role.detail.as_deref(), Some("moderator"));
        let deleted = entry(MembershipRequest::Delete, Effect::DeleteRoom).unwrap();
        assert_eq!(deleted.action, AuditAction::RoomDeleted);
        assert_eq!(deleted.target_id, None);
    }
}
