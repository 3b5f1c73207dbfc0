//! The OpenAPI 3.1 document of the HTTP API, served at
//! `GET /api/v1/openapi.json`.
//!
//! It is not written by hand: each handler carries `#[utoipa::path]` next to
//! its actix route attribute (utoipa reads method and path from that
//! attribute), and [`Documented::service`] registers a handler *and* adds its
//! operations and schemas to the document in one call. It only accepts
//! services that carry such documentation, so a route registered through it
//! cannot be missing from the document. The test `tests/api/openapi.rs`
//! checks the rest: that nothing is registered around it and that every
//! documented operation is served.

use actix_web::dev::HttpServiceFactory;
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, OpenApi};
use utoipa::{Modify, OpenApi as _};
use utoipa_actix_web::OpenApiFactory;

/// Name of the `Authorization: Bearer` security scheme.
pub const BEARER: &str = "bearer";

/// What the handlers do not say: info, tags, the security scheme.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Parley",
        description = "Authenticated, persistent chat. This document covers the HTTP API; \
            real-time chat is also offered as STOMP 1.2 over the WebSocket at `GET /ws` \
            (not described here).\n\n\
            Errors are always `{\"error\": {\"code\": \"snake_case_code\", \"message\": \
            \"human text\"}}` with the status; every operation lists, per status, the codes \
            it can answer with. Request bodies are JSON (`Content-Type: application/json`), \
            at most 64 KiB; unknown fields are rejected. Authenticated operations take \
            `Authorization: Bearer <access token>`. A private room is invisible to \
            non-members, and every room to the users banned from it: they get 404 \
            `room_not_found`, exactly as for a room that does not exist.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, access and refresh tokens"),
        (name = "rooms", description = "Rooms"),
        (name = "members", description = "Members, roles, leaving, removal and bans"),
        (name = "direct", description = "Direct conversations and blocking"),
        (name = "messages", description = "History, posting, long polling and Server-Sent \
            Events: chat without WebSocket"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
struct Base;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The `access_token` of a token response (sign-up, login, refresh). \
                 A missing, malformed, expired or forged token is 401 `unauthorized`.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Components::new)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Registers services on an actix `ServiceConfig` and documents them in the
/// same call; [`Documented::finish`] then serves the finished document.
pub struct Documented<'a> {
    cfg: &'a mut web::ServiceConfig,
    doc: OpenApi,
}

impl<'a> Documented<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Documented {
            cfg,
            doc: Base::openapi(),
        }
    }

    /// Registers `service` (a handler with `#[utoipa::path]`, or a
    /// `utoipa_actix_web::scope` of such) and documents it.
    pub fn service<F>(&mut self, service: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static,
    {
        self.doc.paths.merge(service.paths());
        let mut schemas = Vec::new();
        service.schemas(&mut schemas);
        self.doc
            .components
            .get_or_insert_with(Components::new)
            .schemas
            .extend(schemas);
        self.cfg.service(service);
        self
    }

    /// Hands the finished document to [`document`].
    pub fn finish(self) {
        let json = self.doc.to_json().expect("the OpenAPI document serialises");
        self.cfg
            .app_data(web::Data::new(Document(Bytes::from(json))));
    }
}

/// The serialised document.
pub struct Document(Bytes);

/// This document (OpenAPI 3.1).
#[utoipa::path(
    tag = "operations",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API",
            content_type = "application/json", body = Object),
    ),
)]
#[get("/openapi.json")]
pub async fn document(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}
