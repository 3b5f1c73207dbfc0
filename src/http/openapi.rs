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
//!
//! The finished document also says which methods each path allows: the
//! application's fallback answers a request for a known path with a method
//! it does not serve 405 with those methods in `Allow` ([`Allowed`]).

use actix_web::dev::{HttpServiceFactory, ResourceDef};
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
            `Authorization: Bearer <access token>` (or a bot's API token). A private room is invisible to \
            non-members, and every room to the users banned from it: they get 404 \
            `room_not_found`, exactly as for a room that does not exist.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, access and refresh tokens"),
        (name = "accounts", description = "Profiles, avatars, the data export and deleting \
            one's account"),
        (name = "rooms", description = "Rooms"),
        (name = "members", description = "Members, roles, leaving, removal and bans"),
        (name = "moderation", description = "Reports of messages and a room's audit log"),
        (name = "admin", description = "Administrators (`ADMIN_USERS`): accounts, every \
            room's reports, the audit log"),
        (name = "direct", description = "Direct conversations and blocking"),
        (name = "notifications", description = "Notification levels and Web Push"),
        (name = "bots", description = "Bots and their API tokens"),
        (name = "webhooks", description = "A room's incoming and outgoing webhooks and slash \
            commands"),
        (name = "messages", description = "History, posting, long polling and Server-Sent \
            Events: chat without WebSocket"),
        (name = "threads", description = "Threads of replies, following them and their \
            read markers"),
        (name = "files", description = "Uploads, downloads and thumbnails"),
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

    /// Hands the finished document to [`document`], and the methods of each
    /// of its paths (plus `extra`, routes it leaves out) to the fallback.
    pub fn finish(self, extra: &[(&str, &str)]) {
        let mut doc = serde_json::to_value(&self.doc).expect("the OpenAPI document serialises");
        doc["components"]["schemas"][ServerSentEvent::NAME] = ServerSentEvent::schema_json();
        let json = doc.to_string();
        let mut allowed = Allowed::from_document(&json);
        allowed.0.extend(
            extra
                .iter()
                .map(|(path, allow)| (ResourceDef::new(*path), allow.to_string())),
        );
        self.cfg
            .app_data(web::Data::new(Document(Bytes::from(json))))
            .app_data(web::Data::new(allowed));
    }
}

/// The methods each path allows, in the order of the `Allow` header.
pub struct Allowed(Vec<(ResourceDef, String)>);

/// The HTTP methods an OpenAPI path item can hold, as `Allow` lists them.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

impl Allowed {
    fn from_document(json: &str) -> Self {
        let doc: serde_json::Value = serde_json::from_str(json).expect("the document is JSON");
        let paths = doc["paths"].as_object().expect("the document has paths");
        Allowed(
            paths
                .iter()
                .map(|(path, item)| {
                    let allow: Vec<&str> = METHODS
                        .into_iter()
                        .filter(|m| item.get(m.to_lowercase()).is_some())
                        .collect();
                    // `{name}` matches one segment, as in the routes.
                    (ResourceDef::new(path.as_str()), allow.join(", "))
                })
                .collect(),
        )
    }

    /// The `Allow` value of the path that `path` matches, if any.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, allow)| allow.as_str())
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

/// One event of a Server-Sent Events stream (`GET /rooms/{name}/events`), as
/// OpenAPI 3.1 can say it: the fields of the event (`id`, `event`, `data`),
/// one schema per `event` name, each `data` a JSON text whose schema is given
/// by `contentSchema` (JSON Schema 2020-12). utoipa has no `contentSchema`,
/// so the document's schema is written here and put in by
/// [`Documented::finish`]; the type only names it for `#[utoipa::path]`.
pub(crate) struct ServerSentEvent;

impl ServerSentEvent {
    const NAME: &'static str = "ServerSentEvent";

    fn schema_json() -> serde_json::Value {
        use serde_json::json;
        let seq_id = json!({"type": "string", "pattern": "^[0-9]+$",
            "description": "The event's seq: what `Last-Event-ID` resumes after"});
        let data = |schema: serde_json::Value| {
            json!({"type": "string", "contentMediaType": "application/json",
                "contentSchema": schema})
        };
        let variant =
            |events: &[&str], id: Option<&serde_json::Value>, schema: serde_json::Value| {
                let mut properties = json!({
                    "event": {"type": "string", "enum": events},
                    "data": data(schema),
                });
                let mut required = vec!["event", "data"];
                if let Some(id) = id {
                    properties["id"] = id.clone();
                    required.push("id");
                }
                json!({"type": "object", "properties": properties, "required": required})
            };
        let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        json!({
            "description": "One event of the stream. Comment lines (`: keep-alive`) and the \
                first `retry: 2000` carry no event.",
            "oneOf": [
                variant(&["message", "edit", "delete", "reaction", "hidden"], Some(&seq_id),
                    schema("Event")),
                variant(&["horizon"], Some(&seq_id), schema("Horizon")),
                variant(&["access_revoked"], None, schema("AccessRevoked")),
                variant(&["error"], None, json!({
                    "type": "object",
                    "properties": {"code": {"type": "string", "enum": ["token_expired", "session_revoked"]}},
                    "required": ["code"],
                })),
            ],
        })
    }
}

impl utoipa::PartialSchema for ServerSentEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new().into()
    }
}

impl utoipa::ToSchema for ServerSentEvent {
    fn name() -> std::borrow::Cow<'static, str> {
        Self::NAME.into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((Self::NAME.to_string(), Self::schema()));
        // The schemas its `data` refers to (`Event` comes with the history).
        schemas.push((
            "Horizon".into(),
            <crate::views::HorizonView as PartialSchema>::schema(),
        ));
        schemas.push((
            "AccessRevoked".into(),
            <crate::views::AccessRevokedView as PartialSchema>::schema(),
        ));
    }
}
