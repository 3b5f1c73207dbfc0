//! A room's webhooks (README, "Bots and webhooks"): created, listed and
//! deleted by the room's owner and moderators; an incoming webhook's URL,
//! which posts through `chat` with the same body, rate and room rules as a
//! member's message; an outgoing webhook's delivery log.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rooms::find_visible;
use super::writing::{charge_send, chat_error, parse_body};
use crate::auth::AuthUser;
use crate::chat::Post;
use crate::domain::{Attachments, Role};
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::webhooks::{Delivery, NewWebhook, Webhook, WebhookKind};
use crate::store::{Appended, Room};
use crate::views::{EventView, format_time};
use crate::webhooks::{outgoing::EventFilter, secrets, valid_command, valid_name};

/// How many delivery attempts `GET …/deliveries` shows: all that are kept.
const DELIVERIES_SHOWN: i64 = crate::webhooks::deliver::LOG_KEPT;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `incoming` (needs `name`), `outgoing` (needs `url`) or `command`
    /// (needs `command` and `url`).
    #[schema(example = "incoming")]
    kind: WebhookKindName,
    /// 1–32 characters of `A-Z a-z 0-9 _ . -`; messages of an incoming
    /// webhook come from `webhook:NAME`. Optional for the other kinds
    /// (default: the command's name, or `outgoing`).
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[A-Za-z0-9_.-]{1,32}$",
        example = "ci"
    )]
    name: Option<String>,
    /// Where an outgoing webhook or a command POSTs (`http` or `https`;
    /// `WEBHOOK_ALLOWED_HOSTS` and the address rules apply).
    #[schema(example = "https://example.com/hooks/parley")]
    url: Option<String>,
    /// Outgoing: which events are delivered (default all four).
    events: Option<Vec<EventName>>,
    /// Command: its name, 1–32 characters of `a-z 0-9 _ -`, invoked as `/NAME`.
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[a-z0-9_-]{1,32}$",
        example = "deploy"
    )]
    command: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WebhookKindName {
    Incoming,
    Outgoing,
    Command,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum EventName {
    Message,
    Edit,
    Delete,
    Reaction,
}

impl EventName {
    fn as_str(self) -> &'static str {
        match self {
            EventName::Message => "message",
            EventName::Edit => "edit",
            EventName::Delete => "delete",
            EventName::Reaction => "reaction",
        }
    }
}

/// A new webhook: `url` for an incoming one (it carries its secret; shown
/// only here), `secret` for the others (their signing key, shown only here).
#[derive(Serialize, ToSchema)]
struct CreatedWebhook {
    #[schema(example = 1)]
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "http://127.0.0.1:8080/api/v1/hooks/1/2Yk…")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    secret: Option<String>,
}

/// A webhook as listed (no secrets).
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
struct WebhookView<'a> {
    #[schema(example = 1)]
    id: i64,
    kind: WebhookKindName,
    #[schema(example = "ci")]
    name: &'a str,
    /// Outgoing webhooks and commands: where they POST.
    url: Option<&'a str>,
    /// Outgoing webhooks: the events delivered.
    events: Option<Vec<&'a str>>,
    /// Commands: the command's name.
    command: Option<&'a str>,
    #[schema(value_type = String, format = DateTime)]
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct WebhookList<'a> {
    webhooks: Vec<WebhookView<'a>>,
}

#[derive(Serialize, ToSchema)]
struct DeliveryView {
    #[schema(example = 7)]
    seq: i64,
    /// `delivered` (a 2xx answer) or `failed` (this attempt).
    #[schema(example = "delivered")]
    status: &'static str,
    /// The HTTP status answered; null when none came (timeout, connection
    /// refused, address not allowed).
    #[schema(example = 200)]
    code: Option<i32>,
    #[schema(value_type = String, format = DateTime)]
    at: String,
}

#[derive(Serialize, ToSchema)]
struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

impl<'a> From<&'a Webhook> for WebhookView<'a> {
    fn from(w: &'a Webhook) -> Self {
        WebhookView {
            id: w.id,
            kind: match w.kind {
                WebhookKind::Incoming => WebhookKindName::Incoming,
                WebhookKind::Outgoing => WebhookKindName::Outgoing,
                WebhookKind::Command => WebhookKindName::Command,
            },
            name: &w.name,
            url: w.url.as_deref(),
            events: w.events.as_deref().map(|e| e.split(',').collect()),
            command: w.command.as_deref(),
            created_at: format_time(&w.created_at),
        }
    }
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            seq: d.seq,
            status: if d.delivered { "delivered" } else { "failed" },
            code: d.code,
            at: format_time(&d.at),
        }
    }
}

/// The room, if the caller is its owner or a moderator: 404 when they may
/// not see it, 403 `forbidden` when they may but do not moderate it.
async fn moderated_room(state: &AppState, user: &AuthUser, name: &str) -> Result<Room, ApiError> {
    let found = find_visible(state, name, user).await?;
    if !found.role.is_some_and(Role::moderates) {
        return Err(ApiError::Forbidden);
    }
    Ok(found.room)
}

fn refused_url(e: crate::egress::Refusal) -> ApiError {
    ApiError::bad_request("address_not_allowed", format!("url: {e}"))
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_webhook", message.to_string())
}

/// Add an incoming webhook, an outgoing webhook or a slash command to a
/// room (its owner or a moderator).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 201, description = "Created: `{id, url}` for an incoming webhook, `{id, \
            secret}` for the others; shown this once", body = CreatedWebhook),
        (status = 400, description = "`invalid_webhook`: a field missing or not allowed for \
            the kind, a bad name, command, URL or event; `address_not_allowed`: the URL's \
            host is not allowed (`WEBHOOK_ALLOWED_HOSTS`, private addresses); \
            `invalid_request`: malformed JSON or an unknown field", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the room's owner or a \
            moderator", body = ErrorBody),
        RoomNotFound,
        (status = 409, description = "`command_exists`: the room has a command of that name",
            body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms/{name}/webhooks")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let room = moderated_room(&state, &user, &name).await?;
    let body = body.into_inner();
    let kind = match body.kind {
        WebhookKindName::Incoming => WebhookKind::Incoming,
        WebhookKindName::Outgoing => WebhookKind::Outgoing,
        WebhookKindName::Command => WebhookKind::Command,
    };
    let hook_name = match (kind, &body.name, &body.command) {
        (_, Some(n), _) => n.clone(),
        (WebhookKind::Incoming, None, _) => {
            return Err(invalid("an incoming webhook needs a name"));
        }
        (WebhookKind::Command, None, Some(c)) => c.clone(),
        _ => "outgoing".to_string(),
    };
    if !valid_name(&hook_name) {
        return Err(invalid(
            "name must be 1-32 characters of A-Z, a-z, 0-9, _ . -",
        ));
    }
    let command = match (kind, &body.command) {
        (WebhookKind::Command, Some(c)) if valid_command(c) => Some(c.as_str()),
        (WebhookKind::Command, _) => {
            return Err(invalid("command must be 1-32 characters of a-z, 0-9, _ -"));
        }
        (_, Some(_)) => return Err(invalid("only a command has a command")),
        (_, None) => None,
    };
    let url = match (kind, &body.url) {
        (WebhookKind::Incoming, Some(_)) => {
            return Err(invalid("an incoming webhook has no url: it is given one"));
        }
        (WebhookKind::Incoming, None) => None,
        (_, None) => return Err(invalid("url is required")),
        (_, Some(u)) => Some(
            state
                .webhook_egress
                .check_url(u)
                .map_err(refused_url)?
                .to_string(),
        ),
    };
    let events = match (kind, &body.events) {
        (WebhookKind::Outgoing, Some(e)) if e.is_empty() => {
            return Err(invalid("events must name at least one event"));
        }
        (WebhookKind::Outgoing, events) => {
            let names = events.iter().flatten().map(|e| e.as_str());
            Some(EventFilter::parse(names).to_string())
        }
        (_, Some(_)) => return Err(invalid("only an outgoing webhook has events")),
        (_, None) => None,
    };
    let (url_secret, secret_hash) = secrets::new_url_secret();
    let (signing_key, shown_key) = secrets::new_signing_key();
    let is_incoming = kind == WebhookKind::Incoming;
    let new = NewWebhook {
        room_id: room.id,
        kind,
        name: &hook_name,
        secret_hash: is_incoming.then_some(secret_hash.as_slice()),
        signing_key: (!is_incoming).then_some(signing_key.as_slice()),
        url: url.as_deref(),
        events: events.as_deref(),
        command,
        created_by: user.id,
    };
    let hook = state
        .store
        .create_webhook(&new)
        .await?
        .ok_or(ApiError::Conflict {
            code: "command_exists",
            message: "the room has a command of that name".into(),
        })?;
    tracing::info!(room = %room.name, webhook = hook.id, kind = kind.as_str(), "webhook created");
    if kind == WebhookKind::Outgoing {
        state.webhook_deliveries.created(hook.id);
    }
    let created = if is_incoming {
        let info = req.connection_info();
        let url = format!(
            "{}://{}/api/v1/hooks/{}/{url_secret}",
            info.scheme(),
            info.host(),
            hook.id
        );
        CreatedWebhook {
            id: hook.id,
            url: Some(url),
            secret: None,
        }
    } else {
        CreatedWebhook {
            id: hook.id,
            url: None,
            secret: Some(shown_key),
        }
    };
    Ok(HttpResponse::Created().json(created))
}

/// A room's webhooks and commands, without their secrets (its owner and
/// moderators).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The room's webhooks, oldest first", body = WebhookList),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the room's owner or a \
            moderator", body = ErrorBody),
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room = moderated_room(&state, &user, &name).await?;
    let hooks = state.store.webhooks_of(room.id).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: hooks.iter().map(WebhookView::from).collect(),
    }))
}

/// The room's webhook `id`, or 404 `webhook_not_found`.
async fn room_webhook(state: &AppState, room: &Room, id: i64) -> Result<Webhook, ApiError> {
    match state.store.webhook(id).await? {
        Some(hook) if hook.room_id == room.id => Ok(hook),
        _ => Err(ApiError::WebhookNotFound),
    }
}

/// Delete a webhook or command: an incoming webhook's URL answers 404 from
/// now on, an outgoing one delivers no more.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "The webhook's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the room's owner or a \
            moderator", body = ErrorBody),
        (status = 404, description = "`room_not_found`: as for every room route; \
            `webhook_not_found`: the room has no such webhook", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/rooms/{name}/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let room = moderated_room(&state, &user, &name).await?;
    if !state.store.delete_webhook(room.id, id).await? {
        return Err(ApiError::WebhookNotFound);
    }
    tracing::info!(room = %room.name, webhook = id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// An outgoing webhook's delivery attempts, newest first (the latest 100).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "The webhook's id"),
    ),
    responses(
        (status = 200, description = "The attempts, newest first", body = DeliveryList),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the room's owner or a \
            moderator", body = ErrorBody),
        (status = 404, description = "`room_not_found`: as for every room route; \
            `webhook_not_found`: the room has no such webhook", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let room = moderated_room(&state, &user, &name).await?;
    let hook = room_webhook(&state, &room, id).await?;
    let found = state.store.deliveries(hook.id, DELIVERIES_SHOWN).await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: found.iter().map(DeliveryView::from).collect(),
    }))
}

// The body POSTed to an incoming webhook's URL (a plain comment: a doc
// comment would become the schema's description).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingMessage {
    /// The message (Slack's field); give this or `body`.
    #[schema(example = "deploy finished")]
    text: Option<String>,
    /// The message (as `POST …/messages` names it); give this or `text`.
    body: Option<String>,
}

/// Post a message through an incoming webhook: its URL is the only
/// credential. Stored from `webhook:NAME` with a member's body rules and
/// send rate.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "post_incoming_webhook",
    params(
        ("id" = i64, Path, description = "The webhook's id"),
        ("secret" = String, Path, description = "The webhook's secret, from its URL"),
    ),
    responses(
        (status = 200, description = "Stored: the `message` event", body = crate::views::MessageView),
        (status = 400, description = "`invalid_body`: neither or both of `text` and `body`, \
            empty, over `MAX_BODY_BYTES` or containing U+0000; `invalid_request`: malformed \
            JSON or an unknown field", body = ErrorBody),
        (status = 404, description = "`webhook_not_found`: no such webhook (unknown, deleted, or the \
            secret does not match)", body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`rate_limited`: the webhook's send rate", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        (status = 503, description = "`unavailable`: the send task failed", body = ErrorBody),
    ),
)]
#[post("/hooks/{id}/{secret}")]
pub async fn incoming(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<IncomingMessage>,
) -> Result<HttpResponse, ApiError> {
    let (id, secret) = path.into_inner();
    let id: i64 = id.parse().map_err(|_| ApiError::WebhookNotFound)?;
    let hook = match state.store.webhook(id).await? {
        Some(h) if h.kind == WebhookKind::Incoming => h,
        _ => return Err(ApiError::WebhookNotFound),
    };
    let (Some(stored), Some(user_id)) = (&hook.secret_hash, hook.user_id) else {
        return Err(ApiError::WebhookNotFound);
    };
    if !secrets::url_secret_matches(&secret, stored) {
        return Err(ApiError::WebhookNotFound);
    }
    let text = match (&body.text, &body.body) {
        (Some(t), None) | (None, Some(t)) => parse_body(&state, t)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give the message as `text` or `body`",
            ));
        }
    };
    let room = state
        .store
        .room_by_id(hook.room_id)
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    let sender = crate::webhooks::sender(user_id, &hook.name);
    state
        .chat
        .may_write(&sender, &room)
        .await
        .map_err(chat_error)?;
    charge_send(&state, &sender)?.await;
    let post = Post {
        room,
        body: text,
        client_id: None,
        reply_to: None,
        attachments: Attachments::default(),
    };
    let appended = state
        .chat
        .post(&sender, vec![post])
        .await
        .map_err(chat_error)?
        .pop()
        .ok_or(ApiError::Unavailable)?;
    match &appended {
        Appended::Stored(m) | Appended::Duplicate(m) => {
            Ok(HttpResponse::Ok().json(EventView::from(m)))
        }
        Appended::Refused(refusal) => Err((*refusal).into()),
    }
}
