//! Reports of messages and a room's audit log (README, "Administration"):
//! any user who can see a message may report it; the room's owner and
//! moderators read the room's reports and audit entries and resolve its
//! reports (administrators do the same for every room in `admin.rs`).

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::admin::{AuditList, REPORTS_LIMIT};
use super::responses::{InternalError, JsonBodyRefused, Unauthorized};
use super::rooms::find_visible;
use crate::access::VisibleRoom;
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::error::{ApiError, Body as ErrorBody};
use crate::reports::ResolveError;
use crate::state::AppState;
use crate::store::{EventKind, Refusal, Report, ReportAction};
use crate::views::{AuditEntryView, ReportView};

/// The longest reason, in characters.
const MAX_REASON_CHARS: usize = 500;
/// Audit entries per page: default and most.
const AUDIT_DEFAULT_LIMIT: i64 = 50;
const AUDIT_MAX_LIMIT: i64 = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// Why the message should go: 1–500 characters.
    #[schema(min_length = 1, max_length = 500, example = "spam")]
    reason: String,
}

/// How a report is resolved.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `deleted` also deletes the message.
    #[schema(schema_with = resolution_action)]
    action: ResolutionAction,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ResolutionAction {
    Dismissed,
    Deleted,
}

fn resolution_action() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["dismissed", "deleted"]))
        .build()
}

impl Resolution {
    pub(super) fn action(&self) -> ReportAction {
        match self.action {
            ResolutionAction::Dismissed => ReportAction::Dismissed,
            ResolutionAction::Deleted => ReportAction::Deleted,
        }
    }
}

/// Reports, unresolved first, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct ReportList<'a> {
    reports: Vec<ReportView<'a>>,
}

pub(super) fn report_list(reports: &[Report]) -> HttpResponse {
    HttpResponse::Ok().json(ReportList {
        reports: reports.iter().map(ReportView::from).collect(),
    })
}

/// Resolves `report` and answers with it.
pub(super) async fn resolved(
    state: &AppState,
    user: &AuthUser,
    report: Report,
    action: ReportAction,
    administrator: bool,
) -> Result<HttpResponse, ApiError> {
    let chat = &state.chat;
    match crate::reports::resolve(&state.store, chat, user, report, action, administrator).await {
        Ok(report) => Ok(HttpResponse::Ok().json(ReportView::from(&report))),
        Err(ResolveError::Forbidden) => Err(ApiError::Forbidden),
        Err(ResolveError::NotFound) => Err(ApiError::NotFound),
        Err(ResolveError::Chat(e)) => Err(super::writing::chat_error(e)),
        Err(ResolveError::Store(e)) => Err(e.into()),
    }
}

/// A page of the audit log (of one room, or all) per the query string.
pub(super) async fn audit_page(
    state: &AppState,
    room_id: Option<i64>,
    params: &HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    let invalid = |m: &str| ApiError::bad_request("invalid_query", m);
    let before = params
        .get("before")
        .map(|v| crate::domain::parse_seq(v, 1).ok_or_else(|| invalid("invalid before")))
        .transpose()?;
    let limit = match params.get("limit") {
        None => AUDIT_DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=AUDIT_MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit must be an integer from 1 to 200"))?,
    };
    let entries = state.store.audit_log(room_id, before, limit).await?;
    Ok(HttpResponse::Ok().json(AuditList {
        entries: entries.iter().map(AuditEntryView::from).collect(),
    }))
}

/// The room, if the caller is its owner or one of its moderators.
async fn moderated_room(
    state: &AppState,
    name: &str,
    user: &AuthUser,
) -> Result<VisibleRoom, ApiError> {
    let found = find_visible(state, name, user).await?;
    if found.room.direct.is_some() || !found.role.is_some_and(Role::moderates) {
        return Err(ApiError::Forbidden);
    }
    Ok(found)
}

/// Report a message to the room's moderators and the administrators. One
/// report per user and message: reporting again answers 200 with the first.
#[utoipa::path(
    tag = "moderation",
    operation_id = "report_message",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The message's seq"),
    ),
    request_body = NewReport,
    responses(
        (status = 201, description = "Reported", body = ReportView),
        (status = 200, description = "Reported already: the first report", body = ReportView),
        (status = 400, description = "`invalid_reason`: empty or over 500 characters; \
            `invalid_request`: malformed JSON, an unknown field or a missing one", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `message_not_found`: no message with that seq", body = ErrorBody),
        (status = 409, description = "`message_deleted`: the message is deleted", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms/{name}/messages/{seq}/report")]
pub async fn report_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<NewReport>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let reason = body.into_inner().reason;
    let length = reason.trim().chars().count();
    if length == 0 || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "a reason is 1 to 500 characters",
        ));
    }
    let room = find_visible(&state, &name, &user).await?.room;
    let seq = crate::domain::parse_seq(&seq, 1).ok_or(Refusal::MessageNotFound)?;
    let event = state.store.event(room.id, seq).await?;
    let event = event
        .filter(|e| e.kind == EventKind::Message)
        .ok_or(Refusal::MessageNotFound)?;
    if event.deleted {
        return Err(Refusal::MessageDeleted.into());
    }
    let (report, created) = state.store.report(room.id, seq, user.id, &reason).await?;
    if created {
        tracing::info!(report = report.id, room = %room.name, seq, "message reported");
    }
    let mut answer = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(answer.json(ReportView::from(&report)))
}

/// The room's reports (its owner and moderators): unresolved first, newest
/// first (at most 200).
#[utoipa::path(
    tag = "moderation",
    operation_id = "room_reports",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The reports", body = ReportList),
        Unauthorized,
        (status = 403, description = "`forbidden`: not the room's owner or a moderator",
            body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/reports")]
pub async fn room_reports(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = moderated_room(&state, &path, &user).await?;
    let reports = state
        .store
        .reports(Some(found.room.id), REPORTS_LIMIT)
        .await?;
    Ok(report_list(&reports))
}

/// Resolve one of the room's reports (its owner and moderators): `deleted`
/// also deletes the message. A resolved report is answered as it is.
#[utoipa::path(
    tag = "moderation",
    operation_id = "resolve_room_report",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, minimum = 1, description = "The report"),
    ),
    request_body = Resolution,
    responses(
        (status = 200, description = "The resolved report", body = ReportView),
        (status = 400, description = "`invalid_request`: malformed JSON, an unknown field, a \
            missing one or an unknown action", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`forbidden`: not the room's owner or a moderator",
            body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `not_found`: no such report in this room", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms/{name}/reports/{id}/resolve")]
pub async fn resolve_room_report(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<Resolution>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let found = moderated_room(&state, &name, &user).await?;
    let id = crate::domain::parse_seq(&id, 1).ok_or(ApiError::NotFound)?;
    let report = state.store.report_by_id(id).await?;
    let report = report
        .filter(|r| r.room_id == found.room.id)
        .ok_or(ApiError::NotFound)?;
    resolved(&state, &user, report, body.action(), false).await
}

/// The room's audit entries (its owner and moderators), newest first.
#[utoipa::path(
    tag = "moderation",
    operation_id = "room_audit",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
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
        (status = 403, description = "`forbidden`: not the room's owner or a moderator",
            body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/audit")]
pub async fn room_audit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let found = moderated_room(&state, &path, &user).await?;
    audit_page(&state, Some(found.room.id), &params).await
}
