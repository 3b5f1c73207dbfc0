//! The administrators' routes (README, "Administration"): accounts
//! (search, deactivate, reactivate), every room's reports and the audit
//! log. Only the users named by `ADMIN_USERS`; everyone else gets 403
//! `forbidden` on every route under `/api/v1/admin/`.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::reports::{Resolution, audit_page, report_list, resolved};
use super::responses::{
    InternalError, InvalidRequest, JsonBodyRefused, NoSuchAccount, NotAdministrator, Unauthorized,
};
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::state::AppState;
use crate::store::UserQuery;
use crate::views::{AdminUserView, AuditEntryView, ReportView};

/// Users per page of `GET /admin/users`.
const USERS_PER_PAGE: i64 = 50;
/// Reports per answer (the newest unresolved ones first).
pub(super) const REPORTS_LIMIT: i64 = 200;
/// The longest search text.
const MAX_QUERY_CHARS: usize = 64;

/// 403 unless the caller is an administrator.
fn require_admin(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    if state.config.admins.contains(&user.username) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// A page of users, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminUserPage)]
struct UserPage<'a> {
    users: Vec<AdminUserView<'a>>,
    /// Older users match too: ask again with `before` the last id.
    has_more: bool,
}

/// List and search accounts (administrators only), newest first, 50 a page.
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_users",
    security(("bearer" = [])),
    params(
        ("q" = Option<String>, Query, max_length = 64,
            description = "Part of the username, any letter case"),
        ("before" = Option<i64>, Query, minimum = 1,
            description = "Only users with a smaller id (the last id of the previous page)"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "`invalid_query`: `before` not a positive integer, `q` \
            over 64 characters, or a malformed query string", body = ErrorBody),
        Unauthorized,
        NotAdministrator,
        InternalError,
    ),
)]
#[get("/admin/users")]
pub async fn users(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user)?;
    let before = params
        .get("before")
        .map(|v| crate::domain::parse_seq(v, 1).ok_or_else(|| invalid("invalid before")))
        .transpose()?;
    let q = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(invalid("q is over 64 characters"));
    }
    let query = UserQuery {
        q: q.map(str::to_owned),
        before,
        limit: USERS_PER_PAGE,
    };
    let mut found = state.store.admin_users(&query).await?;
    let has_more = found.len() as i64 > USERS_PER_PAGE;
    found.truncate(USERS_PER_PAGE as usize);
    Ok(HttpResponse::Ok().json(UserPage {
        users: found
            .iter()
            .map(|u| state.user_views.admin_user(u))
            .collect(),
        has_more,
    }))
}

/// Deactivate an account (administrators only): every login of it ends at
/// once on every instance (refresh tokens revoked, access tokens refused,
/// live connections closed), and it can no longer log in or refresh (403
/// `account_deactivated`); the bots it owns are refused and their live
/// connections end too. Idempotent.
#[utoipa::path(
    tag = "admin",
    operation_id = "deactivate_user",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The account")),
    responses(
        (status = 204, description = "Deactivated"),
        Unauthorized,
        NotAdministrator,
        NoSuchAccount,
        InternalError,
    ),
)]
#[post("/admin/users/{username}/deactivate")]
pub async fn deactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_deactivated(&state, &user, &path, true).await
}

/// Reactivate an account (administrators only): it logs in again, and its
/// bots' tokens work again. Idempotent.
#[utoipa::path(
    tag = "admin",
    operation_id = "reactivate_user",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The account")),
    responses(
        (status = 204, description = "Reactivated"),
        Unauthorized,
        NotAdministrator,
        NoSuchAccount,
        InternalError,
    ),
)]
#[post("/admin/users/{username}/reactivate")]
pub async fn reactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_deactivated(&state, &user, &path, false).await
}

/// Delete an account (administrators only), as the user's own deletion
/// (`DELETE /api/v1/me`): logins and live connections end, what they wrote
/// is erased, their rooms are handed on, the username stays reserved, the
/// bots they own are refused. The audit entry is written with the closing,
/// in one transaction. An administrator may delete another one, or
/// themself.
#[utoipa::path(
    tag = "admin",
    operation_id = "delete_user",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The account")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        NotAdministrator,
        NoSuchAccount,
        InternalError,
    ),
)]
#[delete("/admin/users/{username}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user)?;
    let target = state.store.user_by_name(&path).await?;
    let target = target.ok_or(ApiError::UserNotFound)?;
    let deleted = crate::accounts::delete_account_as_admin(&state, target.id, user.id)
        .await
        .map_err(ApiError::internal)?;
    if !deleted {
        return Err(ApiError::UserNotFound);
    }
    tracing::info!(admin = %user.username, user_id = target.id, "account deleted by an administrator");
    Ok(HttpResponse::NoContent().finish())
}

async fn set_deactivated(
    state: &AppState,
    admin: &AuthUser,
    username: &str,
    deactivated: bool,
) -> Result<HttpResponse, ApiError> {
    require_admin(state, admin)?;
    let target = state.store.user_by_name(username).await?;
    let target = target.ok_or(ApiError::UserNotFound)?;
    let changed = state
        .store
        .set_deactivated(admin.id, target.id, deactivated)
        .await?;
    if deactivated {
        crate::accounts::end_sessions(state, &target).await?;
    }
    if changed {
        tracing::info!(
            admin = %admin.username,
            user_id = target.id,
            deactivated,
            "account deactivation changed"
        );
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Every room's reports (administrators only): unresolved first, newest
/// first (at most 200).
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_reports",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reports", body = super::reports::ReportList),
        Unauthorized,
        NotAdministrator,
        InternalError,
    ),
)]
#[get("/admin/reports")]
pub async fn reports(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user)?;
    let reports = state.store.reports(None, REPORTS_LIMIT).await?;
    Ok(report_list(&reports))
}

/// Resolve any room's report (administrators only): `deleted` also deletes
/// the message. A resolved report is answered as it is.
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_resolve_report",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The report")),
    request_body = Resolution,
    responses(
        (status = 200, description = "The resolved report", body = ReportView),
        InvalidRequest,
        Unauthorized,
        NotAdministrator,
        (status = 404, description = "`not_found`: no such report", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/admin/reports/{id}/resolve")]
pub async fn resolve_report(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<Resolution>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user)?;
    let id = crate::domain::parse_seq(&path, 1).ok_or(ApiError::NotFound)?;
    let report = state.store.report_by_id(id).await?;
    let report = report.ok_or(ApiError::NotFound)?;
    resolved(&state, &user, report, body.action(), true).await
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub(super) struct AuditList<'a> {
    pub entries: Vec<AuditEntryView<'a>>,
}

/// The whole audit log (administrators only), newest first.
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_audit",
    security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, minimum = 1,
            description = "Only entries with a smaller id (the last id of the previous page)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, example = 50,
            description = "Page size, 1–200; default 50."),
    ),
    responses(
        (status = 200, description = "The entries", body = AuditList),
        (status = 400, description = "`invalid_query`: `before` or `limit` out of range or \
            not an integer, or a malformed query string", body = ErrorBody),
        Unauthorized,
        NotAdministrator,
        InternalError,
    ),
)]
#[get("/admin/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user)?;
    audit_page(&state, None, &params).await
}
