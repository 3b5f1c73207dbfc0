//! Room history: `GET /api/v1/rooms/{name}/messages?before|after&limit`.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::rooms::find_visible;
use crate::auth::AuthUser;
use crate::broker::RoomFeed;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::{HistoryPage, HistoryQuery};
use crate::viewers::Viewer;
use crate::views::EventView;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A page of history.
#[derive(Serialize, ToSchema)]
#[schema(as = MessagePage)]
struct Page<'a> {
    /// Every event of the page, in ascending `seq` order; `message` events
    /// in their current state.
    messages: Vec<EventView<'a>>,
    /// More events exist beyond the page in the paging direction: older
    /// ones for `before` and for neither, newer ones for `after`. False at
    /// the retention horizon: older events are pruned, not merely unread.
    has_more: bool,
    /// The room's retention horizon: every event with seq <= it is pruned
    /// and can no longer be had (0: nothing was pruned). See the README,
    /// "Retention".
    #[schema(example = 0, minimum = 0)]
    horizon_seq: i64,
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn seq_param(params: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(key)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid(&format!("{key} must be a non-negative integer")))
        })
        .transpose()
}

/// Parses and checks the history query string.
pub fn parse_query(params: &HashMap<String, String>) -> Result<HistoryQuery, ApiError> {
    let before = seq_param(params, "before")?;
    let after = seq_param(params, "after")?;
    if before.is_some() && after.is_some() {
        return Err(invalid("before and after cannot be used together"));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit must be an integer from 1 to 200"))?,
    };
    Ok(HistoryQuery {
        before,
        after,
        limit,
    })
}

/// Longest a long poll may be held (`wait`, seconds).
pub const MAX_WAIT_SECS: u64 = 30;

/// `wait=SECS` (long polling): needs `after`, 1..=30.
pub fn parse_wait(
    params: &HashMap<String, String>,
    query: &HistoryQuery,
) -> Result<Option<Duration>, ApiError> {
    let Some(v) = params.get("wait") else {
        return Ok(None);
    };
    let secs = v
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_WAIT_SECS).contains(n))
        .ok_or_else(|| invalid("wait must be an integer from 1 to 30"))?;
    if query.after.is_none() {
        return Err(invalid("wait needs after"));
    }
    Ok(Some(Duration::from_secs(secs)))
}

/// The page as `viewer` sees it (events of senders they block hidden).
fn page_response(page: &HistoryPage, viewer: &Viewer) -> HttpResponse {
    HttpResponse::Ok().json(Page {
        messages: page
            .events
            .iter()
            .map(|e| EventView::seen(e, viewer.blocks(&e.sender)))
            .collect(),
        has_more: page.has_more,
        horizon_seq: page.horizon_seq,
    })
}

/// Room history; also plain and long polling.
///
/// With `before`, the `limit` messages just before that seq; with `after`,
/// the `limit` just after it (the reconnect gap-fill); with neither, the
/// latest `limit`. Reading a public room needs no membership. Every page
/// carries the room's retention horizon `horizon_seq`: the events up to it
/// are pruned, and paging back stops there (`has_more: false`).
///
/// Long polling: with `after` and `wait`, when nothing newer than `after` is
/// stored the request is held up to `wait` seconds and answered as soon as a
/// message is committed, on any instance; at the deadline (or at shutdown)
/// it answers `{"messages": [], "has_more": false, "horizon_seq": H}`. A long poll counts
/// against `MAX_CONNECTIONS_PER_USER` (429 `too_many_connections`).
#[utoipa::path(
    tag = "messages",
    operation_id = "get_messages",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("before" = Option<i64>, Query, minimum = 0,
            description = "Page back: the messages just before this seq. Not with `after`."),
        ("after" = Option<i64>, Query, minimum = 0,
            description = "Page forward: the messages just after this seq. Not with `before`."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, example = 50,
            description = "Page size, 1–200; default 50."),
        ("wait" = Option<u64>, Query, minimum = 1, maximum = 30,
            description = "Long poll: hold the request up to this many seconds (1–30) while \
                nothing newer than `after` is stored. Needs `after`."),
    ),
    responses(
        (status = 200, description = "The page, with the room's retention horizon \
            `horizon_seq`", body = Page),
        (status = 400, description = "`invalid_query`: a non-integer or out-of-range \
            `before`, `after`, `limit` or `wait`, `before` with `after`, `wait` without \
            `after`, or a malformed query string", body = ErrorBody),
        Unauthorized,
        RoomNotFound,
        (status = 429, description = "`too_many_connections`: a long poll (`wait`) while the \
            user already has `MAX_CONNECTIONS_PER_USER` WebSockets, event streams and held \
            long polls open on this instance", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    // Validate first: the answer to a bad query must not depend on the room.
    let query = parse_query(&params)?;
    let wait = parse_wait(&params, &query)?;
    let broker = state.chat.broker();
    let mark = state.revocations.mark();
    let room = find_visible(&state, &name, &user).await?.room;
    let room_id = room.id;
    let viewer = state.viewers.of(user.id).await?;
    let Some(wait) = wait else {
        let page = state.store.history(room_id, query).await?;
        return Ok(page_response(&page, &viewer));
    };
    // Long poll: listen first, then look, so a commit in between is not missed.
    let mut feed = RoomFeed::open(broker, &room, viewer.clone(), 16).await;
    if state.revocations.revoked_since(room_id, user.id, mark) {
        return Err(ApiError::RoomNotFound); // lost access while registering
    }
    let page = state.store.history(room_id, query).await?;
    if !page.events.is_empty() {
        return Ok(page_response(&page, &viewer));
    }
    // Held from here on, the long poll counts as one of the user's connections.
    let _slot = state
        .connections
        .try_open(user.id)
        .ok_or(ApiError::TooManyConnections)?;
    let mut shutdown = state.shutdown_signal();
    let mut login = state.logins.watch(user.login);
    tokio::select! {
        // Signed out meanwhile: the token is no longer good.
        _ = login.ended() => Err(ApiError::Unauthorized),
        delivery = feed.queue.recv() => {
            // The caller lost access to the room while waiting.
            if delivery.is_some_and(|d| d.message.revokes) {
                return Err(ApiError::RoomNotFound);
            }
            let page = state.store.history(room_id, query).await?;
            Ok(page_response(&page, &viewer))
        }
        _ = feed.overflow.notified() => {
            let page = state.store.history(room_id, query).await?;
            Ok(page_response(&page, &viewer))
        }
        _ = tokio::time::sleep(wait) => Ok(page_response(&page, &viewer)),
        _ = shutdown.wait_for(|s| *s) => Ok(page_response(&page, &viewer)),
    }
}
