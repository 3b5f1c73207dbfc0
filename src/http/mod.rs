//! REST routes under `/api/v1` plus `/healthz`, `/readyz` and `/metrics`,
//! all described by the OpenAPI document at `/api/v1/openapi.json`. Each
//! handler validates its input into domain types and maps failures to
//! `ApiError`.

mod auth;
mod awareness;
mod client_config;
pub mod client_ip;
mod direct;
mod email;
mod health;
mod history;
mod integer;
mod me_events;
mod members;
mod metrics;
pub(crate) mod openapi;
mod password;
mod password_reset;
mod refresh;
mod responses;
mod room_log;
mod rooms;
mod search;
mod sessions;
mod sse;
mod stream;
mod two_factor;
mod web_client;
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
                .service(sessions::list)
                .service(sessions::end)
                .service(password::change_password)
                .service(two_factor::setup)
                .service(two_factor::confirm)
                .service(two_factor::disable)
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
                .service(search::search)
                .service(search::mentions)
                .service(stream::post_message)
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
