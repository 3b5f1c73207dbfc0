//! Accounts as administrators see them, deactivation, reports of messages
//! and reading the audit log (README, "Administration"): [`AdminStore`],
//! written once for both backends like `membership.rs`
//! ([`AdminQueries`] names each statement, [`impl_administration!`]
//! implements the trait from a backend's SQL). Every change here writes
//! its audit entry in its own transaction (`audit.rs`).

use async_trait::async_trait;

use super::audit::AuditEntry;
use super::{StoreResult, Timestamp, User};

/// How a report was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAction {
    Dismissed,
    /// The message was deleted (through the room log, `plan.rs`).
    Deleted,
}

impl ReportAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportAction::Dismissed => "dismissed",
            ReportAction::Deleted => "deleted",
        }
    }
}

/// A user as an administrator sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub user: User,
    /// The address last given (`PUT /me/email`), verified or not.
    pub email: Option<String>,
    pub deactivated: bool,
}

/// A report of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: i64,
    pub room_id: i64,
    pub room: String,
    pub seq: i64,
    pub reporter: String,
    pub reason: String,
    pub created_at: Timestamp,
    /// `dismissed` or `deleted` once resolved.
    pub action: Option<String>,
    /// The reported message's sender and current text (`""` once deleted);
    /// None when it is no longer in the log.
    pub sender: Option<String>,
    pub body: Option<String>,
}

/// Which page of users an administrator reads: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Part of the username, any letter case.
    pub q: Option<String>,
    /// Only users with a smaller id.
    pub before: Option<i64>,
    pub limit: i64,
}

#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Whether the account is deactivated (false for an unknown id).
    async fn is_deactivated(&self, user_id: i64) -> StoreResult<bool>;
    /// Whether the refresh token with this hash belongs to a deactivated
    /// account (whatever the token's own state).
    async fn refresh_owner_deactivated(&self, token_hash: &[u8]) -> StoreResult<bool>;
    /// Deactivates (or reactivates) `target_id`, recording `actor_id`'s
    /// action in the audit log in the same transaction. False when it was
    /// so already (nothing is written).
    async fn set_deactivated(
        &self,
        actor_id: i64,
        target_id: i64,
        deactivated: bool,
    ) -> StoreResult<bool>;
    /// Up to `limit + 1` accounts not deleted (the extra one tells whether
    /// there is more).
    async fn admin_users(&self, query: &UserQuery) -> StoreResult<Vec<AdminUser>>;
    /// Stores the report unless `reporter_id` reported that message already:
    /// (the report, newly created).
    async fn report(
        &self,
        room_id: i64,
        seq: i64,
        reporter_id: i64,
        reason: &str,
    ) -> StoreResult<(Report, bool)>;
    async fn report_by_id(&self, id: i64) -> StoreResult<Option<Report>>;
    /// Up to `limit` reports of the room (every room with None): unresolved
    /// first, newest first.
    async fn reports(&self, room_id: Option<i64>, limit: i64) -> StoreResult<Vec<Report>>;
    /// Marks the report resolved with `action` and records `actor_id`'s
    /// resolution in the audit log, in one transaction. The report as it
    /// is after (unchanged if it was resolved already); None if unknown.
    async fn resolve_report(
        &self,
        id: i64,
        actor_id: i64,
        action: ReportAction,
    ) -> StoreResult<Option<Report>>;
    /// Up to `limit` entries with an id below `before`, newest first, of
    /// one room or (None) of all.
    async fn audit_log(
        &self,
        room_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>>;
}

/// One backend's SQL for [`AdminStore`]. Binds in order; "→ X" is the row
/// each result row decodes into (`rows.rs`).
pub(super) struct AdminQueries {
    /// (user_id) → (bool).
    pub is_deactivated: &'static str,
    /// (token_hash) → (bool).
    pub refresh_owner_deactivated: &'static str,
    /// (user_id): deactivates unless deactivated; affects one row if it did.
    pub deactivate: &'static str,
    /// (user_id): reactivates if deactivated.
    pub reactivate: &'static str,
    /// (lowercased pattern for LIKE or NULL, before id or NULL, limit) →
    /// `AdminUserRow`s, by id descending.
    pub admin_users: &'static str,
    /// (room_id, seq, reporter_id, reason), unless reported already →
    /// (id).
    pub insert_report: &'static str,
    /// (room_id, seq, reporter_id) → (id).
    pub report_id: &'static str,
    /// (id) → `ReportRow`.
    pub report_by_id: &'static str,
    /// (room_id or NULL, limit) → `ReportRow`s, unresolved first, newest
    /// first.
    pub reports: &'static str,
    /// (id, actor_id, action): resolves unless resolved → (room_id).
    pub resolve_report: &'static str,
    /// (actor_id, action, room_id, target_id, detail): one audit entry.
    pub record_audit: &'static str,
    /// (room_id or NULL, before id, limit) → `AuditRow`s, newest first.
    pub audit_log: &'static str,
}

/// Implements [`AdminStore`] for `$store` from `$sql` (an
/// [`AdminQueries`]), timestamps stored as `$time`.
macro_rules! impl_administration {
    (store: $store:ident, db: $db:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod administration_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql as SQL, $store};
            use $crate::store::administration::{
                AdminStore, AdminUser, Report, ReportAction, UserQuery,
            };
            use $crate::store::audit::{AuditAction, AuditEntry, NewAuditEntry, record_audit};
            use $crate::store::rows::{AdminUserRow, AuditRow, ReportRow};
            use $crate::store::{Backend, StoreResult};

            async fn report_by_id<'c, E>(conn: E, id: i64) -> StoreResult<Option<Report>>
            where
                E: sqlx::Executor<'c, Database = sqlx::$db>,
            {
                let row: Option<ReportRow<Stored>> = sqlx::query_as(SQL.report_by_id)
                    .bind(id)
                    .fetch_optional(conn)
                    .await?;
                Ok(row.map(Into::into))
            }

            #[async_trait]
            impl AdminStore for $store {
                async fn is_deactivated(&self, user_id: i64) -> StoreResult<bool> {
                    let (found,): (bool,) = sqlx::query_as(SQL.is_deactivated)
                        .bind(user_id)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(found)
                }

                async fn refresh_owner_deactivated(&self, token_hash: &[u8]) -> StoreResult<bool> {
                    let (found,): (bool,) = sqlx::query_as(SQL.refresh_owner_deactivated)
                        .bind(token_hash)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(found)
                }

                async fn set_deactivated(
                    &self,
                    actor_id: i64,
                    target_id: i64,
                    deactivated: bool,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let (sql, action) = if deactivated {
                        (SQL.deactivate, AuditAction::UserDeactivated)
                    } else {
                        (SQL.reactivate, AuditAction::UserReactivated)
                    };
                    let changed = sqlx::query(sql)
                        .bind(target_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                    if changed {
                        let entry = NewAuditEntry {
                            actor_id,
                            action,
                            room_id: None,
                            target_id: Some(target_id),
                            detail: None,
                        };
                        record_audit!(&mut *tx, SQL.record_audit, &entry)?;
                    }
                    tx.commit().await?;
                    Ok(changed)
                }

                async fn admin_users(&self, query: &UserQuery) -> StoreResult<Vec<AdminUser>> {
                    let pattern = query.q.as_deref().map(|q| {
                        let escaped = q
                            .to_lowercase()
                            .replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_");
                        format!("%{escaped}%")
                    });
                    let rows: Vec<AdminUserRow<Stored>> = sqlx::query_as(SQL.admin_users)
                        .bind(pattern)
                        .bind(query.before)
                        .bind(query.limit + 1)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn report(
                    &self,
                    room_id: i64,
                    seq: i64,
                    reporter_id: i64,
                    reason: &str,
                ) -> StoreResult<(Report, bool)> {
                    let mut tx = self.begin_write().await?;
                    let created: Option<(i64,)> = sqlx::query_as(SQL.insert_report)
                        .bind(room_id)
                        .bind(seq)
                        .bind(reporter_id)
                        .bind(reason)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let id = match created {
                        Some((id,)) => id,
                        None => {
                            let (id,): (i64,) = sqlx::query_as(SQL.report_id)
                                .bind(room_id)
                                .bind(seq)
                                .bind(reporter_id)
                                .fetch_one(&mut *tx)
                                .await?;
                            id
                        }
                    };
                    let report = report_by_id(&mut *tx, id).await?;
                    tx.commit().await?;
                    let report = report.ok_or($crate::store::StoreError::RoomNotFound)?;
                    Ok((report, created.is_some()))
                }

                async fn report_by_id(&self, id: i64) -> StoreResult<Option<Report>> {
                    report_by_id(&self.pool, id).await
                }

                async fn reports(
                    &self,
                    room_id: Option<i64>,
                    limit: i64,
                ) -> StoreResult<Vec<Report>> {
                    let rows: Vec<ReportRow<Stored>> = sqlx::query_as(SQL.reports)
                        .bind(room_id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn resolve_report(
                    &self,
                    id: i64,
                    actor_id: i64,
                    action: ReportAction,
                ) -> StoreResult<Option<Report>> {
                    let mut tx = self.begin_write().await?;
                    let resolved: Option<(i64,)> = sqlx::query_as(SQL.resolve_report)
                        .bind(id)
                        .bind(actor_id)
                        .bind(action.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some((room_id,)) = resolved {
                        let entry = NewAuditEntry {
                            actor_id,
                            action: AuditAction::ReportResolved,
                            room_id: Some(room_id),
                            target_id: None,
                            detail: Some(format!("report {id}: {}", action.as_str())),
                        };
                        record_audit!(&mut *tx, SQL.record_audit, &entry)?;
                    }
                    let report = report_by_id(&mut *tx, id).await?;
                    tx.commit().await?;
                    Ok(report)
                }

                async fn audit_log(
                    &self,
                    room_id: Option<i64>,
                    before: Option<i64>,
                    limit: i64,
                ) -> StoreResult<Vec<AuditEntry>> {
                    let rows: Vec<AuditRow<Stored>> = sqlx::query_as(SQL.audit_log)
                        .bind(room_id)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }
            }
        }
    };
}
pub(super) use impl_administration;
