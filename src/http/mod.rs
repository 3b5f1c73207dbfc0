//! REST routes under `/api/v1` plus `/healthz`, `/readyz` and `/metrics`,
//! all described by the OpenAPI document at `/api/v1/openapi.json`. Each
//! handler validates its input into domain types and maps failures to
//! `ApiError`.

mod admin;
mod auth;
mod avatar;
mod awareness;
mod bots;
mod client_config;
pub mod client_ip;
mod direct;
mod email;
mod export;
mod files;
mod health;
mod history;
mod integer;
mod me_events;
mod members;
mod metrics;
mod notifications;
pub(crate) mod openapi;
mod password;
mod password_reset;
mod profile;
mod push;
mod refresh;
mod reports;
mod responses;
mod room_log;
mod rooms;
mod search;
mod sessions;
mod sse;
mod stream;
mod threads;
mod two_factor;
mod web_client;
mod webhooks;
mod writing;

use actix_web::{HttpRequest, error::JsonPayloadError, web};

use crate::error::ApiError;

/// Largest accepted request body (the README, "REST API").
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BYTES)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(|_, _| {
        ApiError::bad_request("invalid_query", "malformed query string").into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()));
    // Every route below is registered and documented by the same call (see
    // `openapi`); tests/api/openapi.rs checks that nothing bypasses this.
    let mut api = openapi::Documented::new(cfg);
    api.service(health::healthz)
        .service(health::readyz)
        .service(metrics::scrape)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .service(client_config::client_config)
                .service(auth::signup)
                .service(auth::login)
                .service(refresh::rotate_refresh)
                .service(refresh::logout)
                .service(auth::me)
                .service(bots::create)
                .service(bots::list)
                .service(bots::rotate)
                .service(bots::delete_bot)
                .service(sessions::list)
                .service(sessions::end)
                .service(password::change_password)
                .service(two_factor::setup)
                .service(two_factor::confirm)
                .service(two_factor::disable)
                .service(profile::update_me)
                .service(profile::delete_me)
                .service(profile::get_user)
                .service(avatar::set_avatar)
                .service(avatar::remove_avatar)
                .service(avatar::avatar)
                .service(export::export)
                .service(email::set_email)
                .service(email::verify_email)
                .service(password_reset::request_reset)
                .service(password_reset::confirm_reset)
                .service(me_events::my_events)
                .service(rooms::create)
                .service(rooms::list)
                .service(rooms::get)
                .service(rooms::join)
                .service(members::delete_room)
                .service(members::list_members)
                .service(members::add_member)
                .service(members::leave)
                .service(members::remove_member)
                .service(members::set_role)
                .service(members::list_bans)
                .service(members::ban)
                .service(members::unban)
                .service(awareness::mark_read)
                .service(notifications::get_notifications)
                .service(notifications::set_notifications)
                .service(push::vapid_key)
                .service(push::add_subscription)
                .service(push::list_subscriptions)
                .service(push::delete_subscription)
                .service(awareness::typing)
                .service(awareness::presence)
                .service(direct::open)
                .service(direct::list_blocks)
                .service(direct::block)
                .service(direct::unblock)
                .service(history::messages)
                .service(room_log::get_event)
                .service(room_log::edit_message)
                .service(room_log::delete_message)
                .service(room_log::add_reaction)
                .service(room_log::remove_reaction)
                .service(reports::report_message)
                .service(reports::room_reports)
                .service(reports::resolve_room_report)
                .service(reports::room_audit)
                .service(admin::users)
                .service(admin::deactivate)
                .service(admin::reactivate)
                .service(admin::delete_user)
                .service(admin::reports)
                .service(admin::resolve_report)
                .service(admin::audit)
                .service(search::search)
                .service(search::mentions)
                .service(threads::list)
                .service(threads::get)
                .service(threads::follow)
                .service(threads::unfollow)
                .service(threads::mark_read)
                .service(threads::mine)
                .service(webhooks::create)
                .service(webhooks::list)
                .service(webhooks::delete_webhook)
                .service(webhooks::deliveries)
                .service(webhooks::incoming)
                .service(stream::post_message)
                .service(files::upload)
                .service(files::download)
                .service(files::thumbnail)
                .service(stream::events)
                .service(openapi::document),
        );
    // `/ws` is registered in `startup.rs` and not described by the document;
    // the web client's resources answer 405 themselves.
    api.finish(&[("/ws", "GET")]);
    web_client::configure(cfg);
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_request", format!("invalid JSON body: {e}"))
        }
        _ => ApiError::bad_request("invalid_request", "could not read the request body"),
    };
    api.into()
}

/// Fallback for requests no route takes, in the contract's JSON error shape:
/// 405 with `Allow` for a known path asked with a method it does not serve
/// (RFC 9110, 15.5.6), else 404.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = req.app_data::<web::Data<openapi::Allowed>>();
    match allowed.and_then(|a| a.for_path(req.path())) {
        Some(allow) => Err(ApiError::MethodNotAllowed {
            allow: allow.to_string(),
        }),
        None => Err(ApiError::NotFound),
    }
}
