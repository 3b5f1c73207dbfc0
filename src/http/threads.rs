//! Threads and following them (README, "Threads"): a room's threads, one
//! thread, following and unfollowing, the caller's followed threads with
//! their unread counts, and the thread read marker. Which thread a reply
//! joins is decided when it is stored (`store/plan/threads.rs`); these
//! routes read, and change follows. Room access as for history: a private
//! room is invisible to non-members; following and read markers are for
//! members.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rooms::find_visible;
use crate::access::VisibleRoom;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::Event;
use crate::viewers::Viewer;
use crate::views::{EventView, MessageView};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A page of a room's threads.
#[derive(Serialize, ToSchema)]
#[schema(as = ThreadList)]
struct ThreadList<'a> {
    /// The roots (each with its `thread_summary`), by latest reply, newest
    /// first.
    #[schema(value_type = Vec<MessageView>)]
    threads: Vec<EventView<'a>>,
    /// Older threads exist: ask again with `before` = the last root's
    /// `thread_summary.last_reply_seq`.
    has_more: bool,
}

/// One thread.
#[derive(Serialize, ToSchema)]
#[schema(as = Thread)]
struct ThreadPage<'a> {
    /// The root, with its `thread_summary` (a `hidden` placeholder when the
    /// caller blocks its sender).
    root: EventView<'a>,
    /// Replies in seq order (deleted ones as tombstones, blocked senders'
    /// as `hidden`), those after `after`, at most `limit`.
    replies: Vec<EventView<'a>>,
    /// More replies follow the page: ask again with `after` = the last
    /// reply's seq.
    has_more: bool,
    /// The caller follows the thread.
    following: bool,
    /// The caller's thread read marker; null when not following.
    #[schema(required = true, example = 12)]
    last_read_seq: Option<i64>,
}

/// A thread the caller follows.
#[derive(Serialize, ToSchema)]
#[schema(as = FollowedThread)]
struct Followed<'a> {
    #[schema(example = "general")]
    room: &'a str,
    #[schema(value_type = MessageView)]
    root: EventView<'a>,
    /// Replies after the caller's thread read marker: not deleted, not the
    /// caller's own, not from users the caller blocks.
    #[schema(example = 2, minimum = 0)]
    unread: i64,
}

/// The threads the caller follows.
#[derive(Serialize, ToSchema)]
#[schema(as = FollowedThreads)]
struct FollowedList<'a> {
    /// By latest reply, newest first, at most `limit`.
    threads: Vec<Followed<'a>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkThreadRead {
    /// Every reply up to this seq is read (clamped to the thread's latest
    /// reply).
    #[serde(deserialize_with = "super::integer::required")]
    #[schema(minimum = 0, example = 12)]
    seq: i64,
}

/// Where the caller's thread read marker now is.
#[derive(Serialize, ToSchema)]
#[schema(as = ThreadReadMarker)]
struct Marker {
    #[schema(example = 12)]
    last_read_seq: i64,
}

/// 403 for following a thread or moving its marker (documentation only, as
/// `http/responses.rs`).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "`not_a_member`: the caller can see the room but is not a member"
)]
#[allow(dead_code)]
struct NotAMember(ErrorBody<'static>);

/// 404 for an operation on one thread (documentation only).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "`room_not_found`: no such room, or a private room the caller is not a \
        member of; `thread_not_found`: no message at that seq has a reply"
)]
#[allow(dead_code)]
struct ThreadNotFound(ErrorBody<'static>);

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// A non-negative integer query parameter.
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

/// A `true` / `false` query parameter, false when absent.
fn flag_param(params: &HashMap<String, String>, key: &str) -> Result<bool, ApiError> {
    match params.get(key).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(invalid(&format!("{key} must be true or false"))),
    }
}

/// `limit`: 1–200, `default` when absent.
fn limit_param(params: &HashMap<String, String>, default: i64) -> Result<i64, ApiError> {
    match params.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit must be an integer from 1 to 200")),
    }
}

/// A root's seq in a path: anything but a positive integer names no thread.
fn root_seq(seq: &str) -> Result<i64, ApiError> {
    crate::domain::parse_seq(seq, 1).ok_or(ApiError::ThreadNotFound)
}

/// The thread's root in `room`: a `message` that has a summary (at least
/// one reply was stored).
async fn find_root(state: &AppState, room: &VisibleRoom, seq: &str) -> Result<Event, ApiError> {
    let seq = root_seq(seq)?;
    let root = state.store.event(room.room.id, seq).await?;
    root.filter(|e| e.thread_summary.is_some())
        .ok_or(ApiError::ThreadNotFound)
}

/// The room, which the caller must be a member of (403 `not_a_member`).
async fn as_member(state: &AppState, name: &str, user: &AuthUser) -> Result<VisibleRoom, ApiError> {
    let found = find_visible(state, name, user).await?;
    if !found.is_member() {
        return Err(ApiError::NotAMember);
    }
    Ok(found)
}

fn seen<'a>(viewer: &Viewer, e: &'a Event) -> EventView<'a> {
    EventView::seen(e, viewer.blocks(&e.sender))
}

/// The room's threads (roots with at least one reply not deleted), by
/// latest reply, newest first. Roots by users the caller blocks are left
/// out.
#[utoipa::path(
    tag = "threads",
    operation_id = "list_threads",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("before" = Option<i64>, Query, minimum = 0,
            description = "Only threads whose latest reply is older than this seq"),
    ),
    responses(
        (status = 200, description = "The threads", body = ThreadList),
        (status = 400, description = "`invalid_query`: a bad `limit` or `before`", body = ErrorBody),
        Unauthorized,
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/threads")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let before = seq_param(&params, "before")?.unwrap_or(i64::MAX);
    let limit = limit_param(&params, DEFAULT_LIMIT)?;
    let room = find_visible(&state, &name, &user).await?.room;
    let mut roots = state
        .store
        .room_threads(room.id, user.id, before, limit + 1)
        .await?;
    let has_more = roots.len() as i64 > limit;
    roots.truncate(limit as usize);
    let threads = roots.iter().map(EventView::from).collect();
    Ok(HttpResponse::Ok().json(ThreadList { threads, has_more }))
}

/// One thread: its root and its replies in seq order, with whether the
/// caller follows it.
#[utoipa::path(
    tag = "threads",
    operation_id = "get_thread",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The root's seq"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Only replies after this seq"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 200"),
    ),
    responses(
        (status = 200, description = "The thread", body = ThreadPage),
        (status = 400, description = "`invalid_query`: a bad `limit` or `after`", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`room_not_found`: no such room, or a private room the \
            caller is not a member of; `thread_not_found`: no message at that seq has a reply \
            (a reply is no root: its thread is under its `thread`)", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/threads/{seq}")]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let after = seq_param(&params, "after")?.unwrap_or(0);
    let limit = limit_param(&params, MAX_LIMIT)?;
    let room = find_visible(&state, &name, &user).await?;
    let root = find_root(&state, &room, &seq).await?;
    let store = &state.store;
    let mut replies = store
        .replies(room.room.id, root.seq, after, limit + 1)
        .await?;
    let has_more = replies.len() as i64 > limit;
    replies.truncate(limit as usize);
    let following = store.following(room.room.id, root.seq, user.id).await?;
    let viewer = state.viewers.of(user.id).await?;
    Ok(HttpResponse::Ok().json(ThreadPage {
        root: seen(&viewer, &root),
        replies: replies.iter().map(|e| seen(&viewer, e)).collect(),
        has_more,
        following: following.is_some(),
        last_read_seq: following.map(|f| f.last_read_seq),
    }))
}

/// Follow a thread: its replies count in `GET /me/threads` (nothing unread
/// at first). Idempotent: one who follows already keeps their marker.
#[utoipa::path(
    tag = "threads",
    operation_id = "follow_thread",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The root's seq"),
    ),
    responses(
        (status = 204, description = "Following"),
        Unauthorized,
        NotAMember,
        ThreadNotFound,
        InternalError,
    ),
)]
#[put("/rooms/{name}/threads/{seq}/follow")]
pub async fn follow(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let room = as_member(&state, &name, &user).await?;
    let root = root_seq(&seq)?;
    if !state.store.follow(room.room.id, root, user.id).await? {
        return Err(ApiError::ThreadNotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Stop following a thread (until the caller replies in it, or a reply
/// mentions them). Idempotent.
#[utoipa::path(
    tag = "threads",
    operation_id = "unfollow_thread",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The root's seq"),
    ),
    responses(
        (status = 204, description = "Not following"),
        Unauthorized,
        NotAMember,
        ThreadNotFound,
        InternalError,
    ),
)]
#[delete("/rooms/{name}/threads/{seq}/follow")]
pub async fn unfollow(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let room = as_member(&state, &name, &user).await?;
    let root = find_root(&state, &room, &seq).await?;
    state
        .store
        .unfollow(room.room.id, root.seq, user.id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move the caller's read marker in a thread they follow: never backwards,
/// never past the thread's latest reply. Written coalesced with the room
/// read markers, apart from the send path.
#[utoipa::path(
    tag = "threads",
    operation_id = "mark_thread_read",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The root's seq"),
    ),
    request_body = MarkThreadRead,
    responses(
        (status = 200, description = "The marker: max(previous, min(seq, the thread's latest \
            reply))", body = Marker),
        (status = 400, description = "`invalid_seq`: a negative seq; `invalid_request`: \
            malformed JSON, an unknown field or a missing one", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`not_a_member`: the caller can see the room but is not \
            a member; `not_following`: the caller does not follow the thread", body = ErrorBody),
        ThreadNotFound,
        JsonBodyRefused,
        InternalError,
    ),
)]
#[put("/rooms/{name}/threads/{seq}/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<MarkThreadRead>,
) -> Result<HttpResponse, ApiError> {
    if body.seq < 0 {
        return Err(ApiError::bad_request(
            "invalid_seq",
            "seq must be a non-negative integer",
        ));
    }
    let (name, seq) = path.into_inner();
    let room = as_member(&state, &name, &user).await?;
    let root = find_root(&state, &room, &seq).await?;
    let marker = state
        .read_markers
        .mark_thread(room.room.id, root.seq, user.id, body.seq)
        .await?
        .ok_or(ApiError::NotFollowing)?;
    Ok(HttpResponse::Ok().json(Marker {
        last_read_seq: marker,
    }))
}

/// The threads the caller follows in the rooms they belong to that have
/// replies after the caller's thread read marker (with `include_read=true`,
/// those read too), by latest reply, newest first, each with its unread
/// replies.
#[utoipa::path(
    tag = "threads",
    operation_id = "my_threads",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("include_read" = Option<bool>, Query,
            description = "`true`: also the followed threads with nothing unread. Default `false`"),
    ),
    responses(
        (status = 200, description = "The followed threads", body = FollowedList),
        (status = 400, description = "`invalid_query`: a bad `limit` or `include_read`",
            body = ErrorBody),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/threads")]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit_param(&params, DEFAULT_LIMIT)?;
    let include_read = flag_param(&params, "include_read")?;
    let followed = state
        .store
        .followed_threads(user.id, limit, include_read)
        .await?;
    let threads = followed
        .iter()
        .map(|f| Followed {
            room: &f.root.room,
            root: EventView::from(&f.root),
            unread: f.unread,
        })
        .collect();
    Ok(HttpResponse::Ok().json(FollowedList { threads }))
}
