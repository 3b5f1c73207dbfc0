//! Web Push subscriptions (README, "Notifications"): the VAPID public key
//! a browser subscribes with, and the caller's subscriptions. Endpoints are
//! checked by the egress rules when stored (`push::Push::check_endpoint`);
//! a user keeps at most `PUSH_SUBSCRIPTIONS_PER_USER`, the newest.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::integer;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, Unauthorized};
use crate::state::AppState;
use crate::store::{NewPushSubscription, PushSubscription};

/// The key browsers pass as `applicationServerKey`.
#[derive(Serialize, ToSchema)]
#[schema(as = VapidKey)]
struct VapidKeyView<'a> {
    /// The VAPID public key: an uncompressed P-256 point, base64url.
    #[schema(
        example = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    )]
    public_key: &'a str,
}

/// A subscription's keys (RFC 8291), base64url.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushKeys)]
struct Keys {
    /// The browser's P-256 public key (65 bytes, uncompressed).
    p256dh: String,
    /// The authentication secret (16 bytes).
    auth: String,
}

/// A browser `PushSubscription`'s JSON.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPushSubscription)]
struct NewSubscription {
    /// `https://`; `http://` or a loopback or private address only for a
    /// host in `PUSH_ALLOWED_HOSTS`.
    #[schema(example = "https://push.example.net/send/abc")]
    endpoint: String,
    /// When the subscription expires (ms since the epoch), if the browser knows.
    #[serde(
        default,
        rename = "expirationTime",
        deserialize_with = "integer::optional"
    )]
    #[schema(example = json!(null))]
    expiration_time: Option<i64>,
    keys: Keys,
}

/// A stored subscription.
#[derive(Serialize, ToSchema)]
#[schema(as = PushSubscription)]
struct SubscriptionView {
    #[schema(example = 1)]
    id: i64,
    endpoint: String,
    #[serde(rename = "expirationTime")]
    #[schema(example = json!(null))]
    expiration_time: Option<i64>,
    keys: Keys,
}

impl From<PushSubscription> for SubscriptionView {
    fn from(s: PushSubscription) -> Self {
        SubscriptionView {
            id: s.id,
            endpoint: s.endpoint,
            expiration_time: s.expiration_time,
            keys: Keys {
                p256dh: s.p256dh,
                auth: s.auth,
            },
        }
    }
}

/// The caller's subscriptions.
#[derive(Serialize, ToSchema)]
#[schema(as = PushSubscriptionList)]
struct Subscriptions {
    subscriptions: Vec<SubscriptionView>,
}

/// `value` decodes from base64url (padded or not) to `len` bytes.
fn key_of_length(value: &str, len: usize) -> bool {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .is_ok_and(|k| k.len() == len)
}

/// The VAPID public key browsers subscribe with.
#[utoipa::path(
    tag = "notifications",
    operation_id = "vapid_key",
    responses(
        (status = 200, description = "The key", body = VapidKeyView),
        InternalError,
    ),
)]
#[get("/push/vapid-key")]
pub async fn vapid_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VapidKeyView {
        public_key: state.push.public_key(),
    })
}

/// Store a browser's push subscription for the caller (the same endpoint
/// again replaces its keys and keeps its id). A user keeps at most
/// `PUSH_SUBSCRIPTIONS_PER_USER` (default 10): a new one beyond that
/// replaces their oldest, whose pending pushes go with it.
#[utoipa::path(
    tag = "notifications",
    operation_id = "add_push_subscription",
    security(("bearer" = [])),
    request_body = NewSubscription,
    responses(
        (status = 201, description = "Stored", body = SubscriptionView),
        (status = 400, description = "`invalid_endpoint`: not `https://`, with credentials, \
            or on a loopback, private or link-local address (unless its host is in \
            `PUSH_ALLOWED_HOSTS`); `invalid_request`: keys that are not a P-256 point and a \
            16-byte secret in base64url, malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        Unauthorized,
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/me/push-subscriptions")]
pub async fn add_subscription(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<NewSubscription>,
) -> Result<HttpResponse, ApiError> {
    if body.endpoint.len() > 2048 {
        return Err(ApiError::bad_request(
            "invalid_endpoint",
            "the endpoint is over 2048 bytes",
        ));
    }
    state
        .push
        .check_endpoint(&body.endpoint)
        .map_err(|refusal| ApiError::bad_request("invalid_endpoint", refusal.to_string()))?;
    if !key_of_length(&body.keys.p256dh, 65) || !key_of_length(&body.keys.auth, 16) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "keys.p256dh must be a P-256 point (65 bytes) and keys.auth 16 bytes, in base64url",
        ));
    }
    let new = NewPushSubscription {
        endpoint: &body.endpoint,
        p256dh: &body.keys.p256dh,
        auth: &body.keys.auth,
        expiration_time: body.expiration_time,
    };
    let keep = i64::from(state.push.subscriptions_per_user());
    let stored = state
        .store
        .add_push_subscription(user.id, new, keep)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(SubscriptionView::from(stored)))
}

/// The caller's push subscriptions, oldest first.
#[utoipa::path(
    tag = "notifications",
    operation_id = "list_push_subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions", body = Subscriptions),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/push-subscriptions")]
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let subscriptions = state.store.push_subscriptions(user.id).await?;
    Ok(HttpResponse::Ok().json(Subscriptions {
        subscriptions: subscriptions.into_iter().map(Into::into).collect(),
    }))
}

/// Delete one of the caller's push subscriptions; its pending pushes go
/// with it.
#[utoipa::path(
    tag = "notifications",
    operation_id = "delete_push_subscription",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Subscription id")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        (status = 404, description = "`subscription_not_found`: none of the caller's has \
            this id; `not_found`: the id is not an integer", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/me/push-subscriptions/{id}")]
pub async fn delete_subscription(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if state
        .store
        .delete_push_subscription(id.into_inner(), Some(user.id))
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::SubscriptionNotFound)
    }
}
