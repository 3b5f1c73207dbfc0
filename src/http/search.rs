//! Search and mentions (README, "Search and mentions"):
//! `GET /api/v1/search` and `GET /api/v1/me/mentions`. What matches, and
//! how each store indexes it, is the store's (`store::search`); this module
//! validates the query and decides the scope (`access`).

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::rooms::find_visible;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, Unauthorized};
use crate::state::AppState;
use crate::store::{Found, SearchQuery, SearchTerms};
use crate::views::EventView;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 50;
/// Bounds of `q`, in characters, after trimming.
pub const MIN_QUERY_CHARS: usize = 2;
pub const MAX_QUERY_CHARS: usize = 100;

/// A page of search results or mentions.
#[derive(Serialize, ToSchema)]
#[schema(as = SearchResults)]
struct Results<'a> {
    /// `message` events in their current state, newest first (by `id`).
    #[schema(value_type = Vec<crate::views::MessageView>)]
    results: Vec<EventView<'a>>,
    /// More results may exist, older than the page: ask again with `before`
    /// = `next_before`.
    has_more: bool,
    /// With `has_more`, the `before` of the next page: the `id` of the last
    /// result, or, when a search stopped after reading `SEARCH_SCAN_LIMIT`
    /// messages (terms under 3 characters, which no index serves), the oldest message it
    /// read, so such a page can hold fewer than `limit` results, even none.
    /// `null` without `has_more`.
    next_before: Option<i64>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// `limit` (1–50, default 20) and `before` (a message id).
fn page_params(params: &HashMap<String, String>) -> Result<(Option<i64>, i64), ApiError> {
    let before = params
        .get("before")
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid("before must be a non-negative integer"))
        })
        .transpose()?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit must be an integer from 1 to 50"))?,
    };
    Ok((before, limit))
}

/// `q`: 2–100 characters after trimming.
fn terms_param(params: &HashMap<String, String>) -> Result<SearchTerms, ApiError> {
    let q = params.get("q").map(|q| q.trim()).unwrap_or_default();
    let chars = q.chars().count();
    if !(MIN_QUERY_CHARS..=MAX_QUERY_CHARS).contains(&chars) {
        return Err(invalid("q must be 2 to 100 characters"));
    }
    Ok(SearchTerms::parse(q))
}

fn results_response(found: &Found) -> HttpResponse {
    HttpResponse::Ok().json(Results {
        results: found.events.iter().map(EventView::from).collect(),
        has_more: found.has_more,
        next_before: found.next_before,
    })
}

/// Search messages: every whitespace-separated term of `q` is a
/// case-insensitive substring of the message's current text, in any script
/// (no word segmentation: `안녕` finds `안녕하세요`).
///
/// Searched: the rooms the caller is a member of, or only `room` (any room
/// the caller may see). Deleted messages never match; edited ones match on
/// their current text only; messages from users the caller blocks never
/// appear. Newest first (by `id`); page back with `before` = `next_before`.
/// One request reads at most `SEARCH_SCAN_LIMIT` (10,000) messages when
/// terms under 3 characters filter them: its page can then hold fewer than
/// `limit` results (even none) with `has_more` true; go on from
/// `next_before`.
#[utoipa::path(
    tag = "messages",
    operation_id = "search_messages",
    security(("bearer" = [])),
    params(
        // `pattern`: 2–100 characters once Unicode White_Space (what
        // `str::trim` removes) is trimmed from both ends.
        ("q" = String, Query, min_length = 2, example = "안녕",
            pattern = r"^[\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{0,98}[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
            description = "The terms, separated by whitespace; 2–100 characters after \
                trimming."),
        ("room" = Option<String>, Query,
            description = "Search only this room (any the caller may see)."),
        ("before" = Option<i64>, Query, minimum = 0,
            description = "Page back: only messages with a smaller `id`."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 50, example = 20,
            description = "Page size, 1–50; default 20."),
    ),
    responses(
        (status = 200, description = "The matching messages, newest first", body = Results),
        (status = 400, description = "`invalid_query`: `q` missing, shorter than 2 or longer \
            than 100 characters after trimming; a non-integer or out-of-range `limit` or \
            `before`; or a malformed query string", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`room_not_found`: `room` names no room, a private room \
            the caller is not a member of, or a room the caller is banned from",
            body = ErrorBody),
        InternalError,
    ),
)]
#[get("/search")]
pub async fn search(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    // Validate first: the answer to a bad query must not depend on the room.
    let terms = terms_param(&params)?;
    let (before, limit) = page_params(&params)?;
    let room_id = match params.get("room") {
        Some(name) => Some(find_visible(&state, name, &user).await?.room.id),
        None => None,
    };
    let query = SearchQuery {
        terms,
        room_id,
        before,
        limit,
        scan_limit: state.config.limits.search_scan_limit,
    };
    let found = state.store.search(user.id, &query).await?;
    Ok(results_response(&found))
}

/// Messages that mention the caller (`@name`, as they read now: an edit can
/// add or remove a mention), in rooms the caller is a member of, newest
/// first (by `id`). Deleted messages and messages from users the caller
/// blocks never appear.
#[utoipa::path(
    tag = "messages",
    operation_id = "my_mentions",
    security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, minimum = 0,
            description = "Page back: only messages with a smaller `id`."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 50, example = 20,
            description = "Page size, 1–50; default 20."),
    ),
    responses(
        (status = 200, description = "The messages, newest first", body = Results),
        (status = 400, description = "`invalid_query`: a non-integer or out-of-range `limit` \
            or `before`, or a malformed query string", body = ErrorBody),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/mentions")]
pub async fn mentions(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let (before, limit) = page_params(&params)?;
    let found = state.store.mentions_of(user.id, before, limit).await?;
    Ok(results_response(&found))
}
