//! The JSON shapes of administration (README, "Administration"): a user as
//! administrators see them, a report, an audit entry.

use serde::Serialize;
use utoipa::ToSchema;

use super::{UserView, time};
use crate::store::{AuditEntry, Report, Timestamp};

/// A user as administrators see them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AdminUser)]
pub struct AdminUserView<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    /// The address the user last gave (verified or not); null if none.
    #[schema(example = "alice@example.com")]
    pub email: Option<&'a str>,
    /// An administrator deactivated the account.
    pub deactivated: bool,
}

/// A report of a message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Report)]
pub struct ReportView<'a> {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "general")]
    pub room: &'a str,
    /// The reported message's seq.
    #[schema(example = 7)]
    pub seq: i64,
    #[schema(example = "bob")]
    pub reporter: &'a str,
    #[schema(example = "spam")]
    pub reason: &'a str,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    pub created_at: Timestamp,
    pub resolved: bool,
    /// How it was resolved: `dismissed` or `deleted` (the message was
    /// deleted); null while unresolved.
    #[schema(example = json!(null))]
    pub action: Option<&'a str>,
    /// The reported message's sender; null once it left the log (retention).
    #[schema(example = "carol")]
    pub sender: Option<&'a str>,
    /// Its current text (`""` once deleted); null once it left the log.
    #[schema(example = "buy now")]
    pub body: Option<&'a str>,
}

impl<'a> From<&'a Report> for ReportView<'a> {
    fn from(r: &'a Report) -> Self {
        ReportView {
            id: r.id,
            room: &r.room,
            seq: r.seq,
            reporter: &r.reporter,
            reason: &r.reason,
            created_at: r.created_at,
            resolved: r.action.is_some(),
            action: r.action.as_deref(),
            sender: r.sender.as_deref(),
            body: r.body.as_deref(),
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryView<'a> {
    #[schema(example = 12)]
    pub id: i64,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    pub at: Timestamp,
    /// Who acted (null if the account is gone).
    #[schema(example = "alice")]
    pub actor: Option<&'a str>,
    /// `role_changed`, `member_removed`, `member_banned`, `member_unbanned`,
    /// `room_deleted`, `message_deleted`, `report_resolved`,
    /// `user_deactivated`, `user_reactivated` or `user_deleted`.
    #[schema(example = "member_banned")]
    pub action: &'a str,
    /// The room's name at the time; null for an action on an account.
    #[schema(example = "general")]
    pub room: Option<&'a str>,
    /// The user acted on, if any.
    #[schema(example = "mallory")]
    pub target: Option<&'a str>,
    /// More about it: the new role, the deleted message, the resolution.
    #[schema(example = json!(null))]
    pub detail: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for AuditEntryView<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        AuditEntryView {
            id: e.id,
            at: e.at,
            actor: e.actor.as_deref(),
            action: &e.action,
            room: e.room.as_deref(),
            target: e.target.as_deref(),
            detail: e.detail.as_deref(),
        }
    }
}
